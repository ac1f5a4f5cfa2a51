// npm run soak: the supervisor under continuous load (new connections and keep-alive) while it is
// reloaded every few seconds and its workers are SIGKILLed at random, for minutes. Reports requests
// and failures by cause, with the failures of requests in flight on a SIGKILLed worker (the only
// acceptable ones) counted apart; the supervisor's RSS and open fds at start and end; and the
// processes left after stop (must be 0). Prints a table and writes JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { request } from '../src/control/client.js';
import type { DaemonStatus } from '../src/control/protocol.js';
import { Daemon, exampleApp, freePort, root } from '../test/helpers/harness.js';
import { SoakLoad, type Failure } from './soak/client.js';
import { fdCount, fdKinds, leftovers, rssKb } from './soak/proc.js';
import { markdownTable, plainTable } from './lib/table.js';

const HELP = `npm run soak -- [flags]

  --duration D          how long the faults run (default 5m; 90s, 2m, 300 = seconds)
  --workers N           workers per generation (default 2)
  --reload-interval D   pause between reloads (default 3s)
  --kill-interval D     mean pause between SIGKILLs of a random worker (default 2s)
  --new-conn N          virtual users opening a connection per request (default 16)
  --keep-alive N        virtual users on one keep-alive connection each (default 8)
  --out FILE            JSON report (default bench/results/soak-latest.json)
`;

// A failed request counts as lost with a SIGKILLed worker when it was in flight at the kill: on a
// keep-alive connection, the worker that answered it last is the one killed; on a new connection
// (whose worker is unknown until it answers), a kill fell between the request's start and its
// failure. The slack covers the moment between kill(2) and the kernel closing the worker's sockets.
const KILL_SLACK_MS = 100;
const IN_FLIGHT_CAUSES = new Set(['ECONNRESET', 'EOF', 'EPIPE']);

function duration(name: string, text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`--${name} ${JSON.stringify(text)}: write a duration such as 300, 90s or 5m`);
  const value = Number(match[1]);
  return Math.round(match[2] === 'ms' ? value : match[2] === 'm' ? value * 60_000 : value * 1000);
}

function count(name: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) throw new Error(`--${name} ${JSON.stringify(text)}: expected a whole number from 1 to ${max}`);
  return value;
}

const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    workers: { type: 'string' },
    'reload-interval': { type: 'string' },
    'kill-interval': { type: 'string' },
    'new-conn': { type: 'string' },
    'keep-alive': { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const options = {
  durationMs: duration('duration', values.duration, 5 * 60_000),
  workers: count('workers', values.workers, 2, 64),
  reloadIntervalMs: duration('reload-interval', values['reload-interval'], 3_000),
  killIntervalMs: duration('kill-interval', values['kill-interval'], 2_000),
  newConnection: count('new-conn', values['new-conn'], 16, 1000),
  keepAlive: count('keep-alive', values['keep-alive'], 8, 1000),
  out: path.resolve(values.out ?? path.join(root, 'bench/results/soak-latest.json')),
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const epoch = () => performance.timeOrigin + performance.now();
const log = (text: string) => process.stderr.write(`soak: ${text}\n`);

const metricsPort = await freePort();
// The supervisor's own metrics listener gives its V8 heap, which tells a leak from RSS noise.
function config(version: number) {
  return {
    metrics: `127.0.0.1:${metricsPort}`,
    workers: options.workers,
    command: ['node', exampleApp],
    env: { APP_VERSION: String(version) },
    ready: { kind: 'notify', timeout: '10s' },
    drain: { signal: 'SIGTERM', timeout: '10s' },
    restart: { backoff: '100ms', max: '1s', crash_loop: 1000 },
  };
}

const daemon = await Daemon.start({ config: config(1) });
const supervisorPid = daemon.pid;
const status = async (): Promise<DaemonStatus> => (await request(daemon.socketPath, { command: 'status' })).data as DaemonStatus;
const seenPids = new Set<number>();
const livePids = (s: DaemonStatus) => s.generations.flatMap((gen) => gen.workers.flatMap((worker) => (worker.pid === null ? [] : [{ pid: worker.pid, state: worker.state, gen: gen.generation }])));

// Quiet: one generation, every worker ready, no reload running.
async function quiet(timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await status();
    const gen = s.generations[0];
    if (s.state === 'running' && s.generations.length === 1 && gen?.workers.every((worker) => worker.state === 'ready')) return;
    if (Date.now() > deadline) throw new Error(`the supervisor did not settle within ${timeoutMs} ms: ${JSON.stringify(s.generations)}`);
    await sleep(100);
  }
}

const kills: { at: number; pid: number; state: string; gen: number }[] = [];
const reloads: { at: number; outcome: string; durationMs: number; message: string }[] = [];
const samples: { t: number; rssKb: number; fds: number; heapKb: number | null }[] = [];

async function heapKb(): Promise<number | null> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const bytes = /^nodejs_heap_size_used_bytes (\d+)/m.exec(text)?.[1];
    return bytes === undefined ? null : Math.round(Number(bytes) / 1024);
  } catch {
    return null;
  }
}
const load = new SoakLoad(daemon.port, options.newConnection, options.keepAlive);
let version = 1;
let faultsOn = false;
let hung = false;
const RELOAD_HANG_MS = 60_000;

