import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import type { SupervisorConfig } from '../config/index.js';
import { loadConfig } from '../config/load.js';
import { Generation, type GenerationDeps } from './generation/generation.js';
import { NotifyHub } from './generation/notify-hub.js';
import { describeRelease, type Release } from './generation/release.js';
import { ReloadQueue, type ReloadResult, type ReloadRun } from './reload/queue.js';
import { Reload, type ReloadHost, type ReloadStep } from './reload/reload.js';
import { queueDepth, type Listeners } from './sockets/plan.js';
import { resolveLossless, type LosslessReport } from './sockets/lossless.js';
import { ActivationMismatch, matchActivationFds } from './sockets/activation.js';
import { supervisorTransitions, transition, type SupervisorEvent, type SupervisorState } from './transitions.js';
import type { DaemonStatus, ReloadProgress, ReloadSummary } from '../control/protocol.js';
import { LifecycleBus } from './events.js';
import { realOs, type DaemonOs, type NotifyEndpoint } from './os.js';
import { choosePriorityMechanism, type PriorityChoice } from './process/priority.js';
import { readSchedulingFacts } from './process/scheduling-facts.js';
import { warmingReport } from './generation/warming.js';

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
}

// The one orchestrator. It owns the serving generation, the reload in progress (which owns the
// other generation, if any), the listening sockets, the notify socket and the reload queue.
// Signals and control requests only call reload()/stop(); everything else happens here, in order.
export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly configFile: string;
  readonly events = new LifecycleBus(); // lifecycle facts: `supervisor events`, metrics
  #config: SupervisorConfig;
  #state: SupervisorState = 'starting';
  #serving: Generation | null = null;
  #reload: Reload | null = null;
  #nextId = 1;
  #lastReload: ReloadResult | null = null;
  readonly #log: Logger;
  readonly #sockets: Listeners;
  readonly #lossless: LosslessReport;
  readonly #priority: PriorityChoice = choosePriorityMechanism(readSchedulingFacts());
  readonly #hub = new NotifyHub();
  readonly #notifySocket: NotifyEndpoint;
  readonly #deps: GenerationDeps;
  readonly #reloads: ReloadQueue;
  readonly #onReloadStep: ((step: ReloadStep) => void) | undefined;
  readonly #readConfig: (file: string) => Promise<SupervisorConfig>;
  readonly #stopping = new AbortController();
  #stopped: Promise<void> | null = null;

  constructor(configFile: string, config: SupervisorConfig, log: Logger, workerOutput: GenerationDeps['workerOutput'], options: SupervisorOptions = {}) {
    super();
    const { activated = [], os = realOs } = options;
    this.configFile = configFile;
    this.#config = config;
    this.#log = log;
    this.#onReloadStep = options.onReloadStep;
    this.#readConfig = options.readConfig ?? (async (file) => loadConfig(file));
    // Throws LosslessUnavailable when the config demands a mechanism this kernel cannot give.
    if (activated.length > 0 && config.socket === 'self') {
      throw new ActivationMismatch('socket activation passed listening sockets, but socket: self has workers bind their own: set socket: shared (or reuseport) to use them');
    }
    const ordered = activated.length > 0 ? matchActivationFds(activated, config.listen) : [];
    this.#lossless = resolveLossless(config.lossless, ordered.length > 0 ? 'shared' : config.socket);
    this.#sockets = os.listeners(config, this.#lossless.mechanisms.includes('steer'), ordered, (error) =>
      log.error({ err: error }, `attaching the steering program failed, the previous one stays in force: ${error.message}`),
    );
    if (ordered.length > 0 && config.socket === 'reuseport') {
      log.info({ listen: config.listen.map((address) => address.text) }, 'socket activation: the passed listeners are shared by every worker (shared mode)');
    }
    this.#notifySocket = os.notifySocket(`@reuseport-supervisor/${process.pid}/${Date.now().toString(36)}`);
    this.#notifySocket.onMessage((message) => {
      const owner = this.#hub.deliver(message);
      if (owner === null) log.debug({ from: message.pid, text: message.text }, 'notify message from an unknown process ignored');
    });
    this.#notifySocket.onError((error) =>
      log.error({ err: error, notifySocket: this.#notifySocket.path }, `the notify socket stopped receiving (${error.message}): READY=1 from new workers cannot arrive, so reloads will roll back; restart the supervisor`),
    );
    this.#deps = {
      sockets: this.#sockets,
      os: os.process,
      notify: this.#hub,
      log,
      workerOutput,
      shimPath: os.shimPath,
      notifySocketPath: this.#notifySocket.path,
      events: this.events,
      priority: this.#priority,
    };
    this.#reloads = new ReloadQueue((run) => this.#runReload(run), options.minReloadIntervalMs);
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
    const generations = [this.#serving, this.#reload?.otherGeneration() ?? null].filter((gen): gen is Generation => gen !== null);
    generations.sort((a, b) => a.id - b.id);
    const shift = this.#reload?.slowStart ?? null;
    return {
      schema: 1,
      pid: process.pid,
      state: this.#state,
      config: this.configFile,
      socket: this.#sockets.mode,
      listen: this.#config.listen.map((address) => address.text),
      lossless: { configured: this.#lossless.configured, mechanisms: this.#lossless.mechanisms, migrateReq: this.#lossless.migrateReq, guarantee: this.#lossless.guarantee, lossless: this.#lossless.lossless },
      sharedAcceptQueue: this.#sockets.mode === 'shared' ? queueDepth(this.#sockets.sharedFds()) : null,
      generations: generations.map((gen) => gen.status()),
      lastReload: this.#lastReload ? summarize(this.#lastReload) : null,
      eventSubscribers: this.events.subscribers(),
      warming: warmingReport(this.#config, this.#priority, this.#sockets.steering),
      slowStart: shift ? { generation: shift.generation, from: shift.from, share: Math.round(shift.share * 1000) / 1000, remainingMs: Math.max(0, Math.round(shift.endsAt - Date.now())) } : null,
    };
  }

  async #runReload(run: ReloadRun): Promise<ReloadResult> {
    // The caller of reload() subscribes to the run's progress after it returns: without this
    // yield the 'starting' event would be emitted before anyone listens.
    await Promise.resolve();
    const trigger = String(run.triggers);
    if (this.#state !== 'running' || this.#serving === null) {
      return this.#settled(refusal(trigger, `the supervisor is ${this.#state}`));
    }
    this.events.publish('reload-start', { trigger });
    this.emit('reload-start', { trigger });
    const publishPhase = ({ event, ...fields }: ReloadProgress) => this.events.publish('reload-phase', { ...fields, phase: event });
    run.on('progress', publishPhase);
    const reload = new Reload(this.#reloadHost(this.#serving), run);
    this.#reload = reload;
    try {
      return this.#settled(await reload.run());
    } finally {
      this.#reload = null;
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
      readConfig: this.#readConfig,
      newGeneration: (config, release) => this.#newGeneration(config, 'starting', release),
      begin: (next) => this.#apply('reload', next),
      adopt: (generation, config) => {
        this.#serving = generation;
        this.#config = config;
      },
      end: () => {
        if (this.#state === 'reloading') this.#apply('reloaded');
      },
      ...(this.#onReloadStep ? { onStep: this.#onReloadStep } : {}),
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
      await new Promise((resolve) => setTimeout(resolve, graceMs));
    }
    this.#stopping.abort();
    this.#log.info('stopping: draining all workers');
    await this.#reloads.cancelPending({
      outcome: 'refused', generation: null, reason: 'the supervisor is stopping', lastLines: [], release: null, startedAt: Date.now(), durationMs: 0,
    });
    // The running reload has settled: it left one generation serving, which drains now.
    await this.#serving?.retire();
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
    const queue = new ReloadQueue(async () => refusal(trigger, reason));
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

function refusal(trigger: string, reason: string): ReloadResult {
  return { outcome: 'refused', generation: null, reason, lastLines: [], trigger, release: null, startedAt: Date.now(), durationMs: 0 };
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
