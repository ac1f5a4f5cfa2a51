import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SLOW_START_STEP_MS, SlowStart } from '../../src/daemon/reload/slow-start.js';

test('a slow start grows the new share in equal steps, never reaching all before it ends', () => {
  const ramp = new SlowStart(1000);
  assert.equal(ramp.steps, 1000 / SLOW_START_STEP_MS);
  const shares = Array.from({ length: ramp.steps }, (_, step) => ramp.share(step));
  for (let i = 1; i < shares.length; i++) assert.ok(shares[i]! > shares[i - 1]!);
  assert.ok(shares[0]! > 0 && shares[0]! < 0.1);
  assert.ok(shares.at(-1)! < 1);
});

test('a slow start shorter than one step is one step', () => {
  const ramp = new SlowStart(30);
  assert.equal(ramp.steps, 1);
  assert.equal(ramp.share(0), 0.5);
});

test('a slow start applies each share in order and ends early when aborted', async () => {
  const applied: number[] = [];
  await new SlowStart(300).run((share) => applied.push(share), new AbortController().signal);
  assert.deepEqual(applied, [0.5, 0.75]);
  const abort = new AbortController();
  abort.abort();
  const none: number[] = [];
  await new SlowStart(300).run((share) => none.push(share), abort.signal);
  assert.deepEqual(none, []);
});

test('shareWeights: per-socket weights give each generation its share whatever its number of workers', async () => {
  const { shareWeights } = await import('../../src/daemon/reload/reload.js');
  for (const [share, next, other] of [[0.1, 2, 2], [0.1, 4, 2], [0.1, 2, 8], [0.5, 3, 1], [0.01, 16, 16], [0.99, 1, 64]] as const) {
    const [a, b] = shareWeights(share, next, other);
    assert.ok(a >= 1 && a <= 1_000_000 && b >= 1 && b <= 1_000_000, `${a}, ${b}`);
    const got = (next * a) / (next * a + other * b);
    assert.ok(Math.abs(got - share) < 0.001, `share ${share} with ${next} and ${other} workers: got ${got}`);
  }
});
