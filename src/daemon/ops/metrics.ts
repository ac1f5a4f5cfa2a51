import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DaemonStatus } from '../../control/protocol.js';
import type { LifecycleBus, LifecycleEvent } from '../events.js';

// The Prometheus metrics (docs/operations.md, "Metrics"). Gauges are read from the daemon's status
// at scrape time; counters and histograms count lifecycle events from the bus as they happen.
export interface MetricsSource {
  status(): DaemonStatus;
  readonly events: LifecycleBus;
}

const RELOAD_RESULTS = ['promoted', 'rolled-back', 'refused'] as const;
const WORKER_STATES = ['starting', 'ready', 'draining', 'backoff', 'exited'] as const;
const SUPERVISOR_STATES = ['starting', 'running', 'reloading', 'stopping', 'stopped'] as const;

export class SupervisorMetrics {
  readonly registry = new Registry();
  readonly #unsubscribe: () => void;

  constructor(source: MetricsSource, { processMetrics = true }: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const status = () => source.status();

    new Gauge({
      name: 'supervisor_state',
      help: 'The supervisor state: 1 for the current one (starting, running, reloading, stopping, stopped).',
      labelNames: ['state'],
      registers,
      collect() {
        const now = status().state;
        for (const state of SUPERVISOR_STATES) this.set({ state }, state === now ? 1 : 0);
      },
    });
    new Gauge({
      name: 'supervisor_generation',
      help: 'The number of the generation that serves (0 before the first one is serving).',
      registers,
      collect() {
        this.set(status().generations.find((gen) => gen.state === 'serving')?.generation ?? 0);
      },
    });
    new Gauge({
      name: 'supervisor_workers',
      help: 'Worker slots by generation and state (starting, ready, draining, backoff, exited).',
      labelNames: ['generation', 'state'],
      registers,
      collect() {
        this.reset();
        for (const gen of status().generations) {
          for (const state of WORKER_STATES) {
            this.set({ generation: String(gen.generation), state }, gen.workers.filter((worker) => worker.state === state).length);
          }
        }
      },
    });
    new Gauge({
      name: 'supervisor_accept_queue',
      help: 'Connections waiting in a worker\'s listening socket (TCP_INFO); reuseport mode only.',
      labelNames: ['generation', 'worker'],
      registers,
      collect() {
        this.reset();
        for (const gen of status().generations) {
          for (const worker of gen.workers) {
            if (worker.acceptQueue !== null) this.set({ generation: String(gen.generation), worker: String(worker.slot) }, worker.acceptQueue);
          }
        }
      },
    });
    if (status().socket === 'shared') {
      new Gauge({
        name: 'supervisor_shared_accept_queue',
        help: 'Connections waiting in the shared listening socket(s); shared mode only.',
        registers,
        collect() {
          this.set(status().sharedAcceptQueue ?? 0);
        },
      });
    }

    new Gauge({
      name: 'supervisor_bake_remaining_seconds',
      help: 'Time left in the bake window, during which the previous generation is kept warm for a rollback (0: none open).',
      registers,
      collect() {
        this.set((status().bake?.remainingMs ?? 0) / 1000);
      },
    });
    new Gauge({
      name: 'supervisor_bake_previous_rss_bytes',
      help: 'Memory (RSS) the baking previous generation still holds (0: no bake window open).',
      registers,
      collect() {
        this.set(status().bake?.previousRssBytes ?? 0);
      },
    });
    const rollbacks = new Counter({ name: 'supervisor_rollbacks_total', help: 'Rollbacks to a baking previous generation, by how (manual: supervisor rollback; automatic: the new generation failed in its bake window).', labelNames: ['how'], registers });
    rollbacks.inc({ how: 'manual' }, 0);
    rollbacks.inc({ how: 'automatic' }, 0);
    const restarts = new Counter({ name: 'supervisor_worker_restarts_total', help: 'Workers restarted after they died on their own.', registers });
    const unhealthy = new Counter({ name: 'supervisor_workers_unhealthy_total', help: 'Ready workers that failed their health checks (health:) and were replaced.', registers });
    const crashLoops = new Counter({ name: 'supervisor_crash_loops_total', help: 'Worker slots that entered a crash loop.', registers });
    const reloads = new Counter({ name: 'supervisor_reloads_total', help: 'Reloads by result (promoted, rolled-back, refused).', labelNames: ['result'], registers });
    const reloadSeconds = new Histogram({
      name: 'supervisor_reload_duration_seconds',
      help: 'How long a reload took, from its start to its result, by result.',
      labelNames: ['result'],
      buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers,
    });
    const drainSeconds = new Histogram({
      name: 'supervisor_drain_duration_seconds',
      help: 'How long a retiring worker took from steered out to exited (queue wait + drain).',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers,
    });
    const sigkills = new Counter({ name: 'supervisor_drain_sigkills_total', help: 'Workers killed with SIGKILL because they outlived drain.timeout.', registers });
    const orphans = new Counter({ name: 'supervisor_orphans_reaped_total', help: 'Orphaned descendants reaped (as PID 1 or a child subreaper).', registers });
    const suppressed = new Counter({ name: 'supervisor_worker_output_suppressed_lines_total', help: 'Worker output lines counted but not logged because they were past output_limit, by worker slot.', labelNames: ['worker'], registers });
    new Counter({
      name: 'supervisor_log_lines_dropped_total',
      help: 'Log lines the daemon dropped because the reader of its stdout or stderr did not keep up.',
      registers,
      collect() {
        this.reset();
        this.inc(status().droppedLogLines ?? 0);
      },
    });
    for (const result of RELOAD_RESULTS) {
      reloads.inc({ result }, 0);
      reloadSeconds.zero({ result });
    }

    this.#unsubscribe = source.events.subscribe((event: LifecycleEvent) => {
      switch (event.event ) {
        case 'worker-started':
          if (typeof event.restart === 'number' && event.restart > 0) restarts.inc();
          return;
        case 'crash-loop':
          crashLoops.inc();
          return;
        case 'worker-unhealthy':
          unhealthy.inc();
          return;
        case 'reload-result': {
          const result = String(event.outcome);
          reloads.inc({ result });
          if (typeof event.durationMs === 'number') reloadSeconds.observe({ result }, event.durationMs / 1000);
          return;
        }
        case 'worker-drained':
          if (typeof event.durationMs === 'number') drainSeconds.observe(event.durationMs / 1000);
          if (event.killed === true) sigkills.inc();
          return;
        case 'orphan-reaped':
          orphans.inc();
          return;
        case 'rollback':
          rollbacks.inc({ how: event.automatic === true ? 'automatic' : 'manual' });
          return;
        case 'worker-output-suppressed':
          if (typeof event.lines === 'number') suppressed.inc({ worker: String(event.worker) }, event.lines);
          return;
      }
    });
    // The supervisor's own process: CPU, memory, fds, event loop lag (process_*, nodejs_*).
    if (processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.#unsubscribe();
    this.registry.clear();
  }
}
