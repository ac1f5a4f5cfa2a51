// Turns the raw request records of one strategy into what the report shows: failures by type and
// when they happened, latency in steady state vs during reloads, throughput, and a time series.
import { MODES, type RequestRecords } from '../load/records.js';
import type { LoadMode } from '../load/http-client.js';
import type { ReloadTiming } from '../targets/target.js';
import { median, round, summarize, type LatencySummary } from './stats.js';

export interface Window {
  from: number; // epoch ms
  to: number;
}

export interface FailureEvent {
  atMs: number; // when it failed, ms from the start of the phase
  mode: LoadMode;
  type: string;
  /** The reload whose window (trigger -> old gone) the request started in, 1-based; null outside. */
  reload: number | null;
  /** ms from that reload's trigger to the request's start, and whether it started after 'promoted'. */
  sinceTriggerMs: number | null;
  afterPromoted: boolean | null;
}

export interface ModeResult {
  requests: number;
  ok: number;
  failed: number;
  failures: Record<string, number>;
  steady: LatencySummary & { rps: number };
  reload: LatencySummary;
  /** The reload window split at 'promoted': starting the new generation vs retiring the old. */
  reloadBeforePromoted: LatencySummary;
  reloadAfterPromoted: LatencySummary;
  /**
   * Requests that started well before 'promoted' (EARLY_SLACK_MS) yet were answered by the new
   * generation. By design in self, naive and cluster (new processes serve as soon as they listen);
   * in reuseport+steer none should exist (invariant 2), and their latency shows whether they waited
   * in a queue nobody accepted from yet.
   */
  servedEarlyByNew: LatencySummary;
}

const EARLY_SLACK_MS = 20; // 'promoted' reaches the benchmark a little after the daemon acts on it

export interface ReloadResult {
  index: number;
  ok: boolean;
  message: string;
  toPromotedMs: number | null;
  toGoneMs: number | null;
}

export interface Series {
  bucketMs: number;
  rps: number[]; // completed 2xx per second, both modes
  p99: number[]; // ms, of requests completed in the bucket (0 when none)
  reloads: { triggerMs: number; promotedMs: number | null; goneMs: number | null }[];
  failures: { atMs: number; type: string; mode: LoadMode }[];
  durationMs: number;
}

export interface ThroughputResult {
  rps: number;
  requests: number;
  failed: number;
  failures: Record<string, number>;
  latency: LatencySummary;
}

const MAX_FAILURE_EVENTS = 5000;

/** Throughput of the new-connection-only phase: 2xx completed inside the window, per second. */
export function throughput(records: RequestRecords, window: Window): ThroughputResult {
  let completed = 0;
  let failed = 0;
  const failures: Record<string, number> = {};
  const latencies: number[] = [];
  for (let i = 0; i < records.count; i++) {
    const outcome = records.outcome[i]!;
    if (outcome !== 0) {
      failed += 1;
      const type = records.outcomes[outcome]!;
      failures[type] = (failures[type] ?? 0) + 1;
      continue;
    }
    const end = records.startedAt[i]! + records.latencyMs[i]!;
    if (end >= window.from && end < window.to) {
      completed += 1;
      latencies.push(records.latencyMs[i]!);
    }
  }
  return { rps: Math.round(completed / ((window.to - window.from) / 1000)), requests: records.count, failed, failures, latency: summarize(latencies) };
}

export function reloadResults(timings: ReloadTiming[]): ReloadResult[] {
  return timings.map((t, i) => ({
    index: i + 1,
    ok: t.ok,
    message: t.message,
    toPromotedMs: t.promotedAt === null ? null : Math.round(t.promotedAt - t.triggerAt),
    toGoneMs: t.goneAt === null ? null : Math.round(t.goneAt - t.triggerAt),
  }));
}

export function reloadSummary(results: ReloadResult[]) {
  const promoted = results.flatMap((r) => (r.toPromotedMs === null ? [] : [r.toPromotedMs]));
  const gone = results.flatMap((r) => (r.toGoneMs === null ? [] : [r.toGoneMs]));
  return {
    count: results.length,
    ok: results.filter((r) => r.ok).length,
    toPromotedMedianMs: median(promoted),
    toPromotedMaxMs: promoted.length ? Math.max(...promoted) : 0,
    toGoneMedianMs: median(gone),
    toGoneMaxMs: gone.length ? Math.max(...gone) : 0,
  };
}

/**
 * The reload phase. Steady state is the window before the first reload (after warm-up); a request
 * is "during a reload" if it started between a trigger and that reload's old-gone moment.
 */
