// `npm run bench`: reload under load, every strategy side by side in one run.
//
// Each strategy runs in a network namespace of its own (run-strategy.js under `unshare -n`) with
// the tcp_migrate_req it is about, so the host's sysctls and ports are never touched; then this
// process prints the tables, writes the JSON, a markdown copy of the tables and the SVG chart.
// Flags: --help, or bench/lib/flags.ts.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderChart } from './lib/chart.js';
import { HELP, parseFlags, type BenchOptions } from './lib/flags.js';
import { losslessKeySupported } from './lib/lossless-key.js';
import { machine } from './lib/machine.js';
import { hostMigrateReq, inNamespace, namespaceProblem } from './lib/namespace.js';
import type { RunSpec, StrategyOutcome, StrategyResult } from './lib/spec.js';
import { strategy, type Strategy } from './lib/strategies.js';
import { failureRows, markdownTable, plainTable, reloadRows } from './lib/table.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const runner = fileURLToPath(new URL('./run-strategy.js', import.meta.url));
const WARMUP_MS = 500;
const BUCKET_MS = 250;

interface Placement {
  where: 'namespace' | 'host';
  migrateReq: number | null;
}

// Where a strategy can run, or why it cannot.
function place(s: Strategy, options: BenchOptions, nsProblem: string | null, hostValue: number | null): Placement | string {
  const wanted = s.sysctl === 'flag' ? options.selfMigrateReq : s.sysctl === 'any' ? 0 : s.sysctl;
  if (!nsProblem) return { where: 'namespace', migrateReq: wanted };
  if (s.sysctl === 'any' || s.sysctl === 'flag' || hostValue === wanted) return { where: 'host', migrateReq: hostValue };
  return `needs net.ipv4.tcp_migrate_req=${wanted} but the host has ${hostValue ?? 'none'} and no namespace can be made (${nsProblem})`;
}

let current: ReturnType<typeof spawn> | undefined;
let interrupted = false;

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted = true;
    // The runner cleans up its own children on SIGTERM.
    if (current && current.exitCode === null) current.kill('SIGTERM');
  });
}

