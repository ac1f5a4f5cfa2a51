// Rollback under load: how long until new connections reach the previous release again, and what
// the second after costs, for `supervisor rollback` during a bake window next to what users of
// other supervisors do today (deploy the previous release again: a full reload).
//
//   npm run bench:rollback -- [--rounds 5] [--workers 2] [--concurrency 50] [--out FILE]
//
// One daemon (the example app, steering, bake: 10m) under closed-loop load from separate
// processes (new connection per request and keep-alive at once, no retries). Each round deploys a
// "bad" release (a new APP_VERSION), lets it serve, then goes back to the good one both ways:
//   rollback:  `supervisor rollback` (one program attach to the baking previous generation)
//   redeploy:  the good release deployed again with `supervisor reload` (new processes, cold)
// The request and each answer are stamped here and by the load processes on one clock; the
// version in each answer says which release served it. Everything it starts is ended by pid.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { request } from '../src/control/client.js';
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
    'load-processes': { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench-rollback.json' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  process.stdout.write('npm run bench:rollback -- [--rounds 5] [--workers 2] [--concurrency 50] [--load-processes 2] [--out FILE]\n');
  process.exit(0);
}
const rounds = Number(flags.rounds);
const workers = Number(flags.workers);
const concurrency = Number(flags.concurrency);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const log = (text: string) => process.stderr.write(`[rollback] ${text}\n`);

const config = (version: number) => ({
  workers,
  command: ['node', exampleApp],
  env: { APP_VERSION: String(version) },
  ready: { kind: 'notify', timeout: '10s' },
  drain: { signal: 'SIGTERM', timeout: '10s' },
  bake: '10m',
});

interface Way {
  way: 'rollback' | 'redeploy';
  round: number;
  requestedAt: number;
  doneAt: number; // the command returned
  settledAt: number; // the end of the quiet time after it (the next deploy starts then)
  good: number; // the version that must serve again
  bad: number;
}

interface WayResult {
  way: string;
  round: number;
  // From the request to the first new-connection request answered by the good release, and to the
  // last one started after the request that was answered by the bad release (never: null).
  firstGoodMs: number | null;
  lastBadMs: number | null;
  commandMs: number;
  p99SecondAfterMs: number;
  failed: number;
}

async function main(): Promise<void> {
  const daemon = await Daemon.start({ config: config(1), launcher: [setsidPath()] });
  let pool: LoadPool | undefined;
  try {
    pool = await LoadPool.start(Number(flags['load-processes']));
    const load = { host: '127.0.0.1', port: daemon.port, newConnection: concurrency, keepAlive: concurrency, timeoutMs: 10_000 };
    pool.run(load);
    const phaseStart = now();
    await sleep(5_000); // warm-up: the first generation's JIT
    const steady = { from: now(), to: 0 };
    await sleep(5_000);
    steady.to = now();
    let serving = 1; // the good release, serving now
    let next = 2; // every deploy gets a number of its own, so each answer says which deploy served it
    const ways: Way[] = [];
    const deploy = async (to: number) => {
      daemon.writeConfig(config(to));
      const answer = await request(daemon.socketPath, { command: 'reload' });
      if (answer.code !== 0) throw new Error(`reload to version ${to} failed: ${answer.message}`);
    };
    for (let round = 1; round <= rounds; round++) {
      for (const way of ['rollback', 'redeploy'] as const) {
        const bad = next++;
        await deploy(bad);
        await sleep(2_000); // the bad release serves
        const requestedAt = now();
        if (way === 'rollback') {
          const answer = await request(daemon.socketPath, { command: 'rollback' });
          if (answer.code !== 0) throw new Error(`rollback failed: ${answer.message}`);
        } else {
          serving = next++; // the good release again, deployed as a new generation
          await deploy(serving);
        }
        const doneAt = now();
        log(`round ${round} ${way}: ${Math.round(doneAt - requestedAt)} ms`);
        await sleep(2_000);
        ways.push({ way, round, requestedAt, doneAt, settledAt: now(), good: serving, bad });
      }
    }
    const { records } = await pool.stop(20_000);
    const results = ways.map((way) => analyse(records, way));
    const steadyP99 = p99(records, steady.from, steady.to);
    report(results, steadyP99, records, phaseStart);
  } finally {
    await pool?.close();
    await daemon.stop();
  }
}