const rssAtReady = rssKb(supervisorPid);
load.start();
log(`supervisor ${supervisorPid} on 127.0.0.1:${daemon.port}, ${options.workers} workers; warming up 10 s under load`);
await sleep(10_000);
await quiet();
await sleep(2_000); // as at the end: the status connection quiet() used has closed
const start = { rssKb: rssKb(supervisorPid), heapKb: await heapKb(), fds: fdCount(supervisorPid), fdKinds: fdKinds(supervisorPid) };
const faultsStarted = Date.now();
log(`start: RSS ${start.rssKb} kB, ${start.fds} fds ${JSON.stringify(start.fdKinds)}; faults for ${options.durationMs / 1000} s`);

faultsOn = true;
const reloader = (async () => {
  while (faultsOn) {
    await sleep(options.reloadIntervalMs);
    if (!faultsOn) break;
    version += 1;
    daemon.writeConfig(config(version));
    const at = Date.now();
    // A reload that does not end is the worst finding of all: record it and end the faults.
    const result = await Promise.race([request(daemon.socketPath, { command: 'reload' }), sleep(RELOAD_HANG_MS).then(() => null)]);
    if (result === null) {
      reloads.push({ at, outcome: 'hung', durationMs: Date.now() - at, message: `no result within ${RELOAD_HANG_MS} ms: ${JSON.stringify((await status()).generations.map((gen) => [gen.generation, gen.state, gen.workers.map((w) => w.state)]))}` });
      log('a reload hung: ending the faults');
      hung = true;
      break;
    }
    const data = result.data as { outcome?: string } | undefined;
    reloads.push({ at, outcome: data?.outcome ?? (result.ok ? 'promoted' : 'error'), durationMs: Date.now() - at, message: result.message });
  }
})();
const killer = (async () => {
  while (faultsOn) {
    // Exponentially distributed pauses with the given mean: kills land at any phase of a reload.
    await sleep(Math.min(-Math.log(1 - Math.random()) * options.killIntervalMs, options.killIntervalMs * 5));
    if (!faultsOn) break;
    const candidates = livePids(await status());
    for (const { pid } of candidates) seenPids.add(pid);
    const victim = candidates[Math.floor(Math.random() * candidates.length)];
    if (!victim) continue;
    try {
      process.kill(victim.pid, 'SIGKILL');
      kills.push({ at: epoch(), pid: victim.pid, state: victim.state, gen: victim.gen });
    } catch {
      // exited in between
    }
  }
})();
const sampler = (async () => {
  while (faultsOn) {
    samples.push({ t: Date.now() - faultsStarted, rssKb: rssKb(supervisorPid), fds: fdCount(supervisorPid), heapKb: await heapKb() });
    for (const { pid } of livePids(await status())) seenPids.add(pid);
    await sleep(5_000);
  }
})();

