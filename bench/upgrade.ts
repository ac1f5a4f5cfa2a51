// `supervisor upgrade` under load: what clients see while the daemon replaces its own program in
// place (failed requests, latency), how long the control socket goes unanswered, and whether the
// workers and the daemon's pid are the same after it.
//
//   npm run bench:upgrade -- [--rounds 5] [--workers 2] [--concurrency 50] [--modes reuseport,shared] [--out FILE]
//
// Per socket mode, one daemon (the example app) under closed-loop load from separate processes
// (new connection per request and keep-alive at once, no retries): a steady window, then `rounds`
// upgrades 3 s apart, then one reload (the new program drives it). Everything it starts is ended
// by pid.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from '../src/control/client.js';
import type { DaemonStatus, EventFrame } from '../src/control/protocol.js';
import { Daemon, exampleApp } from '../test/helpers/harness.js';
import { LoadPool } from './load/pool.js';
import type { RequestRecords } from './load/records.js';
import { setsidPath } from './lib/own-session.js';
import { percentileOfSorted, round } from './lib/stats.js';
import { now } from './targets/target.js';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    workers: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '50' },
    modes: { type: 'string', default: 'reuseport,shared' },
    'load-processes': { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench/results/upgrade-latest.json' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  process.stdout.write('npm run bench:upgrade -- [--rounds 5] [--workers 2] [--concurrency 50] [--modes reuseport,shared] [--load-processes 2] [--out FILE]\n');
  process.exit(0);
}
const rounds = Number(flags.rounds);
const workers = Number(flags.workers);
const concurrency = Number(flags.concurrency);
const modes = flags.modes!.split(',') as ('reuseport' | 'shared')[];
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const log = (text: string) => process.stderr.write(`[upgrade] ${text}\n`);

const config = (socket: string, version: number) => ({
  workers,
  socket,
  command: ['node', exampleApp],
  env: { APP_VERSION: String(version) },
  ready: { kind: 'notify', timeout: '10s' },
  drain: { signal: 'SIGTERM', timeout: '10s' },
});

interface Upgrade {
  round: number;
  requestedAt: number;
  execAt: number; // the old program said it execs now
  answeredAt: number; // the first status answer from the new program
  takenOverMs: number; // request -> take-over, as the new program counted it
  pidKept: boolean;
  workersKept: boolean;
  settledAt: number;
}

interface ModeResult {
  mode: string;
  requests: number;
  failed: number;
  failures: Record<string, number>;
  steadyP99Ms: number;
  upgradeP99Ms: number; // requests started from a request to 1 s after the take-over
  upgrades: Upgrade[];
  reloadAfter: string;
}

async function statusOf(daemon: Daemon): Promise<DaemonStatus | null> {
  try {
    const answer = await request(daemon.socketPath, { command: 'status' });
    return answer.ok ? (answer.data as DaemonStatus) : null;
  } catch {
    return null;
  }
}

const pidsOf = (status: DaemonStatus) => status.generations.flatMap((gen) => gen.workers.map((worker) => worker.pid)).join(',');

async function upgradeOnce(daemon: Daemon, round: number): Promise<Upgrade> {
  const before = (await statusOf(daemon))!;
  const requestedAt = now();
  let execAt = 0;
  const answer = await request(daemon.socketPath, { command: 'upgrade' }, (event: EventFrame) => {
    if ((event as EventFrame & { phase?: string }).phase === 'exec') execAt = now();
  }).catch(() => null); // the connection closes at the exec
  if (answer !== null) throw new Error(`upgrade ${round} not done: ${answer.message}`);
  for (;;) {
    const status = await statusOf(daemon);
    if (status && (status.supervisor?.upgrades ?? 0) > (before.supervisor?.upgrades ?? 0)) {
      const answeredAt = now();
      return {
        round,
        requestedAt,
        execAt,
        answeredAt,
        takenOverMs: status.supervisor!.lastUpgrade!.durationMs,
        pidKept: status.pid === before.pid,
        workersKept: pidsOf(status) === pidsOf(before),
        settledAt: 0,
      };
    }
    if (now() - requestedAt > 60_000) throw new Error(`upgrade ${round}: the daemon did not answer within 60 s`);
    await sleep(5);
  }
}

