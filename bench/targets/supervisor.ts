// This project's supervisor as a target: the real daemon (test harness) running the example app,
// reloaded through the control socket in-process, so a reload costs no extra `node` start on a
// 2-core machine while the load runs (`supervisor reload --json` sends the same request).
import { request } from '../../src/control/client.js';
import { Daemon, exampleApp, helloWorker } from '../../test/helpers/harness.js';
import { childrenOf, type ProcessClass } from '../lib/footing.js';
import { setsidPath } from '../lib/own-session.js';
import { now, type ReloadTiming, type Target } from './target.js';

export interface SupervisorOptions {
  socket: 'reuseport' | 'shared' | 'self';
  lossless?: 'auto' | 'steer' | 'migrate' | 'off'; // socket: reuseport only
  workers: number;
  readyNice?: number; // ready.nice: new workers start at this nice value, raised to 0 by half the ready timeout
  slowStartMs?: number; // slow_start: the new generation's share of new connections grows over this long
  drainSpreadMs?: number; // drain.spread: old workers close their keep-alive connections over this long
  app?: 'node' | 'c'; // the example app in Node (default) or the example worker in C
  workerNode?: string; // the node binary that runs the Node example app (default: node on PATH)
  startConcurrency?: number; // start_concurrency: new workers a reload starts at a time (0/absent: all)
  warming?: WarmingOptions;
}

/** How a strategy's new workers warm up: its priority ramp and who sends the warm-up requests. */
export interface WarmingOptions {
  readyNice: number | null; // ready.nice for the strategies that set one (null: the strategy's own, 19)
  niceRampMs: number | null; // ready.nice_ramp (null: the default, half of ready.timeout)
  appWarmup: number | null; // the Node example app's APP_WARMUP_REQUESTS (null: the app's default)
  supervisorWarmup: number; // ready.warmup.requests (0: no supervisor warm-up)
}

export class SupervisorTarget implements Target {
  readonly host = '127.0.0.1';
  readonly notes: string[] = [];
  readonly #daemon: Daemon;
  readonly #options: SupervisorOptions;
  #version = 1;
  #logsSeen = 0;
  #stderrSeen = 0;
  readonly #warnings = new Map<string, number>();
  readonly #warmupsCut: number[] = []; // requests done by each in-process warm-up that was cut short
  #stopped: Promise<void> | undefined;

  private constructor(daemon: Daemon, options: SupervisorOptions) {
    this.#daemon = daemon;
    this.#options = options;
  }

  static async start(options: SupervisorOptions): Promise<SupervisorTarget> {
    // The daemon in a session of its own, as its workers are (it spawns each `detached`): setsid
    // execs in place, so the harness's pid is still the daemon's and its stop() still reaches it.
    const daemon = await Daemon.start({ config: config(options, 1), launcher: [setsidPath()] });
    const target = new SupervisorTarget(daemon, options);
    const started = daemon.logs.find((line) => line.msg === 'all workers ready');
    // Whatever the daemon says about its lossless mechanism at start-up is worth keeping.
    for (const line of daemon.logs) {
      if (typeof line.msg === 'string' && /lossless|migrate|steer/i.test(line.msg)) target.notes.push(`daemon: ${line.msg}${line.mechanisms ? ` ${JSON.stringify(line.mechanisms)}` : ''}`);
    }
    if (!started) target.notes.push('daemon did not log "all workers ready"');
    target.#logsSeen = daemon.logs.length; // later warnings are counted per reload
    return target;
  }

  get port(): number {
    return this.#daemon.port;
  }

