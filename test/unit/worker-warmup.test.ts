// The Node helper's in-process warm-up, on 127.0.0.1 (no supervisor, no addon).
import assert from 'node:assert/strict';
import type * as http from 'node:http';
import { describe, test } from 'node:test';
import { defaultTimeoutMs, WARMUP_USER_AGENT, warmUpInProcess } from '../../src/worker/warmup.js';

function recorder(status = (_path: string) => 200) {
  const seen = { requests: 0, paths: {} as Record<string, number>, sockets: new Set<unknown>(), agents: new Set<string>() };
  const handler: http.RequestListener = (req, res) => {
    seen.requests++;
    seen.sockets.add(req.socket);
    seen.agents.add(String(req.headers['user-agent']));
    const path = req.url ?? '/';
    seen.paths[path] = (seen.paths[path] ?? 0) + 1;
    res.statusCode = status(path);
    res.end('ok');
  };
  return { seen, handler };
}

describe('warmUpInProcess', () => {
  test('a plan: that many requests to the handler, the paths in turn, half on new connections', async () => {
    const { seen, handler } = recorder();
    const result = await warmUpInProcess(handler, { requests: 200, paths: ['/', '/items'], concurrency: 4 });
    assert.deepEqual([result.requests, result.cutShort], [200, false]);
    assert.equal(seen.requests, 200);
    assert.deepEqual(seen.paths, { '/': 100, '/items': 100 });
    assert.deepEqual([...seen.agents], [WARMUP_USER_AGENT]);
    // 100 new connections, and at most one kept connection per lane for the other 100.
    assert.ok(seen.sockets.size > 100 && seen.sockets.size <= 104, `${seen.sockets.size} connections`);
  });

  test('the private server is set up as the real ones are (prepare), before its first request', async () => {
    const { seen, handler } = recorder();
    let prepared: http.Server | null = null;
    await warmUpInProcess(handler, { requests: 4 }, (server) => {
      assert.equal(server.listening, false);
      prepared = server;
    });
    assert.ok(prepared !== null);
    assert.equal(seen.requests, 4);
  });

  test('a function gets a fetch to the private server', async () => {
    const { seen, handler } = recorder();
    const result = await warmUpInProcess(handler, async (fetch) => {
      const answer = await fetch('/login', { method: 'POST', body: 'x' });
      assert.deepEqual(answer, { status: 200, body: 'ok' });
      await fetch('/');
    });
    assert.equal(result.requests, 2);
    assert.deepEqual(seen.paths, { '/login': 1, '/': 1 });
  });

  test('a 5xx fails the warm-up, naming the request and the consequence', async () => {
    const { handler } = recorder((path) => (path === '/broken' ? 503 : 200));
    await assert.rejects(
      warmUpInProcess(handler, { requests: 10, paths: ['/', '/broken'], concurrency: 1 }),
      /^Error: reuseport-supervisor\/worker: warm-up failed: GET \/broken answered 503 \(request 2 of 10\): fix the app or its warmup option; the worker does not say READY=1$/,
    );
  });

  test('a warm-up that runs out of time stops with what it got', async () => {
    const slow: http.RequestListener = (_req, res) => setTimeout(() => res.end('ok'), 20);
    const result = await warmUpInProcess(slow, { requests: 10_000, concurrency: 2, timeoutMs: 300 });
    assert.equal(result.cutShort, true);
    assert.ok(result.requests > 5 && result.requests < 100, `${result.requests} requests in 300 ms`);
  });

  test('a bad plan is refused before anything is sent', async () => {
    const { seen, handler } = recorder();
    await assert.rejects(warmUpInProcess(handler, { requests: 0 }), /^RangeError: reuseport-supervisor\/worker: warmup.requests must be a whole number of at least 1; got 0$/);
    await assert.rejects(warmUpInProcess(handler, { paths: ['api'] }), /warmup.paths must be a non-empty list of paths starting with "\/"/);
    assert.equal(seen.requests, 0);
  });
});

test('the default warm-up time: 5 s, and at most half the supervisor\'s ready.timeout less the start-up so far', () => {
  assert.equal(defaultTimeoutMs(null, 300), 5000);
  assert.equal(defaultTimeoutMs(30_000, 300), 5000);
  assert.equal(defaultTimeoutMs(5000, 300), 2200);
  assert.equal(defaultTimeoutMs(2000, 1500), 1, 'no time left: cut short at once');
});
