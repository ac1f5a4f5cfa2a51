import { EventEmitter } from 'node:events';
import { Triggers } from './triggers.js';
import type { ReloadPhase, ReloadPhaseFields, ReloadProgress, ReloadResultData } from '../../control/protocol.js';
import { realClock, type Clock } from '../clock.js';


// The result frame's data: what the CLI and the client face read back.
export type ReloadResult = ReloadResultData;

// One reload as callers see it: progress events while it runs, then one result.
export class ReloadRun extends EventEmitter<{ progress: [ReloadProgress] }> {
  readonly triggers: Triggers;
  canaryShare: number | null = null; // `reload --canary`: this reload holds the new generation at that share
  readonly result: Promise<ReloadResult>;
  #settle!: (result: ReloadResult) => void;

  constructor(trigger: string) {
    super();
    this.triggers = new Triggers(trigger);
    this.result = new Promise((resolve) => (this.#settle = resolve));
  }

  progress<P extends ReloadPhase>(event: P, fields: ReloadPhaseFields[P]): void {
    this.emit('progress', { event, ...fields } as ReloadProgress);
  }

  settle(result: ReloadResult): void {
    this.#settle(result);
  }
}

// One reload at a time. A trigger that arrives while one runs joins a single follow-up, which
// starts when the running one ends, but no sooner than minIntervalMs after it started: a burst of
// triggers spread over that long still costs at most two reloads, and the follow-up, reading the
// config when it starts, loses no change made meanwhile.
export const MIN_RELOAD_INTERVAL_MS = 1000;

export class ReloadQueue {
  #running: ReloadRun | null = null;
  #next: ReloadRun | null = null;
  #lastStart = 0;
  readonly #execute: (run: ReloadRun) => Promise<ReloadResult>;
  readonly #minIntervalMs: number;
  readonly #clock: Clock;

  constructor(execute: (run: ReloadRun) => Promise<ReloadResult>, minIntervalMs = MIN_RELOAD_INTERVAL_MS, clock: Clock = realClock) {
    this.#execute = execute;
    this.#minIntervalMs = minIntervalMs;
    this.#clock = clock;
  }

  get busy(): boolean {
    return this.#running !== null;
  }

  request(trigger: string): ReloadRun {
    if (this.#running === null) {
      const run = new ReloadRun(trigger);
      this.#start(run);
      return run;
    }
    if (this.#next === null) this.#next = new ReloadRun(trigger);
    else this.#next.triggers.add(trigger);
    return this.#next;
  }

  // Refuses the queued follow-up (stop is coming) and waits for the running reload to end.
  async cancelPending(result: Omit<ReloadResult, 'trigger'>): Promise<void> {
    const next = this.#next;
    this.#next = null;
    if (next) next.settle({ ...result, trigger: String(next.triggers) });
    if (this.#running) await this.#running.result;
  }

  #start(run: ReloadRun): void {
    this.#running = run;
    this.#lastStart = this.#clock.now();
    // A reload that throws is settled as failed, like any other outcome: left unhandled it would end
    // the daemon (and its workers with it), and #running would keep every later reload waiting.
    const startedAt = this.#clock.now();
    const failed = (error: unknown): ReloadResult => ({
      outcome: 'failed', generation: null, reason: `reload failed: ${error instanceof Error ? error.message : String(error)}`,
      lastLines: [], trigger: String(run.triggers), release: null, startedAt, durationMs: this.#clock.now() - startedAt,
    });
    void this.#execute(run).catch(failed).then((result) => {
      run.settle(result);
      if (this.#next === null) {
        this.#running = null;
        return;
      }
      // Until the follow-up starts, #running stays set, so later triggers still join it.
      const wait = Math.max(0, this.#lastStart + this.#minIntervalMs - this.#clock.now());
      this.#clock.setTimeout(() => {
        const next = this.#next;
        this.#next = null;
        if (next) this.#start(next);
        else this.#running = null; // cancelled while it waited
      }, wait);
    });
  }
}
