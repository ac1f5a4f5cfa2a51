// `npm run bench`: reload under load, every strategy side by side in one run.
//
// First the throughput comparison (several strategies loaded in turn, run-throughput.js), then
// each strategy's reloads (run-strategy.js), every run in a network namespace of its own with the
// tcp_migrate_req it is about, so the host's sysctls and ports are never touched. Then the tables
// on stdout, and the JSON, a markdown copy of the tables and the SVG chart in bench/results/.
// Flags: --help, or bench/lib/flags.ts.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChild, wasInterrupted, type Placement } from './lib/child-run.js';
import { HELP, parseFlags, type BenchOptions } from './lib/flags.js';
import { describeWorkerNode, machine } from './lib/machine.js';
import { hostMigrateReq, namespaceProblem } from './lib/namespace.js';
import { report } from './lib/report.js';
import type { RunSpec, StrategyOutcome, StrategyResult, ThroughputComparison, ThroughputSpec } from './lib/spec.js';
import { strategy, type Strategy, type StrategyId } from './lib/strategies.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const strategyRunner = fileURLToPath(new URL('./run-strategy.js', import.meta.url));
const throughputRunner = fileURLToPath(new URL('./run-throughput.js', import.meta.url));
const BUCKET_MS = 250;
const SLICE_MS = 600;
const SLICE_WARMUP_MS = 250;
// Servers that have just started run cold code (interpreted, not yet compiled): without this, round 1
// measured them cold and pulled every median down (round 1 was the lowest of three, typically by a
// third, and node:cluster's primary took the longest to warm up).
const SERVER_WARMUP_MS = 1500;
/** Compared for throughput when selected: their steady state does not depend on tcp_migrate_req. */
const THROUGHPUT_STRATEGIES: readonly StrategyId[] = ['steer', 'shared', 'naive', 'cluster'];

// Where a strategy can run, or why it cannot.
function place(s: Strategy, options: BenchOptions, nsProblem: string | null, hostValue: number | null): Placement | string {
  const wanted = s.sysctl === 'flag' ? options.selfMigrateReq : s.sysctl === 'any' ? 0 : s.sysctl;
  if (!nsProblem) return { where: 'namespace', migrateReq: wanted };
  if (s.sysctl === 'any' || s.sysctl === 'flag' || hostValue === wanted) return { where: 'host', migrateReq: hostValue };
  return `needs net.ipv4.tcp_migrate_req=${wanted} but the host has ${hostValue ?? 'none'} and no namespace can be made (${nsProblem})`;
}

async function compareThroughput(options: BenchOptions, work: string, nsProblem: string | null, hostValue: number | null): Promise<ThroughputComparison | string> {
  const ids = options.strategies.filter((id) => THROUGHPUT_STRATEGIES.includes(id));
  if (options.throughputRounds === 0) return 'skipped (--throughput-rounds 0)';
  if (ids.length === 0) return `skipped: none of ${THROUGHPUT_STRATEGIES.join(', ')} selected`;
  const spec: ThroughputSpec = {
    strategies: ids,
    workers: options.workers,
    concurrency: options.concurrency,
    loadProcesses: options.loadProcesses,
    rounds: options.throughputRounds,
    sliceMs: SLICE_MS,
    warmupMs: SLICE_WARMUP_MS,
    serverWarmupMs: SERVER_WARMUP_MS,
    pin: options.pin,
    drainMs: options.drainMs,
    slowStartMs: options.slowStartMs,
    drainSpreadMs: options.drainSpreadMs,
    workerNode: options.workerNode,
    startConcurrency: options.startConcurrency,
    warming: options.warming,
    timeoutMs: options.timeoutMs,
    ...(nsProblem ? { where: 'host' as const, migrateReq: hostValue } : { where: 'namespace' as const, migrateReq: 0 }),
    resultPath: path.join(work, 'throughput.result.json'),
  };
  const budgetMs = 60_000 + ids.length * (SERVER_WARMUP_MS + options.throughputRounds * (SLICE_MS + SLICE_WARMUP_MS + options.timeoutMs));
  try {
    await runChild('throughput', throughputRunner, path.join(work, 'throughput.spec.json'), spec, budgetMs);
    return JSON.parse(readFileSync(spec.resultPath, 'utf8')) as ThroughputComparison;
  } catch (error) {
    process.stderr.write(`[throughput] error: ${(error as Error).message}\n`);
    return `error: ${(error as Error).message}`;
  }
}

