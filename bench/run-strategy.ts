// One strategy, start to finish, in the current network namespace: start the target and the load
// processes, measure a steady window, then reload it again and again under both load modes at
// once, and write the analysed result as JSON.
//
//   node dist/bench/run-strategy.js SPEC.json      (the orchestrator runs it inside `unshare -n`)
//
// Everything it starts is ended by pid before it exits, on success, error, SIGINT or SIGTERM.
import { readFileSync } from 'node:fs';
import { runToFile } from './lib/runner.js';
import { LoadPool } from './load/pool.js';
import { analyseReloadPhase, reloadResults, reloadSummary } from './lib/analyse.js';
import type { RunSpec, StrategyResult } from './lib/spec.js';
import { strategy as findStrategy } from './lib/strategies.js';
import { startTarget } from './targets/start.js';
import { now, type ReloadTiming, type Target } from './targets/target.js';
import { counterDelta, sampleTcpCounters } from './lib/tcp-counters.js';
import { coldCost, reloadCapacity, reloadProfile } from './lib/profile.js';
import { describeFooting, readFooting } from './lib/footing.js';
import { ServerCpuSampler } from './lib/server-cpu.js';

const spec = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as RunSpec;
const strategy = findStrategy(spec.strategy);
const log = (text: string) => process.stderr.write(`[${spec.strategy}] ${text}\n`);
// Load continues this long after the last reload, so the last reload's requests all complete.
const TAIL_MS = 300;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let target: Target | undefined;
let pool: LoadPool | undefined;

async function main(): Promise<StrategyResult> {
  const began = now();
  // Started side by side; allSettled so that if one fails the other is known to the stop at exit.
  const started = await Promise.allSettled([
    startTarget(strategy, spec).then((t) => (target = t)),
    LoadPool.start(spec.loadProcesses).then((p) => (pool = p)),
  ]);
  for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;
  if (!target || !pool) throw new Error('unreachable: target and load pool started');
  const cpu = new ServerCpuSampler();
  cpu.start();
  const load = { host: target.host, port: target.port, timeoutMs: spec.timeoutMs };
  const stopTimeout = spec.timeoutMs + 5000;

  log(`reloads: ${spec.reloads} under ${spec.concurrency} new-connection + ${spec.concurrency} keep-alive users${spec.rate > 0 ? `, ${spec.rate} requests/s each mode` : ''}`);
  const phaseStart = now();
  pool.run({ ...load, newConnection: spec.concurrency, keepAlive: spec.concurrency, ...(spec.rate > 0 ? { ratePerMode: spec.rate } : {}) });
  await sleep(spec.warmupMs);
  const steadyCounters = sampleTcpCounters();
  await sleep(spec.steadyMs);
  const reloadCounters = sampleTcpCounters();
  const timings: ReloadTiming[] = [];
  for (let i = 0; i < spec.reloads; i++) {
    const timing = await target.reload();
    timings.push(timing);
    if (!timing.ok) log(`reload ${i + 1}: ${timing.message}`);
    await sleep(spec.gapMs);
  }
  const endCounters = sampleTcpCounters();
  // After the reloads, so the workers checked include the generations the reloads started. The
  // runner itself stays in the session it was started in (the invoking shell's, so that Ctrl-C
  // reaches it), apart from every process it measures.
  const footing = readFooting([{ name: 'bench runner', pids: [process.pid] }, { name: 'load client', pids: pool.pids }, ...target.processes()]);
  log(`scheduling footing: ${describeFooting(footing)}`);
  await sleep(TAIL_MS);
  const phaseEnd = now();
  const cpuTrace = cpu.stop();
  const { records } = await pool.stop(stopTimeout);
  const ok = timings.filter((t) => t.ok).length;
  log(`reloads: ${ok}/${timings.length} ok; ${records.count} requests`);

  const steady = { from: phaseStart + spec.warmupMs, to: phaseStart + spec.warmupMs + spec.steadyMs };
  const analysed = analyseReloadPhase(records, { from: phaseStart, to: phaseEnd }, steady, timings, spec.bucketMs);
  const reloads = reloadResults(timings);
  const profile = reloadProfile(records, timings, steady, phaseEnd);
  return {
    strategy: strategy.id,
    label: strategy.label,
    where: spec.where,
    migrateReq: spec.migrateReq,
    notes: target.notes,
    modes: analysed.modes,
    reloads,
    reloadSummary: reloadSummary(reloads),
    failureEvents: analysed.failureEvents,
    failureSummary: analysed.failureSummary,
    series: analysed.series,
    tcpCounters: { steady: counterDelta(steadyCounters, reloadCounters), reloads: counterDelta(reloadCounters, endCounters) },
    profile,
    capacity: reloadCapacity(profile),
    // 10 s: with the warming priority a generation serves its first client only after about 5 s.
    coldCost: coldCost(records, cpuTrace, steady, 500, 10_000),
    footing,
    elapsedMs: Math.round(now() - began),
  };
}

await runToFile(spec.resultPath, log, () => Promise.allSettled([pool?.close(), target?.stop()]), main);
