// Tells systemd (Type=notify) what the supervisor is doing, over the sd_notify protocol:
//
//   READY=1                       the first generation is ready (and again after every reload)
//   RELOADING=1 + MONOTONIC_USEC  a reload starts (CLOCK_MONOTONIC µs, which Type=notify-reload
//                                 compares with the moment it sent the reload signal)
//   STOPPING=1                    a stop (drain) starts
//   STATUS=...                    one line for `systemctl status`: generations, ready workers,
//                                 the last reload's outcome
//   WATCHDOG=1                    every half WATCHDOG_USEC, from a timer: if the event loop
//                                 stalls, the pings stop and systemd restarts the service
//   EXTEND_TIMEOUT_USEC=...       every few seconds while the start, a reload or a stop runs, so
//                                 a long drain (or ready.timeout) that the config allows is not cut
//                                 short by TimeoutStartSec= / TimeoutStopSec=; only for as long as
//                                 the config's own deadlines allow, then systemd's timeout applies
//
// Every call is a no-op when NOTIFY_SOCKET is unset (not started by systemd). The variables are
// removed from the environment once read, as sd_notify(unset_environment=1) does: workers get the
// supervisor's own notify socket, never systemd's (see generation.ts), and nothing else inherits it.
import type { EventEmitter } from 'node:events';
import type { Logger } from '../../log.js';
import type { DaemonStatus, GenerationStatus, ReloadSummary } from '../../control/protocol.js';
import { notifySend } from '../../native/index.js';
import type { SupervisorEvents } from '../supervisor.js';
import { QUIESCE_LIMIT_MS } from '../sockets/plan.js';

/** CLOCK_MONOTONIC in microseconds: Node's hrtime is clock_gettime(CLOCK_MONOTONIC) on Linux. */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/**
 * How often to send WATCHDOG=1 (half of WATCHDOG_USEC, in ms), or null when systemd asked for no
 * watchdog or asked another process (WATCHDOG_PID names a pid other than ours).
 */
export function watchdogPingMs(env: NodeJS.ProcessEnv, pid: number = process.pid): number | null {
  const usecText = env.WATCHDOG_USEC;
  if (usecText === undefined || !/^\d+$/.test(usecText)) return null;
  const usec = Number(usecText);
  if (!Number.isSafeInteger(usec) || usec <= 0) return null;
  const pidText = env.WATCHDOG_PID;
  if (pidText !== undefined && pidText !== '' && Number(pidText) !== pid) return null;
  return Math.max(1, Math.floor(usec / 2000));
}

const STATUS_MAX = 240; // systemctl status shows one line; keep it readable

