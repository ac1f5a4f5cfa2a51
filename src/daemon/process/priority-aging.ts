import type { PriorityMechanism } from './priority.js';
import { realClock, type Clock, type Timer } from '../clock.js';

// Priority aging: a warming worker starts at a low priority and is raised step by step while it
// is still not ready, so a saturated machine delays a reload but never starves the new generation
// into its ready timeout (measured: a fixed autogroup nice 19 under a saturated closed loop
// promoted 0 of 20 reloads). The nice value falls linearly from `startNice` to 0 over `rampMs`,
// one whole nice value per step; each step gives the worker about 1.25 times the CPU weight of
// the step before (the kernel's nice-to-weight table).
export interface AgingPlan {
  startNice: number; // 0..19; 0: no lowering at all
  rampMs: number; // from startNice to 0 over this long; 0: stay at startNice until ready
}

/** The warming nice value `elapsedMs` after the worker started. */
export function niceAt(plan: AgingPlan, elapsedMs: number): number {
  if (plan.startNice <= 0) return 0;
  if (plan.rampMs <= 0) return plan.startNice;
  if (elapsedMs >= plan.rampMs) return 0;
  return Math.ceil(plan.startNice * (1 - Math.max(0, elapsedMs) / plan.rampMs) - 1e-9);
}

/** When (ms after the start) the value next changes after `elapsedMs`; null when it no longer does. */
export function nextStepAt(plan: AgingPlan, elapsedMs: number): number | null {
  if (plan.startNice <= 0 || plan.rampMs <= 0 || elapsedMs >= plan.rampMs) return null;
  const stepMs = plan.rampMs / plan.startNice;
  return Math.min(plan.rampMs, (Math.floor(Math.max(0, elapsedMs) / stepMs + 1e-9) + 1) * stepMs);
}

/** The whole schedule, for docs and `doctor`: [ms after start, nice] at each change. */
export function agingSteps(plan: AgingPlan): [number, number][] {
  const steps: [number, number][] = [[0, niceAt(plan, 0)]];
  for (let at = nextStepAt(plan, 0); at !== null; at = nextStepAt(plan, at)) steps.push([Math.round(at), niceAt(plan, at)]);
  return steps;
}

// A failed write without CAP_SYS_ADMIN within 100 ms of another autogroup write is EAGAIN.
const RETRY_MS = 110;

export type ApplyNice = (nice: number) => NodeJS.ErrnoException | null;

// One warming worker's priority over time: set to the start value at once, raised at each step
// of the plan, and set to 0 by restore() (at ready) or left by cancel() (the worker exited).
// A write the kernel refuses is reported once through onError and ends the aging: the value
// already set stays (restore() still tries 0).
export class WarmingPriority {
  readonly mechanism: PriorityMechanism;
  readonly #plan: AgingPlan;
  readonly #apply: ApplyNice;
  readonly #onError: (error: NodeJS.ErrnoException, wanted: number) => void;
  readonly #clock: Clock;
  readonly #startedAt: number;
  #timer: Timer | null = null;
  #nice: number | null = null; // last value the kernel took; null: not lowered (or restored)
  #failed = false;

  constructor(mechanism: PriorityMechanism, plan: AgingPlan, apply: ApplyNice, onError: (error: NodeJS.ErrnoException, wanted: number) => void, clock: Clock = realClock) {
    this.mechanism = mechanism;
    this.#clock = clock;
    this.#startedAt = clock.now();
    this.#plan = plan;
    this.#apply = apply;
    this.#onError = onError;
  }

  /** The warming nice value in force, or null when the worker runs at normal priority. */
  get nice(): number | null {
    return this.#nice;
  }

  start(): void {
    if (this.mechanism === 'none' || this.#plan.startNice <= 0) return;
    this.#step();
  }

  /** Back to nice 0 (the worker is ready). Returns the kernel's refusal, if any. */
  restore(): NodeJS.ErrnoException | null {
    this.cancel();
    if (this.#nice === null || this.#nice === 0) {
      this.#nice = null;
      return null;
    }
    const error = this.#apply(0);
    if (error === null) this.#nice = null;
    return error;
  }

  cancel(): void {
    this.#timer?.clear();
    this.#timer = null;
  }

  #step(): void {
    this.#timer = null;
    const elapsed = this.#clock.now() - this.#startedAt;
    const wanted = niceAt(this.#plan, elapsed);
    if (wanted !== this.#nice && !(this.#nice === null && wanted === 0)) {
      const error = this.#apply(wanted);
      if (error?.code === 'EAGAIN') return this.#schedule(RETRY_MS);
      if (error) {
        if (!this.#failed) this.#onError(error, wanted);
        this.#failed = true;
        return;
      }
      this.#nice = wanted;
    }
    const next = nextStepAt(this.#plan, elapsed);
    if (next !== null) this.#schedule(Math.max(1, Math.ceil(next - elapsed)));
  }

  #schedule(ms: number): void {
    this.#timer = this.#clock.setTimeout(() => this.#step(), ms).unref();
  }
}
