import { EventEmitter } from 'node:events';

import type { LifecycleEventName, LifecycleFields } from '../control/protocol.js';

// The daemon's lifecycle events, one bus per supervisor: what `supervisor events` streams and what
// the metrics count. Each event is a fact with the same fields as its log line (gen, worker, pid,
// from/to), plus `event` (its name) and `time` (ISO 8601). The catalogue of names and fields is
// LifecycleFields in the control protocol, shared with the CLI.
export type { LifecycleEventName };

export interface LifecycleEvent {
  event: LifecycleEventName;
  time: string;
  [field: string]: unknown;
}

// A subscriber is a function; unsubscribe with the function subscribe() returns. Listeners are not
// capped (each `supervisor events` client is one), but subscribers() tells how many there are, so
// a leak shows in `status`.
export class LifecycleBus {
  readonly #emitter = new EventEmitter<{ event: [LifecycleEvent] }>();

  constructor() {
    this.#emitter.setMaxListeners(0);
  }

  publish<N extends LifecycleEventName>(event: N, fields: LifecycleFields[N]): void {
    const record: LifecycleEvent = { ...fields, event, time: new Date().toISOString() };
    // A subscriber that throws must not break the lifecycle step that published the event.
    for (const listener of this.#emitter.listeners('event') as Array<(event: LifecycleEvent) => void>) {
      try {
        listener(record);
      } catch {
        // the subscriber's own problem (a closed control connection, a metrics bug)
      }
    }
  }

  subscribe(listener: (event: LifecycleEvent) => void): () => void {
    this.#emitter.on('event', listener);
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      this.#emitter.off('event', listener);
    };
  }

  subscribers(): number {
    return this.#emitter.listenerCount('event');
  }
}
