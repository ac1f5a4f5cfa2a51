// The report as tables, in plain text for the terminal and in markdown for docs/benchmarks.md.
import type { LoadMode } from '../load/http-client.js';
import type { ReloadCapacity } from './profile.js';
import type { StrategyOutcome, ThroughputComparison } from './spec.js';
import { STEERING_VARIANTS } from './strategies.js';
import { WATCHED_COUNTERS } from './tcp-counters.js';

type Row = string[];

const MODE_LABEL: Record<LoadMode, string> = { 'new-connection': 'new conn', 'keep-alive': 'keep-alive' };
const int = (n: number) => n.toLocaleString('en-US');
const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));

function failureText(failures: Record<string, number>): string {
  const entries = Object.entries(failures).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? '-' : entries.map(([type, n]) => `${type} ${int(n)}`).join(', ');
}

export function failureRows(outcomes: StrategyOutcome[]): { head: Row; rows: Row[] } {
  const head = ['strategy', 'migrate_req', 'load', 'requests', 'failed', 'failures by type', 'p50 steady', 'p99 steady', 'p50 reload', 'p99 reload', 'max reload', 'p99 reload before/after promoted'];
  const rows: Row[] = [];
  for (const outcome of outcomes) {
    const r = outcome.result;
    if (outcome.status !== 'ran' || !r) {
      rows.push([outcome.label, '', '', '', '', `${outcome.status}: ${outcome.reason ?? ''}`, '', '', '', '', '', '']);
      continue;
    }
    (['new-connection', 'keep-alive'] as const).forEach((mode, i) => {
      const m = r.modes[mode];
      rows.push([
        i === 0 ? outcome.label : '',
        i === 0 ? `${r.migrateReq ?? '?'}${r.where === 'host' ? ' (host)' : ''}` : '',
        MODE_LABEL[mode],
        int(m.requests),
        int(m.failed),
        failureText(m.failures),
        ms(m.steady.p50),
        ms(m.steady.p99),
        ms(m.reload.p50),
        ms(m.reload.p99),
        ms(m.reload.max),
        `${ms(m.reloadBeforePromoted.p99)} / ${ms(m.reloadAfterPromoted.p99)}`,
      ]);
    });
  }
  return { head, rows };
}

// Capacity: what the worst bin after a trigger served, of the steady req/s, and when it was.
function capacityText(capacity: ReloadCapacity | null): string {
  return capacity ? `${Math.round(capacity.share * 100)}% at ${capacity.fromMs}-${capacity.toMs} ms` : '-';
}

export function reloadRows(outcomes: StrategyOutcome[]): { head: Row; rows: Row[] } {
  const binMs = outcomes.find((o) => o.result?.capacity)?.result?.capacity?.binMs ?? 250;
  const head = ['strategy', 'steady req/s new conn + keep-alive', 'reloads ok', 'to promoted median/max', 'to old gone median/max', `capacity: worst ${binMs} ms after trigger, of steady req/s`];
  const rows = outcomes.flatMap((outcome): Row[] => {
    const r = outcome.result;
    if (outcome.status !== 'ran' || !r) return [];
    const s = r.reloadSummary;
    return [[
      outcome.label,
      `${int(r.modes['new-connection'].steady.rps)} + ${int(r.modes['keep-alive'].steady.rps)}`,
      `${s.ok}/${s.count}`,
      `${int(s.toPromotedMedianMs)} / ${int(s.toPromotedMaxMs)} ms`,
      `${int(s.toGoneMedianMs)} / ${int(s.toGoneMaxMs)} ms`,
      capacityText(r.capacity),
    ]];
  });
  return { head, rows };
}

export function plainTable({ head, rows }: { head: Row; rows: Row[] }): string {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => (row[c] ?? '').length)));
  const numeric = head.map((_, c) => rows.every((row) => /^[\d,./ ms%-]*$/.test(row[c] ?? '')));
  const line = (row: Row) => row.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function markdownTable({ head, rows }: { head: Row; rows: Row[] }): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  return [`| ${head.map(cell).join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`)].join('\n');
}

const WHEN_ORDER = ['starting', 'retiring', 'between reloads'];

