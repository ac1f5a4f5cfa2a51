// npm run weight: what the CLI and the daemon cost. The CLI: each common command as a whole
// process (wall and CPU time, peak RSS, by GNU time), interleaved with a bare `node -e 0` so the
// ratio holds on a machine whose speed drifts. The daemon: its RSS with N workers after start and
// across R reloads. Several runs; prints a table per part and writes JSON. Not a test: figures
// depend on the machine and its load, and nothing here asserts a bound.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { request } from '../src/control/client.js';
import { cliPath, Daemon, exampleApp, root } from '../test/helpers/harness.js';
import { anonKb, rssKb } from './soak/proc.js';
import { markdownTable, plainTable } from './lib/table.js';

const HELP = `npm run weight -- [flags]

  --runs N        runs of each part (default 3)
  --samples N     CLI: calls of each command per run; the median is kept (default 10)
  --workers N     daemon: workers (default 16)
  --reloads N     daemon: reloads per run (default 100)
  --only PART     cli or daemon (default both)
  --node-flags S  daemon: its Node options (SUPERVISOR_NODE_FLAGS; "" for Node's defaults; default: the daemon's own)
  --out FILE      JSON report (default bench/results/weight-latest.json)
  --markdown      print the tables as markdown (for docs/benchmarks.md)
`;

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    samples: { type: 'string', default: '10' },
    workers: { type: 'string', default: '16' },
    reloads: { type: 'string', default: '100' },
    only: { type: 'string' },
    'node-flags': { type: 'string' },
    out: { type: 'string', default: path.join(root, 'bench/results/weight-latest.json') },
    markdown: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const count = (name: string, text: string | undefined) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`weight: --${name} ${text}: give a whole number from 1\n`);
    process.exit(100);
  }
  return n;
};
const RUNS = count('runs', flags.runs);
const SAMPLES = count('samples', flags.samples);
const WORKERS = count('workers', flags.workers);
const RELOADS = count('reloads', flags.reloads);
const TIME = '/usr/bin/time';
if (spawnSync(TIME, ['-f', '%e', 'true']).status !== 0) {
  process.stderr.write(`weight: ${TIME} (GNU time) is needed for CPU time and peak RSS of a process: apt-get install time\n`);
  process.exit(111);
}

interface Sample {
  wallS: number;
  cpuS: number;
  peakMb: number;
}

