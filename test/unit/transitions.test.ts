import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  generationTransitions,
  supervisorTransitions,
  transition,
  workerTransitions,
  type WorkerEvent,
  type WorkerState,
} from '../../src/daemon/transitions.js';

test('a worker goes starting -> ready -> draining -> exited', () => {
  let state: WorkerState = 'starting';
  const seen: WorkerState[] = [state];
  for (const event of ['ready', 'drain', 'exit'] as WorkerEvent[]) {
    const result: ReturnType<typeof transition<WorkerState, WorkerEvent>> = transition(workerTransitions, state, event);
    assert.ok(result.ok);
    state = result.to;
    seen.push(state);
  }
  assert.deepEqual(seen, ['starting', 'ready', 'draining', 'exited']);
});

test('impossible worker events are refused, not applied', () => {
  assert.deepEqual(transition(workerTransitions, 'exited', 'ready'), { ok: false, from: 'exited' });
  assert.deepEqual(transition(workerTransitions, 'draining', 'ready'), { ok: false, from: 'draining' });
  assert.deepEqual(transition(workerTransitions, 'ready', 'ready'), { ok: false, from: 'ready' });
});

test('every state has a row, and exited is terminal', () => {
  for (const state of ['starting', 'ready', 'draining', 'exited'] as WorkerState[]) assert.ok(workerTransitions[state]);
  assert.deepEqual(workerTransitions.exited, {});
});

test('a candidate generation either is promoted or fails; only serving ones drain to retired', () => {
  assert.deepEqual(transition(generationTransitions, 'starting', 'promote'), { ok: true, to: 'serving' });
  assert.deepEqual(transition(generationTransitions, 'starting', 'fail'), { ok: true, to: 'failed' });
  assert.deepEqual(transition(generationTransitions, 'serving', 'drain'), { ok: true, to: 'draining' });
  assert.deepEqual(transition(generationTransitions, 'draining', 'gone'), { ok: true, to: 'retired' });
  // The bake window: a handed-over generation bakes; a rollback reinstates it, the window's end drains it.
  assert.deepEqual(transition(generationTransitions, 'draining', 'bake'), { ok: true, to: 'baking' });
  assert.deepEqual(transition(generationTransitions, 'baking', 'reinstate'), { ok: true, to: 'serving' });
  assert.deepEqual(transition(generationTransitions, 'baking', 'drain'), { ok: true, to: 'draining' });
  assert.equal(transition(generationTransitions, 'serving', 'bake').ok, false, 'only a generation that handed over can bake');
  assert.equal(transition(generationTransitions, 'baking', 'gone').ok, false, 'a baking generation drains before it is gone');
  assert.equal(transition(generationTransitions, 'failed', 'promote').ok, false);
  assert.equal(transition(generationTransitions, 'serving', 'promote').ok, false);
});

test('the supervisor reloads only while running and can stop from any live state', () => {
  assert.equal(transition(supervisorTransitions, 'starting', 'reload').ok, false);
  assert.equal(transition(supervisorTransitions, 'reloading', 'reload').ok, false);
  assert.equal(transition(supervisorTransitions, 'stopping', 'reload').ok, false);
  for (const state of ['starting', 'running', 'reloading'] as const) {
    assert.deepEqual(transition(supervisorTransitions, state, 'stop'), { ok: true, to: 'stopping' });
  }
});
