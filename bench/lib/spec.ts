// What the orchestrator tells one strategy run (written as JSON, read by run-strategy.js), and
// what that run writes back.
import type { FailureEvent, ModeResult, ReloadResult, Series, ThroughputResult } from './analyse.js';
import type { LoadMode } from '../load/http-client.js';
import type { StrategyId } from './strategies.js';

export interface RunSpec {
  strategy: StrategyId;
  workers: number;
  concurrency: number; // virtual users per load mode
  loadProcesses: number;
  warmupMs: number;
  steadyMs: number;
  reloads: number;
  gapMs: number; // pause after each reload, before the next trigger
  drainMs: number; // deadline of the naive and cluster baselines' old processes
  timeoutMs: number; // per request
  bucketMs: number;
  losslessKey: boolean; // the daemon's config knows `lossless:`
  where: 'namespace' | 'host';
  migrateReq: number | null; // tcp_migrate_req in force for this run
  resultPath: string;
}

export interface StrategyResult {
  strategy: StrategyId;
  label: string;
  where: 'namespace' | 'host';
  migrateReq: number | null;
  notes: string[];
  throughput: ThroughputResult; // new connection per request, no reloads
  modes: Record<LoadMode, ModeResult>; // the reload phase, both load modes at once
  reloads: ReloadResult[];
  reloadSummary: { count: number; ok: number; toPromotedMedianMs: number; toPromotedMaxMs: number; toGoneMedianMs: number; toGoneMaxMs: number };
  failureEvents: FailureEvent[];
  series: Series;
  elapsedMs: number;
}

export interface StrategyOutcome {
  strategy: StrategyId;
  label: string;
  status: 'ran' | 'skipped' | 'error';
  reason?: string;
  result?: StrategyResult;
}