function oneLine(text: string, max: number): string {
  const line = text.replace(/\s*\n[\s\S]*$/, '').replace(/[\x00-\x1f\x7f]/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function describeGeneration(gen: GenerationStatus): string {
  const total = gen.workers.length;
  if (gen.state === 'draining' || gen.state === 'retired') {
    const left = gen.workers.filter((worker) => worker.pid !== null && worker.state !== 'exited').length;
    return `generation ${gen.generation} draining (${left} left)`;
  }
  const ready = gen.workers.filter((worker) => worker.state === 'ready').length;
  const looping = gen.workers.some((worker) => worker.crashLooping) ? ', CRASH LOOP' : '';
  return `generation ${gen.generation} ${gen.state} ${ready}/${total} ready${looping}`;
}

function describeReload(last: ReloadSummary | null): string {
  if (last === null) return 'no reload yet';
  const seconds = `${(last.durationMs / 1000).toFixed(1)}s`;
  switch (last.outcome) {
    case 'promoted':
      return `last reload: promoted generation ${last.generation} (${seconds})`;
    case 'rolled-back':
      return `last reload: ROLLED BACK ${oneLine(last.reason ?? `generation ${last.generation}`, 100)}`;
    case 'refused':
      return `last reload: refused: ${oneLine(last.reason ?? 'no reason given', 100)}`;
    case 'failed':
      return `last reload: FAILED: ${oneLine(last.reason ?? 'no reason given', 100)}`;
  }
}

/** The STATUS= line: "generation 3 serving 4/4 ready; last reload: promoted generation 3 (1.2s)". */
export function statusLine(status: DaemonStatus): string {
  const generations = status.generations.map(describeGeneration).join(', ') || 'no workers';
  const state = status.state === 'running' ? '' : `${status.state}: `;
  const bake = status.bake ? `; bake: generation ${status.bake.previous} warm for ${Math.ceil(status.bake.remainingMs / 1000)}s (${Math.round(status.bake.previousRssBytes / 1024 ** 2)} MB)` : '';
  return oneLine(`${state}${generations}; ${describeReload(status.lastReload)}${bake}`, STATUS_MAX);
}

/** What the notifier listens to: the Supervisor, or a stand-in in tests. */
export interface NotifierSource extends EventEmitter<SupervisorEvents> {
  status(): DaemonStatus;
  readonly config: { ready: { timeoutMs: number }; drain: { timeoutMs: number }; stopGraceMs?: number; slowStartMs?: number };
}

export interface NotifierOptions {
  log: Logger;
  /** Read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from here, then remove them. */
  env?: NodeJS.ProcessEnv;
  pid?: number;
  /** Sends one datagram; throws on failure. Default: the addon's notifySend. */
  send?: (socket: string, message: string) => void;
  /** CLOCK_MONOTONIC µs. */
  clock?: () => bigint;
  /** EXTEND_TIMEOUT_USEC cadence during reloads and stops (the extension is this plus 5 s). */
  extendEveryMs?: number;
  /** How often STATUS= is recomputed (sent only when it changed). */
  statusEveryMs?: number;
  /** Margin past the config's own deadlines during which timeouts are still extended. */
  deadlineSlackMs?: number;
  /** The program `supervisor upgrade` exec'd: systemd already counts the unit as started. */
  alreadyReady?: boolean;
}


export class SystemdNotifier {
  /** systemd's notify socket, or null: then every method is a no-op. */
  readonly socket: string | null;
  /** WATCHDOG=1 cadence in ms, or null. */
  readonly watchdogMs: number | null;
  readonly #log: Logger;
  readonly #send: (socket: string, message: string) => void;
  readonly #clock: () => bigint;
  readonly #extendEveryMs: number;
  readonly #statusEveryMs: number;
  readonly #deadlineSlackMs: number;
  readonly #failed = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #extendTimer: NodeJS.Timeout | null = null;
  #extending: 'starting' | 'reloading' | 'stopping' | null = null;
  #ready = false;
  #stopping = false;
  #reloadAnnounced = false;
  #lastStatus = '';
  #detach: (() => void) | null = null;
  readonly #consumed: Record<string, string> = {};

  constructor(options: NotifierOptions) {
    const env = options.env ?? process.env;
    const socket = env.NOTIFY_SOCKET;
    this.socket = socket !== undefined && socket !== '' ? socket : null;
    this.watchdogMs = this.socket === null ? null : watchdogPingMs(env, options.pid ?? process.pid);
    for (const name of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'] as const) {
      if (env[name] !== undefined) this.#consumed[name] = env[name];
      delete env[name];
    }
    // After `supervisor upgrade` the unit is already up: the exec'd program confirms with READY=1
    // once it has taken over, and no start timeout is extended.
    this.#ready = options.alreadyReady ?? false;
    this.#log = options.log;
    this.#send = options.send ?? notifySend;
    this.#clock = options.clock ?? monotonicUsec;
    this.#extendEveryMs = options.extendEveryMs ?? 5_000;
    this.#statusEveryMs = options.statusEveryMs ?? 2_000;
    this.#deadlineSlackMs = options.deadlineSlackMs ?? 15_000;
  }

  get enabled(): boolean {
    return this.socket !== null;
  }

  /** Sends one message of KEY=VALUE lines; false (logged once per cause) when it could not. */
  notify(fields: Record<string, string | number | bigint>): boolean {
    if (this.socket === null) return false;
    const message = Object.entries(fields).map(([key, value]) => `${key}=${String(value)}`).join('\n');
    try {
      this.#send(this.socket, message);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      if (!this.#failed.has(code)) {
        this.#failed.add(code);
        this.#log.warn({ err: error, notifySocket: this.socket, message: message.split('\n')[0] }, `cannot notify systemd: ${(error as Error).message}`);
      }
      return false;
    }
  }

  /** Subscribes to the supervisor's events and starts the watchdog and status timers. */
  attach(source: NotifierSource): void {
    if (this.socket === null || this.#detach !== null) return;
    this.#log.info({ notifySocket: this.socket, watchdogMs: this.watchdogMs }, 'systemd notification on');
    const refresh = () => this.#refreshStatus(source);

    const onFirstReady = () => this.#becomeReady(source);
    const onReloadStart = () => {
      // Before the first READY=1 systemd is still starting the unit: a RELOADING=1 ... READY=1
      // pair would end the start early, while the first generation may not be ready.
      if (!this.#ready || this.#stopping) return;
      this.#reloadAnnounced = this.notify({ RELOADING: 1, MONOTONIC_USEC: this.#clock(), STATUS: 'reloading: starting a new generation' });
    };
    const onReloaded = (result: { outcome: string }) => {
      const announced = this.#reloadAnnounced;
      this.#reloadAnnounced = false;
      if (this.#stopping) return; // systemd is stopping the unit: READY=1 would mean nothing
      if (announced) {
        // Promoted or not, a ready generation serves: the old one when the new one failed.
        // systemd learns of a failure from the exit code of ExecReload= (supervisor reload).
        this.#lastStatus = this.#statusText(source);
        this.notify({ READY: 1, STATUS: this.#lastStatus });
      } else if (result.outcome === 'promoted') {
        this.#becomeReady(source); // promoted before the first generation was ready: ready now
      }
    };
    const onStateChange = ({ to, config }: { to: string; config?: NotifierSource['config'] }) => {
      if (to === 'stopping' && !this.#stopping) {
        this.#stopping = true;
        this.notify({ STOPPING: 1, STATUS: 'stopping: draining every worker' });
        this.#lastStatus = '';
      }
      // A reload runs under the config it just read (its ready.timeout, slow_start), while the
      // generation it drains keeps the drain settings it was started with.
      if (to === 'reloading' || to === 'stopping') this.#startExtending(source, to, config);
      else if (this.#extending !== 'starting') this.#stopExtending();
      if (to === 'stopped') this.close();
      else refresh();
    };
    source.on('first-ready', onFirstReady);
    source.on('reload-start', onReloadStart);
    source.on('reloaded', onReloaded);
    source.on('state-change', onStateChange);
    this.#detach = () => {
      source.off('first-ready', onFirstReady);
      source.off('reload-start', onReloadStart);
      source.off('reloaded', onReloaded);
      source.off('state-change', onStateChange);
    };

    if (this.watchdogMs !== null) {
      this.notify({ WATCHDOG: 1 });
      this.#every(this.watchdogMs, () => this.notify({ WATCHDOG: 1 }));
    }
    this.#every(this.#statusEveryMs, refresh);
    if (!this.#ready) this.#startExtending(source, 'starting');
  }

  /** The variables it took from the environment, for the program an upgrade execs to read again. */
  environment(): Record<string, string> {
    return { ...this.#consumed };
  }

  /**
   * `supervisor upgrade`: RELOADING=1 before the exec (systemd shows the unit reloading; its
   * MAINPID stays, the pid does not change), then READY=1 from whichever program serves after:
   * the new one once it has taken over (upgraded()), or this one if the exec failed (resumed()).
   */
  upgrading(detail: string): void {
    this.notify({ RELOADING: 1, MONOTONIC_USEC: this.#clock(), STATUS: oneLine(`upgrading: ${detail}`, STATUS_MAX) });
  }

  upgraded(source: NotifierSource, detail: string): void {
    this.#lastStatus = this.#statusText(source);
    this.notify({ READY: 1, STATUS: oneLine(`upgraded: ${detail}; ${this.#lastStatus}`, STATUS_MAX) });
  }

  resumed(source: NotifierSource): void {
    this.#lastStatus = this.#statusText(source);
    this.notify({ READY: 1, STATUS: this.#lastStatus });
  }

  /** Reports a start that failed (shown by systemctl status until the unit restarts). */
  failed(message: string): void {
    this.notify({ STATUS: oneLine(`cannot start: ${message}`, STATUS_MAX) });
  }

  /** Stops every timer and unsubscribes. Idempotent. */
  close(): void {
    this.#detach?.();
    this.#detach = null;
    this.#stopExtending();
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers.clear();
  }

  #becomeReady(source: NotifierSource): void {
    if (this.#ready) return;
    this.#ready = true;
    if (this.#extending === 'starting') this.#stopExtending();
    this.#lastStatus = this.#statusText(source);
    this.notify({ READY: 1, STATUS: this.#lastStatus });
  }

  #statusText(source: NotifierSource): string {
    try {
      return statusLine(source.status());
    } catch (error) {
      return oneLine(`status unavailable: ${(error as Error).message}`, STATUS_MAX);
    }
  }

  #refreshStatus(source: NotifierSource): void {
    const text = this.#statusText(source);
    if (text === this.#lastStatus) return;
    this.#lastStatus = text;
    this.notify({ STATUS: text });
  }

  // Extends systemd's current timeout (TimeoutStartSec= covers the start and ExecReload=,
  // TimeoutStopSec= the stop) at once and then every few seconds, but only until the supervisor's
  // own worst case for this operation has passed: its deadlines (ready.timeout, drain.timeout,
  // then SIGKILL) end it by then, and if something still hangs, systemd's timeout should fire.
  // The start gets one ready.timeout: a first generation that keeps failing is not waited for.
  #startExtending(source: NotifierSource, what: 'starting' | 'reloading' | 'stopping', next?: NotifierSource['config']): void {
    this.#stopExtending();
    const { ready, slowStartMs = 0 } = next ?? source.config;
    const { drain, stopGraceMs = 0 } = source.config;
    const drainWorst = Math.min(drain.timeoutMs, QUIESCE_LIMIT_MS) + drain.timeoutMs;
    const worst = { starting: ready.timeoutMs, reloading: ready.timeoutMs + slowStartMs + drainWorst, stopping: stopGraceMs + drainWorst };
    const worstMs = worst[what] + this.#deadlineSlackMs;
    this.#extending = what;
    const until = Date.now() + worstMs;
    const extendUsec = BigInt(this.#extendEveryMs + 5_000) * 1000n;
    const extend = () => {
      if (Date.now() > until) return this.#stopExtending();
      this.notify({ EXTEND_TIMEOUT_USEC: extendUsec });
    };
    extend();
    this.#extendTimer = this.#every(this.#extendEveryMs, extend);
  }

  #stopExtending(): void {
    this.#extending = null;
    if (this.#extendTimer === null) return;
    clearInterval(this.#extendTimer);
    this.#timers.delete(this.#extendTimer);
    this.#extendTimer = null;
  }

  // An interval that never keeps the process alive on its own.
  #every(ms: number, tick: () => void): NodeJS.Timeout {
    const timer = setInterval(tick, ms);
    timer.unref();
    this.#timers.add(timer);
    return timer;
  }
}
