import { EventEmitter } from 'node:events';
import { droppedLogLines, type Logger } from '../log.js';
import type { SupervisorConfig } from '../config/index.js';
import { loadConfig } from '../config/load.js';
import { Generation, type GenerationDeps, type SlotHandover } from './generation/generation.js';
import type { ChildHandle } from './process/os.js';
import type { Handover, UpgradeRecord } from './upgrade/state.js';
import { supervisorVersion } from '../package.js';
import { configSource } from '../config/load.js';
import { NotifyHub } from './generation/notify-hub.js';
import { describeRelease, type Release } from './generation/release.js';
import { MIN_RELOAD_INTERVAL_MS, ReloadQueue, type ReloadResult, type ReloadRun } from './reload/queue.js';
import { Reload, type ReloadHost, type ReloadStep } from './reload/reload.js';
import { Bake, type RollbackResult } from './reload/bake.js';
import { queueDepth, type Listeners } from './sockets/plan.js';
import { resolveLossless, type LosslessReport } from './sockets/lossless.js';
import { ActivationMismatch, matchActivationFds } from './sockets/activation.js';
import { supervisorTransitions, transition, type SupervisorEvent, type SupervisorState } from './transitions.js';
import type { DaemonStatus, ReloadProgress, ReloadSummary } from '../control/protocol.js';
import { LifecycleBus } from './events.js';
import { realOs, type DaemonOs, type NotifyEndpoint } from './os.js';
import type { Clock } from './clock.js';
import { choosePriorityMechanism, type PriorityChoice } from './process/priority.js';
import { readSchedulingFacts } from './process/scheduling-facts.js';
import { warmingReport } from './generation/warming.js';
import { WorkerOutputLog } from './process/output-log.js';

export interface SupervisorEvents {
  // `config`: on entering reloading, the config the reload runs under (its deadlines apply).
  'state-change': [{ from: SupervisorState; to: SupervisorState; config?: SupervisorConfig }];
  'first-ready': [];
  'reload-start': [{ trigger: string }]; // a reload begins (before the config is read again)
  reloaded: [ReloadResult];
  stopped: [];
}

export interface SupervisorOptions {
  activated?: number[]; // listeners from systemd socket activation, in listen order
  os?: DaemonOs; // the real one unless a test drives fake workers
  onReloadStep?: (step: ReloadStep) => void; // a test's fault injection
  minReloadIntervalMs?: number; // a follow-up reload starts no sooner than this after the one before
  readConfig?: (file: string) => Promise<SupervisorConfig>; // how a reload reads the config
  adopted?: Handover; // run by `supervisor upgrade`: take over what the previous program held
}

/** Why `supervisor upgrade` cannot go ahead now: said to the operator as is. */
export class UpgradeRefused extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'UpgradeRefused';
  }
}

