// Where in a reload the latency goes, and why: the reload phase seen from each reload's trigger
// (requests per second and p99 by time since the trigger, over all reloads at once), the capacity
// left in its worst bin, and what a generation's servers spend per request by their age, against
// the steady window.
import { MODES, type RequestRecords } from '../load/records.js';
import type { ReloadTiming } from '../targets/target.js';
import type { Window } from './analyse.js';
import type { CpuTrace } from './server-cpu.js';
import { round, summarize } from './stats.js';

export interface ProfileRow {
  fromMs: number; // since the trigger, or since the generation's birth
  toMs: number;
  rps: number; // both load modes, per second of one reload (averaged over reloads)
  p99: Record<string, number>; // per load mode, ms
}

export interface CostRow {
  fromMs: number; // generation age
  toMs: number;
  cpuMs: number; // per generation, averaged
  requests: number; // per generation, averaged
  cpuMsPerRequest: number | null;
}

export interface ReloadProfile {
  binMs: number;
  reloads: number; // the triggers the bins average over
  steady: { rps: number; p99: Record<string, number> };
  sinceTrigger: ProfileRow[];
}

/** The worst bin after a trigger against the steady window: what a reload leaves of the port's capacity. */
export interface ReloadCapacity {
  binMs: number;
  fromMs: number; // the worst bin, since the trigger
  toMs: number;
  rps: number; // both load modes, averaged over reloads
  steadyRps: number;
  share: number; // rps / steadyRps
}

export interface ColdCost {
  binMs: number;
  generations: number; // how many generations the rows average over
  steadyCpuMsPerRequest: number | null;
  byAge: CostRow[];
}


/**
 * Requests by start time relative to each reload's trigger, binned, all reloads together.
 * loadEndsAt: when the load stopped (epoch ms), which ends the last reload's cycle.
 */
export function reloadProfile(records: RequestRecords, timings: ReloadTiming[], steady: Window, loadEndsAt: number, binMs = 250, maxSpanMs = 30_000): ReloadProfile {
  const triggers = timings.map((t) => t.triggerAt).sort((a, b) => a - b);
  // Only bins that every reload's cycle (trigger to next trigger, the last one to the end of the
  // load) covers: later ones would mix in the next reload's start, or count the silence after the
  // load as a reload that served nothing, and average over fewer reloads.
  const cycleEnds = [...triggers.slice(1), loadEndsAt];
  const cycles = triggers.map((at, i) => cycleEnds[i]! - at);
  const spanMs = Math.min(maxSpanMs, ...cycles);
  const bins = Math.max(1, Math.floor(spanMs / binMs));
  const latencies = MODES.map(() => Array.from({ length: bins }, () => [] as number[]));
  const steadyLatencies = MODES.map(() => [] as number[]);
  let steadyCount = 0;
  for (let i = 0; i < records.count; i++) {
    if (records.outcome[i] !== 0) continue;
    const start = records.startedAt[i]!;
    const mode = records.mode[i]!;
    if (start >= steady.from && start < steady.to) {
      steadyLatencies[mode]!.push(records.latencyMs[i]!);
      steadyCount++;
    }
    // The latest trigger at or before the start (binary search: triggers are sorted).
    let lo = 0;
    let hi = triggers.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (triggers[mid]! <= start) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) continue;
    const bin = Math.floor((start - triggers[found]!) / binMs);
    if (bin < bins) latencies[mode]![bin]!.push(records.latencyMs[i]!);
  }
  const steadySeconds = (steady.to - steady.from) / 1000;
  const reloads = Math.max(1, triggers.length);
  return {
    binMs,
    reloads: triggers.length,
    steady: {
      rps: round(steadyCount / steadySeconds, 0),
      p99: Object.fromEntries(MODES.map((mode, m) => [mode, summarize(steadyLatencies[m]!).p99])),
    },
    sinceTrigger: Array.from({ length: bins }, (_, b) => ({
      fromMs: b * binMs,
      toMs: (b + 1) * binMs,
      rps: round(MODES.reduce((sum, _mode, m) => sum + latencies[m]![b]!.length, 0) / reloads / (binMs / 1000), 0),
      p99: Object.fromEntries(MODES.map((mode, m) => [mode, summarize(latencies[m]![b]!).p99])),
    })),
  };
}

/**
 * Requests per second in the worst bin after a trigger (the earliest, on a tie) as a share of the
 * steady requests per second. null when there is nothing to compare: no reload, or no request
 * answered in the steady window.
 */
export function reloadCapacity(profile: ReloadProfile): ReloadCapacity | null {
  if (profile.reloads === 0 || profile.steady.rps <= 0 || profile.sinceTrigger.length === 0) return null;
  const worst = profile.sinceTrigger.reduce((low, row) => (row.rps < low.rps ? row : low));
  return {
    binMs: profile.binMs,
    fromMs: worst.fromMs,
    toMs: worst.toMs,
    rps: worst.rps,
    steadyRps: profile.steady.rps,
    share: round(worst.rps / profile.steady.rps, 3),
  };
}

/**
 * Server CPU per answered request by generation age, over the generations the reloads started
 * (the first and the last are left out: one was born before the load, the other is cut short).
 */
export function coldCost(records: RequestRecords, trace: CpuTrace, steady: Window, binMs = 250, spanMs = 4000): ColdCost {
  const versions = Object.keys(trace.firstSeen).sort((a, b) => Number(a) - Number(b));
  const counted = new Set(versions.slice(1, -1));
  const bins = Math.ceil(spanMs / binMs);
  const cpu = new Array<number>(bins).fill(0);
  const requests = new Array<number>(bins).fill(0);
  let steadyCpu = 0;
  for (const sample of trace.samples) {
    for (const [version, ms] of Object.entries(sample.msByVersion)) {
      if (sample.at > steady.from && sample.at <= steady.to) steadyCpu += ms;
      if (!counted.has(version)) continue;
      const bin = Math.floor((sample.at - trace.firstSeen[version]!) / binMs);
      if (bin >= 0 && bin < bins) cpu[bin]! += ms;
    }
  }
  let steadyRequests = 0;
  for (let i = 0; i < records.count; i++) {
    if (records.outcome[i] !== 0) continue;
    const start = records.startedAt[i]!;
    if (start >= steady.from && start < steady.to) steadyRequests++;
    const version = String(records.version[i]);
    if (!counted.has(version)) continue;
    const bin = Math.floor((start - trace.firstSeen[version]!) / binMs);
    if (bin >= 0 && bin < bins) requests[bin]!++;
  }
  const generations = counted.size;
  return {
    binMs,
    generations,
    steadyCpuMsPerRequest: steadyRequests > 0 && trace.samples.length > 0 ? round(steadyCpu / steadyRequests, 3) : null,
    byAge: cpu
      .map((ms, b) => ({
        fromMs: b * binMs,
        toMs: (b + 1) * binMs,
        cpuMs: generations > 0 ? round(ms / generations, 0) : 0,
        requests: generations > 0 ? round(requests[b]! / generations, 0) : 0,
        cpuMsPerRequest: requests[b]! > 0 ? round(ms / requests[b]!, 3) : null,
      }))
      .filter((row) => row.requests > 0 || row.cpuMs > 0),
  };
}