  async reload(): Promise<ReloadTiming> {
    this.#version += 1;
    // A new APP_VERSION makes every reload a real deploy of a "new release" of the example app.
    this.#daemon.writeConfig(config(this.#options, this.#version));
    const timing: ReloadTiming = { triggerAt: now(), promotedAt: null, goneAt: null, ok: false, message: '' };
    try {
      const result = await request(this.#daemon.socketPath, { command: 'reload' }, (event) => {
        if (event.event === 'promoted') timing.promotedAt = now();
      });
      timing.goneAt = result.ok ? now() : null;
      timing.ok = result.ok && result.code === 0;
      timing.message = result.ok ? result.message : `exit ${result.code}: ${result.message}`;
    } catch (error) {
      timing.message = (error as Error).message;
    }
    this.#collectWarnings();
    return timing;
  }

  // The daemon's own warnings (queues not empty at close, workers killed...) explain failures.
  #collectWarnings(): void {
    const logs = this.#daemon.logs;
    for (; this.#logsSeen < logs.length; this.#logsSeen++) {
      const line = logs[this.#logsSeen]!;
      if (typeof line.level === 'number' && line.level >= 40 && typeof line.msg === 'string') {
        this.#warnings.set(line.msg, (this.#warnings.get(line.msg) ?? 0) + 1);
      }
    }
    // The worker helper's line when its warm-up ran out of time: workers' stderr lines are on the
    // daemon's stderr.
    const stderr = this.#daemon.stderrLines;
    for (; this.#stderrSeen < stderr.length; this.#stderrSeen++) {
      const cut = /warm-up cut short after \d+ ms [^:]*: (\d+) of \d+ requests/.exec(stderr[this.#stderrSeen]!);
      if (cut) this.#warmupsCut.push(Number(cut[1]));
    }
    const kept = this.notes.filter((note) => !note.startsWith('daemon warning') && !note.startsWith('app warm-up'));
    this.notes.length = 0;
    this.notes.push(...kept, ...[...this.#warnings].map(([msg, n]) => `daemon warning (${n}x): ${msg}`));
    if (this.#warmupsCut.length > 0) {
      const done = [...this.#warmupsCut].sort((a, b) => a - b);
      this.notes.push(`app warm-up cut short in ${done.length} worker start(s), at the end of its time (half of ready.timeout): ${done[0]} to ${done.at(-1)} requests done, median ${done[Math.floor(done.length / 2)]}`);
    }
  }

  processes(): ProcessClass[] {
    return [
      { name: 'supervisor daemon', pids: [this.#daemon.pid] },
      // Every child of the daemon is a worker (of either generation during a reload).
      { name: 'supervisor workers', pids: childrenOf(this.#daemon.pid) },
    ];
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#daemon.stop().then(() => undefined);
    return this.#stopped;
  }
}

function config(options: SupervisorOptions, version: number): Record<string, unknown> {
  const warming = options.app === 'c' ? undefined : options.warming;
  const readyNice = options.readyNice && warming?.readyNice != null ? warming.readyNice : options.readyNice;
  return {
    socket: options.socket,
    ...(options.lossless ? { lossless: options.lossless } : {}),
    workers: options.workers,
    command: options.app === 'c' ? [helloWorker] : [options.workerNode ?? 'node', exampleApp],
    env: { APP_VERSION: String(version), ...(warming?.appWarmup != null ? { APP_WARMUP_REQUESTS: String(warming.appWarmup) } : {}) },
    ready: {
      kind: 'notify',
      timeout: '10s',
      ...(readyNice ? { nice: readyNice, ...(warming?.niceRampMs != null ? { nice_ramp: `${warming.niceRampMs}ms` } : {}) } : {}),
      ...(warming && warming.supervisorWarmup > 0 ? { warmup: { requests: warming.supervisorWarmup } } : {}),
    },
    // The example app's workers leave as soon as their last connection ends; the timeout is only
    // a backstop and, if ever reached, shows in the reload's message.
    drain: { signal: 'SIGTERM', timeout: '10s', ...(options.drainSpreadMs ? { spread: `${options.drainSpreadMs}ms` } : {}) },
    ...(options.slowStartMs ? { slow_start: `${options.slowStartMs}ms` } : {}),
    ...(options.startConcurrency ? { start_concurrency: options.startConcurrency } : {}),
  };
}
