import type { Clock, Timer } from '../../src/daemon/clock.js';

// Virtual time for the daemon's clock seam: nothing fires until the test moves time on, and then
// every due timer fires in order, each at its own instant, with the promises it sets off settled
// before the next one fires. A 10 s readiness timeout or a 30 s drain deadline passes in
// milliseconds, at exactly the virtual time the config says.
//
// Timers follow Node's rules where they show in a timeline: a delay below 1 ms (or NaN) is 1 ms,
// timers due at the same instant fire in the order they were set, and an unref'd timer does not
// keep the clock busy (runUntilIdle stops when only unref'd ones are left, as the event loop would).

interface Scheduled {
  at: number;
  seq: number; // order of setting: breaks ties between timers due at the same instant
  callback: () => void;
  everyMs: number | null; // an interval: set again after each firing
  ref: boolean;
}

// Turns of the event loop given to real asynchrony between two timers: promise chains, stream
// events and a fake child's exit (emitted on setImmediate, as libuv would) settle within a few.
const SETTLE_TURNS = 10;
// A run that fires this many timers without the awaited outcome is stuck in a loop, not slow.
const MAX_FIRINGS = 100_000;

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Set<Scheduled>();

  // A fixed, plausible wall time, so the ISO timestamps the daemon shows read like real ones.
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): Timer {
    return this.#schedule(callback, ms, null);
  }

  setInterval(callback: () => void, ms: number): Timer {
    return this.#schedule(callback, ms, delayOf(ms));
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const onAbort = () => {
        timer.clear();
        reject(abortError(signal!));
      };
      const timer = this.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Timers not yet fired (unref'd ones included). */
  get pending(): number {
    return this.#timers.size;
  }

  /** Lets promises and events already under way settle, without moving time. */
  async settle(): Promise<void> {
    for (let turn = 0; turn < SETTLE_TURNS; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Moves time on by `ms`, firing every timer due meanwhile in order, each at its own instant. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (let fired = 0; ; fired++) {
      await this.settle();
      const next = this.#next();
      if (next === null || next.at > target) break;
      if (fired >= MAX_FIRINGS) throw new Error(`fake clock: ${MAX_FIRINGS} timers fired within ${ms} ms of virtual time: an interval of 0 ms or a timer loop; look for a timer that sets itself again at once`);
      this.#fire(next);
    }
    this.#now = target;
    await this.settle();
  }

  /** Fires timers in order until only unref'd ones are left (the event loop would be idle). */
  async runUntilIdle(limitMs = 24 * 3600_000): Promise<void> {
    const limit = this.#now + limitMs;
    for (let fired = 0; ; fired++) {
      await this.settle();
      if (![...this.#timers].some((timer) => timer.ref)) return;
      const next = this.#next()!;
      if (next.at > limit || fired >= MAX_FIRINGS) throw new Error(`fake clock: still busy after ${limitMs} ms of virtual time (${fired} timers fired): an interval never cleared, or a timer loop`);
      this.#fire(next);
    }
  }

  /**
   * Moves time on, timer by timer, until `promise` settles; returns its value (or throws its
   * error). Fails when nothing is left to fire and it still has not settled (it waits for
   * something no timer will bring), or after `limitMs` of virtual time.
   */
  async until<T>(promise: Promise<T>, limitMs = 24 * 3600_000): Promise<T> {
    let settled = false;
    promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    const limit = this.#now + limitMs;
    for (let fired = 0; ; fired++) {
      await this.settle();
      if (settled) return promise;
      const next = this.#next();
      if (next === null) throw new Error('fake clock: no timer is left to fire and the awaited promise has not settled: it waits for an event nothing will send (a missing exit, READY=1, or a deadlock)');
      if (next.at > limit || fired >= MAX_FIRINGS) throw new Error(`fake clock: the awaited promise did not settle within ${limitMs} ms of virtual time (${fired} timers fired)`);
      this.#fire(next);
    }
  }

  #schedule(callback: () => void, ms: number, everyMs: number | null): Timer {
    const scheduled: Scheduled = { at: this.#now + delayOf(ms), seq: this.#seq++, callback, everyMs, ref: true };
    this.#timers.add(scheduled);
    const timer: Timer = {
      clear: () => void this.#timers.delete(scheduled),
      unref: () => {
        scheduled.ref = false;
        return timer;
      },
    };
    return timer;
  }

  #next(): Scheduled | null {
    let first: Scheduled | null = null;
    for (const timer of this.#timers) if (first === null || timer.at < first.at || (timer.at === first.at && timer.seq < first.seq)) first = timer;
    return first;
  }

  #fire(timer: Scheduled): void {
    this.#now = Math.max(this.#now, timer.at);
    if (timer.everyMs === null) this.#timers.delete(timer);
    else Object.assign(timer, { at: timer.at + timer.everyMs, seq: this.#seq++ });
    timer.callback();
  }
}

// Node's rule: a delay below 1 ms, above 2^31 - 1 ms, or not a number is 1 ms.
function delayOf(ms: number): number {
  return ms >= 1 && ms <= 2 ** 31 - 1 ? ms : 1;
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}
