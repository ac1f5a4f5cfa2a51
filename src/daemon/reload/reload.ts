import type { Logger } from '../../log.js';
import type { SupervisorConfig } from '../../config/index.js';
import { RESTART_ONLY_KEYS, RESTART_ONLY_REASONS } from '../../config/restart-only.js';
import { describeRelease, type Release } from '../generation/release.js';
import { WorkerNotReady, type Generation } from '../generation/generation.js';
import { FULL_WEIGHT } from '../sockets/steering.js';
import type { Listeners } from '../sockets/plan.js';
import { withOsError } from './os-error.js';
import { SlowStart } from './slow-start.js';
import type { ReloadResult, ReloadRun } from './queue.js';

// One reload, as named steps:
//
//   prepare -> start-candidate -> promote -> shift -> retire
//
// prepare reads and checks the config and touches nothing. start-candidate starts the new
// generation steered out and waits until every worker is ready. promote routes new connections to
// it (all, or a slow start's first share) and makes it the serving generation. shift grows that
// share to all of it. retire drains the previous generation and ends it.
//
// A failure at any step settles the reload and leaves one generation serving: up to and including
// shift, the previous generation (still warm, never told to drain) takes every connection back and
// the candidate is stopped; in retire, the candidate already serves alone and the previous
// generation is ended as planned. Nothing a step throws escapes: the reload answers `failed` (or
// `rolled-back` when the candidate proved unfit), naming the error, and the daemon goes on.
export type ReloadStep = 'prepare' | 'start-candidate' | 'promote' | 'shift' | 'retire';

// What a reload borrows from the supervisor. The supervisor's state follows the reload: `begin`
// is told the config the reload runs under (systemd sizes its timeout extension from it).
export interface ReloadHost {
  readonly configFile: string;
  readonly config: SupervisorConfig; // the config in force
  readonly serving: Generation;
  readonly sockets: Listeners;
  readonly stopping: AbortSignal;
  readonly log: Logger;
  /** reads and validates the config file (in a child process, in the daemon) */
  readConfig(file: string): Promise<SupervisorConfig>;
  newGeneration(config: SupervisorConfig, release: Release): Generation;
  begin(next: SupervisorConfig): void;
  adopt(serving: Generation, config: SupervisorConfig): void;
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
}

export class Reload {
  readonly #host: ReloadHost;
  readonly #run: ReloadRun;
  readonly #startedAt = Date.now();
  readonly #previous: Generation; // the generation serving when the reload began
  readonly #previousConfig: SupervisorConfig;
  #step: ReloadStep | 'settled' = 'prepare';
  #release: Release | null = null;
  #candidate: Generation | null = null;
  #config: SupervisorConfig | null = null; // the config the candidate runs, once read
  #committed = false; // the candidate is the serving generation
  #shift: { ramp: SlowStart; status: SlowStartStatus } | null = null; // a slow start under way

  constructor(host: ReloadHost, run: ReloadRun) {
    this.#host = host;
    this.#run = run;
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
    this.#promote(candidate, plan.config);
    await this.#shiftConnections(candidate);
    const note = await this.#retire();
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
    return { config, release: this.#release };
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
      await candidate.whenAllReady(this.#host.stopping);
    } finally {
      candidate.off('worker-ready', onWorkerReady);
    }
    return candidate;
  }

  // New connections go to the candidate (all, or a slow start's first share), which becomes the
  // serving generation; the previous one hands over: it keeps its connections but gets no restarts.
  #promote(candidate: Generation, config: SupervisorConfig): void {
    this.#enter('promote');
    const previous = this.#previous;
    const slowStartMs = this.#host.sockets.steering ? config.slowStartMs : 0;
    if (slowStartMs > 0) {
      const ramp = new SlowStart(slowStartMs);
      this.#shift = { ramp, status: { generation: candidate.id, from: previous.id, share: ramp.share(0), endsAt: Date.now() + slowStartMs } };
    }
    this.#routeShares(candidate, previous, this.#shift?.status.share ?? 1);
    candidate.promote();
    previous.handOver();
    this.#committed = true;
    this.#host.adopt(candidate, config);
    const drainWorkers = previous.workers.filter((worker) => worker.alive).length;
    this.#run.progress('promoted', { generation: candidate.id, drainingGeneration: previous.id, drainWorkers, slowStartMs });
  }

  // Steering can hand new connections over gradually; shared and migrate modes cannot.
  async #shiftConnections(candidate: Generation): Promise<void> {
    this.#enter('shift');
    const shift = this.#shift;
    if (shift === null) return;
    const previous = this.#previous;
    await shift.ramp.run((share) => {
      shift.status.share = share;
      this.#routeShares(candidate, previous, share);
    }, this.#host.stopping);
    this.#routeShares(candidate, previous, 1);
    this.#run.progress('shifted', { generation: candidate.id, drainingGeneration: previous.id, slowStartMs: shift.ramp.durationMs });
  }

  // Drains the previous generation: queues waited empty, the drain signal, SIGKILL at the deadline.
  async #retire(): Promise<string | null> {
    this.#enter('retire');
    const previous = this.#previous;
    const { killed, reset } = await previous.retire((done, total) => this.#run.progress('drained', { generation: previous.id, done, total }));
    const notes = [
      ...(killed > 0 ? [`${killed} old worker(s) killed at drain.timeout`] : []),
      ...(reset > 0 ? [`${reset} queued connection(s) reset as old listeners closed`] : []),
    ];
    return notes.length > 0 ? notes.join('; ') : null;
  }

  // The failure path, whatever the step: one generation keeps serving and nothing leaks.
  async #recover(error: unknown): Promise<ReloadResult> {
    const step = this.#step as ReloadStep;
    const candidate = this.#candidate;
    const previous = this.#previous;
    const unfit = error instanceof WorkerNotReady || this.#host.stopping.aborted;
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
  #routeShares(next: Generation, other: Generation, share: number): void {
    const weight = Math.max(1, Math.min(FULL_WEIGHT, Math.round(share * FULL_WEIGHT)));
    this.#host.sockets.routeMany([next.routing(true, weight), other.routing(weight < FULL_WEIGHT, FULL_WEIGHT - weight)]);
  }

  // Entering a step releases what only the step before held.
  #enter(step: ReloadStep | 'settled'): void {
    this.#step = step;
    if (step !== 'shift' && step !== 'promote') this.#shift = null;
    if (step === 'settled') return;
    this.#host.log.debug({ step }, 'reload step');
    this.#host.onStep?.(step);
  }

  #finish(outcome: ReloadResult['outcome'], generation: number | null, reason: string | null, lastLines: string[] = []): ReloadResult {
    const trigger = String(this.#run.triggers);
    return { outcome, generation, reason, lastLines, trigger, release: this.#release, startedAt: this.#startedAt, durationMs: Date.now() - this.#startedAt };
  }
}

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
