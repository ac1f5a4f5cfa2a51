// What the orchestrator tells one strategy run (written as JSON, read by run-strategy.js), and
// what that run writes back.
import type { FailureEvent, ModeResult, ReloadResult, Series, summarizeFailures, ThroughputResult } from './analyse.js';
import type { LoadMode } from '../load/http-client.js';
import type { WarmingOptions } from '../targets/supervisor.js';
import type { StrategyId } from './strategies.js';
import type { CounterSample } from './tcp-counters.js';
import type { ColdCost, ReloadCapacity, ReloadProfile } from './profile.js';
import type { SchedulingFooting } from './footing.js';

export interface RunSpec {
  strategy: StrategyId;
  workers: number;
  concurrency: number; // virtual users per load mode
  rate: number; // requests/s per load mode (open loop); 0: closed loop
  loadProcesses: number;
  warmupMs: number; // load before the steady window, unmeasured: freshly started servers run cold code
  steadyMs: number;
  reloads: number;
  gapMs: number; // pause after each reload, before the next trigger
  drainMs: number; // deadline of the naive and cluster baselines' old processes
  slowStartMs: number; // the supervisor's slow_start where the strategy uses it
  drainSpreadMs: number; // the supervisor's drain.spread where the strategy uses it
  workerNode: string | null; // node binary for the supervisor's Node workers (null: node on PATH)
  startConcurrency: number; // the supervisor's start_concurrency (0: all at once)
  warming: WarmingOptions; // the steer strategy's warming priority and warm-ups
  timeoutMs: number; // per request
  bucketMs: number;
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
  modes: Record<LoadMode, ModeResult>; // the reload phase, both load modes at once
  reloads: ReloadResult[];
  reloadSummary: { count: number; ok: number; toPromotedMedianMs: number; toPromotedMaxMs: number; toGoneMedianMs: number; toGoneMaxMs: number };
  failureEvents: FailureEvent[]; // the first 5000, by time
  failureSummary: ReturnType<typeof summarizeFailures>;
  series: Series;
  /** The namespace's TCP counters moved in the steady window and over the reloads (null off Linux). */
  tcpCounters: { steady: CounterSample | null; reloads: CounterSample | null };
  /** Requests by time since each trigger, all reloads together. */
  profile: ReloadProfile;
  /** The worst 250 ms bin after a trigger, as a share of steady req/s (null: no reloads or no steady requests). */
  capacity: ReloadCapacity | null;
  /** Server CPU per request by generation age (from /proc), against the steady window. */
  coldCost: ColdCost;
  /** Each process class's autogroup, its nice, cpu cgroup and CPUs, read from /proc after the last reload. */
  footing: SchedulingFooting;
  elapsedMs: number;
}

/** The interleaved throughput comparison (run-throughput.js). */
export interface ThroughputSpec {
  strategies: StrategyId[];
  workers: number;
  concurrency: number; // new-connection users
  loadProcesses: number;
  rounds: number;
  sliceMs: number; // measured part of each slice
  warmupMs: number; // unmeasured start of each slice
  serverWarmupMs: number; // one unmeasured slice per server before round 1: they start cold
  pin: boolean; // load client on CPU 0, servers on the others (where there are two or more)
  drainMs: number;
  slowStartMs: number;
  drainSpreadMs: number;
  workerNode: string | null;
  startConcurrency: number;
  warming: WarmingOptions;
  timeoutMs: number;
  where: 'namespace' | 'host';
  migrateReq: number | null;
  resultPath: string;
}

export interface ThroughputEntry {
  strategy: StrategyId;
  label: string;
  slicesRps: number[]; // one per round, in round order
  medianRps: number;
  failed: number;
  failures: Record<string, number>;
  latency: ThroughputResult['latency']; // over all measured slices
  clientCores: number; // mean CPU of the load client during this target's slices
  machineBusy: number | null; // mean busy fraction of the whole machine during them
}

export interface ThroughputComparison {
  where: 'namespace' | 'host';
  migrateReq: number | null;
  rounds: number;
  sliceMs: number;
  /** CPU lists of the load client and the servers, or why they shared every CPU. */
  pinning: { client: string; servers: string } | { none: string };
  /** Each process class's autogroup, its nice, cpu cgroup and CPUs, read from /proc once every target had started. */
  footing: SchedulingFooting;
  entries: ThroughputEntry[];
}

export interface StrategyOutcome {
  strategy: StrategyId;
  label: string;
  status: 'ran' | 'skipped' | 'error';
  reason?: string;
  result?: StrategyResult;
}
