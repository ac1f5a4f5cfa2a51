import { setTimeout as sleepFor } from 'node:timers/promises';

// Time as the daemon uses it, in one place: every deadline, backoff, ramp and poll of the daemon
// reads now() and sets its timers here, so a unit test can run a 10 s readiness timeout or a 30 s
// drain in virtual time (test/helpers/fake-clock.ts). now() is wall time in milliseconds, as
// Date.now(): the timestamps status shows are taken from it too.
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): Timer;
  setInterval(callback: () => void, ms: number): Timer;
  // Resolves after `ms`; rejects with an AbortError when `signal` aborts first (as
  // node:timers/promises does).
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface Timer {
  clear(): void; // a timer that already fired, or was cleared, ignores this
  unref(): Timer; // the process may exit while this timer is pending
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => nodeTimer(setTimeout(callback, ms)),
  setInterval: (callback, ms) => nodeTimer(setInterval(callback, ms)),
  sleep: (ms, signal) => sleepFor(ms, undefined, signal ? { signal } : undefined),
};

function nodeTimer(timeout: NodeJS.Timeout): Timer {
  const timer: Timer = {
    clear: () => clearTimeout(timeout), // clears an interval too: one kind of handle in Node
    unref: () => {
      timeout.unref();
      return timer;
    },
  };
  return timer;
}
