import type { Logger } from '../../log.js';
import type { SupervisorConfig } from '../../config/index.js';
import { setChildSubreaper } from '../../native/index.js';
import type { HttpEndpoint } from './http-endpoint.js';
import type { SupervisorMetrics } from './metrics.js';
import { OrphanReaper, reaperRole } from '../process/reaper.js';
import type { Supervisor } from '../supervisor.js';

// What runs beside the supervisor for operators, each optional: the metrics/health HTTP listener
// (config `metrics:`) and the orphan reaper (as PID 1, or a child subreaper: `run --subreaper`).
export class Sidecars {
  #endpoint: HttpEndpoint | null = null;
  #metrics: SupervisorMetrics | null = null;
  #reaper: OrphanReaper | null = null;

  // Call before the first worker starts: an orphan of a worker goes to whoever is the nearest
  // subreaper at the moment its parent dies.
  static becomeSubreaper(log: Logger): void {
    setChildSubreaper(true);
    log.info('child subreaper: orphaned descendants of the workers are reparented to the supervisor and reaped by it');
  }

  // Starts the reaper where this process inherits orphans, and the HTTP listener when configured.
  // Rejects when the listener cannot bind; what was started is closed by close().
  // metricsFd: the metrics listener an upgrade handed over, instead of binding the address again.
  async start(supervisor: Supervisor, config: SupervisorConfig, log: Logger, metricsFd: number | null = null): Promise<void> {
    const role = reaperRole();
    if (role !== null) {
      this.#reaper = new OrphanReaper({ log, events: supervisor.events });
      this.#reaper.start();
      log.info({ role }, role === 'pid1' ? 'running as PID 1: reaping orphaned processes' : 'child subreaper: reaping orphaned processes');
    }
    if (config.metrics !== null) {
      // prom-client and the HTTP server load only for a config with metrics: (several MB of
      // memory a daemon without them never uses).
      const [{ SupervisorMetrics }, { HttpEndpoint }] = await Promise.all([import('./metrics.js'), import('./http-endpoint.js')]);
      this.#metrics = new SupervisorMetrics(supervisor);
      this.#endpoint = new HttpEndpoint(config.metrics, supervisor, this.#metrics, log);
      await this.#endpoint.listen(metricsFd);
    }
  }

  /** The metrics listener's fd, for an upgrade to hand over; null without one. */
  get metricsFd(): number | null {
    return this.#endpoint?.fd ?? null;
  }

  // After the supervisor has stopped: /healthz answered "draining" until here.
  async close(): Promise<void> {
    this.#reaper?.reapNow();
    this.#reaper?.stop();
    await this.#endpoint?.close();
    this.#metrics?.close();
    this.#endpoint = null;
    this.#metrics = null;
    this.#reaper = null;
  }
}
