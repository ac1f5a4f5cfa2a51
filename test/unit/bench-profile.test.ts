// The benchmark's reload profile, capacity figure and cold-cost tables: binning by time since each
// trigger and by generation age, on hand-made records whose answers are known.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coldCost, reloadCapacity, reloadProfile, type ReloadProfile } from '../../bench/lib/profile.js';
import type { RequestRecords } from '../../bench/load/records.js';
import type { CpuTrace } from '../../bench/lib/server-cpu.js';
import type { ReloadTiming } from '../../bench/targets/target.js';

function records(rows: { at: number; ms: number; mode?: 0 | 1; version?: number; failed?: boolean }[]): RequestRecords {
  return {
    count: rows.length,
    startedAt: Float64Array.from(rows.map((r) => r.at)),
    latencyMs: Float32Array.from(rows.map((r) => r.ms)),
    outcome: Uint8Array.from(rows.map((r) => (r.failed ? 1 : 0))),
    mode: Uint8Array.from(rows.map((r) => r.mode ?? 0)),
    version: Uint16Array.from(rows.map((r) => r.version ?? 0)),
    outcomes: ['ok', 'ECONNRESET'],
  };
}

const trigger = (at: number): ReloadTiming => ({ triggerAt: at, promotedAt: null, goneAt: null, ok: true, message: 'promoted' });

test('reload profile: requests binned by time since their latest trigger, averaged over reloads', () => {
  const profile = reloadProfile(
    records([
      { at: 100, ms: 1 }, // steady window
      { at: 200, ms: 9, mode: 1 },
      { at: 1100, ms: 3 }, // reload 1, bin 0
      { at: 1200, ms: 4 },
      { at: 2100, ms: 5 }, // reload 2, bin 0
      { at: 2600, ms: 6 }, // reload 2, bin 2
      { at: 2700, ms: 99, failed: true }, // failures are not latencies
    ]),
    [trigger(2000), trigger(1000)],
    { from: 0, to: 1000 },
    3000, // the load ends 1000 ms after the last trigger
    250,
  );
  assert.deepEqual(profile.steady, { rps: 2, p99: { 'new-connection': 1, 'keep-alive': 9 } });
  // The shortest cycle (1000 ms) bounds the bins: 4 of 250 ms.
  assert.deepEqual(
    profile.sinceTrigger.map((row) => [row.fromMs, row.rps, row.p99['new-connection']]),
    [[0, 6, 5], [250, 0, 0], [500, 2, 6], [750, 0, 0]],
  );
});

test('cold cost: server CPU per request by generation age, first and last generation left out', () => {
  const trace: CpuTrace = {
    intervalMs: 100,
    firstSeen: { '1': 0, '2': 1000, '3': 2000, '4': 3000 },
    samples: [
      { at: 500, msByVersion: { '1': 10 } }, // steady window: 10 ms for 5 requests
      { at: 1100, msByVersion: { '1': 5, '2': 80 } }, // generation 2 boots (age 100)
      { at: 1400, msByVersion: { '2': 20 } }, // age 400
      { at: 2100, msByVersion: { '3': 60 } },
      { at: 2400, msByVersion: { '3': 40 } },
      { at: 3100, msByVersion: { '4': 999 } }, // the last generation: not counted
    ],
  };
  const rows = [
    ...[100, 200, 300, 400, 600].map((at) => ({ at, ms: 1, version: 1 })),
    ...[1300, 1350, 1400, 1450].map((at) => ({ at, ms: 1, version: 2 })), // age 300-450: bin 1
    ...[2300, 2400].map((at) => ({ at, ms: 1, version: 3 })),
    { at: 3200, ms: 1, version: 4 },
  ];
  const cost = coldCost(records(rows), trace, { from: 0, to: 1000 }, 250);
  assert.equal(cost.generations, 2);
  assert.equal(cost.steadyCpuMsPerRequest, 2);
  assert.deepEqual(
    cost.byAge.map((row) => [row.fromMs, row.cpuMs, row.requests, row.cpuMsPerRequest]),
    [
      [0, 70, 0, null], // (80 + 60) / 2 generations; no request answered yet
      [250, 30, 3, 10], // (20 + 40) ms over 6 requests
    ],
  );
});

test('capacity: the worst bin after a trigger as a share of steady req/s; failed requests serve nothing', () => {
  const at = (from: number, n: number, step = 10) => Array.from({ length: n }, (_, i) => ({ at: from + i * step, ms: 1 }));
  const profile = reloadProfile(
    records([
      ...at(0, 8, 100), // steady window, 1 s: 8 req/s
      // reload 1 (trigger 1000), bins of 250 ms: 1, 2, 2, 2 requests
      ...at(1000, 1), ...at(1250, 2), ...at(1500, 2), ...at(1750, 2),
      // reload 2 (trigger 2000): 0, 1, 2, 2, and a failure in bin 0, which is not served capacity
      { at: 2010, ms: 5, failed: true }, ...at(2250, 1), ...at(2500, 2), ...at(2750, 2),
      ...at(3000, 8, 100), // after the last trigger: beyond the shortest cycle, not binned
    ]),
    [trigger(1000), trigger(2000)],
    { from: 0, to: 1000 },
    3800,
    250,
  );
  // Bin rps: (1 + 0) requests / 2 reloads / 0.25 s = 2; then 6, 8, 8.
  assert.deepEqual(profile.sinceTrigger.map((row) => row.rps), [2, 6, 8, 8]);
  assert.deepEqual(reloadCapacity(profile), { binMs: 250, fromMs: 0, toMs: 250, rps: 2, steadyRps: 8, share: 0.25 });
});

test('capacity: the last cycle ends where the load ends, so a single reload has no empty bins after it', () => {
  const every10ms = (from: number, to: number) => Array.from({ length: (to - from) / 10 }, (_, i) => ({ at: from + i * 10, ms: 1 }));
  // Steady 100 req/s; one reload at 1000 whose first 250 ms served half that; the load stops at 2000.
  const rows = [...every10ms(0, 1000), ...every10ms(1000, 1250).filter((_, i) => i % 2 === 0), ...every10ms(1250, 2000)];
  const profile = reloadProfile(records(rows), [trigger(1000)], { from: 0, to: 1000 }, 2000, 250);
  assert.deepEqual(profile.sinceTrigger.map((row) => row.rps), [52, 100, 100, 100]);
  assert.equal(reloadCapacity(profile)?.share, 0.52);
});

test('capacity: the earliest of equal worst bins; null with no reload or no steady requests', () => {
  const profile = (steadyRps: number, reloads: number, binRps: number[]): ReloadProfile => ({
    binMs: 250,
    reloads,
    steady: { rps: steadyRps, p99: {} },
    sinceTrigger: binRps.map((rps, b) => ({ fromMs: b * 250, toMs: (b + 1) * 250, rps, p99: {} })),
  });
  assert.deepEqual(reloadCapacity(profile(1000, 3, [900, 600, 750, 600])), { binMs: 250, fromMs: 250, toMs: 500, rps: 600, steadyRps: 1000, share: 0.6 });
  assert.equal(reloadCapacity(profile(1000, 3, [1000, 1200]))?.share, 1); // a reload that costs nothing
  assert.equal(reloadCapacity(profile(1000, 0, [0, 0])), null); // no trigger: the bins are empty, not a 0% reload
  assert.equal(reloadCapacity(profile(0, 3, [10, 20])), null); // nothing served steady: no share to give
});
