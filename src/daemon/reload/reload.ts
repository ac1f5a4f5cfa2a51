import type { Logger } from '../../log.js';
import type { SupervisorConfig } from '../../config/index.js';
import { formatDuration } from '../../config/duration.js';
import { RESTART_ONLY_KEYS, RESTART_ONLY_REASONS } from '../../config/restart-only.js';
import { describeRelease, type Release } from '../generation/release.js';
import { WorkerNotReady, type Generation } from '../generation/generation.js';
import { FULL_WEIGHT } from '../sockets/steering.js';
import type { Listeners } from '../sockets/plan.js';
import { withOsError } from './os-error.js';
import { SlowStart } from './slow-start.js';
import type { ReloadResult, ReloadRun } from './queue.js';
import type { Clock } from '../clock.js';

// One reload, as named steps:
//
//   prepare -> start-candidate -> promote -> canary -> shift -> retire
//
// prepare reads and checks the config and touches nothing. start-candidate starts the new
// generation steered out and waits until every worker is ready. promote routes new connections to
// it (all, a canary's share, or a slow start's first share) and makes it the serving generation.
// canary holds that share until `supervisor promote`, `supervisor rollback`, a worker exit or the
// hold's end. shift grows the share to all of it. retire drains the previous generation and ends it.
//
// A failure at any step settles the reload and leaves one generation serving: up to and including
// shift, the previous generation (still warm, never told to drain) takes every connection back and
// the candidate is stopped; in retire, the candidate already serves alone and the previous
// generation is ended as planned. Nothing a step throws escapes: the reload answers `failed` (or
// `rolled-back` when the candidate proved unfit), naming the error, and the daemon goes on.
export type ReloadStep = 'prepare' | 'start-candidate' | 'promote' | 'canary' | 'shift' | 'retire';

// What a reload borrows from the supervisor. The supervisor's state follows the reload: `begin`
// is told the config the reload runs under (systemd sizes its timeout extension from it).
export interface ReloadHost {
  readonly configFile: string;
  readonly config: SupervisorConfig; // the config in force
  readonly serving: Generation;
  readonly sockets: Listeners;
  readonly stopping: AbortSignal;
  readonly log: Logger;
  readonly clock: Clock;
  /** reads and validates the config file (in a child process, in the daemon) */
  readConfig(file: string): Promise<SupervisorConfig>;
  newGeneration(config: SupervisorConfig, release: Release): Generation;
  begin(next: SupervisorConfig): void;
  adopt(serving: Generation, config: SupervisorConfig): void;
  // The previous generation is kept for the bake window instead of retired (bake.window).
  bake(current: Generation, previous: Generation, previousConfig: SupervisorConfig, windowMs: number): void;
  end(): void;
  // Called as each step is entered; a test throws from it to inject a fault there.
  onStep?: (step: ReloadStep) => void;
}

export interface SlowStartStatus {
  generation: number;
  from: number;
  share: number;
  endsAt: number;
}

interface Plan {
  config: SupervisorConfig;
  release: Release;
  canary: CanaryPlan | null;
}

interface CanaryPlan {
  share: number;
  holdMs: number;
  onExpiry: 'rollback' | 'promote';
}

export interface CanaryStatus {
  generation: number;
  from: number;
  share: number;
  endsAt: number;
  onExpiry: 'rollback' | 'promote';
}

// How a canary ends: promoted (by the operator, or the hold ran out with on_expiry: promote), or
// rolled back (then `error` is what the reload's failure path reports).
type CanaryDecision = { action: 'promote'; reason: string } | { action: 'rollback'; error: Error };

export class Reload {
  readonly #host: ReloadHost;
  readonly #run: ReloadRun;
  readonly #startedAt: number;
  readonly #previous: Generation; // the generation serving when the reload began
  readonly #previousConfig: SupervisorConfig;
  #step: ReloadStep | 'settled' = 'prepare';
  #release: Release | null = null;
  #candidate: Generation | null = null;
  #config: SupervisorConfig | null = null; // the config the candidate runs, once read
  #committed = false; // the candidate is the serving generation
  #shift: { ramp: SlowStart; status: SlowStartStatus } | null = null; // a slow start under way
  readonly #rollback = new AbortController(); // `supervisor rollback` while this reload runs
  #canary: { status: CanaryStatus; decide: (decision: CanaryDecision) => void } | null = null; // a canary holding

