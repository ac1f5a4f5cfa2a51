import type { Logger } from '../../log.js';
import type { SupervisorConfig } from '../../config/index.js';
import type { Generation } from '../generation/generation.js';
import type { Listeners } from '../sockets/plan.js';
import { FULL_WEIGHT } from '../sockets/steering.js';
import type { LifecycleBus } from '../events.js';
import type { Clock, Timer } from '../clock.js';

// The bake window (bake.window): after a promotion the previous generation stays alive and warm,
// steered out and not restarted, so a rollback is one program attach instead of a cold reload.
// It ends one of three ways:
//
//   window runs out, or a new reload / a stop ends it -> the previous generation drains, as a
//                                                         reload without a bake would have done
//   `supervisor rollback`, or the new generation fails -> the previous generation takes every new
//                                                         connection back and serves; the new one drains
//
// Only one of them happens: the first settles the bake and the others find it settled.

export interface BakeHost {
  readonly sockets: Listeners;
  readonly log: Logger;
  readonly events: LifecycleBus;
  readonly clock: Clock;
  // The serving generation and the config in force become these again (a rollback).
  adopt(serving: Generation, config: SupervisorConfig): void;
  // A rollback, once new connections reach the previous generation and again once the rolled-back one drained.
  rolledBack(result: RollbackResult, phase: 'steered' | 'drained'): void;
}

export interface RollbackResult {
  generation: number; // serving again
  from: number; // rolled back from, now draining
  reason: string;
  automatic: boolean;
  steeredMs: number; // from the request to new connections reaching the previous generation
  durationMs: number; // until the rolled-back generation has drained
  killed: number;
}

export interface BakeStatus {
  generation: number;
  previous: number;
  endsAt: string;
  remainingMs: number;
  previousRssBytes: number;
  exits: number;
  maxExits: number;
}

export class Bake {
  readonly current: Generation;
  readonly previous: Generation;
  readonly #previousConfig: SupervisorConfig;
  readonly #host: BakeHost;
  readonly #endsAt: number;
  readonly #maxExits: number;
  readonly #timer: Timer;
  readonly #onWorkerExit: (exit: { slot: number; pid: number; description: string }) => void;
  readonly #onUnhealthy: (failure: { slot: number; pid: number; reason: string }) => void;
  #exits = 0;
  #settled: Promise<unknown> | null = null;
  readonly #done: Promise<void>;
  #resolveDone!: () => void;

  constructor(host: BakeHost, current: Generation, previous: Generation, previousConfig: SupervisorConfig, windowMs: number) {
    this.#host = host;
    this.current = current;
    this.previous = previous;
    this.#previousConfig = previousConfig;
    this.#endsAt = host.clock.now() + windowMs;
    this.#maxExits = current.config.bake.maxExits;
    this.#done = new Promise((resolve) => (this.#resolveDone = resolve));
    previous.bake();
    this.#timer = host.clock.setTimeout(() => void this.end(`the bake window (${windowMs} ms) ended with no failure`), windowMs);
    this.#onWorkerExit = ({ slot, pid, description }) => {
      this.#exits++;
      if (this.#exits <= this.#maxExits) return;
      const allowed = this.#maxExits === 0 ? 'no exit is tolerated' : `${this.#maxExits} tolerated (bake.max_exits)`;
      void this.rollback(`worker ${slot} (pid ${pid}) of generation ${current.id} ${description} during the bake window: ${this.#exits} exit(s), ${allowed}`, true);
    };
    current.on('worker-exit', this.#onWorkerExit);
    this.#onUnhealthy = ({ slot, pid, reason }) => void this.rollback(`worker ${slot} (pid ${pid}) of generation ${current.id} ${reason} during the bake window`, true);
    current.on('worker-unhealthy', this.#onUnhealthy);
    host.events.publish('bake-start', { gen: current.id, previous: previous.id, windowMs, previousRssBytes: previous.rssBytes() });
    host.log.info({ gen: current.id, previous: previous.id, windowMs }, `bake: generation ${previous.id} stays warm for ${windowMs} ms; supervisor rollback brings it back`);
  }

  /** Resolves once the bake has settled and whatever it drains has drained. */
  get done(): Promise<void> {
    return this.#done;
  }

  get open(): boolean {
    return this.#settled === null;
  }

  status(): BakeStatus {
    return {
      generation: this.current.id,
      previous: this.previous.id,
      endsAt: new Date(this.#endsAt).toISOString(),
      remainingMs: Math.max(0, this.#endsAt - this.#host.clock.now()),
      previousRssBytes: this.previous.rssBytes(),
      exits: this.#exits,
      maxExits: this.#maxExits,
    };
  }

  /**
   * The previous generation serves again: every new connection goes to it in one program attach,
   * then the current generation drains. Null when the bake had already settled.
   */
  async rollback(reason: string, automatic = false): Promise<RollbackResult | null> {
    if (!this.#settle()) return null;
    const requested = this.#host.clock.now();
    const { current, previous } = this;
    const { sockets, log, events } = this.#host;
    sockets.routeMany([previous.routing(true, FULL_WEIGHT), current.routing(false, 0)]);
    previous.reinstate();
    this.#host.adopt(previous, this.#previousConfig);
    const steeredMs = this.#host.clock.now() - requested;
    log.warn({ gen: previous.id, from: current.id, reason, automatic, steeredMs }, `rolled back to generation ${previous.id}: ${reason}`);
    events.publish('rollback', { gen: previous.id, from: current.id, reason, automatic, steeredMs });
    const result: RollbackResult = { generation: previous.id, from: current.id, reason, automatic, steeredMs, durationMs: 0, killed: 0 };
    this.#host.rolledBack(result, 'steered');
    try {
      result.killed = (await current.retire()).killed;
    } finally {
      this.#resolveDone();
    }
    result.durationMs = this.#host.clock.now() - requested;
    this.#host.rolledBack(result, 'drained');
    return result;
  }

  /** Ends the bake without a rollback: the previous generation drains. */
  async end(why: string): Promise<void> {
    if (!this.#settle()) return this.#done;
    this.#host.log.info({ gen: this.current.id, previous: this.previous.id }, `bake ended: ${why}; generation ${this.previous.id} drains`);
    this.#host.events.publish('bake-end', { gen: this.current.id, previous: this.previous.id, reason: why });
    try {
      await this.previous.retire();
    } finally {
      this.#resolveDone();
    }
  }

  // The first of rollback/end wins; it stops the window and the failure watch.
  #settle(): boolean {
    if (this.#settled !== null) return false;
    this.#settled = this.#done;
    this.#timer.clear();
    this.current.off('worker-exit', this.#onWorkerExit);
    this.current.off('worker-unhealthy', this.#onUnhealthy);
    return true;
  }
}
