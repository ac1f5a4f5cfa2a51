// An 'error' event on a listening socket the daemon owns (a failed accept(), as Node reports it)
// is logged and the socket keeps listening: with no listener, EventEmitter would throw it from the
// event loop and end the daemon, and every worker with it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ControlServer } from '../../src/control/server.js';
import { HttpEndpoint } from '../../src/daemon/ops/http-endpoint.js';
import type { SupervisorMetrics } from '../../src/daemon/ops/metrics.js';
import type { DaemonStatus } from '../../src/control/protocol.js';
import type { Logger } from '../../src/log.js';

const scratch = mkdtempSync(join(tmpdir(), 'rps-listener-errors-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function recordingLog(): { log: Logger; errors: string[] } {
  const errors: string[] = [];
  const log = { info() {}, debug() {}, warn() {}, error: (_fields: unknown, message: string) => errors.push(message) } as unknown as Logger;
  return { log, errors };
}

// The server a constructor creates, caught on its way out of createServer.
function capture<T>(module: { createServer: (...args: never[]) => T }, construct: () => void): T {
  const original = module.createServer;
  let created: T | undefined;
  module.createServer = (...args: never[]) => (created = original.apply(module, args));
  try {
    construct();
  } finally {
    module.createServer = original;
  }
  assert.ok(created, 'the constructor created a server');
  return created;
}

const acceptFailed = () => Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' });

test('the control socket logs a failed accept and keeps listening', async () => {
  const { log, errors } = recordingLog();
  const path = join(scratch, 'control.sock');
  let control: ControlServer | undefined;
  const server = capture(net, () => (control = new ControlServer(path, log, async () => {})));
  await control!.listen();
  try {
    assert.doesNotThrow(() => server.emit('error', acceptFailed()));
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, new RegExp(`^control socket ${path}: accept failed \\(EMFILE\\); it keeps listening\\. .*raise its limit`));
    assert.equal(server.listening, true);
  } finally {
    await control!.close();
  }
});

test('the metrics endpoint logs a failed accept and keeps listening', async () => {
  const { log, errors } = recordingLog();
  const address = { host: '127.0.0.1', port: 0, family: 4 as const, text: '127.0.0.1:0' };
  const status = { status: () => ({}) as DaemonStatus };
  let endpoint: HttpEndpoint | undefined;
  const server = capture(http, () => (endpoint = new HttpEndpoint(address, status, {} as SupervisorMetrics, log)));
  await endpoint!.listen();
  try {
    assert.doesNotThrow(() => server.emit('error', acceptFailed()));
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /^metrics 127\.0\.0\.1:0: accept failed \(EMFILE\); it keeps listening\. .*raise its limit/);
    assert.equal(server.listening, true);
  } finally {
    await endpoint!.close();
  }
});