let lastReport = Date.now();
while (Date.now() - faultsStarted < options.durationMs && !hung) {
  await sleep(1_000);
  if (Date.now() - lastReport >= 30_000) {
    lastReport = Date.now();
    log(`${Math.round((Date.now() - faultsStarted) / 1000)} s: ${load.stats.ok['new-connection'] + load.stats.ok['keep-alive']} ok, ${load.stats.failures.length} failed, ${reloads.length} reloads, ${kills.length} kills, RSS ${rssKb(supervisorPid)} kB`);
  }
}
faultsOn = false;
await Promise.all([reloader, killer, sampler]);
await quiet(hung ? 5_000 : 30_000).catch((error: Error) => log(error.message));
await sleep(2_000); // the load runs on a settled supervisor for a moment
const end = { rssKb: rssKb(supervisorPid), heapKb: await heapKb(), fds: fdCount(supervisorPid), fdKinds: fdKinds(supervisorPid) };
const stats = await load.stop();
log(`end: RSS ${end.rssKb} kB, ${end.fds} fds ${JSON.stringify(end.fdKinds)}`);
for (const line of daemon.logs) if (line.msg === 'worker started' && typeof line.pid === 'number') seenPids.add(line.pid);

// Stop through the control socket and look for anything left before the harness cleans up.
const stopped = await request(daemon.socketPath, { command: 'stop' });
const exitCode = await daemon.exited();
await sleep(500);
const left = leftovers(supervisorPid, seenPids);
await daemon.stop();

// Attribution of every failure.
const killedAt = new Map(kills.map((kill) => [kill.pid, kill.at]));
function cause(failure: Failure): 'killed-in-flight' | 'other' {
  if (!IN_FLIGHT_CAUSES.has(failure.cause)) return 'other';
  if (failure.lastPid !== null) {
    const at = killedAt.get(failure.lastPid);
    return at !== undefined && at <= failure.endedAt + KILL_SLACK_MS ? 'killed-in-flight' : 'other';
  }
  return kills.some((kill) => kill.at >= failure.startedAt - KILL_SLACK_MS && kill.at <= failure.endedAt + KILL_SLACK_MS) ? 'killed-in-flight' : 'other';
}
const byCause = (mode: string, which: 'killed-in-flight' | 'other') => {
  const counts: Record<string, number> = {};
  for (const failure of stats.failures) if (failure.mode === mode && cause(failure) === which) counts[failure.cause] = (counts[failure.cause] ?? 0) + 1;
  return counts;
};
const modes = (['new-connection', 'keep-alive'] as const).map((mode) => {
  const killed = byCause(mode, 'killed-in-flight');
  const other = byCause(mode, 'other');
  const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
  return { mode, ok: stats.ok[mode], killedInFlight: sum(killed), killedInFlightByCause: killed, otherFailed: sum(other), otherFailedByCause: other };
});
const outcomes: Record<string, number> = {};
for (const reload of reloads) outcomes[reload.outcome] = (outcomes[reload.outcome] ?? 0) + 1;
const unexpectedReloads = reloads.filter((reload) => reload.outcome !== 'promoted' && !/killed by SIGKILL/.test(reload.message));
const killsByState: Record<string, number> = {};
for (const kill of kills) killsByState[kill.state] = (killsByState[kill.state] ?? 0) + 1;

