import type { EventFrame } from '../control/protocol.js';

export interface RollingBack {
  generation: number;
  reason: string;
}

// What a reload was doing, from the progress events this client has seen, for the moment it
// stops waiting (--timeout): a sentence for the operator, and whether the daemon has already
// announced the rollback (then the verdict is known: the reload will not be promoted).
export class ReloadSoFar {
  #doing = 'waiting for the supervisor to acknowledge the reload';
  #rollingBack: RollingBack | null = null;
  #last: EventFrame | null = null;

  see(event: EventFrame): void {
    this.#last = event;
    const gen = event.generation;
    switch (event.event) {
      case 'accepted':
        this.#doing = event.queued ? 'queued behind the reload under way' : 'checking the config';
        return;
      case 'starting':
        this.#doing = `starting generation ${gen}: 0/${event.workers} worker(s) ready`;
        return;
      case 'worker-ready':
        this.#doing = `starting generation ${gen}: ${event.ready}/${event.total} worker(s) ready`;
        return;
      case 'rolling-back':
        this.#rollingBack = { generation: Number(gen), reason: String(event.reason) };
        this.#doing = `rolling back generation ${gen} (${String(event.reason)}): stopping it; the old generation serves`;
        return;
      case 'promoted':
        this.#doing = Number(event.slowStartMs) > 0
          ? `generation ${gen} serves: shifting new connections to it from generation ${event.drainingGeneration}`
          : `generation ${gen} serves: draining generation ${event.drainingGeneration}, 0/${event.drainWorkers} worker(s) gone`;
        return;
      case 'shifted':
        this.#doing = `generation ${gen} serves: draining generation ${event.drainingGeneration}`;
        return;
      case 'drained':
        this.#doing = `draining generation ${gen}: ${event.done}/${event.total} worker(s) gone`;
        return;
      default:
        return;
    }
  }

  get doing(): string {
    return this.#doing;
  }

  get rollingBack(): RollingBack | null {
    return this.#rollingBack;
  }

  get lastEvent(): EventFrame | null {
    return this.#last;
  }
}
