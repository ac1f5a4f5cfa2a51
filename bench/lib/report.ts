// Everything a run leaves behind: the tables on stdout, bench/results/latest.{json,md,svg}, and
// (unless --no-docs) the chart and tables in docs/.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderChart } from './chart.js';
import type { BenchOptions } from './flags.js';
import { describeFooting } from './footing.js';
import type { Machine } from './machine.js';
import type { StrategyOutcome, ThroughputComparison } from './spec.js';
import { STEERING_VARIANTS } from './strategies.js';
import { coldCostRows, failureRows, failureWhenRows, kernelCounterRows, markdownTable, plainTable, profileRows, reloadRows, throughputRows } from './table.js';

export interface ReportInput {
  options: BenchOptions;
  outcomes: StrategyOutcome[];
  throughput: ThroughputComparison | string; // a string says why there is none
  machine: Machine;
  startedAt: string;
  nsProblem: string | null;
  root: string;
  workerNode: string | null; // '<path> (vX.Y.Z)' when --worker-node chose the workers' node
}

const DOCS_START = '<!-- bench:latest:start (written by npm run bench) -->';
const DOCS_END = '<!-- bench:latest:end -->';

/** reuseport (steer) against node:cluster, from the interleaved comparison; the issue asks >= 1.5x. */
export function throughputRatio(throughput: ThroughputComparison | string) {
  if (typeof throughput === 'string') return null;
  const rps = (id: string) => throughput.entries.find((e) => e.strategy === id)?.medianRps;
  const reuseport = rps('steer');
  const cluster = rps('cluster');
  if (reuseport === undefined || cluster === undefined || cluster === 0) return null;
  return { reuseportRps: reuseport, clusterRps: cluster, ratio: Math.round((reuseport / cluster) * 100) / 100 };
}

/** p99 during reloads against steady state, per load mode (the issue asks <= 1.5x for steer). */
export function latencyRatios(outcomes: StrategyOutcome[], id: string) {
  const result = outcomes.find((o) => o.strategy === id && o.status === 'ran')?.result;
  if (!result) return null;
  return (['new-connection', 'keep-alive'] as const).map((mode) => {
    const m = result.modes[mode];
    return { mode, steadyP99: m.steady.p99, reloadP99: m.reload.p99, ratio: m.steady.p99 > 0 ? Math.round((m.reload.p99 / m.steady.p99) * 100) / 100 : null };
  });
}

/** One line per run: the scheduling footing its /proc check found. */
export function footingLines(outcomes: StrategyOutcome[], throughput: ThroughputComparison | string): string[] {
  const runs = [
    ...(typeof throughput === 'string' ? [] : [{ label: 'throughput comparison', footing: throughput.footing }]),
    ...outcomes.flatMap((o) => (o.result ? [{ label: o.label, footing: o.result.footing }] : [])),
  ];
  return runs.map(({ label, footing }) => `scheduling footing, ${label}: ${describeFooting(footing)}`);
}

