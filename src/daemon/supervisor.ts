import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { loadConfig, type SupervisorConfig } from '../config/index.js';
import { NotifySocket, shimPath } from '../native/index.js';
import { Generation, WorkerNotReady, type GenerationDeps } from './generation/generation.js';
import { NotifyHub } from './generation/notify-hub.js';
import { ReloadQueue, type ReloadResult, type ReloadRun } from './reload/queue.js';
import { queueDepth, SocketPlan } from './sockets/plan.js';
import { resolveLossless, type LosslessReport } from './sockets/lossless.js';
import { ActivationMismatch, matchActivationFds } from './sockets/activation.js';
import { describeRelease, type Release } from './generation/release.js';
import { supervisorTransitions, transition, type SupervisorEvent, type SupervisorState } from './transitions.js';
import type { DaemonStatus, ReloadSummary } from '../control/protocol.js';
import { LifecycleBus } from './events.js';
import { SlowStart } from './reload/slow-start.js';
import { FULL_WEIGHT } from './sockets/steering.js';
import { choosePriorityMechanism, type PriorityChoice } from './process/priority.js';
import { readSchedulingFacts } from './process/scheduling-facts.js';
import { warmingReport } from './generation/warming.js';

export interface SupervisorEvents {
  'state-change': [{ from: SupervisorState; to: SupervisorState }];
  'first-ready': [];
  'reload-start': [{ trigger: string }]; // a reload begins (before the config is read again)
  reloaded: [ReloadResult];
  stopped: [];
}

