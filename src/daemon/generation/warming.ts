import type { Logger } from '../../log.js';
import type { SupervisorConfig } from '../../config/index.js';
import type { WarmingReport } from '../../control/protocol.js';
import type { Worker } from '../process/worker.js';
import { setWarmingNice, type PriorityChoice, type PriorityMechanism } from '../process/priority.js';
import { WarmingPriority } from '../process/priority-aging.js';
import { NotReadyError, type ProbeTarget } from './readiness.js';
import { warmUp } from './warmup.js';
import type { Clock } from '../clock.js';

type ReadyConfig = SupervisorConfig['ready'];

/** What `status` shows of a worker still warming up. */
export interface WarmingStatus {
  nice: number | null; // the warming nice value in force; null: normal priority
  warmup: { done: number; total: number } | null; // the supervisor's warm-up, once it started
}

// One new worker's way into service: it starts at a low CPU priority that rises step by step
// (priority aging), proves it is ready, takes the supervisor's warm-up requests when configured,
// and is back at normal priority when it joins the serving set.
export class WorkerWarming {
  readonly #worker: Worker;
  readonly #ready: ReadyConfig;
  readonly #log: Logger;
  readonly #priority: WarmingPriority;
  readonly #clock: Clock;
  #warmup: { done: number; total: number } | null = null;

