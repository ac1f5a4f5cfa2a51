// takeActivationFds: only fds meant for this process are taken (LISTEN_PID must name it, as
// sd_listen_fds() requires); a stray LISTEN_FDS is dropped without touching fds 3.. (Node's own).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { takeActivationFds } from '../../src/daemon/sockets/activation.js';

test('a stray LISTEN_FDS without LISTEN_PID is ignored and removed', () => {
  const env: NodeJS.ProcessEnv = { LISTEN_FDS: '7', LISTEN_FDNAMES: 'x', PATH: '/bin' };
  assert.deepEqual(takeActivationFds(env), []);
  assert.deepEqual(env, { PATH: '/bin' });
});

test("LISTEN_FDS meant for another pid is ignored and removed", () => {
  const env: NodeJS.ProcessEnv = { LISTEN_FDS: '2', LISTEN_PID: String(process.pid + 1) };
  assert.deepEqual(takeActivationFds(env), []);
  assert.deepEqual(env, {});
});