// The one orchestrator. It owns the generations (at most two: the serving one and a candidate or
// a draining one), the listening sockets, the notify socket and the reload queue. Signals and
// control requests only call reload()/stop(); everything else happens here, in order.
export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly configFile: string;
  readonly events = new LifecycleBus(); // lifecycle facts: `supervisor events`, metrics
  #config: SupervisorConfig;
  #state: SupervisorState = 'starting';
  #serving: Generation | null = null;
  #other: Generation | null = null; // the candidate during a reload, or the generation draining
  #nextId = 1;
  #lastReload: ReloadResult | null = null;
  #shift: { generation: number; from: number; share: number; endsAt: number } | null = null;
  readonly #log: Logger;
  readonly #sockets: SocketPlan;
  readonly #lossless: LosslessReport;
  readonly #priority: PriorityChoice = choosePriorityMechanism(readSchedulingFacts());
  readonly #hub = new NotifyHub();
  readonly #notifySocket: NotifySocket;
  readonly #deps: GenerationDeps;
  readonly #reloads: ReloadQueue;
  readonly #stopping = new AbortController();
  #stopped: Promise<void> | null = null;

  constructor(configFile: string, config: SupervisorConfig, log: Logger, workerOutput: GenerationDeps['workerOutput'], activated: number[] = []) {
    super();
    this.configFile = configFile;
    this.#config = config;
    this.#log = log;
    // Throws LosslessUnavailable when the config demands a mechanism this kernel cannot give.
    if (activated.length > 0 && config.socket === 'self') {
      throw new ActivationMismatch('socket activation passed listening sockets, but socket: self has workers bind their own: set socket: shared (or reuseport) to use them');
    }
    const ordered = activated.length > 0 ? matchActivationFds(activated, config.listen) : [];
    this.#lossless = resolveLossless(config.lossless, ordered.length > 0 ? 'shared' : config.socket);
    this.#sockets = new SocketPlan(config, this.#lossless.mechanisms.includes('steer'), ordered, (error) =>
      log.error({ err: error }, `attaching the steering program failed, the previous one stays in force: ${error.message}`),
    );
    if (ordered.length > 0 && config.socket === 'reuseport') {
      log.info({ listen: config.listen.map((address) => address.text) }, 'socket activation: the passed listeners are shared by every worker (shared mode)');
    }
    this.#notifySocket = NotifySocket.bind(`@reuseport-supervisor/${process.pid}/${Date.now().toString(36)}`);
    this.#notifySocket.onMessage((message) => {
      const owner = this.#hub.deliver(message);
      if (owner === null) log.debug({ from: message.pid, text: message.text }, 'notify message from an unknown process ignored');
    });
    this.#deps = {
      sockets: this.#sockets,
      notify: this.#hub,
      log,
      workerOutput,
      shimPath,
      notifySocketPath: this.#notifySocket.path,
      events: this.events,
      priority: this.#priority,
    };
    this.#reloads = new ReloadQueue((run) => this.#runReload(run));
  }

  get state(): SupervisorState {
    return this.#state;
  }

  get config(): SupervisorConfig {
    return this.#config;
  }

  // Binds the sockets (throws a SyscallError naming the address when the port cannot be had) and
  // starts the first generation. Its workers restart with backoff until they are ready.
  start(): void {
    this.#sockets.open();
    const level = this.#lossless.guarantee.startsWith('NOT') ? 'warn' : 'info';
    this.#log[level]({ lossless: this.#lossless.configured, mechanisms: this.#lossless.mechanisms, migrateReq: this.#lossless.migrateReq }, this.#lossless.guarantee);
    if (this.#config.slowStartMs > 0 && !this.#sockets.steering) {
      this.#log.warn({ slowStartMs: this.#config.slowStartMs, socket: this.#sockets.mode }, 'slow_start needs steering (socket: reuseport with lossless: auto or steer): each new generation takes every new connection at once; remove slow_start or use steering');
    }
    this.#log.info({ mechanism: this.#priority.mechanism, nice: this.#config.ready.nice }, `warming priority: ${this.#priority.mechanism}: ${this.#priority.reason}`);
    const first = this.#newGeneration(this.#config, 'serving');
    this.#serving = first;
    const onReady = ({ ready, total }: { ready: number; total: number }) => {
      if (ready < total) return;
      first.off('worker-ready', onReady);
      this.#log.info({ gen: first.id, workers: total }, 'all workers ready');
      this.emit('first-ready');
    };
    first.on('worker-ready', onReady);
    first.startAll();
    this.#apply('started');
  }

  reload(trigger: string): ReloadRun {
    if (this.#state === 'stopping' || this.#state === 'stopped' || this.#state === 'starting') {
      return this.#refusedRun(trigger, `the supervisor is ${this.#state}`);
    }
    return this.#reloads.request(trigger);
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  status(): DaemonStatus {
    const generations = [this.#serving, this.#other].filter((gen): gen is Generation => gen !== null);
    generations.sort((a, b) => a.id - b.id);
    return {
      schema: 1,
      pid: process.pid,
      state: this.#state,
      config: this.configFile,
      socket: this.#sockets.mode,
      listen: this.#config.listen.map((address) => address.text),
      lossless: { configured: this.#lossless.configured, mechanisms: this.#lossless.mechanisms, migrateReq: this.#lossless.migrateReq, guarantee: this.#lossless.guarantee },
      sharedAcceptQueue: this.#sockets.mode === 'shared' ? queueDepth(this.#sockets.sharedFds()) : null,
      generations: generations.map((gen) => gen.status()),
      lastReload: this.#lastReload ? summarize(this.#lastReload) : null,
      eventSubscribers: this.events.subscribers(),
      warming: warmingReport(this.#config, this.#priority, this.#sockets.steering),
      slowStart: this.#shift ? { generation: this.#shift.generation, from: this.#shift.from, share: Math.round(this.#shift.share * 1000) / 1000, remainingMs: Math.max(0, Math.round(this.#shift.endsAt - Date.now())) } : null,
    };
  }

  async #runReload(run: ReloadRun): Promise<ReloadResult> {
    // The caller of reload() subscribes to the run's progress after it returns: without this
    // yield the 'starting' event would be emitted before anyone listens.
    await Promise.resolve();
    const startedAt = Date.now();
    const trigger = run.triggers.join(', ');
    let release: Release | null = null;
    const publishPhase = ({ event, ...fields }: { event: string }) => this.events.publish('reload-phase', { ...fields, phase: event });
    run.on('progress', publishPhase);
    const finish = (outcome: ReloadResult['outcome'], generation: number | null, reason: string | null, lastLines: string[] = []) => {
      const result: ReloadResult = { outcome, generation, reason, lastLines, trigger, release, startedAt, durationMs: Date.now() - startedAt };
      run.off('progress', publishPhase);
      this.#lastReload = result;
      this.events.publish('reload-result', { outcome, generation, reason, trigger, durationMs: result.durationMs, release, lastLines });
      const level = outcome === 'promoted' ? 'info' : 'error';
      this.#log[level]({ outcome, gen: generation, reason, trigger, release: release?.path, revision: release?.revision, durationMs: result.durationMs, lastLines }, `reload ${outcome}`);
      this.emit('reloaded', result);
      return result;
    };
    if (this.#state !== 'running') return finish('refused', null, `the supervisor is ${this.#state}`);
    this.events.publish('reload-start', { trigger });
    this.emit('reload-start', { trigger });
    let config: SupervisorConfig;
    try {
      config = loadConfig(this.configFile);
    } catch (error) {
      return finish('refused', null, `config rejected, nothing was changed: ${(error as Error).message}`);
    }
    const incompatible = restartOnlyChange(this.#config, config);
    if (incompatible) return finish('refused', null, incompatible);
    try {
      release = describeRelease(config.cwd);
    } catch (error) {
      return finish('refused', null, `cwd ${config.cwd} cannot be resolved (${(error as NodeJS.ErrnoException).code}): create it or fix cwd:`);
    }

    this.#apply('reload');
    try {
      const candidate = this.#newGeneration(config, 'starting', release);
      this.#other = candidate;
      run.progress('starting', { generation: candidate.id, workers: config.workers, cwd: release.path, revision: release.revision });
      // Removed once the generation has started: left on a serving generation, this closure would
      // keep the reload's scope alive, `old` (the generation before) with it, and so chain every
      // generation ever run, with its workers, into memory.
      const onWorkerReady = ({ slot, pid, ready, total }: { slot: number; pid: number; ready: number; total: number }) =>
        run.progress('worker-ready', { generation: candidate.id, slot, pid, ready, total });
      candidate.on('worker-ready', onWorkerReady);
      try {
        candidate.startAll(config.startConcurrency);
        await candidate.whenAllReady(this.#stopping.signal);
        candidate.off('worker-ready', onWorkerReady);
      } catch (error) {
        candidate.off('worker-ready', onWorkerReady);
        candidate.apply('fail');
        run.progress('rolling-back', { generation: candidate.id, reason: (error as Error).message });
        await candidate.drainAll();
        this.#other = null;
        const lastLines = error instanceof WorkerNotReady ? error.lastLines : [];
        return finish('rolled-back', candidate.id, `generation ${candidate.id}: ${(error as Error).message}`, lastLines);
      }

      const old = this.#serving!;
      // Steering can hand new connections over gradually; shared and migrate modes cannot.
      const slowStartMs = this.#sockets.steering ? config.slowStartMs : 0;
      const shift = slowStartMs > 0 ? new SlowStart(slowStartMs) : null;
      // From here the new generation gets new connections: all of them, or its first share.
      if (shift) this.#shift = { generation: candidate.id, from: old.id, share: shift.share(0), endsAt: Date.now() + slowStartMs };
      this.#routeShares(candidate, old, shift ? shift.share(0) : 1);
      candidate.apply('promote');
      this.#serving = candidate;
      this.#config = config;
      // Draining from now: the old generation's workers are not restarted if they die.
      old.apply('drain');
      this.#other = old;
      run.progress('promoted', { generation: candidate.id, drainingGeneration: old.id, drainWorkers: old.workers.filter((w) => w.alive).length, slowStartMs });
      if (shift) {
        await shift.run((share) => {
          this.#shift!.share = share;
          this.#routeShares(candidate, old, share);
        }, this.#stopping.signal);
        this.#shift = null;
        this.#routeShares(candidate, old, 1);
        run.progress('shifted', { generation: candidate.id, drainingGeneration: old.id, slowStartMs });
      }
      const { killed, reset } = await old.drainAll((done, total) => run.progress('drained', { generation: old.id, done, total }));
      old.apply('gone');
      this.#other = null;
      const notes = [
        ...(killed > 0 ? [`${killed} old worker(s) killed at drain.timeout`] : []),
        ...(reset > 0 ? [`${reset} queued connection(s) reset as old listeners closed`] : []),
      ];
      const note = notes.length > 0 ? notes.join('; ') : null;
      return finish('promoted', candidate.id, note);
    } finally {
      this.#shift = null;
      if ((this.#state as SupervisorState) === 'reloading') this.#apply('reloaded');
    }
  }

  async #stop(): Promise<void> {
    this.#apply('stop');
    const graceMs = this.#config.stopGraceMs;
    if (graceMs > 0) {
      // /healthz already answers 503 "draining" (the state is stopping): give load balancers
      // stop_grace to take this host out before the workers stop accepting.
      this.#log.info({ stopGraceMs: graceMs }, 'stopping: health reports draining; workers drain after stop_grace');
      await new Promise((resolve) => setTimeout(resolve, graceMs));
    }
    this.#stopping.abort();
    this.#log.info('stopping: draining all workers');
    await this.#reloads.cancelPending({
      outcome: 'refused', generation: null, reason: 'the supervisor is stopping', lastLines: [], release: null, startedAt: Date.now(), durationMs: 0,
    });
    const generations = [this.#serving, this.#other].filter((gen): gen is Generation => gen !== null);
    await Promise.all(
      generations.map(async (gen) => {
        if (gen.state === 'serving') gen.apply('drain');
        await gen.drainAll();
        if (gen.state === 'draining') gen.apply('gone');
      }),
    );
    this.#serving = null;
    this.#other = null;
    this.#sockets.close();
    this.#notifySocket.close();
    this.#apply('stopped');
    this.emit('stopped');
  }

  #newGeneration(config: SupervisorConfig, initial: 'serving' | 'starting', release = describeRelease(config.cwd)): Generation {
    return new Generation(this.#nextId++, config, release, this.#deps, initial);
  }

  // The new generation takes `share` (0..1] of new connections, the old one the rest (none at 1),
  // in one program attach.
  #routeShares(next: Generation, previous: Generation, share: number): void {
    const weight = Math.max(1, Math.min(FULL_WEIGHT, Math.round(share * FULL_WEIGHT)));
    this.#sockets.routeMany([next.routing(true, weight), previous.routing(weight < FULL_WEIGHT, FULL_WEIGHT - weight)]);
  }

  #refusedRun(trigger: string, reason: string): ReloadRun {
    const queue = new ReloadQueue(async () => ({
      outcome: 'refused', generation: null, reason, lastLines: [], trigger, release: null, startedAt: Date.now(), durationMs: 0,
    }));
    return queue.request(trigger);
  }

  #apply(event: SupervisorEvent): void {
    const result = transition(supervisorTransitions, this.#state, event);
    if (!result.ok) {
      this.#log.warn({ state: this.#state, event }, 'impossible supervisor event ignored');
      return;
    }
    const from = this.#state;
    this.#state = result.to;
    this.#log.info({ from, to: result.to }, 'supervisor state');
    this.events.publish('supervisor-state', { from, to: result.to });
    this.emit('state-change', { from, to: result.to });
  }
}

// Settings a reload cannot change without dropping connections or the control channel.
function restartOnlyChange(current: SupervisorConfig, next: SupervisorConfig): string | null {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  for (const key of ['listen', 'socket', 'lossless', 'control', 'backlog', 'metrics'] as const) {
    if (!same(current[key], next[key])) {
      return `config changes '${key}', which a reload cannot apply: revert it and reload, or restart the supervisor to apply it`;
    }
  }
  return null;
}

function summarize(result: ReloadResult): ReloadSummary {
  return {
    trigger: result.trigger,
    release: result.release,
    outcome: result.outcome,
    generation: result.generation,
    reason: result.reason,
    startedAt: new Date(result.startedAt).toISOString(),
    durationMs: result.durationMs,
  };
}
