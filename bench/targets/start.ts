// Starts the target of a strategy: the one place that maps a strategy to its server.
import type { Strategy } from '../lib/strategies.js';
import { ClusterTarget } from './cluster.js';
import { NaiveTarget } from './naive.js';
import { SupervisorTarget, type SupervisorOptions, type WarmingOptions } from './supervisor.js';
import type { Target } from './target.js';

export interface StartOptions {
  workers: number;
  drainMs: number;
  slowStartMs: number;
  drainSpreadMs: number;
  workerNode: string | null; // node binary for the supervisor's Node workers (null: node on PATH)
  startConcurrency: number; // the supervisor's start_concurrency (0: all at once)
  warming: WarmingOptions;
}

export function startTarget(strategy: Strategy, options: StartOptions): Promise<Target> {
  switch (strategy.kind) {
    case 'supervisor': {
      const { handover, ...chosen } = strategy.supervisor!;
      const supervisor: SupervisorOptions = {
        ...chosen,
        workers: options.workers,
        ...(options.workerNode ? { workerNode: options.workerNode } : {}),
        ...(options.startConcurrency ? { startConcurrency: options.startConcurrency } : {}),
        ...(handover === 'ramp' || handover === 'spread' ? { drainSpreadMs: options.drainSpreadMs } : {}),
        ...(handover === 'ramp' ? { slowStartMs: options.slowStartMs, warming: options.warming } : {}),
      };
      return SupervisorTarget.start(supervisor);
    }
    case 'naive':
      return NaiveTarget.start({ workers: options.workers, drainMs: options.drainMs });
    case 'cluster':
      return ClusterTarget.start({ workers: options.workers, drainMs: options.drainMs });
  }
}