function indices(records: RequestRecords, from: number, to: number, keep: (i: number) => boolean = () => true): number[] {
  const out: number[] = [];
  for (let i = 0; i < records.count; i++) if (records.startedAt[i]! >= from && records.startedAt[i]! < to && keep(i)) out.push(i);
  return out;
}

function p99(records: RequestRecords, from: number, to: number): number {
  const latencies = Float64Array.from(indices(records, from, to, (i) => records.outcome[i] === 0), (i) => records.latencyMs[i]!).sort();
  return round(percentileOfSorted(latencies, 99));
}

function analyse(records: RequestRecords, way: Way): WayResult {
  const newConnection = (i: number) => records.mode[i] === 0 && records.outcome[i] === 0;
  const after = indices(records, way.requestedAt, way.settledAt, newConnection);
  const answeredAt = (i: number) => records.startedAt[i]! + records.latencyMs[i]!;
  const firstGood = after.filter((i) => records.version[i] === way.good).map(answeredAt).sort((a, b) => a - b)[0];
  const lastBad = after.filter((i) => records.version[i] === way.bad).map((i) => records.startedAt[i]!).sort((a, b) => b - a)[0];
  const failed = indices(records, way.requestedAt - 2_000, way.doneAt + 2_000, (i) => records.outcome[i] !== 0).length;
  return {
    way: way.way,
    round: way.round,
    firstGoodMs: firstGood === undefined ? null : round(firstGood - way.requestedAt),
    lastBadMs: lastBad === undefined ? null : round(lastBad - way.requestedAt),
    commandMs: round(way.doneAt - way.requestedAt),
    p99SecondAfterMs: p99(records, way.requestedAt, way.requestedAt + 1_000),
    failed,
  };
}

function report(results: WayResult[], steadyP99: number, records: RequestRecords, phaseStart: number): void {
  const medianOf = (way: string, pick: (r: WayResult) => number | null) => {
    const values = results.filter((r) => r.way === way).map(pick).filter((v): v is number => v !== null).sort((a, b) => a - b);
    return values.length ? values[Math.floor((values.length - 1) / 2)]! : null;
  };
  const rows = ['rollback', 'redeploy'].map((way) => ({
    way,
    rounds: results.filter((r) => r.way === way).length,
    firstGoodMs: medianOf(way, (r) => r.firstGoodMs),
    lastBadMs: medianOf(way, (r) => r.lastBadMs),
    commandMs: medianOf(way, (r) => r.commandMs),
    p99SecondAfterMs: medianOf(way, (r) => r.p99SecondAfterMs),
    p99VsSteady: round((medianOf(way, (r) => r.p99SecondAfterMs) ?? 0) / steadyP99),
    failed: results.filter((r) => r.way === way).reduce((sum, r) => sum + r.failed, 0),
  }));
  const header = '| way back | rounds | first answer from the good release (median) | last new connection to the bad one | command returned | p99 in the second after | vs steady p99 | failed |';
  const lines = [header, '|---|---|---|---|---|---|---|---|', ...rows.map((r) => `| ${r.way} | ${r.rounds} | ${r.firstGoodMs} ms | ${r.lastBadMs} ms | ${r.commandMs} ms | ${r.p99SecondAfterMs} ms | ${r.p99VsSteady}x | ${r.failed} |`)];
  process.stdout.write(`steady p99 ${steadyP99} ms over ${records.count} requests (${workers} workers, ${concurrency}+${concurrency} users)\n${lines.join('\n')}\n`);
  writeFileSync(flags.out!, `${JSON.stringify({ date: new Date().toISOString(), workers, concurrency, steadyP99Ms: steadyP99, summary: rows, rounds: results, phaseStart }, null, 2)}\n`);
  process.stdout.write(`written: ${flags.out}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:rollback failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
