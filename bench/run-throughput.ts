// The throughput comparison: steady req/s with a new connection per request, several strategies
// in the same namespace at the same time, loaded in turn. All targets start first and sit idle
// (an idle server costs nothing); then each round gives every target one slice of load, in an
// order rotated each round. Background work on the machine changes over seconds to minutes, so
// slices a second apart see about the same machine, which sequential runs minutes apart do not.
//
//   node dist/bench/run-throughput.js SPEC.json      (the orchestrator runs it inside `unshare -n`)
import { readFileSync } from 'node:fs';
import { runToFile } from './lib/runner.js';
import { LoadPool } from './load/pool.js';
import { throughput } from './lib/analyse.js';
import { planPinning, pinSelf } from './lib/affinity.js';
import { busyBetween, sampleCpu } from './lib/cpu.js';
import { describeFooting, readFooting } from './lib/footing.js';
import type { ThroughputComparison, ThroughputEntry, ThroughputSpec } from './lib/spec.js';
import { median, summarize } from './lib/stats.js';
import { strategy as findStrategy } from './lib/strategies.js';
import { startTarget } from './targets/start.js';
import { now, type Target } from './targets/target.js';

const spec = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as ThroughputSpec;
const strategies = spec.strategies.map(findStrategy);
const log = (text: string) => process.stderr.write(`[throughput] ${text}\n`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const targets: (Target | undefined)[] = [];
let pool: LoadPool | undefined;

interface Slice {
  rps: number;
  failed: number;
  failures: Record<string, number>;
  latencies: Float32Array;
  clientCores: number;
  machineBusy: number | null;
}

// The comparison's load: new-connection users only.
const newConnectionLoad = (target: Target) => ({ host: target.host, port: target.port, newConnection: spec.concurrency, keepAlive: 0, timeoutMs: spec.timeoutMs });

async function slice(target: Target, load: LoadPool): Promise<Slice> {
  const started = now();
  load.run(newConnectionLoad(target));
  await sleep(spec.warmupMs);
  const cpuFrom = sampleCpu();
  await sleep(spec.sliceMs);
  const cpuTo = sampleCpu();
  const ended = now();
  const { records, cpuMs } = await load.stop(spec.timeoutMs + 5000);
  const window = { from: started + spec.warmupMs, to: started + spec.warmupMs + spec.sliceMs };
  const result = throughput(records, window);
  const latencies = records.latencyMs.filter((_, i) => records.outcome[i] === 0);
  return {
    rps: result.rps,
    failed: result.failed,
    failures: result.failures,
    latencies,
    clientCores: cpuMs / (ended - started),
    machineBusy: busyBetween(cpuFrom, cpuTo),
  };
}

// Load that is not measured, so the servers' code is compiled before the first counted slice.
async function warmUp(target: Target, load: LoadPool): Promise<void> {
  load.run(newConnectionLoad(target));
  await sleep(spec.serverWarmupMs);
  await load.stop(spec.timeoutMs + 5000);
}

async function main(): Promise<ThroughputComparison> {
  log(`${strategies.map((s) => s.id).join(', ')}: ${spec.rounds} rounds of ${spec.sliceMs} ms slices, ${spec.concurrency} new-connection users`);
  const pinning = spec.pin ? planPinning() : 'off (--no-pin)';
  if (typeof pinning === 'string') log(`not pinned: ${pinning}; the load client and the servers share every CPU`);
  // Started one group after the other: each inherits the affinity this thread has at that moment.
  if (typeof pinning !== 'string') pinSelf(pinning.client);
  const poolStarted = await Promise.allSettled([LoadPool.start(spec.loadProcesses).then((p) => (pool = p))]);
  if (typeof pinning !== 'string') pinSelf(pinning.servers);
  const targetsStarted = await Promise.allSettled(strategies.map((s, i) => startTarget(s, spec).then((t) => (targets[i] = t))));
  if (typeof pinning !== 'string') pinSelf(pinning.all);
  const started = [...poolStarted, ...targetsStarted];
  for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;
  const load = pool!;
  // Every target's processes at once: idle, but the ones loaded in turn must each hold their own group.
  const footing = readFooting([
    { name: 'bench runner', pids: [process.pid] },
    { name: 'load client', pids: load.pids },
    ...targets.flatMap((target, i) => target!.processes().map((c) => ({ name: `${c.name} (${strategies[i]!.id})`, pids: c.pids }))),
  ]);
  log(`scheduling footing: ${describeFooting(footing)}`);
  for (const target of targets) await warmUp(target!, load);
  const slices: Slice[][] = strategies.map(() => []);
  for (let round = 0; round < spec.rounds; round++) {
    for (let k = 0; k < strategies.length; k++) {
      const i = (k + round) % strategies.length; // rotate, so no strategy always goes first
      slices[i]!.push(await slice(targets[i]!, load));
    }
    log(`round ${round + 1}: ${strategies.map((s, i) => `${s.id} ${slices[i]!.at(-1)!.rps}`).join(', ')} req/s`);
  }
  const entries = strategies.map((s, i): ThroughputEntry => {
    const mine = slices[i]!;
    const failures: Record<string, number> = {};
    for (const sl of mine) for (const [type, n] of Object.entries(sl.failures)) failures[type] = (failures[type] ?? 0) + n;
    const busy = mine.flatMap((sl) => (sl.machineBusy === null ? [] : [sl.machineBusy]));
    const all = new Float64Array(mine.reduce((n, sl) => n + sl.latencies.length, 0));
    let at = 0;
    for (const sl of mine) {
      all.set(sl.latencies, at);
      at += sl.latencies.length;
    }
    return {
      strategy: s.id,
      label: s.label,
      slicesRps: mine.map((sl) => sl.rps),
      medianRps: median(mine.map((sl) => sl.rps)),
      failed: mine.reduce((n, sl) => n + sl.failed, 0),
      failures,
      latency: summarize(all),
      clientCores: Math.round((mine.reduce((n, sl) => n + sl.clientCores, 0) / mine.length) * 100) / 100,
      machineBusy: busy.length ? Math.round((busy.reduce((a, b) => a + b, 0) / busy.length) * 100) / 100 : null,
    };
  });
  return { where: spec.where, migrateReq: spec.migrateReq, rounds: spec.rounds, sliceMs: spec.sliceMs, pinning: typeof pinning === 'string' ? { none: pinning } : { client: pinning.client, servers: pinning.servers }, footing, entries };
}

await runToFile(spec.resultPath, log, () => Promise.allSettled([pool?.close(), ...targets.map((t) => t?.stop())]), main);
