import type { SupervisorConfig } from '../../config/index.js';
import type { Clock, Timer } from '../clock.js';
import { httpProbe, tcpProbe, type ProbeTarget } from './readiness.js';

// Liveness after ready (health:): a worker that was ready can wedge (a deadlock, a lost database
// pool) and still hold its socket, taking its share of new connections and failing them. Every
// interval the supervisor probes each ready worker through the worker's own socket (a targeted
// probe, as readiness does: a neighbour never answers for it); `failures` failed probes in a row
// make it unhealthy. Probes run one at a time per worker and never overlap.
export class HealthWatch {
  readonly #health: SupervisorConfig['health'];
  readonly #probe: ProbeTarget;
  readonly #clock: Clock;
  readonly #active: () => boolean;
  readonly #onUnhealthy: (reason: string) => void;
  #failed = 0;
  #timer: Timer | null = null;
  #stopped = false;

  // active: whether to probe now (the generation serves); a skipped tick counts neither way.
  constructor(health: SupervisorConfig['health'], probe: ProbeTarget, clock: Clock, active: () => boolean, onUnhealthy: (reason: string) => void) {
    this.#health = health;
    this.#probe = probe;
    this.#clock = clock;
    this.#active = active;
    this.#onUnhealthy = onUnhealthy;
  }

  start(): void {
    if (this.#health.kind === 'none' || this.#stopped) return;
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.clear();
    this.#timer = null;
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimeout(() => void this.#tick(), this.#health.intervalMs).unref();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    if (this.#active()) {
      const ok = await this.#check();
      if (this.#stopped) return;
      this.#failed = ok ? 0 : this.#failed + 1;
      if (this.#failed >= this.#health.failures) {
        this.stop();
        this.#onUnhealthy(`failed ${this.#failed} health check(s) in a row (${this.#describe()}, every ${this.#health.intervalMs} ms, health.failures ${this.#health.failures})`);
        return;
      }
    }
    this.#schedule();
  }

  #check(): Promise<boolean> {
    const { kind, path, timeoutMs } = this.#health;
    return kind === 'http' ? httpProbe(this.#probe, path, timeoutMs) : tcpProbe(this.#probe, timeoutMs, this.#clock);
  }

  #describe(): string {
    const { kind, path, timeoutMs } = this.#health;
    return kind === 'http' ? `GET ${path} not answered 2xx within ${timeoutMs} ms` : `no TCP connection accepted within ${timeoutMs} ms`;
  }
}
