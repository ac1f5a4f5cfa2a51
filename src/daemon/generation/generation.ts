import { EventEmitter } from 'node:events';
import type { Logger } from '../../log.js';
import type { SupervisorConfig } from '../../config/index.js';
import { Worker } from '../process/worker.js';
import { NotReadyError, waitUntilReady, type ProbeTarget } from './readiness.js';
import { groupListensOn } from '../process/listen-owner.js';
import type { Release } from './release.js';
import type { PriorityChoice } from '../process/priority.js';
import { WorkerWarming, warmingEnvironment } from './warming.js';
import { HealthWatch } from './health.js';
import { restartDelay, STABLE_AFTER_MS } from './backoff.js';
import type { NotifyHub } from './notify-hub.js';
import { QUIESCE_LIMIT_MS, queueDepth, type Listeners, type WorkerSockets } from '../sockets/plan.js';
import type { ChildHandle, ProcessOs } from '../process/os.js';
import type { WorkerOutputLog } from '../process/output-log.js';
import { FULL_WEIGHT } from '../sockets/steering.js';
import { generationTransitions, transition, type GenerationEvent, type GenerationState } from '../transitions.js';
import type { GenerationStatus, WorkerStatus } from '../../control/protocol.js';
import type { LifecycleBus } from '../events.js';
import { workerEnvironment } from '../../worker-contract.js';
import type { Clock, Timer } from '../clock.js';

export interface GenerationDeps {
  sockets: Listeners;
  os: ProcessOs; // how workers are started and signalled
  clock: Clock; // every deadline, backoff and timestamp of the generation and its workers
  notify: NotifyHub;
  log: Logger;
  output: WorkerOutputLog; // the workers' output lines: the log and the ring `supervisor logs` reads
  shimPath: string;
  notifySocketPath: string;
  events: LifecycleBus; // lifecycle facts for `supervisor events` and the metrics
  priority: PriorityChoice; // how a warming worker's CPU priority is lowered on this machine
}

export interface SlotHandover {
  index: number;
  pid: number;
  startedAt: number;
  readySince: number | null;
  restarts: number;
  consecutiveFailures: number;
  bootFailures: number;
  crashLooping: boolean;
  lastExit: string | null;
  listenFds: number[]; // the supervisor's copies of the worker's listeners (reuseport), in listen order
  stdout: number | null; // the read ends of its output pipes
  stderr: number | null;
}

export interface GenerationHandover {
  id: number;
  startedAt: number;
  release: Release;
  weight: number;
  slots: SlotHandover[];
}

interface Slot {
  index: number;
  worker: Worker | null;
  sockets: WorkerSockets | null;
  warming: WorkerWarming | null; // the worker's way into service: priority, warm-up
  health: HealthWatch | null; // liveness checks once it is ready (health:)
  restarts: number;
  consecutiveFailures: number;
  bootFailures: number;
  crashLooping: boolean;
  restartTimer: Timer | null;
  lastExit: string | null;
}

export class WorkerNotReady extends Error {
  readonly slot: number;
  readonly pid: number;
  readonly reason: NotReadyError['reason'];
  readonly lastLines: string[];
  /** the OS error that kept the worker from starting at all, if that is what happened */
  readonly startError: NodeJS.ErrnoException | null;
  constructor(worker: Worker, cause: NotReadyError) {
    super(`worker ${worker.slot}${worker.pid > 0 ? ` (pid ${worker.pid})` : ''} ${cause.message}`, { cause });
    this.name = 'WorkerNotReady';
    this.slot = worker.slot;
    this.pid = worker.pid;
    this.reason = cause.reason;
    this.lastLines = worker.tail.lines();
    this.startError = worker.startError;
  }
}

export interface GenerationEvents {
  'state-change': [{ from: GenerationState; to: GenerationState }];
  'worker-ready': [{ slot: number; pid: number; ready: number; total: number }];
  'candidate-failed': [WorkerNotReady];
  // A worker of a serving generation exited and will be restarted (a bake counts these).
  'worker-exit': [{ slot: number; pid: number; description: string; lastLines: string[] }];
  // A ready worker failed its health checks (health:); a serving generation replaces it.
  'worker-unhealthy': [{ slot: number; pid: number; reason: string }];
}