// One whole process under GNU time: its wall and CPU (user + sys) seconds and peak RSS.
function timed(argv: string[]): Sample {
  const result = spawnSync(TIME, ['-f', 'weight: %e %U %S %M', ...argv], { encoding: 'utf8', cwd: root });
  const line = result.stderr.split('\n').reverse().find((text) => text.startsWith('weight: '));
  if (!line) throw new Error(`no timing for ${argv.join(' ')}: ${result.stderr.slice(-500)}`);
  const [wall, user, sys, peakKb] = line.slice(8).split(' ').map(Number) as [number, number, number, number];
  return { wallS: wall, cpuS: user + sys, peakMb: peakKb / 1024 };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

interface CliRow {
  run: number;
  command: string;
  wallS: number;
  cpuS: number;
  peakMb: number;
  wallVsNode: number;
  cpuVsNode: number;
}

async function cliPart(run: number): Promise<CliRow[]> {
  // A live daemon for status; reload and stop ask a socket nobody serves (start, parse, connect,
  // exit 3): their own start-up without a reload or a stop that takes seconds.
  const daemon = await Daemon.start({ config: { workers: 1, command: ['node', exampleApp], ready: { kind: 'notify', timeout: '10s' } } });
  const nobody = path.join(daemon.dir, 'nobody.sock');
  const commands: [string, string[]][] = [
    ['node -e 0', [process.execPath, '-e', '0']],
    ['status', [process.execPath, cliPath, 'status', '--socket', daemon.socketPath]],
    ['reload (no daemon)', [process.execPath, cliPath, 'reload', '--socket', nobody]],
    ['stop (no daemon)', [process.execPath, cliPath, 'stop', '--socket', nobody]],
    ['check', [process.execPath, cliPath, 'check', '-c', daemon.configPath]],
    ['--help', [process.execPath, cliPath, '--help']],
  ];
  const samples = new Map<string, Sample[]>(commands.map(([name]) => [name, []]));
  try {
    timed(commands[0]![1]); // warm the page cache
    for (let i = 0; i < SAMPLES; i++) for (const [name, argv] of commands) samples.get(name)!.push(timed(argv));
  } finally {
    await daemon.stop();
  }
  const of = (name: string) => {
    const list = samples.get(name)!;
    return { wallS: median(list.map((s) => s.wallS)), cpuS: median(list.map((s) => s.cpuS)), peakMb: median(list.map((s) => s.peakMb)) };
  };
  const bare = of('node -e 0');
  return commands.map(([command]) => {
    const m = of(command);
    return { run, command, ...m, wallVsNode: m.wallS / bare.wallS, cpuVsNode: m.cpuS / bare.cpuS };
  });
}

interface DaemonRow {
  run: number;
  workers: number;
  reloads: number;
  startMb: number;
  afterMb: number;
  maxMb: number;
  anonStartMb: number;
  anonMaxMb: number;
  nodeFlags: string;
  samples: { reloads: number; rssMb: number; anonMb: number }[];
}

async function daemonPart(run: number): Promise<DaemonRow> {
  const daemon = await Daemon.start({
    // The workers skip the example app's warm-up: what the daemon holds does not depend on it, and
    // 100 reloads of 16 workers warming up for a second each would take a quarter of an hour.
    config: { workers: WORKERS, command: ['node', exampleApp], env: { APP_WARMUP_REQUESTS: '0' }, ready: { kind: 'notify', timeout: '30s' }, drain: { signal: 'SIGTERM', timeout: '5s' } },
    keepLine: (raw) => raw.includes('"msg":"all workers ready"'), // the one line start() waits for; the rest would only grow this process
    ...(flags['node-flags'] === undefined ? {} : { env: { SUPERVISOR_NODE_FLAGS: flags['node-flags'] } }),
  });
  const nodeFlags = readFileSync(`/proc/${daemon.pid}/cmdline`, 'utf8').split('\0').filter((arg) => arg.startsWith('--')).join(' ');
  const rss = () => rssKb(daemon.pid) / 1024;
  const anon = () => anonKb(daemon.pid) / 1024;
  const samples: DaemonRow['samples'] = [];
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    samples.push({ reloads: 0, rssMb: rss(), anonMb: anon() });
    const every = Math.max(1, Math.floor(RELOADS / 10));
    for (let i = 1; i <= RELOADS; i++) {
      const result = await request(daemon.socketPath, { command: 'reload' });
      if (!result.ok) throw new Error(`reload ${i} ${result.message}`);
      if (i % every === 0 || i === RELOADS) samples.push({ reloads: i, rssMb: rss(), anonMb: anon() });
    }
  } finally {
    await daemon.stop();
  }
  return {
    run,
    workers: WORKERS,
    reloads: RELOADS,
    startMb: samples[0]!.rssMb,
    afterMb: samples.at(-1)!.rssMb,
    maxMb: Math.max(...samples.map((s) => s.rssMb)),
    anonStartMb: samples[0]!.anonMb,
    anonMaxMb: Math.max(...samples.map((s) => s.anonMb)),
    nodeFlags,
    samples,
  };
}

const fixed = (n: number, digits = 2) => n.toFixed(digits);
const report: { machine: { cpus: number; node: string; load: number[] }; cli: CliRow[]; daemon: DaemonRow[] } = {
  machine: { cpus: os.cpus().length, node: process.version, load: os.loadavg() },
  cli: [],
  daemon: [],
};
for (let run = 1; run <= RUNS; run++) {
  if (flags.only !== 'daemon') report.cli.push(...(await cliPart(run)));
  if (flags.only !== 'cli') report.daemon.push(await daemonPart(run));
  save(); // what is measured so far survives an interrupted run
  process.stderr.write(`weight: run ${run} of ${RUNS} done\n`);
}

const cliTable = {
  head: ['run', 'command', 'wall s', 'cpu s', 'peak MB', 'wall / node', 'cpu / node'],
  rows: report.cli.map((r) => [String(r.run), r.command, fixed(r.wallS), fixed(r.cpuS), fixed(r.peakMb, 1), fixed(r.wallVsNode), fixed(r.cpuVsNode)]),
};
const daemonTable = {
  head: ['run', 'workers', 'reloads', 'node options', 'RSS MB at start', 'RSS MB after', 'max RSS MB', 'anon MB at start', 'max anon MB'],
  rows: report.daemon.map((r) => [String(r.run), String(r.workers), String(r.reloads), r.nodeFlags || '(none)', fixed(r.startMb, 1), fixed(r.afterMb, 1), fixed(r.maxMb, 1), fixed(r.anonStartMb, 1), fixed(r.anonMaxMb, 1)]),
};
const show = flags.markdown ? markdownTable : plainTable;
process.stdout.write(`machine: ${report.machine.cpus} cpus, node ${report.machine.node}, load ${report.machine.load.map((n) => n.toFixed(2)).join(' ')}; CLI figures are medians of ${SAMPLES} calls\n\n`);
if (report.cli.length > 0) process.stdout.write(`${show(cliTable)}\n\n`);
if (report.daemon.length > 0) process.stdout.write(`${show(daemonTable)}\n`);
process.stderr.write(`weight: wrote ${flags.out}\n`);

function save(): void {
  mkdirSync(path.dirname(flags.out), { recursive: true });
  writeFileSync(flags.out, `${JSON.stringify(report, null, 2)}\n`);
}
