import { realClock, type Clock } from '../clock.js';

/** How often the new generation's share grows during a slow start. */
export const SLOW_START_STEP_MS = 100;

// A slow start: the share of new connections a just-promoted generation gets grows linearly from
// one step's worth to all of it over `durationMs`, in steps of SLOW_START_STEP_MS. Freshly started
// workers run cold code (an interpreter before the JIT has compiled anything, empty caches) and
// serve several times slower for their first second or so; sending them every new connection at
// once queues those connections behind the cold ones, where a ramp lets them warm up on a share
// they can carry while the old generation, still warm, serves the rest.
export class SlowStart {
  readonly durationMs: number;
  readonly steps: number;
  readonly #clock: Clock;

  readonly fromShare: number;

  // fromShare: the share the new generation already has (a canary's); the ramp grows from it.
  constructor(durationMs: number, fromShare = 0, clock: Clock = realClock) {
    this.durationMs = durationMs;
    this.fromShare = fromShare;
    this.#clock = clock;
    this.steps = Math.max(1, Math.ceil(durationMs / SLOW_START_STEP_MS));
  }

  /** The new generation's share (0..1] after `step` steps; step 0 is the first share. */
  share(step: number): number {
    return Math.min(1, this.fromShare + ((1 - this.fromShare) * (step + 1)) / (this.steps + 1));
  }

  // Calls apply(share) after each step until the last share below 1; resolves early on abort.
  async run(apply: (share: number) => void, signal: AbortSignal): Promise<void> {
    const interval = this.durationMs / this.steps;
    for (let step = 1; step < this.steps; step++) {
      try {
        await this.#clock.sleep(interval, signal);
      } catch {
        return; // the supervisor is stopping: both generations drain now
      }
      apply(this.share(step));
    }
    try {
      await this.#clock.sleep(interval, signal);
    } catch {
      // stopping
    }
  }
}