export function analyseReloadPhase(records: RequestRecords, phase: Window, steady: Window, timings: ReloadTiming[], bucketMs: number) {
  const phaseStart = phase.from;
  const windows = timings.map((t) => ({ from: t.triggerAt, to: t.goneAt ?? t.promotedAt ?? t.triggerAt, timing: t }));
  const reloadOf = (startedAt: number): number | null => {
    // Few reloads (tens): a linear scan is fine and keeps this obvious.
    for (let w = 0; w < windows.length; w++) if (startedAt >= windows[w]!.from && startedAt <= windows[w]!.to) return w;
    return null;
  };

  const perMode = MODES.map(() => ({ requests: 0, ok: 0, failed: 0, failures: {} as Record<string, number>, steady: [] as number[], steadyDone: 0, reload: [] as number[], before: [] as number[], after: [] as number[], early: [] as number[] }));
  const events: FailureEvent[] = [];
  for (let i = 0; i < records.count; i++) {
    const m = perMode[records.mode[i]!]!;
    const startedAt = records.startedAt[i]!;
    const latency = records.latencyMs[i]!;
    const w = reloadOf(startedAt);
    m.requests += 1;
    if (records.outcome[i] !== 0) {
      const type = records.outcomes[records.outcome[i]!]!;
      m.failed += 1;
      m.failures[type] = (m.failures[type] ?? 0) + 1;
      {
        const timing = w === null ? null : windows[w]!.timing;
        events.push({
          atMs: Math.round(startedAt + latency - phaseStart),
          mode: MODES[records.mode[i]!]!,
          type,
          reload: w === null ? null : w + 1,
          sinceTriggerMs: timing ? Math.round(startedAt - timing.triggerAt) : null,
          afterPromoted: timing ? timing.promotedAt !== null && startedAt >= timing.promotedAt : null,
        });
      }
      continue;
    }
    m.ok += 1;
    if (w !== null) {
      m.reload.push(latency);
      const promotedAt = windows[w]!.timing.promotedAt;
      (promotedAt !== null && startedAt >= promotedAt ? m.after : m.before).push(latency);
      // Version k+1 is the generation reload k (1-based) brings in.
      if (promotedAt !== null && startedAt < promotedAt - EARLY_SLACK_MS && records.version[i] === w + 2) m.early.push(latency);
    }
    else if (startedAt >= steady.from && startedAt < steady.to) {
      m.steady.push(latency);
      if (startedAt + latency < steady.to) m.steadyDone += 1;
    }
  }

  const modes = {} as Record<LoadMode, ModeResult>;
  MODES.forEach((mode, i) => {
    const m = perMode[i]!;
    modes[mode] = {
      requests: m.requests,
      ok: m.ok,
      failed: m.failed,
      failures: m.failures,
      steady: { ...summarize(m.steady), rps: Math.round(m.steadyDone / ((steady.to - steady.from) / 1000)) },
      reload: summarize(m.reload),
      reloadBeforePromoted: summarize(m.before),
      reloadAfterPromoted: summarize(m.after),
      servedEarlyByNew: summarize(m.early),
    };
  });
  events.sort((a, b) => a.atMs - b.atMs);
  return { modes, failureEvents: events.slice(0, MAX_FAILURE_EVENTS), failureSummary: summarizeFailures(events), series: series(records, phase, timings, bucketMs) };
}

/**
 * When failures happen, grouped by load mode, type and the part of the reload the request started
 * in: 'starting' (trigger -> promoted), 'retiring' (promoted -> old gone), or 'between reloads'.
 */
export function summarizeFailures(events: FailureEvent[]) {
  const groups = new Map<string, { mode: LoadMode; type: string; when: string; count: number; reloads: Set<number>; since: number[] }>();
  for (const e of events) {
    const when = e.reload === null ? 'between reloads' : e.afterPromoted ? 'retiring' : 'starting';
    const key = `${e.mode}|${e.type}|${when}`;
    const group = groups.get(key) ?? { mode: e.mode, type: e.type, when, count: 0, reloads: new Set<number>(), since: [] };
    group.count += 1;
    if (e.reload !== null) group.reloads.add(e.reload);
    if (e.sinceTriggerMs !== null) group.since.push(e.sinceTriggerMs);
    groups.set(key, group);
  }
  return [...groups.values()].map((g) => ({
    mode: g.mode,
    type: g.type,
    when: g.when,
    count: g.count,
    reloads: g.reloads.size, // how many distinct reloads saw this kind of failure
    medianMsAfterTrigger: g.since.length ? median(g.since) : null,
  }));
}

// Buckets cover the phase up to the moment the load was told to stop; requests finishing after it
// (the last in flight) still count as failures if they fail, but would only draw a fake ramp-down.
function series(records: RequestRecords, phase: Window, timings: ReloadTiming[], bucketMs: number): Series {
  const phaseStart = phase.from;
  const buckets = Math.max(1, Math.floor((phase.to - phaseStart) / bucketMs));
  const latencies: number[][] = Array.from({ length: buckets }, () => []);
  const failures: Series['failures'] = [];
  for (let i = 0; i < records.count; i++) {
    const doneAt = records.startedAt[i]! + records.latencyMs[i]! - phaseStart;
    const b = Math.max(0, Math.floor(doneAt / bucketMs));
    if (records.outcome[i] === 0) {
      if (b < buckets) latencies[b]!.push(records.latencyMs[i]!);
    }
    else failures.push({ atMs: Math.round(doneAt), type: records.outcomes[records.outcome[i]!]!, mode: MODES[records.mode[i]!]! });
  }
  const rel = (t: number | null) => (t === null ? null : Math.round(t - phaseStart));
  return {
    bucketMs,
    rps: latencies.map((l) => Math.round(l.length / (bucketMs / 1000))),
    p99: latencies.map((l) => round(summarize(l).p99, 1)),
    reloads: timings.map((t) => ({ triggerMs: rel(t.triggerAt)!, promotedMs: rel(t.promotedAt), goneMs: rel(t.goneAt) })),
    // Every failure is a tick on the chart; thousands would only draw one red band anyway.
    failures: failures.slice(0, 5000),
    durationMs: buckets * bucketMs,
  };
}