const report = {
  when: new Date().toISOString(),
  options: { ...options, out: path.relative(root, options.out) },
  supervisor: {
    pid: supervisorPid,
    socket: daemon.logs.find((line) => line.msg === 'supervisor running')?.socket ?? null,
    lossless: daemon.logs.find((line) => typeof line.lossless === 'string')?.mechanisms ?? null,
    rssKbAtReady: rssAtReady,
    start,
    end,
    rssGrowthPercent: Math.round(((end.rssKb - start.rssKb) / start.rssKb) * 1000) / 10,
    peakRssKb: Math.max(start.rssKb, end.rssKb, ...samples.map((sample) => sample.rssKb)),
    fdRange: [Math.min(...samples.map((sample) => sample.fds)), Math.max(...samples.map((sample) => sample.fds))],
    stop: { ok: stopped.ok, exitCode },
    leftoverProcesses: left.length,
    leftoverPids: left,
    workersSeen: seenPids.size,
  },
  requests: modes,
  reloads: { count: reloads.length, outcomes, unexpected: unexpectedReloads.slice(0, 10), medianMs: median(reloads.map((reload) => reload.durationMs)) },
  kills: { count: kills.length, byState: killsByState },
  // The evidence for any failure not explained by a kill: the failures themselves, the kills and
  // reloads around them, and what the daemon warned about at the time.
  otherFailures: stats.failures.filter((failure) => cause(failure) === 'other').slice(0, 50).map((failure) => ({
    ...failure,
    startedAt: new Date(failure.startedAt).toISOString(),
    endedAt: new Date(failure.endedAt).toISOString(),
    nearbyKills: kills.filter((kill) => kill.at >= failure.startedAt - 2_000 && kill.at <= failure.endedAt).map((kill) => ({ ...kill, at: new Date(kill.at).toISOString() })),
    nearbyReloads: reloads.filter((reload) => reload.at >= failure.startedAt - 2_000 && reload.at <= failure.endedAt).map((reload) => ({ ...reload, at: new Date(reload.at).toISOString() })),
    daemonWarnings: daemon.logs
      .filter((line) => typeof line.level === 'number' && line.level >= 40 && typeof line.time === 'string')
      .filter((line) => {
        const t = Date.parse(line.time as string);
        return t >= failure.startedAt - 2_000 && t <= failure.endedAt + 500;
      })
      .map((line) => ({ time: line.time, gen: line.gen, worker: line.worker, pid: line.pid, msg: line.msg })),
  })),
  samples,
};

function median(list: number[]): number {
  if (list.length === 0) return 0;
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const int = (n: number) => n.toLocaleString('en-US');
const causes = (counts: Record<string, number>) => Object.entries(counts).map(([name, n]) => `${name} ${n}`).join(', ') || '-';
const requestTable = {
  head: ['load', 'requests ok', 'lost with a SIGKILLed worker', 'by cause', 'other failures', 'by cause'],
  rows: modes.map((m) => [m.mode, int(m.ok), int(m.killedInFlight), causes(m.killedInFlightByCause), int(m.otherFailed), causes(m.otherFailedByCause)]),
};
const s = report.supervisor;
const summaryTable = {
  head: ['measure', 'start', 'end', 'note'],
  rows: [
    ['supervisor RSS (kB)', int(s.start.rssKb), int(s.end.rssKb), `${s.rssGrowthPercent}% growth; ${int(s.rssKbAtReady)} at ready, peak ${int(s.peakRssKb)}`],
    ['supervisor V8 heap used (kB)', s.start.heapKb === null ? '?' : int(s.start.heapKb), s.end.heapKb === null ? '?' : int(s.end.heapKb), 'from its own /metrics (nodejs_heap_size_used_bytes)'],
    ['supervisor open fds', String(s.start.fds), String(s.end.fds), `range during faults ${s.fdRange[0]}..${s.fdRange[1]}`],
    ['reloads', '', String(reloads.length), `${causes(outcomes)}; median ${int(report.reloads.medianMs)} ms; unexpected ${unexpectedReloads.length}`],
    ['SIGKILLs', '', String(kills.length), causes(killsByState)],
    ['processes left after stop', '', String(s.leftoverProcesses), `stop ${stopped.ok ? 'ok' : 'FAILED'}, exit ${exitCode}; ${s.workersSeen} workers seen`],
  ],
};
process.stdout.write(`\n${plainTable(requestTable)}\n\n${plainTable(summaryTable)}\n`);
mkdirSync(path.dirname(options.out), { recursive: true });
writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(options.out.replace(/\.json$/, '.md'), `${markdownTable(requestTable)}\n\n${markdownTable(summaryTable)}\n`);
log(`report written to ${path.relative(root, options.out)} (and .md)`);

const failedOther = modes.reduce((sum, m) => sum + m.otherFailed, 0);
const verdict = failedOther === 0 && s.leftoverProcesses === 0 && s.end.fds === s.start.fds && s.rssGrowthPercent < 10 && unexpectedReloads.length === 0 && exitCode === 0;
log(verdict ? 'PASS' : 'FAIL: see the table');
process.exit(verdict ? 0 : 1);