// One generation: N worker slots running one config from one resolved cwd. While it serves, a
// slot whose worker dies is refilled after a capped exponential backoff; before it serves (a
// reload candidate) a death is the generation's failure, reported to the reload.
export class Generation extends EventEmitter<GenerationEvents> {
  readonly id: number;
  readonly config: SupervisorConfig;
  readonly cwd: string;
  readonly startedAt: number;
  readonly #slots: Slot[];
  readonly #deps: GenerationDeps;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  #state: GenerationState;
  #weight = FULL_WEIGHT; // this generation's share while a slow start shifts connections

  readonly release: Release;

  // startedAt: given for a generation an upgrade hands over (it started under the previous program).
  constructor(id: number, config: SupervisorConfig, release: Release, deps: GenerationDeps, initial: GenerationState, startedAt = deps.clock.now()) {
    super();
    this.id = id;
    this.config = config;
    this.release = release;
    this.cwd = release.path;
    this.#deps = deps;
    this.startedAt = startedAt;
    this.#state = initial;
    this.#log = deps.log.child({ gen: id });
    this.#log.info({ release: release.path, revision: release.revision, workers: config.workers }, 'generation created');
    this.#slots = Array.from({ length: config.workers }, (_, index) => ({
      index: index + 1,
      worker: null,
      sockets: null,
      warming: null,
      health: null,
      restarts: 0,
      consecutiveFailures: 0,
      bootFailures: 0,
      crashLooping: false,
      restartTimer: null,
      lastExit: null,
    }));
  }

  get state(): GenerationState {
    return this.#state;
  }

  get workers(): Worker[] {
    return this.#slots.flatMap((slot) => (slot.worker ? [slot.worker] : []));
  }

  readyCount(): number {
    return this.#slots.filter((slot) => slot.worker?.state === 'ready').length;
  }

  /**
   * Starts every worker, at most `concurrency` at a time (0: all at once): the next one when one is
   * ready. Starting N Node processes at once saturates a small machine for a few hundred ms and
   * slows the generation that serves meanwhile; one at a time cut that window's p99 by about a third
   * on 2 cores (docs/configuration.md).
   */
  startAll(concurrency = 0): void {
    const waiting = [...this.#slots];
    const startNext = () => {
      const slot = waiting.shift();
      // A generation that failed or is stopping starts nothing more.
      const over = this.#state === 'failed' || this.#state === 'draining' || this.#state === 'retired';
      if (slot === undefined || over || this.#abort.signal.aborted) return this.off('worker-ready', startNext);
      this.#spawn(slot);
    };
    if (concurrency > 0 && concurrency < waiting.length) this.on('worker-ready', startNext);
    const first = concurrency > 0 ? Math.min(concurrency, waiting.length) : waiting.length;
    for (let i = 0; i < first; i++) startNext();
  }

  // Resolves when every worker is ready; rejects with the first worker that fails.
  whenAllReady(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.readyCount() === this.#slots.length) finish(null);
      };
      const onFailure = (error: WorkerNotReady) => finish(error);
      const onAbort = () => finish(new Error('cancelled: the supervisor is stopping'));
      const finish = (error: Error | null) => {
        this.off('worker-ready', check);
        this.off('candidate-failed', onFailure);
        signal.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      };
      this.on('worker-ready', check);
      this.on('candidate-failed', onFailure);
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      else check();
    });
  }

  // The lifecycle's verbs. Each is one transition of the table; the ones that end the generation
  // also stop its workers, so a caller cannot move the state and forget the processes.

  /** A ready candidate becomes the serving generation: its workers are restarted when they die. */
  promote(): void {
    this.#apply('promote');
  }

  /** The serving generation hands over: it may still get connections, but nothing restarts. */
  handOver(): void {
    this.#apply('drain');
  }

  /** Takes back a generation that was handing over, before its workers were told to drain. */
  reinstate(): void {
    if (this.#abort.signal.aborted) throw new Error(`generation ${this.id} is already draining its workers: it cannot serve again`);
    this.#apply('reinstate');
    // A worker that died while the generation handed over was not restarted: it is now.
    for (const slot of this.#slots) {
      if (slot.worker?.alive || slot.restartTimer) continue;
      slot.restarts++;
      this.#spawn(slot);
    }
  }

  /**
   * A generation that has handed over stays alive for the bake window: steered out, not
   * restarted, ready to be reinstated by a rollback.
   */
  bake(): void {
    this.#apply('bake');
    // Workers started with a park signal (their own config's bake.park_signal) close their
    // keep-alive connections on it and stay up: clients reconnect, to the new generation.
    const signal = this.config.bake.parkSignal;
    if (signal === null) return;
    for (const worker of this.workers) if (worker.alive) worker.signal(signal);
    this.#log.info({ signal }, `bake: asked the workers to close their keep-alive connections (${signal}, bake.park_signal)`);
  }

  /** What the generation's live workers hold in memory (RSS, bytes; a worker gone meanwhile counts 0). */
  rssBytes(): number {
    return this.#slots.reduce((sum, slot) => sum + (slot.worker?.alive ? this.#deps.os.rssBytes(slot.worker.pid) ?? 0 : 0), 0);
  }

  /** A candidate that failed: every worker it started is stopped. */
  async fail(): Promise<void> {
    this.#apply('fail');
    await this.#drainAll();
  }

  /** Drains and ends every worker (steered out first), then the generation is retired. */
  async retire(onDrained?: (done: number, total: number) => void): Promise<{ killed: number; reset: number }> {
    if (this.#state === 'serving' || this.#state === 'starting' || this.#state === 'baking') this.#apply('drain');
    const result = await this.#drainAll(onDrained);
    if (this.#state === 'draining') this.#apply('gone');
    return result;
  }

  /**
   * What `supervisor upgrade` hands to the next program: each slot's worker (pid, times, counts)
   * and the fds it needs to carry on (listeners, output pipes). Only for a serving generation
   * whose workers are all ready: the upgrade refuses otherwise.
   */
  handover(): GenerationHandover {
    return {
      id: this.id,
      startedAt: this.startedAt,
      release: this.release,
      weight: this.#weight,
      slots: this.#slots.map((slot) => {
        const worker = slot.worker;
        if (!worker?.alive || worker.state !== 'ready') throw new Error(`worker ${slot.index} of generation ${this.id} is ${worker?.state ?? 'not started'}, not ready`);
        const output = worker.outputFds();
        return {
          index: slot.index,
          pid: worker.pid,
          startedAt: worker.startedAt,
          readySince: worker.readySince,
          restarts: slot.restarts,
          consecutiveFailures: slot.consecutiveFailures,
          bootFailures: slot.bootFailures,
          crashLooping: slot.crashLooping,
          lastExit: slot.lastExit,
          listenFds: slot.sockets?.owned ? [...slot.sockets.fds] : [],
          stdout: output.stdout,
          stderr: output.stderr,
        };
      }),
    };
  }

  /**
   * The serving generation the program before an upgrade handed over: its running workers taken
   * over as they are. A worker that died meanwhile is a zombie still ours: its exit arrives at
   * once and the restart policy applies, as it would have.
   */
  // makeChild: the handle of a slot's running worker, or null when that pid is no longer this
  // process's child (it cannot be taken over: the slot gets a new worker).
  adoptWorkers(state: GenerationHandover, makeChild: (slot: SlotHandover) => ChildHandle | null): void {
    this.#weight = state.weight;
    for (const saved of state.slots) {
      const slot = this.#slots[saved.index - 1];
      if (!slot) throw new Error(`the handed-over generation ${state.id} has worker ${saved.index}, but the config runs ${this.#slots.length}`);
      slot.restarts = saved.restarts;
      slot.consecutiveFailures = saved.consecutiveFailures;
      slot.bootFailures = saved.bootFailures;
      slot.crashLooping = saved.crashLooping;
      slot.lastExit = saved.lastExit;
      slot.sockets = this.#deps.sockets.adoptedSockets(saved.listenFds);
      const child = makeChild(saved);
      if (child === null) {
        this.#log.error({ worker: slot.index, pid: saved.pid }, `worker ${slot.index} (pid ${saved.pid}) is no longer a child of the supervisor: it cannot be taken over; starting a new one`);
        slot.restarts++;
        this.#spawn(slot);
        continue;
      }
      const worker = new Worker({
        generation: this.id,
        slot: slot.index,
        shimPath: this.#deps.shimPath,
        argv: [this.config.executable, ...this.config.command.slice(1)],
        cwd: this.cwd,
        env: {},
        listenFds: slot.sockets.fds,
        user: this.config.user,
        outputLimit: this.config.outputLimit,
        os: this.#deps.os,
        clock: this.#deps.clock,
        adopt: { child, startedAt: saved.startedAt, readySince: saved.readySince },
      });
      slot.worker = worker;
      const log = this.#log.child({ worker: slot.index, pid: worker.pid });
      log.info({ readySince: saved.readySince === null ? null : new Date(saved.readySince).toISOString() }, 'worker adopted');
      this.#watchWorker(slot, worker, log);
      if (worker.state === 'ready') this.#watchHealth(slot, worker, this.#probeTarget(worker, slot.sockets), log);
    }
  }

  #apply(event: GenerationEvent): void {
    const result = transition(generationTransitions, this.#state, event);
    if (!result.ok) {
      this.#log.warn({ state: this.#state, event }, 'impossible generation event ignored');
      return;
    }
    const from = this.#state;
    this.#state = result.to;
    this.#log.info({ from, to: result.to }, 'generation state');
    this.#deps.events.publish('generation-state', { gen: this.id, from, to: result.to });
    this.emit('state-change', { from, to: result.to });
  }

  // Lets new connections reach every ready worker of this generation (at `weight` relative to
  // other routable sockets), or steers them all away: the change, for SocketPlan.routeMany to
  // apply with another generation's at once. A worker that turns ready later is routed at the
  // generation's weight then.
  routing(routable: boolean, weight = FULL_WEIGHT): { sockets: WorkerSockets[]; routable: boolean; weight: number } {
    this.#weight = weight;
    const chosen = this.#slots.filter((slot) => !routable || slot.worker?.state === 'ready');
    return { sockets: chosen.flatMap((slot) => (slot.sockets ? [slot.sockets] : [])), routable, weight };
  }

  // Stops every worker: pending restarts are cancelled, then each worker is retired. With
  // steering, its sockets are steered out and their queues waited empty before the drain signal,
  // and they leave the port's group only after the worker is gone; without, the supervisor's
  // copies close first. The drain signal goes out and SIGKILL follows at the deadline.
  async #drainAll(onDrained?: (done: number, total: number) => void): Promise<{ killed: number; reset: number }> {
    this.#abort.abort();
    for (const slot of this.#slots) {
      slot.restartTimer?.clear();
      slot.restartTimer = null;
    }
    const plan = this.#deps.sockets;
    const total = this.#slots.filter((slot) => slot.worker?.alive).length;
    let done = 0;
    let killed = 0;
    let reset = 0;
    await Promise.all(
      this.#slots.map(async (slot) => {
        const worker = slot.worker;
        const sockets = slot.sockets;
        if (worker?.alive) {
          const drainStarted = this.#deps.clock.now();
          const log = this.#log.child({ worker: worker.slot, pid: worker.pid });
          if (sockets && plan.steering) {
            const left = await plan.quiesce(sockets, Math.min(this.config.drain.timeoutMs, QUIESCE_LIMIT_MS), () => !worker.alive);
            if (left > 0) log.warn({ queued: left }, 'accept queue did not empty before the drain signal: the worker is not accepting');
          } else if (sockets) {
            reset += plan.release(sockets);
          }
          const result = await worker.drain(this.config.drain.signal, this.config.drain.timeoutMs);
          if (result.killed) {
            killed++;
            log.warn({ timeoutMs: this.config.drain.timeoutMs }, `worker did not exit within drain.timeout after ${this.config.drain.signal}: sent SIGKILL`);
          }
          this.#deps.events.publish('worker-drained', { gen: this.id, worker: worker.slot, pid: worker.pid, durationMs: this.#deps.clock.now() - drainStarted, killed: result.killed });
          onDrained?.(++done, total);
        }
        if (sockets) reset += plan.release(sockets);
        slot.sockets = null;
      }),
    );
    if (reset > 0) this.#log.warn({ reset }, 'connections were still queued when a listener left the group (reset unless tcp_migrate_req moved them)');
    return { killed, reset };
  }

  status(): GenerationStatus {
    const now = this.#deps.clock.now();
    return {
      generation: this.id,
      state: this.#state,
      cwd: this.cwd,
      release: this.release,
      command: this.config.command,
      startedAt: new Date(this.startedAt).toISOString(),
      workers: this.#slots.map((slot): WorkerStatus => {
        const worker = slot.worker;
        const live = worker?.alive ? worker : null;
        return {
          slot: slot.index,
          pid: live ? live.pid : null,
          state: live ? live.state : slot.restartTimer ? 'backoff' : 'exited',
          readySince: live?.readySince ? new Date(live.readySince).toISOString() : null,
          uptimeMs: live ? now - live.startedAt : null,
          restarts: slot.restarts,
          crashLooping: slot.crashLooping,
          acceptQueue: slot.sockets?.owned ? queueDepth(slot.sockets.fds) : null,
          lastExit: slot.lastExit,
          warming: live?.state === 'starting' && slot.warming ? slot.warming.status() : null,
          outputSuppressed: worker?.outputSuppressed ?? 0,
        };
      }),
    };
  }

  #spawn(slot: Slot): void {
    const { config } = this;
    const plan = this.#deps.sockets;
    // With steering a restarted worker takes over its predecessor's socket, and with it whatever
    // connections were waiting there; nothing is routed to it until the new worker is ready.
    const reused = plan.steering && slot.sockets !== null && slot.sockets.fds.length > 0;
    const sockets = reused ? slot.sockets! : plan.forWorker();
    let worker: Worker;
    try {
      worker = new Worker({
        generation: this.id,
        slot: slot.index,
        shimPath: this.#deps.shimPath,
        argv: [config.executable, ...config.command.slice(1)],
        cwd: this.cwd,
        env: this.#environment(slot, sockets.fds.length),
        listenFds: sockets.fds,
        user: config.user,
        outputLimit: config.outputLimit,
        os: this.#deps.os,
        clock: this.#deps.clock,
      });
    } catch (error) {
      if (!reused) plan.release(sockets);
      throw error;
    }
    slot.worker = worker;
    slot.sockets = sockets;
    const log = this.#log.child({ worker: slot.index, pid: worker.pid });
    const warming = new WorkerWarming(worker, config.ready, this.#deps.priority, log, this.#deps.clock);
    slot.warming = warming;
    log.info({ cwd: this.cwd, command: config.command }, 'worker started');
    this.#deps.events.publish('worker-started', { gen: this.id, worker: slot.index, pid: worker.pid, restart: slot.restarts });
    const notified = this.#deps.notify.expect(worker.pid);
    this.#watchWorker(slot, worker, log);
    this.#bringIntoService(slot, worker, sockets, notified, warming, log);
  }

  // The worker's events: its state and output to the log, its exit to the restart policy.
  #watchWorker(slot: Slot, worker: Worker, log: Logger): void {
    const { config } = this;
    const events = this.#deps.events;
    worker.on('state-change', ({ from, to }) => {
      log.info({ from, to }, 'worker state');
      events.publish('worker-state', { gen: this.id, worker: slot.index, pid: worker.pid, from, to });
    });
    worker.on('impossible-event', ({ state, event }) => log.warn({ state, event }, 'impossible worker event ignored'));
    worker.on('output', ({ stream, line }) => this.#deps.output.record({ gen: this.id, worker: slot.index, pid: worker.pid, stream }, line));
    worker.on('output-suppressed', ({ lines }) => {
      log.warn({ suppressed: lines, burst: config.outputLimit.burst, intervalMs: config.outputLimit.intervalMs }, `worker output suppressed: ${lines} line(s) past output_limit were counted, not logged`);
      events.publish('worker-output-suppressed', { gen: this.id, worker: slot.index, pid: worker.pid, lines });
    });
    worker.once('exit', (exit) => {
      this.#deps.notify.forget(worker.pid);
      this.#onExit(slot, worker, log, exit);
    });
  }

  // Ready (by ready.kind), then warmed up (ready.warmup), then routed at normal priority; a worker
  // that fails on the way fails a candidate generation or is replaced in a serving one.
  #bringIntoService(slot: Slot, worker: Worker, sockets: WorkerSockets, notified: Promise<void>, warming: WorkerWarming, log: Logger): void {
    const { config } = this;
    const plan = this.#deps.sockets;
    const probe = this.#probeTarget(worker, sockets);
    const warm = waitUntilReady({
      worker,
      ready: config.ready,
      probe,
      notified,
      signal: this.#abort.signal,
      clock: this.#deps.clock,
    }).then(() => warming.warmUp(probe, this.#abort.signal));
    warm.then(
      () => {
        warming.finish();
        if (!worker.alive || worker.state !== 'starting') return;
        worker.markReady();
        slot.bootFailures = 0;
        slot.crashLooping = false;
        if (this.#state === 'serving') plan.route([sockets], true, this.#weight);
        this.#watchHealth(slot, worker, probe, log);
        this.emit('worker-ready', { slot: slot.index, pid: worker.pid, ready: this.readyCount(), total: this.#slots.length });
      },
      (error: NotReadyError) => {
        warming.cancel();
        if (error.reason === 'aborted') return;
        const failure = new WorkerNotReady(worker, error);
        log.warn({ reason: error.reason, lastLines: failure.lastLines }, failure.message);
        if (this.#state === 'starting') this.emit('candidate-failed', failure);
        else if (error.reason !== 'exit') void this.#replace(slot, worker);
      },
    ).catch((error: Error) => {
      // Marking the worker ready threw (routing it, most likely): a candidate fails with the
      // error instead of waiting for a ready that never comes; a serving worker is replaced.
      log.error({ err: error }, `worker became ready but could not be put in service: ${error.message}`);
      if (this.#state === 'starting') this.emit('candidate-failed', new WorkerNotReady(worker, new NotReadyError('probe', `could not be put in service: ${error.message}`)));
      else void this.#replace(slot, worker);
    });
  }

  // How readiness probes, the warm-up and health checks reach this one worker: through its own
  // socket (a routed source port or block), or, in self mode, by asking who listens on the port.
  #probeTarget(worker: Worker, sockets: WorkerSockets): ProbeTarget {
    const plan = this.#deps.sockets;
    const first = this.config.listen[0]!;
    return {
      address: first,
      route: (sourcePort) => plan.addProbe(sockets, sourcePort),
      ...(plan.steering ? { routeBlock: (size: number) => plan.addProbeBlock(sockets, size) } : {}),
      ...(this.config.socket === 'self' ? { owner: () => groupListensOn(worker.pid, first.port) } : {}),
      ...(sockets.owned ? { queueEmpty: () => (queueDepth(sockets.fds.slice(0, 1)) ?? 0) === 0 } : {}),
    };
  }

  // Liveness checks for a ready worker, through its own socket (steering only: without it a probe
  // could be answered by any worker). Only while the generation serves: a candidate has its
  // readiness, a generation handing over or baking is no longer judged.
  #watchHealth(slot: Slot, worker: Worker, probe: ProbeTarget, log: Logger): void {
    if (this.config.health.kind === 'none' || !this.#deps.sockets.steering) return;
    const watch = new HealthWatch(this.config.health, probe, this.#deps.clock, () => this.#state === 'serving' && worker.state === 'ready', (reason) => {
      log.warn({ reason }, `worker is unhealthy: it ${reason}; replacing it`);
      this.#deps.events.publish('worker-unhealthy', { gen: this.id, worker: slot.index, pid: worker.pid, reason });
      this.emit('worker-unhealthy', { slot: slot.index, pid: worker.pid, reason });
      if (this.#state === 'serving' && worker.alive) void this.#replace(slot, worker);
    });
    slot.health = watch;
    worker.once('exit', () => watch.stop());
    this.#abort.signal.addEventListener('abort', () => watch.stop(), { once: true });
    watch.start();
  }

  // A serving worker that failed its readiness check is ended; its exit triggers the restart.
  async #replace(slot: Slot, worker: Worker): Promise<void> {
    try {
      if (slot.sockets && !this.#deps.sockets.steering) this.#deps.sockets.release(slot.sockets);
      await worker.drain(this.config.drain.signal, this.config.drain.timeoutMs);
    } catch (error) {
      this.#log.error({ err: error, worker: slot.index, pid: worker.pid }, `cannot end a worker that failed its readiness check: ${(error as Error).message}`);
    }
  }

  #onExit(slot: Slot, worker: Worker, log: Logger, exit: { code: number | null; signal: NodeJS.Signals | null }): void {
    slot.lastExit = worker.describeExit();
    const published = { gen: this.id, worker: slot.index, pid: worker.pid, code: exit.code, signal: exit.signal };
    if (this.#state !== 'serving' || this.#abort.signal.aborted) {
      log.info({ code: exit.code, signal: exit.signal }, `worker ${slot.lastExit}`);
      // A generation handing over to the next one during a slow start still gets connections:
      // none may go to a socket that nobody will accept from again.
      if (slot.sockets && this.#deps.sockets.steering) this.#deps.sockets.route([slot.sockets], false);
      this.#deps.events.publish('worker-exit', { ...published, restartInMs: null });
      // A candidate's worker that dies after it was ready, while its siblings are not yet, fails the
      // generation as one that dies before would: otherwise the reload waits for it forever.
      if (this.#state === 'starting' && !this.#abort.signal.aborted && worker.readySince !== null) {
        const cause = new NotReadyError('exit', `${slot.lastExit} after it was ready, before its generation was promoted`);
        this.emit('candidate-failed', new WorkerNotReady(worker, cause));
      }
      return;
    }
    // Steer the dead worker's socket out and keep it for its replacement; without steering its
    // copy closes now, so the kernel stops handing it connections nobody will accept.
    const plan = this.#deps.sockets;
    if (slot.sockets && plan.steering) plan.route([slot.sockets], false);
    else if (slot.sockets) {
      plan.release(slot.sockets);
      slot.sockets = null;
    }
    const wasReady = worker.readySince !== null;
    const stable = wasReady && this.#deps.clock.now() - worker.readySince! >= STABLE_AFTER_MS;
    slot.consecutiveFailures = stable ? 1 : slot.consecutiveFailures + 1;
    if (!wasReady) slot.bootFailures++;
    const delay = restartDelay(this.config.restart, slot.consecutiveFailures);
    if (!slot.crashLooping && slot.bootFailures >= this.config.restart.crashLoop) {
      slot.crashLooping = true;
      log.error(
        { bootFailures: slot.bootFailures, lastLines: worker.tail.lines() },
        `worker is crash looping: it died ${slot.bootFailures} times in a row before it was ready; ` +
          'fix the app or its config and run supervisor reload (restarts continue every restart.max)',
      );
      this.#deps.events.publish('crash-loop', { gen: this.id, worker: slot.index, bootFailures: slot.bootFailures, lastLines: worker.tail.lines() });
    }
    log.warn({ code: exit.code, signal: exit.signal, restartInMs: delay, lastLines: worker.tail.lines().slice(-5) }, `worker ${slot.lastExit}: restarting`);
    this.emit('worker-exit', { slot: slot.index, pid: worker.pid, description: slot.lastExit, lastLines: worker.tail.lines() });
    this.#deps.events.publish('worker-exit', { ...published, restartInMs: delay });
    slot.restartTimer = this.#deps.clock.setTimeout(() => {
      slot.restartTimer = null;
      if (this.#state !== 'serving') return;
      slot.restarts++;
      try {
        this.#spawn(slot);
      } catch (error) {
        log.error({ err: error }, 'cannot restart worker: its listening socket could not be created');
        this.#onExit(slot, worker, log, exit);
      }
    }, delay);
  }

  #environment(slot: Slot, fdCount: number): Record<string, string> {
    const { config } = this;
    return workerEnvironment({
      parent: process.env,
      inherit: config.inheritEnv,
      configured: config.env,
      listen: config.listen,
      listenFds: fdCount,
      notifySocket: this.#deps.notifySocketPath,
      supervisorPid: process.pid,
      generation: this.id,
      worker: slot.index,
      drain: config.drain,
      parkSignal: config.bake.parkSignal,
      ...warmingEnvironment(this.#deps.priority.mechanism, config.ready),
    });
  }
}