// The one orchestrator. It owns the serving generation, the reload in progress (which owns the
// other generation, if any), the listening sockets, the notify socket and the reload queue.
// Signals and control requests only call reload()/stop(); everything else happens here, in order.
export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly configFile: string;
  readonly events = new LifecycleBus(); // lifecycle facts: `supervisor events`, metrics
  readonly output: WorkerOutputLog; // the workers' recent output: `supervisor logs`
  #config: SupervisorConfig;
  #state: SupervisorState = 'starting';
  #serving: Generation | null = null;
  #reload: Reload | null = null;
  #reloadResult: Promise<ReloadResult> | null = null; // the running reload's outcome
  #bake: Bake | null = null; // the last bake window (open, or settled and still draining)
  readonly #settlingBakes = new Set<Bake>(); // ended by a new reload, their generations still draining
  #lastRollback: { result: RollbackResult; at: number; durationMs: number | null } | null = null;
  #nextId = 1;
  #lastReload: ReloadResult | null = null;
  readonly #log: Logger;
  readonly #sockets: Listeners;
  // The config would steer, but systemd passed the listeners: shared mode, by the unit's choice.
  readonly #steeringGivenUpForActivation: boolean;
  readonly #lossless: LosslessReport;
  readonly #priority: PriorityChoice = choosePriorityMechanism(readSchedulingFacts());
  readonly #hub = new NotifyHub();
  readonly #notifySocket: NotifyEndpoint;
  readonly #deps: GenerationDeps;
  readonly #reloads: ReloadQueue;
  readonly #onReloadStep: ((step: ReloadStep) => void) | undefined;
  readonly #readConfig: (file: string) => Promise<SupervisorConfig>;
  readonly #stopping = new AbortController();
  readonly #clock: Clock;
  #stopped: Promise<void> | null = null;
  // The daemon's own story across upgrades: when it started (the first program) and its upgrades.
  #history: { startedAt: number; upgrades: number; lastUpgrade: UpgradeRecord | null };

  constructor(configFile: string, config: SupervisorConfig, log: Logger, workerOutput: { stdout: Logger; stderr: Logger }, options: SupervisorOptions = {}) {
    super();
    const { activated = [], os = realOs } = options;
    this.configFile = configFile;
    this.#config = config;
    this.#log = log;
    this.#clock = os.clock;
    this.#onReloadStep = options.onReloadStep;
    this.#readConfig = options.readConfig ?? (async (file) => loadConfig(file));
    // Throws LosslessUnavailable when the config demands a mechanism this kernel cannot give.
    if (activated.length > 0 && config.socket === 'self') {
      throw new ActivationMismatch('socket activation passed listening sockets, but socket: self has workers bind their own: set socket: shared (or reuseport) to use them');
    }
    const ordered = activated.length > 0 ? matchActivationFds(activated, config.listen) : [];
    this.#steeringGivenUpForActivation = ordered.length > 0 && config.socket === 'reuseport' && (config.lossless === 'auto' || config.lossless === 'steer');
    this.#lossless = resolveLossless(config.lossless, ordered.length > 0 ? 'shared' : config.socket);
    this.#sockets = os.listeners(config, this.#lossless.mechanisms.includes('steer'), ordered, (error) =>
      log.error({ err: error }, `attaching the steering program failed, the previous one stays in force: ${error.message}`),
    );
    if (ordered.length > 0 && config.socket === 'reuseport') {
      log.info({ listen: config.listen.map((address) => address.text) }, 'socket activation: the passed listeners are shared by every worker (shared mode)');
    }
    // Wall time here only makes the name unique (a later supervisor under the same pid): no timing hangs on it.
    // After an upgrade, the same socket: workers started before it keep their NOTIFY_SOCKET.
    this.#notifySocket = options.adopted
      ? os.adoptNotifySocket(options.adopted.notify.path, options.adopted.notify.fd)
      : os.notifySocket(`@reuseport-supervisor/${process.pid}/${Date.now().toString(36)}`);
    this.#notifySocket.onMessage((message) => {
      const owner = this.#hub.deliver(message);
      if (owner === null) log.debug({ from: message.pid, text: message.text }, 'notify message from an unknown process ignored');
    });
    this.#notifySocket.onError((error) =>
      log.error({ err: error, notifySocket: this.#notifySocket.path }, `the notify socket stopped receiving (${error.message}): READY=1 from new workers cannot arrive, so reloads will roll back; restart the supervisor`),
    );
    this.output = new WorkerOutputLog(workerOutput);
    this.#deps = {
      sockets: this.#sockets,
      os: os.process,
      clock: os.clock,
      notify: this.#hub,
      log,
      output: this.output,
      shimPath: os.shimPath,
      notifySocketPath: this.#notifySocket.path,
      events: this.events,
      priority: this.#priority,
    };
    this.#reloads = new ReloadQueue((run) => this.#runReload(run), options.minReloadIntervalMs, os.clock);
    this.#history = options.adopted ? { ...options.adopted.daemon } : { startedAt: this.#clock.now(), upgrades: 0, lastUpgrade: null };
  }

  /** When the daemon started (its first program) and how it was upgraded since. */
  get history(): { startedAt: number; upgrades: number; lastUpgrade: UpgradeRecord | null } {
    return this.#history;
  }

  /** The exec'd program took over: counted in status. */
  upgraded(record: UpgradeRecord): void {
    this.#history = { ...this.#history, upgrades: this.#history.upgrades + 1, lastUpgrade: record };
    this.events.publish('upgraded', { from: `${record.from.version} (node ${record.from.node})`, to: `${record.to.version} (node ${record.to.node})`, durationMs: record.durationMs });
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
    const level = this.#lossless.lossless ? 'info' : 'warn';
    this.#log[level]({ lossless: this.#lossless.configured, mechanisms: this.#lossless.mechanisms, migrateReq: this.#lossless.migrateReq }, this.#lossless.guarantee);
    if (this.#config.slowStartMs > 0 && !this.#sockets.steering) {
      if (this.#steeringGivenUpForActivation) {
        // Not the config's mistake: the same file steers when run without the .socket unit.
        this.#log.info({ slowStartMs: this.#config.slowStartMs, socket: this.#sockets.mode }, 'socket activation: slow_start does not apply (one listener shared by every worker has no steering): each new generation takes every new connection at once');
      } else {
        this.#log.warn({ slowStartMs: this.#config.slowStartMs, socket: this.#sockets.mode }, 'slow_start needs steering (socket: reuseport with lossless: auto or steer): each new generation takes every new connection at once; remove slow_start or use steering');
      }
    }
    if (this.#config.health.kind !== 'none' && !this.#sockets.steering) {
      this.#log.warn({ health: this.#config.health.kind, socket: this.#sockets.mode }, 'health checks need steering (socket: reuseport with lossless: auto or steer) to reach each worker through its own socket: none run; use steering, or check the workers from outside');
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

  /**
   * Instead of start(), in the program `supervisor upgrade` exec'd: the sockets and the serving
   * generation the previous program handed over, its workers taken over as they run.
   */
  adopt(state: Handover, makeChild: (slot: SlotHandover) => ChildHandle | null): void {
    this.#sockets.adopt(state.sockets);
    this.#nextId = state.nextGenerationId;
    this.#lastReload = state.lastReload;
    const saved = state.serving;
    const serving = new Generation(saved.id, this.#config, saved.release, this.#deps, 'serving', saved.startedAt);
    serving.adoptWorkers(saved, makeChild);
    this.#serving = serving;
    this.#apply('started');
  }

  /**
   * What `supervisor upgrade` hands to the next program, or UpgradeRefused when now is not the
   * moment: only a running supervisor whose serving generation is all ready, with no reload,
   * canary or bake window in progress, hands over (each of those holds timers and a second
   * generation mid-way, which the next program would have to resume exactly where they stood).
   */
  handover(): Pick<Handover, 'sockets' | 'notify' | 'nextGenerationId' | 'lastReload' | 'serving' | 'configFile' | 'configText'> {
    if (this.#reload !== null || this.#reloads.busy || this.#state === 'reloading') throw new UpgradeRefused('a reload is in progress: wait for it to end (supervisor status), then upgrade');
    if (this.#state !== 'running') throw new UpgradeRefused(`the supervisor is ${this.#state}: upgrade once it runs with no reload in progress`);
    if (this.#bake?.open || this.#settlingBakes.size > 0) {
      throw new UpgradeRefused(`a bake window is open (generation ${this.#bake?.previous.id ?? '?'} kept for a rollback): wait until it ends, or end it with supervisor rollback or a reload, then upgrade`);
    }
    const serving = this.#serving;
    if (serving === null) throw new UpgradeRefused('no generation is serving');
    const notReady = serving.status().workers.filter((worker) => worker.state !== 'ready');
    if (notReady.length > 0) {
      throw new UpgradeRefused(`worker ${notReady.map((worker) => `${worker.slot} (${worker.state})`).join(', ')} of generation ${serving.id} is not ready: upgrade once every worker serves (supervisor status)`);
    }
    const configText = configSource(this.#config);
    if (configText === null) throw new UpgradeRefused('the config in force was not read from a file: restart the daemon instead');
    const notifyFd = this.#notifySocket.fd;
    if (notifyFd === undefined) throw new UpgradeRefused('the notify socket cannot be handed over');
    return {
      sockets: this.#sockets.snapshot(),
      notify: { path: this.#notifySocket.path, fd: notifyFd },
      nextGenerationId: this.#nextId,
      lastReload: this.#lastReload,
      serving: serving.handover(),
      configFile: this.configFile,
      configText,
    };
  }

  // canaryShare: `reload --canary` (0..1), for this reload only.
  reload(trigger: string, canaryShare: number | null = null): ReloadRun {
    if (this.#state === 'stopping' || this.#state === 'stopped' || this.#state === 'starting') {
      return this.#refusedRun(trigger, `the supervisor is ${this.#state}`);
    }
    const canary = this.#reload?.canary;
    if (canary) {
      return this.#refusedRun(trigger, `a canary holds: generation ${canary.generation} gets ${Math.round(canary.share * 1000) / 10}% of new connections: run supervisor promote or supervisor rollback first`);
    }
    const run = this.#reloads.request(trigger);
    if (canaryShare !== null) run.canaryShare = canaryShare;
    return run;
  }

  /** `supervisor promote`: a holding canary goes on; resolves with its reload's result. Null when no canary holds. */
  async promoteCanary(trigger: string): Promise<ReloadResult | null> {
    if (!this.#reload || !this.#reloadResult || !this.#reload.promoteCanary(`promoted by ${trigger}`)) return null;
    return this.#reloadResult;
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  /**
   * Brings the previous generation back: during a bake window at once (one program attach, then
   * the current generation drains); during a reload, by stopping the reload where it is. Null
   * when there is nothing to roll back to.
   */
  async rollback(trigger: string): Promise<{ kind: 'bake'; result: RollbackResult } | { kind: 'reload'; result: ReloadResult } | null> {
    const reason = `rolled back by ${trigger}`;
    if (this.#reload && this.#reloadResult && this.#reload.rollback(reason)) return { kind: 'reload', result: await this.#reloadResult };
    if (this.#bake?.open) {
      const result = await this.#bake.rollback(reason);
      if (result) return { kind: 'bake', result };
    }
    return null;
  }

  status(): DaemonStatus {
    const bake = this.#bake;
    const settling = [...this.#settlingBakes].map((ending) => ending.previous);
    const candidates = [this.#serving, this.#reload?.otherGeneration() ?? null, bake?.previous ?? null, bake?.current ?? null, ...settling];
    const generations = [...new Set(candidates)].filter((gen): gen is Generation => gen !== null && gen.state !== 'retired' && gen.state !== 'failed');
    generations.sort((a, b) => a.id - b.id);
    const rollback = this.#lastRollback;
    const shift = this.#reload?.slowStart ?? null;
    const history = this.#history;
    const identity = (who: { version: string; node: string }) => `${who.version} (node ${who.node})`;
    return {
      schema: 1,
      pid: process.pid,
      supervisor: {
        version: supervisorVersion(),
        node: process.version,
        startedAt: new Date(history.startedAt).toISOString(),
        upgrades: history.upgrades,
        lastUpgrade: history.lastUpgrade
          ? { from: identity(history.lastUpgrade.from), to: identity(history.lastUpgrade.to), at: new Date(history.lastUpgrade.at).toISOString(), durationMs: history.lastUpgrade.durationMs }
          : null,
      },
      state: this.#state,
      config: this.configFile,
      socket: this.#sockets.mode,
      listen: this.#config.listen.map((address) => address.text),
      lossless: { configured: this.#lossless.configured, mechanisms: this.#lossless.mechanisms, migrateReq: this.#lossless.migrateReq, guarantee: this.#lossless.guarantee, lossless: this.#lossless.lossless },
      sharedAcceptQueue: this.#sockets.mode === 'shared' ? queueDepth(this.#sockets.sharedFds()) : null,
      generations: generations.map((gen) => gen.status()),
      lastReload: this.#lastReload ? summarize(this.#lastReload) : null,
      eventSubscribers: this.events.subscribers(),
      droppedLogLines: droppedLogLines(),
      warming: warmingReport(this.#config, this.#priority, this.#sockets.steering),
      canary: this.#canaryStatus(),
      bake: bake?.open ? bake.status() : null,
      lastRollback: rollback ? { generation: rollback.result.generation, from: rollback.result.from, reason: rollback.result.reason, automatic: rollback.result.automatic, at: new Date(rollback.at).toISOString(), steeredMs: rollback.result.steeredMs, durationMs: rollback.durationMs } : null,
      slowStart: shift ? { generation: shift.generation, from: shift.from, share: Math.round(shift.share * 1000) / 1000, remainingMs: Math.max(0, Math.round(shift.endsAt - this.#clock.now())) } : null,
    };
  }

  async #runReload(run: ReloadRun): Promise<ReloadResult> {
    // The caller of reload() subscribes to the run's progress after it returns: without this
    // yield the 'starting' event would be emitted before anyone listens.
    await Promise.resolve();
    const trigger = String(run.triggers);
    if (this.#state !== 'running' || this.#serving === null) {
      return this.#settled(refusal(trigger, `the supervisor is ${this.#state}`, this.#clock.now()));
    }
    this.events.publish('reload-start', { trigger });
    this.emit('reload-start', { trigger });
    const publishPhase = ({ event, ...fields }: ReloadProgress) => this.events.publish('reload-phase', { ...fields, phase: event });
    run.on('progress', publishPhase);
    // A new reload means the release that baked is accepted: its predecessor drains now, beside the reload.
    if (this.#bake?.open) {
      const ending = this.#bake;
      this.#settlingBakes.add(ending);
      void ending.end('a new reload started').finally(() => this.#settlingBakes.delete(ending));
    }
    const reload = new Reload(this.#reloadHost(this.#serving), run);
    this.#reload = reload;
    try {
      this.#reloadResult = reload.run();
      return this.#settled(await this.#reloadResult);
    } finally {
      this.#reload = null;
      this.#reloadResult = null;
      run.off('progress', publishPhase);
    }
  }

  // What a reload may do to the supervisor: read its config, make generations, move its state.
  #reloadHost(serving: Generation): ReloadHost {
    return {
      configFile: this.configFile,
      config: this.#config,
      serving,
      sockets: this.#sockets,
      stopping: this.#stopping.signal,
      log: this.#log,
      clock: this.#clock,
      readConfig: this.#readConfig,
      newGeneration: (config, release) => this.#newGeneration(config, 'starting', release),
      begin: (next) => this.#apply('reload', next),
      adopt: (generation, config) => {
        this.#serving = generation;
        this.#config = config;
      },
      bake: (current, previous, previousConfig, windowMs) => {
        this.#bake = new Bake(this.#bakeHost(), current, previous, previousConfig, windowMs);
      },
      end: () => {
        if (this.#state === 'reloading') this.#apply('reloaded');
      },
      ...(this.#onReloadStep ? { onStep: this.#onReloadStep } : {}),
    };
  }

  #canaryStatus(): DaemonStatus['canary'] {
    const canary = this.#reload?.canary;
    if (!canary) return null;
    return { generation: canary.generation, from: canary.from, share: canary.share, remainingMs: Math.max(0, canary.endsAt - this.#clock.now()), onExpiry: canary.onExpiry };
  }

  #bakeHost() {
    return {
      sockets: this.#sockets,
      log: this.#log,
      events: this.events,
      clock: this.#clock,
      adopt: (generation: Generation, config: SupervisorConfig) => {
        this.#serving = generation;
        this.#config = config;
      },
      rolledBack: (result: RollbackResult, phase: 'steered' | 'drained') => {
        this.#lastRollback = { result, at: this.#lastRollback?.result === result ? this.#lastRollback.at : this.#clock.now(), durationMs: phase === 'drained' ? result.durationMs : null };
      },
    };
  }

  #settled(result: ReloadResult): ReloadResult {
    this.#lastReload = result;
    const { outcome, generation, reason, trigger, durationMs, release, lastLines } = result;
    this.events.publish('reload-result', { outcome, generation, reason, trigger, durationMs, release, lastLines });
    const level = outcome === 'promoted' ? 'info' : 'error';
    this.#log[level]({ outcome, gen: generation, reason, trigger, release: release?.path, revision: release?.revision, durationMs, lastLines }, `reload ${outcome}`);
    this.emit('reloaded', result);
    return result;
  }

  async #stop(): Promise<void> {
    this.#apply('stop');
    const graceMs = this.#config.stopGraceMs;
    if (graceMs > 0) {
      // /healthz already answers 503 "draining" (the state is stopping): give load balancers
      // stop_grace to take this host out before the workers stop accepting.
      this.#log.info({ stopGraceMs: graceMs }, 'stopping: health reports draining; workers drain after stop_grace');
      await this.#clock.sleep(graceMs);
    }
    this.#stopping.abort();
    this.#log.info('stopping: draining all workers');
    await this.#reloads.cancelPending({
      outcome: 'refused', generation: null, reason: 'the supervisor is stopping', lastLines: [], release: null, startedAt: this.#clock.now(), durationMs: 0,
    });
    // The running reload has settled: it left one generation serving, which drains now, beside
    // a baking one (or a rolled-back one still draining).
    await Promise.all([this.#serving?.retire(), this.#bake?.end('the supervisor is stopping'), ...[...this.#settlingBakes].map((ending) => ending.done)]);
    this.#serving = null;
    this.#sockets.close();
    this.#notifySocket.close();
    this.#apply('stopped');
    this.emit('stopped');
  }

  #newGeneration(config: SupervisorConfig, initial: 'serving' | 'starting', release = describeRelease(config.cwd)): Generation {
    return new Generation(this.#nextId++, config, release, this.#deps, initial);
  }

  #refusedRun(trigger: string, reason: string): ReloadRun {
    const queue = new ReloadQueue(async () => refusal(trigger, reason, this.#clock.now()), MIN_RELOAD_INTERVAL_MS, this.#clock);
    return queue.request(trigger);
  }

  #apply(event: SupervisorEvent, config?: SupervisorConfig): void {
    const result = transition(supervisorTransitions, this.#state, event);
    if (!result.ok) {
      this.#log.warn({ state: this.#state, event }, 'impossible supervisor event ignored');
      return;
    }
    const from = this.#state;
    this.#state = result.to;
    this.#log.info({ from, to: result.to }, 'supervisor state');
    this.events.publish('supervisor-state', { from, to: result.to });
    this.emit('state-change', { from, to: result.to, ...(config ? { config } : {}) });
  }
}

function refusal(trigger: string, reason: string, now: number): ReloadResult {
  return { outcome: 'refused', generation: null, reason, lastLines: [], trigger, release: null, startedAt: now, durationMs: 0 };
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