async function runMode(mode: 'reuseport' | 'shared'): Promise<ModeResult> {
  const daemon = await Daemon.start({ config: config(mode, 1), launcher: [setsidPath()] });
  let pool: LoadPool | undefined;
  try {
    pool = await LoadPool.start(Number(flags['load-processes']));
    pool.run({ host: '127.0.0.1', port: daemon.port, newConnection: concurrency, keepAlive: concurrency, timeoutMs: 10_000 });
    await sleep(5_000); // warm-up: the workers' JIT
    const steady = { from: now(), to: 0 };
    await sleep(5_000);
    steady.to = now();
    const upgrades: Upgrade[] = [];
    for (let round = 1; round <= rounds; round++) {
      const upgrade = await upgradeOnce(daemon, round);
      log(`${mode} ${round}: exec ${Math.round(upgrade.execAt - upgrade.requestedAt)} ms after the request, control socket silent ${Math.round(upgrade.answeredAt - upgrade.execAt)} ms`);
      await sleep(3_000);
      upgrade.settledAt = now();
      upgrades.push(upgrade);
    }
    daemon.writeConfig(config(mode, 2));
    const reload = await request(daemon.socketPath, { command: 'reload' });
    log(`${mode}: reload after the upgrades: ${reload.message}`);
    await sleep(2_000);
    const { records } = await pool.stop(20_000);
    const failures: Record<string, number> = {};
    let failed = 0;
    for (let i = 0; i < records.count; i++) {
      if (records.outcome[i] === 0) continue;
      failed++;
      const cause = records.outcomes[records.outcome[i]!] ?? String(records.outcome[i]);
      failures[cause] = (failures[cause] ?? 0) + 1;
    }
    const inUpgrade = (t: number) => upgrades.some((u) => t >= u.requestedAt && t < u.requestedAt + u.takenOverMs + 1_000);
    return {
      mode,
      requests: records.count,
      failed,
      failures,
      steadyP99Ms: p99(records, (t) => t >= steady.from && t < steady.to),
      upgradeP99Ms: p99(records, inUpgrade),
      upgrades,
      reloadAfter: reload.ok ? 'promoted' : reload.message,
    };
  } finally {
    await pool?.close();
    await daemon.stop();
  }
}

function p99(records: RequestRecords, keep: (startedAt: number) => boolean): number {
  const latencies: number[] = [];
  for (let i = 0; i < records.count; i++) if (records.outcome[i] === 0 && keep(records.startedAt[i]!)) latencies.push(records.latencyMs[i]!);
  return round(percentileOfSorted(Float64Array.from(latencies).sort(), 99));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? round(sorted[Math.floor((sorted.length - 1) / 2)]!) : NaN;
}

async function main(): Promise<void> {
  const results: ModeResult[] = [];
  for (const mode of modes) results.push(await runMode(mode));
  const header = '| socket mode | upgrades | requests | failed | supervisor pid and workers kept | control socket silent after the exec (median / max) | request to take-over (median) | p99 steady -> during upgrades | reload after |';
  const rows = results.map((r) => {
    const silent = r.upgrades.map((u) => u.answeredAt - u.execAt);
    const kept = r.upgrades.filter((u) => u.pidKept && u.workersKept).length;
    return `| ${r.mode} | ${r.upgrades.length} | ${r.requests.toLocaleString('en-US')} | ${r.failed} | ${kept}/${r.upgrades.length} | ${median(silent)} / ${round(Math.max(...silent))} ms | ${median(r.upgrades.map((u) => u.takenOverMs))} ms | ${r.steadyP99Ms} -> ${r.upgradeP99Ms} ms (${round(r.upgradeP99Ms / r.steadyP99Ms)}x) | ${r.reloadAfter} |`;
  });
  process.stdout.write(`${workers} workers, ${concurrency}+${concurrency} closed-loop users, no retries\n${[header, '|---|---|---|---|---|---|---|---|---|', ...rows].join('\n')}\n`);
  mkdirSync(dirname(flags.out!), { recursive: true });
  writeFileSync(flags.out!, `${JSON.stringify({ date: new Date().toISOString(), workers, concurrency, rounds, results }, null, 2)}\n`);
  process.stdout.write(`written: ${flags.out}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:upgrade failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