  constructor(worker: Worker, ready: ReadyConfig, choice: PriorityChoice, log: Logger, clock: Clock) {
    this.#worker = worker;
    this.#ready = ready;
    this.#log = log;
    this.#clock = clock;
    const pid = worker.pid;
    this.#priority = new WarmingPriority(
      choice.mechanism,
      agingPlan(ready),
      (nice) => setWarmingNice(choice.mechanism, pid, nice),
      (error, wanted) => log.warn({ err: error, mechanism: choice.mechanism, nice: wanted }, describePriorityError(choice.mechanism, pid, wanted, error)),
      clock,
    );
    this.#priority.start();
  }

  /**
   * The supervisor's warm-up, when ready.warmup is set and the probe route reaches this one worker
   * (it does with steering; the supervisor warns at start when it does not). Rejects with a
   * NotReadyError: the worker then fails readiness.
   */
  async warmUp(probe: ProbeTarget, signal: AbortSignal): Promise<void> {
    const plan = this.#ready.warmup;
    if (plan === null) return;
    if (!probe.routeBlock) {
      this.#log.warn(warmupUnavailable);
      return;
    }
    const worker = this.#worker;
    this.#warmup = { done: 0, total: plan.requests };
    const exited = worker.exited().then(() => {
      throw new NotReadyError('exit', `${worker.describeExit()} during its warm-up`);
    });
    const outcome = await Promise.race([
      warmUp({ address: probe.address, routeBlock: probe.routeBlock }, plan, {
        signal,
        // Counted from the worker's start, as the aging is: by default the warm-up ends when the
        // priority reaches 0, and never past ready.timeout. The worker is ready; only its warm-up is cut.
        deadline: worker.startedAt + Math.min(plan.timeoutMs, this.#ready.timeoutMs),
        onProgress: (done, total) => (this.#warmup = { done, total }),
        clock: this.#clock,
      }),
      exited,
    ]);
    exited.catch(() => {}); // settles when the worker exits one day; nobody waits for it then
    const fields = { requests: outcome.requests, of: plan.requests, connections: outcome.connections, durationMs: outcome.durationMs, statuses: outcome.statuses, nice: this.#priority.nice };
    if (!outcome.cutShort) this.#log.info(fields, 'warm-up done');
    else this.#log.warn(fields, `warm-up cut short after ${outcome.durationMs} ms (ready.warmup.timeout or ready.timeout): ${outcome.requests} of ${plan.requests} requests answered; the worker goes into service less warm. On a busy machine this is expected; else raise ready.warmup.timeout or lower ready.warmup.requests`);
  }

  /** The worker joins the serving set: normal priority again. */
  finish(): void {
    const error = this.#priority.restore();
    if (error) this.#log.warn({ err: error, mechanism: this.#priority.mechanism }, describePriorityError(this.#priority.mechanism, this.#worker.pid, 0, error));
  }

  /** The worker failed or exited: stop raising its priority. */
  cancel(): void {
    this.#priority.cancel();
  }

  status(): WarmingStatus {
    return { nice: this.#priority.nice, warmup: this.#warmup };
  }
}

// The aging reaches 0 by half the ready timeout at the latest: the rest of the timeout runs at
// normal priority, so a worker that times out was slow or broken, not starved.
export function agingPlan(ready: ReadyConfig): { startNice: number; rampMs: number } {
  return { startNice: ready.nice, rampMs: Math.min(ready.niceRampMs, Math.floor(ready.timeoutMs / 2)) };
}

/**
 * What a starting worker is told: SUPERVISOR_READY_TIMEOUT_MS, so a worker warming itself up
 * stops in time (the Node helper takes at most half of it); SUPERVISOR_NICE for the exec shim,
 * which sets thread nice values before exec so every thread inherits them.
 */
// What the exec shim applies before the worker's program runs: its start-up (Node's bootstrap, the
// first tens of ms of CPU) is then at the warming priority too, not at normal priority until the
// supervisor's first write lands.
export function warmingEnvironment(mechanism: PriorityMechanism, ready: ReadyConfig): { nice: number; autogroupNice: number; readyTimeoutMs: number } {
  return { readyTimeoutMs: ready.timeoutMs, nice: mechanism === 'nice' ? ready.nice : 0, autogroupNice: mechanism === 'autogroup' ? ready.nice : 0 };
}

function describePriorityError(mechanism: PriorityMechanism, pid: number, wanted: number, error: NodeJS.ErrnoException): string {
  const code = error.code ?? 'error';
  if (error.code === 'ESHAREDGROUP') return `${error.message}; it warms up at normal priority`;
  if (mechanism === 'autogroup') {
    return `cannot set the autogroup nice of worker ${pid} to ${wanted} (${code}: ${error.message}): the supervisor may write /proc/PID/autogroup only for its own user's processes; run it as root, or set ready.nice: 0`;
  }
  return `cannot set the threads of worker ${pid} to nice ${wanted} (${code}: ${error.message}): lowering a nice value needs CAP_SYS_NICE or RLIMIT_NICE; run the supervisor as root or with LimitNICE=0 in its unit, or set ready.nice: 0`;
}

/** `status`'s account of how new workers warm up under this config on this machine. */
export function warmingReport(config: SupervisorConfig, choice: PriorityChoice, steering: boolean): WarmingReport {
  const { ready } = config;
  const plan = agingPlan(ready);
  const priority: WarmingReport['priority'] =
    ready.nice === 0
      ? { mechanism: 'none', reason: `ready.nice is 0: new workers start at normal priority (this machine would use ${choice.mechanism}: ${choice.reason})`, nice: 0, rampMs: 0 }
      : { mechanism: choice.mechanism, reason: choice.reason, nice: choice.mechanism === 'none' ? 0 : plan.startNice, rampMs: choice.mechanism === 'none' ? 0 : plan.rampMs };
  const warmup = ready.warmup && {
    requests: ready.warmup.requests,
    paths: ready.warmup.paths,
    concurrency: ready.warmup.concurrency,
    timeoutMs: ready.warmup.timeoutMs,
    available: steering,
    reason: steering ? null : warmupUnavailable,
  };
  return { priority, warmup };
}

/** Said at start-up and in `status` when ready.warmup is set but nothing can route it. */
export const warmupUnavailable = 'ready.warmup is set, but the supervisor has no steering here (socket activation passed shared listeners, or the kernel refused the BPF program with lossless: auto), so warm-up requests could not be routed to one new worker: workers go into service without the warm-up; warm up inside the worker (the Node helper: serveHttp(handler, { warmup })) or fix steering (supervisor doctor)';