export function failureWhenRows(outcomes: StrategyOutcome[]): { head: Row; rows: Row[] } {
  const head = ['strategy', 'load', 'type', 'request started', 'failed', 'in reloads', 'median ms after trigger'];
  const rows = outcomes.flatMap((outcome) =>
    [...(outcome.result?.failureSummary ?? [])].sort((a, b) => a.mode.localeCompare(b.mode) * -1 || WHEN_ORDER.indexOf(a.when) - WHEN_ORDER.indexOf(b.when) || b.count - a.count).map((f): Row => [
      outcome.label,
      MODE_LABEL[f.mode],
      f.type,
      f.when === 'starting' ? 'trigger -> promoted' : f.when === 'retiring' ? 'promoted -> old gone' : 'between reloads',
      int(f.count),
      f.when === 'between reloads' ? '-' : String(f.reloads),
      f.medianMsAfterTrigger === null ? '-' : int(f.medianMsAfterTrigger),
    ]),
  );
  return { head, rows };
}

export function throughputRows(comparison: ThroughputComparison): { head: Row; rows: Row[] } {
  const head = ['strategy', 'req/s (median)', 'req/s per round', 'failed', 'latency p50 / p99', 'client cores / machine busy'];
  const rows = comparison.entries.map((e): Row => [
    e.label,
    int(e.medianRps),
    e.slicesRps.map(int).join(' '),
    e.failed === 0 ? '0' : `${int(e.failed)} (${failureText(e.failures)})`,
    `${ms(e.latency.p50)} / ${ms(e.latency.p99)} ms`,
    `${e.clientCores} / ${e.machineBusy === null ? '?' : `${Math.round(e.machineBusy * 100)}%`}`,
  ]);
  return { head, rows };
}

// The namespace's kernel counters over the reloads: connections the kernel dropped or reset before
// any process saw them would show here, whatever the load client counted.
export function kernelCounterRows(outcomes: StrategyOutcome[]): { head: Row; rows: Row[] } {
  const head = ['strategy', 'window', ...WATCHED_COUNTERS];
  const rows: Row[] = [];
  for (const outcome of outcomes) {
    const counters = outcome.result?.tcpCounters;
    if (!counters) continue;
    for (const [window, sample] of [['steady', counters.steady], ['reloads', counters.reloads]] as const) {
      if (sample) rows.push([window === 'steady' ? outcome.label : '', window, ...WATCHED_COUNTERS.map((name) => int(sample[name]))]);
    }
  }
  return { head, rows };
}

// Only the steering variants get the profile tables (one short table each keeps the report readable).

// Requests by time since the trigger (all reloads together) next to the steady window: where in
// a reload throughput drops and the slow requests start.
export function profileRows(outcomes: StrategyOutcome[]): { head: Row; rows: Row[] } {
  const head = ['strategy', 'ms after trigger', 'req/s', 'of steady', 'p99 new conn', 'p99 keep-alive'];
  const rows: Row[] = [];
  for (const outcome of outcomes) {
    const profile = outcome.result?.profile;
    if (!profile || !STEERING_VARIANTS.includes(outcome.strategy)) continue;
    const p99 = (values: Record<string, number>) => [ms(values['new-connection'] ?? 0), ms(values['keep-alive'] ?? 0)];
    rows.push([outcome.label, 'steady', int(profile.steady.rps), '100%', ...p99(profile.steady.p99)]);
    for (const row of profile.sinceTrigger) {
      const share = profile.steady.rps > 0 ? `${Math.round((row.rps / profile.steady.rps) * 100)}%` : '-';
      rows.push(['', `${row.fromMs}-${row.toMs}`, int(row.rps), share, ...p99(row.p99)]);
    }
  }
  return { head, rows };
}

// Server CPU per answered request by generation age: what a young generation costs against the
// same work once warm (the steady window).
export function coldCostRows(outcomes: StrategyOutcome[]): { head: Row; rows: Row[] } {
  const head = ['strategy', 'generation age ms', 'CPU ms', 'requests', 'CPU ms per request', 'x steady'];
  const rows: Row[] = [];
  for (const outcome of outcomes) {
    const cost = outcome.result?.coldCost;
    if (!cost || cost.generations === 0 || !STEERING_VARIANTS.includes(outcome.strategy)) continue;
    const steady = cost.steadyCpuMsPerRequest;
    rows.push([`${outcome.label} (mean of ${cost.generations} generations)`, 'steady', '', '', steady === null ? '-' : steady.toFixed(3), '1.0']);
    for (const row of cost.byAge) {
      const perRequest = row.cpuMsPerRequest;
      const times = perRequest !== null && steady ? (perRequest / steady).toFixed(1) : '-';
      rows.push(['', `${row.fromMs}-${row.toMs}`, int(row.cpuMs), int(row.requests), perRequest === null ? '-' : perRequest.toFixed(3), times]);
    }
  }
  return { head, rows };
}