async function runStrategy(s: Strategy, options: BenchOptions, work: string, nsProblem: string | null, hostValue: number | null): Promise<StrategyOutcome> {
  if (wasInterrupted()) return { strategy: s.id, label: s.label, status: 'skipped', reason: 'interrupted' };
  const placement = place(s, options, nsProblem, hostValue);
  if (typeof placement === 'string') {
    process.stderr.write(`[${s.id}] skipped: ${placement}\n`);
    return { strategy: s.id, label: s.label, status: 'skipped', reason: placement };
  }
  const spec: RunSpec = {
    strategy: s.id,
    workers: options.workers,
    concurrency: options.concurrency,
    rate: options.rate,
    loadProcesses: options.loadProcesses,
    warmupMs: options.warmupMs,
    steadyMs: options.durationMs,
    reloads: options.reloads,
    gapMs: options.gapMs,
    drainMs: options.drainMs,
    slowStartMs: options.slowStartMs,
    drainSpreadMs: options.drainSpreadMs,
    workerNode: options.workerNode,
    startConcurrency: options.startConcurrency,
    warming: options.warming,
    timeoutMs: options.timeoutMs,
    bucketMs: BUCKET_MS,
    ...placement,
    resultPath: path.join(work, `${s.id}.result.json`),
  };
  // Generous: a reload that hangs still ends (each has its own timeouts inside), but bounded.
  const budgetMs = 60_000 + 2 * (options.warmupMs + options.durationMs) + options.reloads * (options.gapMs + options.drainMs + options.slowStartMs + options.drainSpreadMs + 12_000);
  try {
    await runChild(s.id, strategyRunner, path.join(work, `${s.id}.spec.json`), spec, budgetMs);
    const result = JSON.parse(readFileSync(spec.resultPath, 'utf8')) as StrategyResult;
    return { strategy: s.id, label: s.label, status: 'ran', result };
  } catch (error) {
    process.stderr.write(`[${s.id}] error: ${(error as Error).message}\n`);
    return { strategy: s.id, label: s.label, status: 'error', reason: (error as Error).message };
  }
}

async function main(): Promise<number> {
  const parsed = parseFlags(process.argv.slice(2), path.join(root, 'bench/results/latest.json'));
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const options = parsed;
  for (const file of [strategyRunner, throughputRunner]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run 'npm run build' first (npm run bench does)`);
  }
  const nsProblem = namespaceProblem();
  const hostValue = hostMigrateReq();
  const facts = machine();
  const startedAt = new Date().toISOString();
  process.stderr.write(
    `bench: ${options.strategies.join(', ')}; ${options.workers} workers, ${options.concurrency}+${options.concurrency} users, ${options.reloads} reloads; ` +
      `${nsProblem ? `no network namespace (${nsProblem}): running on the host` : 'each run in its own network namespace'}\n`,
  );
  if (facts.loadAverageAtStart[0]! > facts.cores / 2) {
    process.stderr.write(`bench: warning: load average ${facts.loadAverageAtStart[0]} on ${facts.cores} cores: other work will skew the numbers\n`);
  }

  const work = mkdtempSync(path.join(os.tmpdir(), 'rps-bench-'));
  let throughput: ThroughputComparison | string;
  const outcomes: StrategyOutcome[] = [];
  try {
    throughput = await compareThroughput(options, work, nsProblem, hostValue);
    for (const id of options.strategies) outcomes.push(await runStrategy(strategy(id), options, work, nsProblem, hostValue));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  report({ options, outcomes, throughput, machine: facts, startedAt, nsProblem, root, workerNode: describeWorkerNode(options.workerNode) });
  const failed = outcomes.some((o) => o.status === 'error') || (typeof throughput === 'string' && throughput.startsWith('error'));
  return failed || wasInterrupted() ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