export function report(input: ReportInput): void {
  const { options, outcomes, throughput, machine, startedAt } = input;
  const int = (n: number) => n.toLocaleString('en-US');
  const failures = failureRows(outcomes);
  const reloads = reloadRows(outcomes);
  const when = failureWhenRows(outcomes);
  const kernel = kernelCounterRows(outcomes);
  const profile = profileRows(outcomes);
  const cold = coldCostRows(outcomes);
  const profileTitle = 'Reload profile: requests by start time after each trigger, all reloads together (steady: before the first reload)';
  const coldTitle = "Servers' CPU per answered request by generation age (from /proc), the reloads' generations averaged";
  const kernelTitle = 'Kernel TCP counters of each namespace (nstat names), moved in the steady window and over the reloads';
  const tp = typeof throughput === 'string' ? null : throughputRows(throughput);
  const ratio = throughputRatio(throughput);
  const steer = latencyRatios(outcomes, 'steer');
  // Every steering variant that ran gets its line: steer-c separates the supervisor's share of the
  // reload latency from the Node app's warm-up.
  const steerLines = STEERING_VARIANTS.flatMap((id) => {
    const ratios = latencyRatios(outcomes, id);
    const label = outcomes.find((o) => o.strategy === id)?.label ?? id;
    return ratios ? [`${label} p99, steady -> during reloads: ${ratios.map((r) => `${r.mode} ${r.steadyP99} -> ${r.reloadP99} ms (${r.ratio ?? '?'}x)`).join('; ')}`] : [];
  });

  const ratioLine = ratio
    ? `throughput ratio, new connection per request, ${options.workers} workers: reuseport (steer) ${int(ratio.reuseportRps)} req/s / node:cluster ${int(ratio.clusterRps)} req/s = ${ratio.ratio}x`
    : `throughput ratio reuseport/cluster: not measured (${typeof throughput === 'string' ? throughput : 'needs steer and cluster'})`;
  const setup =
    `${options.workers} workers; load: ${options.concurrency} new-connection + ${options.concurrency} keep-alive ${options.rate > 0 ? `users at a fixed ${options.rate} requests/s per mode (open loop)` : 'closed-loop users'}, no retries, ` +
    `${options.loadProcesses} load processes; ${options.reloads} reloads, ${options.gapMs} ms apart; steady window ${options.durationMs / 1000} s after ${options.warmupMs / 1000} s of warm-up; steer: slow_start ${options.slowStartMs} ms, drain.spread ${options.drainSpreadMs} ms${options.startConcurrency > 0 ? `; supervisor start_concurrency ${options.startConcurrency}` : ''}${describeWarming(options.warming)}${input.workerNode ? `; the supervisor's Node workers ran ${input.workerNode}` : ''}`;
  const machineLine = `${machine.kernel}, ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, load average at start ${machine.loadAverageAtStart.join(' ')}`;
  const tpTitle =
    typeof throughput === 'string'
      ? `Throughput comparison: ${throughput}`
      : `Throughput, new connection per request, no reloads: ${options.concurrency} users, ${throughput.rounds} rounds of ${throughput.sliceMs / 1000} s slices per strategy, taken in turn; ${'none' in throughput.pinning ? `not pinned (${throughput.pinning.none})` : `load client on CPU ${throughput.pinning.client}, servers on CPU ${throughput.pinning.servers}`}`;
  const notes = outcomes.flatMap((o) => (o.result && o.result.notes.length > 0 ? [`${o.label}: ${o.result.notes.join('; ')}`] : []));
  const footing = footingLines(outcomes, throughput);

  const text = [
    '',
    tpTitle,
    ...(tp ? [plainTable(tp)] : []),
    '',
    `Failed requests and latency (ms) during ${options.reloads} reloads; steady = before the first reload, reload = started between trigger and old gone`,
    plainTable(failures),
    '',
    'Reloads',
    plainTable(reloads),
    '',
    ...(when.rows.length > 0 ? ['When the failed requests had started', plainTable(when), ''] : []),
    ...(kernel.rows.length > 0 ? [kernelTitle, plainTable(kernel), ''] : []),
    ...(profile.rows.length > 0 ? [profileTitle, plainTable(profile), ''] : []),
    ...(cold.rows.length > 0 ? [coldTitle, plainTable(cold), ''] : []),
    ratioLine,
    ...steerLines,
    ...footing,
    `setup: ${setup}`,
    `machine: ${machineLine}`,
    ...notes.map((note) => `note: ${note}`),
  ].join('\n');
  process.stdout.write(`${text}\n`);

  const markdown = [
    `Run of ${startedAt}. ${setup}. Machine: ${machineLine}.`,
    '',
    `${tpTitle}:`,
    '',
    ...(tp ? [markdownTable(tp), ''] : []),
    `Failed requests and latency (ms) during ${options.reloads} reloads (steady: before the first reload; reload: started between trigger and old gone):`,
    '',
    markdownTable(failures),
    '',
    markdownTable(reloads),
    '',
    ...(when.rows.length > 0 ? ['When the failed requests had started:', '', markdownTable(when), ''] : []),
    ...(kernel.rows.length > 0 ? [`${kernelTitle}:`, '', markdownTable(kernel), ''] : []),
    ...(profile.rows.length > 0 ? [`${profileTitle}:`, '', markdownTable(profile), ''] : []),
    ...(cold.rows.length > 0 ? [`${coldTitle}:`, '', markdownTable(cold), ''] : []),
    ratioLine,
    ...steerLines.flatMap((line) => ['', line]),
    '',
    ...footing.map((line) => `- ${line}`),
    ...notes.map((note) => `- ${note}`),
  ].join('\n');

  const out = path.resolve(options.out);
  mkdirSync(path.dirname(out), { recursive: true });
  const base = out.replace(/\.json$/, '');
  writeFileSync(`${base}.svg`, renderChart(outcomes, [`${startedAt.slice(0, 19).replace('T', ' ')} UTC · ${setup}`, machineLine]));
  writeFileSync(`${base}.md`, `${markdown}\n`);
  const json = {
    schema: 1,
    startedAt,
    machine,
    options,
    namespaces: input.nsProblem ?? 'yes',
    throughputRatio: ratio,
    steerLatency: steer,
    throughput,
    strategies: outcomes,
    table: text,
  };
  writeFileSync(out, `${JSON.stringify(json, null, 1)}\n`);
  const written = [out, `${base}.svg`, `${base}.md`];
  if (options.docs) written.push(...updateDocs(input.root, `${base}.svg`, markdown));
  process.stderr.write(`bench: wrote ${written.map((file) => path.relative(process.cwd(), file) || file).join(', ')}\n`);
}

// The docs show the latest run: the chart file, and the tables between two markers.
function updateDocs(root: string, svgPath: string, markdown: string): string[] {
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

// Only what differs from the defaults: the steer strategy's nice ramp and who warms the app up.
function describeWarming(warming: BenchOptions['warming']): string {
  const parts = [
    ...(warming.readyNice !== null ? [`ready.nice ${warming.readyNice}`] : []),
    ...(warming.niceRampMs !== null ? [`nice_ramp ${warming.niceRampMs} ms`] : []),
    ...(warming.appWarmup !== null ? [`the app's own warm-up ${warming.appWarmup} requests`] : []),
    ...(warming.supervisorWarmup > 0 ? [`ready.warmup ${warming.supervisorWarmup} requests`] : []),
  ];
  return parts.length > 0 ? `; steer: ${parts.join(', ')}` : '';
}
