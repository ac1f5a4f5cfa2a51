import { test } from 'node:test';
import assert from 'node:assert/strict';
import { restartDelay } from '../../src/daemon/generation/backoff.js';

test('restart delay doubles from the base and stops at the cap', () => {
  const policy = { backoffMs: 1000, maxMs: 30_000 };
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((n) => restartDelay(policy, n)), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
});

test('no failure means no delay, and huge counts stay at the cap', () => {
  const policy = { backoffMs: 100, maxMs: 500 };
  assert.equal(restartDelay(policy, 0), 0);
  assert.equal(restartDelay(policy, 10_000), 500);
});