  constructor(host: ReloadHost, run: ReloadRun) {
    this.#host = host;
    this.#run = run;
    this.#startedAt = host.clock.now();
    this.#previous = host.serving;
    this.#previousConfig = host.config;
  }

  /** The generation other than the serving one while this reload runs (for status). */
  otherGeneration(): Generation | null {
    const other = this.#committed ? this.#previous : this.#candidate;
    return other && other.state !== 'retired' && other.state !== 'failed' ? other : null;
  }

  get slowStart(): SlowStartStatus | null {
    return this.#shift?.status ?? null;
  }

  get canary(): CanaryStatus | null {
    return this.#canary?.status ?? null;
  }

  /** `supervisor promote`: a holding canary goes on to all new connections. False when none holds. */
  promoteCanary(reason: string): boolean {
    if (!this.#canary) return false;
    this.#canary.decide({ action: 'promote', reason });
    return true;
  }

  /**
   * `supervisor rollback` during this reload: until the previous generation starts to drain (the
   * retire step), the reload stops where it is and the previous generation takes every connection
   * back, as on any failure. False when it is too late for that.
   */
  rollback(reason: string): boolean {
    if (this.#step === 'retire' || this.#step === 'settled' || this.#rollback.signal.aborted) return false;
    this.#rollback.abort(new RollbackRequested(reason));
    return true;
  }

  async run(): Promise<ReloadResult> {
    let plan: Plan | string;
    try {
      plan = await this.#prepare();
    } catch (error) {
      return this.#finish('failed', null, `reload failed in step prepare: ${describe(error)} (nothing was changed)`);
    }
    if (typeof plan === 'string') return this.#finish('refused', null, plan);
    this.#config = plan.config;
    this.#host.begin(plan.config);
    try {
      return await this.#handOver(plan);
    } catch (error) {
      return await this.#recover(error);
    } finally {
      this.#enter('settled');
      this.#host.end();
    }
  }

  async #handOver(plan: Plan): Promise<ReloadResult> {
    const candidate = await this.#startCandidate(plan);
    this.#promote(candidate, plan);
    const canaryShare = await this.#holdCanary(candidate, plan.canary);
    await this.#shiftConnections(candidate, plan.config, canaryShare);
    const note = await this.#retire(candidate);
    return this.#finish('promoted', candidate.id, note);
  }

  // Reads the config again and checks what a reload can apply. Returns the refusal's reason, or
  // what the new generation will run.
  async #prepare(): Promise<Plan | string> {
    this.#enter('prepare');
    let config: SupervisorConfig;
    try {
      config = await this.#host.readConfig(this.#host.configFile);
    } catch (error) {
      return `config rejected, nothing was changed: ${(error as Error).message}`;
    }
    const incompatible = restartOnlyChange(this.#host.config, config);
    if (incompatible) return incompatible;
    try {
      this.#release = describeRelease(config.cwd);
    } catch (error) {
      return `cwd ${config.cwd} cannot be resolved (${(error as NodeJS.ErrnoException).code}): create it or fix cwd:`;
    }
    const share = this.#run.canaryShare ?? config.canary.share;
    if (share > 0 && !this.#host.sockets.steering) {
      return `a canary needs steering (socket: reuseport with lossless: auto or steer): no other mode can give the new generation a share of new connections; reload without --canary (and canary: in the config), or use steering`;
    }
    const canary = share > 0 ? { share, holdMs: config.canary.holdMs, onExpiry: config.canary.onExpiry } : null;
    return { config, release: this.#release, canary };
  }

  // Starts the new generation, steered out, and waits until every worker is ready.
  async #startCandidate({ config, release }: Plan): Promise<Generation> {
    this.#enter('start-candidate');
    const candidate = this.#host.newGeneration(config, release);
    this.#candidate = candidate;
    this.#run.progress('starting', { generation: candidate.id, workers: config.workers, cwd: release.path, revision: release.revision });
    // Removed once the generation is ready: left on a serving generation, this closure would keep
    // the reload, and through it the generation before, alive for as long as the candidate lives.
    const onWorkerReady = ({ slot, pid, ready, total }: { slot: number; pid: number; ready: number; total: number }) =>
      this.#run.progress('worker-ready', { generation: candidate.id, slot, pid, ready, total });
    candidate.on('worker-ready', onWorkerReady);
    try {
      candidate.startAll(config.startConcurrency);
      try {
        await candidate.whenAllReady(AbortSignal.any([this.#host.stopping, this.#rollback.signal]));
      } catch (error) {
        this.#throwIfRolledBack(); // the rollback's reason, not the cancelled wait's
        throw error;
      }
    } finally {
      candidate.off('worker-ready', onWorkerReady);
    }
    return candidate;
  }

  // New connections go to the candidate (all, a canary's share, or a slow start's first share),
  // which becomes the serving generation; the previous one hands over: it keeps its connections but
  // gets no restarts.
  #promote(candidate: Generation, { config, canary }: Plan): void {
    this.#enter('promote');
    const previous = this.#previous;
    const slowStartMs = this.#slowStartMs(config);
    this.#routeShares(candidate, previous, canary?.share ?? (slowStartMs > 0 ? new SlowStart(slowStartMs, 0, this.#host.clock).share(0) : 1));
    candidate.promote();
    previous.handOver();
    this.#committed = true;
    this.#host.adopt(candidate, config);
    const drainWorkers = previous.workers.filter((worker) => worker.alive).length;
    this.#run.progress('promoted', { generation: candidate.id, drainingGeneration: previous.id, drainWorkers, slowStartMs, canaryShare: canary?.share ?? 0 });
  }

  // A canary holds the candidate at its share until a decision: `supervisor promote` (or the hold
  // running out with on_expiry: promote) goes on; `supervisor rollback`, a worker of the candidate
  // exiting, the hold running out with on_expiry: rollback, or a stop throws into the failure path.
  // Returns the share the shift starts from.
  async #holdCanary(candidate: Generation, canary: CanaryPlan | null): Promise<number> {
    this.#enter('canary');
    if (canary === null) return 0;
    const previous = this.#previous;
    const status: CanaryStatus = { generation: candidate.id, from: previous.id, share: canary.share, endsAt: this.#host.clock.now() + canary.holdMs, onExpiry: canary.onExpiry };
    let decide!: (decision: CanaryDecision) => void;
    const decided = new Promise<CanaryDecision>((resolve) => (decide = resolve));
    this.#canary = { status, decide };
    const onExit = ({ slot, pid, description }: { slot: number; pid: number; description: string }) =>
      decide({ action: 'rollback', error: new CanaryFailed(`canary failed: worker ${slot} (pid ${pid}) of generation ${candidate.id} ${description} while it held ${percent(canary.share)} of new connections`) });
    const onUnhealthy = ({ slot, pid, reason }: { slot: number; pid: number; reason: string }) =>
      decide({ action: 'rollback', error: new CanaryFailed(`canary failed: worker ${slot} (pid ${pid}) of generation ${candidate.id} ${reason}`) });
    const onAbort = () => decide({ action: 'rollback', error: this.#rollback.signal.aborted ? (this.#rollback.signal.reason as Error) : new Error('cancelled: the supervisor is stopping') });
    const signal = AbortSignal.any([this.#host.stopping, this.#rollback.signal]);
    const expiry = canary.onExpiry === 'promote'
      ? (): CanaryDecision => ({ action: 'promote', reason: `the canary hold (${formatDuration(canary.holdMs)}) ran out with on_expiry: promote` })
      : (): CanaryDecision => ({ action: 'rollback', error: new CanaryFailed(`the canary hold (${formatDuration(canary.holdMs)}) ran out with no supervisor promote (on_expiry: rollback)`) });
    const timer = this.#host.clock.setTimeout(() => decide(expiry()), canary.holdMs);
    candidate.on('worker-exit', onExit);
    candidate.on('worker-unhealthy', onUnhealthy);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    this.#run.progress('canary', { generation: candidate.id, previousGeneration: previous.id, share: canary.share, holdMs: canary.holdMs, onExpiry: canary.onExpiry });
    try {
      const decision = await decided;
      if (decision.action === 'rollback') throw decision.error;
      this.#run.progress('canary-promoted', { generation: candidate.id, reason: decision.reason });
      return canary.share;
    } finally {
      timer.clear();
      candidate.off('worker-exit', onExit);
      candidate.off('worker-unhealthy', onUnhealthy);
      signal.removeEventListener('abort', onAbort);
      this.#canary = null;
    }
  }

  // Steering can hand new connections over gradually (from a canary's share, if one held);
  // shared and migrate modes cannot.
  async #shiftConnections(candidate: Generation, config: SupervisorConfig, fromShare: number): Promise<void> {
    this.#enter('shift');
    const previous = this.#previous;
    const slowStartMs = this.#slowStartMs(config);
    if (slowStartMs === 0) {
      if (fromShare > 0) this.#routeShares(candidate, previous, 1); // a canary promoted: all at once
      return;
    }
    const ramp = new SlowStart(slowStartMs, fromShare, this.#host.clock);
    const shift = { ramp, status: { generation: candidate.id, from: previous.id, share: ramp.share(0), endsAt: this.#host.clock.now() + slowStartMs } };
    this.#shift = shift;
    this.#routeShares(candidate, previous, shift.status.share);
    await ramp.run((share) => {
      shift.status.share = share;
      this.#routeShares(candidate, previous, share);
    }, AbortSignal.any([this.#host.stopping, this.#rollback.signal]));
    this.#throwIfRolledBack();
    this.#routeShares(candidate, previous, 1);
    this.#run.progress('shifted', { generation: candidate.id, drainingGeneration: previous.id, slowStartMs });
  }

  #slowStartMs(config: SupervisorConfig): number {
    return this.#host.sockets.steering ? config.slowStartMs : 0;
  }

  // Drains the previous generation: queues waited empty, the drain signal, SIGKILL at the deadline.
  // With a bake window it is kept instead, alive and steered out, for a rollback.
  async #retire(candidate: Generation): Promise<string | null> {
    this.#enter('retire');
    const previous = this.#previous;
    const bake = bakePlan(candidate.config, previous, this.#host.sockets.steering);
    if (bake.windowMs > 0) {
      this.#host.bake(candidate, previous, this.#previousConfig, bake.windowMs);
      return `generation ${previous.id} bakes for ${formatSeconds(bake.windowMs)}: supervisor rollback brings it back`;
    }
    const { killed, reset } = await previous.retire((done, total) => this.#run.progress('drained', { generation: previous.id, done, total }));
    const notes = [
      ...(bake.skipped ? [bake.skipped] : []),
      ...(killed > 0 ? [`${killed} old worker(s) killed at drain.timeout`] : []),
      ...(reset > 0 ? [`${reset} queued connection(s) reset as old listeners closed`] : []),
    ];
    return notes.length > 0 ? notes.join('; ') : null;
  }

  #throwIfRolledBack(): void {
    if (this.#rollback.signal.aborted) throw this.#rollback.signal.reason as RollbackRequested;
  }

  // The failure path, whatever the step: one generation keeps serving and nothing leaks.
  async #recover(error: unknown): Promise<ReloadResult> {
    const step = this.#step as ReloadStep;
    const candidate = this.#candidate;
    const previous = this.#previous;
    const unfit = error instanceof WorkerNotReady || error instanceof RollbackRequested || error instanceof CanaryFailed || this.#host.stopping.aborted;
    if (candidate && step !== 'retire') {
      this.#run.progress('rolling-back', { generation: candidate.id, reason: describe(error) });
      await this.#attempt('take the previous generation back', () => {
        if (this.#committed) {
          previous.reinstate();
          this.#host.adopt(previous, this.#previousConfig);
          this.#committed = false;
        }
        this.#routeShares(previous, candidate, 1);
      });
      await this.#attempt(`stop generation ${candidate.id}`, () => (candidate.state === 'starting' ? candidate.fail() : candidate.retire()));
    } else if (step === 'retire') {
      await this.#attempt(`finish draining generation ${previous.id}`, () => previous.retire());
    }
    const lastLines = error instanceof WorkerNotReady ? error.lastLines : [];
    // An OS error (EMFILE, EAGAIN) says which call failed and what to raise, with the numbers.
    const cause = withOsError(describe(error), error, this.#config ?? this.#previousConfig);
    if (unfit && candidate) return this.#finish('rolled-back', candidate.id, `generation ${candidate.id}: ${cause}`, lastLines);
    const kept = step === 'retire' ? `generation ${candidate?.id} serves` : `generation ${previous.id} kept serving${candidate ? `, generation ${candidate.id} was stopped` : ''}`;
    return this.#finish('failed', candidate?.id ?? null, `reload failed in step ${step}: ${cause} (${kept})`);
  }

  // A clean-up that fails is logged, never thrown: the failure being handled is the one to report.
  async #attempt(what: string, action: () => void | Promise<unknown>): Promise<void> {
    try {
      await action();
    } catch (error) {
      this.#host.log.error({ err: error }, `reload clean-up: cannot ${what}: ${describe(error)}; the supervisor goes on: check the generations with supervisor status, and stop any worker left over by its pid`);
    }
  }

  // The new generation takes `share` (0..1] of new connections, the other one the rest (none at
  // 1), in one program attach.
  // The weights are per socket, so each generation's is divided by its number of workers: with 2
  // old and 4 new workers a 10% canary is 10% of connections, not 4x10 against 2x90.
  #routeShares(next: Generation, other: Generation, share: number): void {
    if (share >= 1) {
      this.#host.sockets.routeMany([next.routing(true, FULL_WEIGHT), other.routing(false, 0)]);
      return;
    }
    const [nextWeight, otherWeight] = shareWeights(share, Math.max(1, next.readyCount()), Math.max(1, other.readyCount()));
    this.#host.sockets.routeMany([next.routing(true, nextWeight), other.routing(true, otherWeight)]);
  }

  // Entering a step releases what only the step before held.
  #enter(step: ReloadStep | 'settled'): void {
    this.#step = step;
    if (step !== 'shift') this.#shift = null;
    if (step === 'settled') return;
    this.#host.log.debug({ step }, 'reload step');
    this.#host.onStep?.(step);
  }

  #finish(outcome: ReloadResult['outcome'], generation: number | null, reason: string | null, lastLines: string[] = []): ReloadResult {
    const trigger = String(this.#run.triggers);
    return { outcome, generation, reason, lastLines, trigger, release: this.#release, startedAt: this.#startedAt, durationMs: this.#host.clock.now() - this.#startedAt };
  }
}

// Per-socket weights for a share go up to this: fine enough for 1% against 256 workers, and the
// program's total (at most 256 x this) stays far below the 2^32 of its random number.
const SHARE_RESOLUTION = 1_000_000;

/**
 * Per-socket weights (1..SHARE_RESOLUTION) that give the next generation `share` (0..1) of new
 * connections and the other the rest, with nextWorkers and otherWorkers sockets each.
 */
export function shareWeights(share: number, nextWorkers: number, otherWorkers: number): [number, number] {
  const next = share / nextWorkers;
  const other = (1 - share) / otherWorkers;
  const scale = SHARE_RESOLUTION / Math.max(next, other);
  return [Math.max(1, Math.round(next * scale)), Math.max(1, Math.round(other * scale))];
}

/** A canary ended in a rollback: a worker exited, or the hold ran out with on_expiry: rollback. */
export class CanaryFailed extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'CanaryFailed';
  }
}

const percent = (share: number) => `${Math.round(share * 1000) / 10}%`;

/** `supervisor rollback` stopped the reload. */
export class RollbackRequested extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RollbackRequested';
  }
}

// Whether the previous generation bakes: only with steering (without it the previous
// generation's workers would go on accepting new connections), and only within bake.max_rss.
function bakePlan(config: SupervisorConfig, previous: Generation, steering: boolean): { windowMs: number; skipped: string | null } {
  const { windowMs, maxRssBytes } = config.bake;
  if (windowMs === 0) return { windowMs: 0, skipped: null };
  if (!steering) return { windowMs: 0, skipped: 'bake skipped: it needs steering (socket: reuseport with lossless: auto or steer)' };
  if (maxRssBytes > 0) {
    const rss = previous.rssBytes();
    if (rss > maxRssBytes) return { windowMs: 0, skipped: `bake skipped: generation ${previous.id} holds ${megabytes(rss)} MB, over bake.max_rss (${megabytes(maxRssBytes)} MB)` };
  }
  return { windowMs, skipped: null };
}

const megabytes = (bytes: number) => Math.round(bytes / 1024 ** 2);
const formatSeconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`);

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// A key only a restart can apply (RESTART_ONLY_KEYS, with the reason for each) refuses the reload.
function restartOnlyChange(current: SupervisorConfig, next: SupervisorConfig): string | null {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const changed = RESTART_ONLY_KEYS.find((key) => !same(current[key], next[key]));
  if (changed === undefined) return null;
  return `config changes '${changed}', which a reload cannot apply (${RESTART_ONLY_REASONS[changed]}): revert it and reload, or restart the supervisor to apply it`;
}