function runOne(spec: RunSpec, budgetMs: number): Promise<void> {
  const dir = path.dirname(spec.resultPath);
  const specPath = path.join(dir, `${spec.strategy}.spec.json`);
  writeFileSync(specPath, JSON.stringify(spec));
  const command = [process.execPath, runner, specPath];
  const argv = spec.where === 'namespace' ? inNamespace(spec.migrateReq ?? 0, command) : command;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
    current = child;
    let killTimer: NodeJS.Timeout | undefined;
    const budget = setTimeout(() => {
      process.stderr.write(`[${spec.strategy}] over its ${Math.round(budgetMs / 1000)} s budget: stopping it\n`);
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    }, budgetMs);
    child.once('error', (error) => {
      clearTimeout(budget);
      reject(new Error(`cannot start ${argv[0]}: ${error.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(budget);
      clearTimeout(killTimer);
      current = undefined;
      if (code === 0) resolve();
      else reject(new Error(`the strategy run exited with ${signal ?? `code ${code}`} (its log is above)`));
    });
  });
}

async function main(): Promise<number> {
  const parsed = parseFlags(process.argv.slice(2), path.join(root, 'bench/results/latest.json'));
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const options = parsed;
  if (!existsSync(runner)) throw new Error(`${runner} is missing: run 'npm run build' first (npm run bench does)`);
  const nsProblem = namespaceProblem();
  const hostValue = hostMigrateReq();
  const losslessKey = losslessKeySupported();
  const facts = machine();
  const startedAt = new Date().toISOString();
  process.stderr.write(
    `bench: ${options.strategies.join(', ')}; ${options.workers} workers, ${options.concurrency}+${options.concurrency} users, ${options.reloads} reloads; ` +
      `${nsProblem ? `no network namespace (${nsProblem}): running on the host` : 'each strategy in its own network namespace'}\n`,
  );
  if (facts.loadAverageAtStart[0]! > facts.cores / 2) {
    process.stderr.write(`bench: warning: load average ${facts.loadAverageAtStart[0]} on ${facts.cores} cores: other work will skew the numbers\n`);
  }
  if (!losslessKey) process.stderr.write(`bench: warning: this build's config has no 'lossless:' key; supervisor strategies run with its default\n`);

  const work = mkdtempSync(path.join(os.tmpdir(), 'rps-bench-'));
  const outcomes: StrategyOutcome[] = [];
  try {
    for (const id of options.strategies) {
      const s = strategy(id);
      if (interrupted) {
        outcomes.push({ strategy: s.id, label: s.label, status: 'skipped', reason: 'interrupted' });
        continue;
      }
      const placement = place(s, options, nsProblem, hostValue);
      if (typeof placement === 'string') {
        process.stderr.write(`[${s.id}] skipped: ${placement}\n`);
        outcomes.push({ strategy: s.id, label: s.label, status: 'skipped', reason: placement });
        continue;
      }
      const spec: RunSpec = {
        strategy: s.id,
        workers: options.workers,
        concurrency: options.concurrency,
        loadProcesses: options.loadProcesses,
        warmupMs: WARMUP_MS,
        steadyMs: options.durationMs,
        reloads: options.reloads,
        gapMs: options.gapMs,
        drainMs: options.drainMs,
        timeoutMs: options.timeoutMs,
        bucketMs: BUCKET_MS,
        losslessKey,
        ...placement,
        resultPath: path.join(work, `${s.id}.result.json`),
      };
      // Generous: a reload that hangs still ends (each has its own timeouts inside), but bounded.
      const budgetMs = 60_000 + 4 * (WARMUP_MS + options.durationMs) + options.reloads * (options.gapMs + options.drainMs + 12_000);
      try {
        await runOne(spec, budgetMs);
        const result = JSON.parse(readFileSync(spec.resultPath, 'utf8')) as StrategyResult;
        if (!losslessKey && s.supervisor?.lossless) result.notes.push(`ran without lossless: ${s.supervisor.lossless} (this build's config lacks the key)`);
        outcomes.push({ strategy: s.id, label: s.label, status: 'ran', result });
      } catch (error) {
        process.stderr.write(`[${s.id}] error: ${(error as Error).message}\n`);
        outcomes.push({ strategy: s.id, label: s.label, status: 'error', reason: (error as Error).message });
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  report(options, outcomes, facts, startedAt, losslessKey, nsProblem);
  return outcomes.some((o) => o.status === 'error') || interrupted ? 1 : 0;
}

function throughputRatio(outcomes: StrategyOutcome[]) {
  const rps = (id: string) => outcomes.find((o) => o.strategy === id && o.status === 'ran')?.result?.throughput.rps;
  const reuseport = rps('steer') ?? rps('migrate');
  const cluster = rps('cluster');
  if (reuseport === undefined || cluster === undefined || cluster === 0) return null;
  return { reuseportStrategy: rps('steer') !== undefined ? 'steer' : 'migrate', reuseportRps: reuseport, clusterRps: cluster, ratio: Math.round((reuseport / cluster) * 100) / 100 };
}

function report(options: BenchOptions, outcomes: StrategyOutcome[], facts: ReturnType<typeof machine>, startedAt: string, losslessKey: boolean, nsProblem: string | null): void {
  const failures = failureRows(outcomes);
  const reloads = reloadRows(outcomes);
  const ratio = throughputRatio(outcomes);
  const ratioLine = ratio
    ? `throughput, new connection per request, ${options.workers} workers, no reloads: reuseport (${ratio.reuseportStrategy}) ${ratio.reuseportRps.toLocaleString('en-US')} req/s vs node:cluster ${ratio.clusterRps.toLocaleString('en-US')} req/s = ${ratio.ratio}x`
    : 'throughput ratio reuseport/cluster: not measured (needs both strategies)';
  const setup =
    `${options.workers} workers; load: ${options.concurrency} new-connection + ${options.concurrency} keep-alive closed-loop users, no retries, ` +
    `${options.loadProcesses} load processes; ${options.reloads} reloads, ${options.gapMs} ms apart; steady window ${options.durationMs / 1000} s`;
  const machineLine = `${facts.kernel}, ${facts.cores} cores (${facts.cpu}), Node ${facts.node}, load average at start ${facts.loadAverageAtStart.join(' ')}`;

  const notes = outcomes.flatMap((o) => (o.result && o.result.notes.length > 0 ? [`${o.label}: ${o.result.notes.join('; ')}`] : []));
  const text = [
    '',
    `Failed requests and latency (ms) during ${options.reloads} reloads; steady = before the first reload, reload = started between trigger and old gone`,
    plainTable(failures),
    '',
    'Throughput and reload durations',
    plainTable(reloads),
    '',
    ratioLine,
    `setup: ${setup}`,
    `machine: ${machineLine}`,
    ...notes.map((note) => `note: ${note}`),
  ].join('\n');
  process.stdout.write(`${text}\n`);

  const markdown = [
    `Run of ${startedAt}. ${setup}. Machine: ${machineLine}.`,
    '',
    markdownTable(failures),
    '',
    markdownTable(reloads),
    '',
    ratioLine,
    '',
    ...notes.map((note) => `- ${note}`),
  ].join('\n');

  const out = path.resolve(options.out);
  mkdirSync(path.dirname(out), { recursive: true });
  const base = out.replace(/\.json$/, '');
  const svg = renderChart(outcomes, [`${startedAt.slice(0, 19).replace('T', ' ')} UTC · ${setup}`, machineLine]);
  writeFileSync(`${base}.svg`, svg);
  writeFileSync(`${base}.md`, markdown);
  writeFileSync(
    out,
    `${JSON.stringify({ schema: 1, startedAt, machine: facts, options, losslessKey, namespaces: nsProblem ?? 'yes', throughputRatio: ratio, strategies: outcomes, table: text }, null, 1)}\n`,
  );
  const written = [out, `${base}.svg`, `${base}.md`];
  if (options.docs) written.push(...updateDocs(`${base}.svg`, markdown));
  process.stderr.write(`bench: wrote ${written.map((file) => path.relative(process.cwd(), file) || file).join(', ')}\n`);
}

const DOCS_START = '<!-- bench:latest:start (written by npm run bench) -->';
const DOCS_END = '<!-- bench:latest:end -->';

// The docs show the latest run: the chart file, and the tables between two markers.
function updateDocs(svgPath: string, markdown: string): string[] {
  const chart = path.join(root, 'docs/benchmark-latest.svg');
  copyFileSync(svgPath, chart);
  const page = path.join(root, 'docs/benchmarks.md');
  if (!existsSync(page)) return [chart];
  const text = readFileSync(page, 'utf8');
  const start = text.indexOf(DOCS_START);
  const end = text.indexOf(DOCS_END);
  if (start < 0 || end < start) {
    process.stderr.write(`bench: ${page} has no ${DOCS_START} ... ${DOCS_END} block: tables not copied there\n`);
    return [chart];
  }
  writeFileSync(page, `${text.slice(0, start + DOCS_START.length)}\n${markdown}\n${text.slice(end)}`);
  return [chart, page];
}

try {
  process.exitCode = await main();
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
