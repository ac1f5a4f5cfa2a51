// The supervisor's warm-up client against a plain server on 127.0.0.1: its routed port block is
// a block of real local ports here (no steering needed with a single listener).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { warmUp, type WarmupRoute } from '../../src/daemon/generation/warmup.js';
import { NotReadyError } from '../../src/daemon/generation/readiness.js';

async function serve(handler: http.RequestListener): Promise<{ route: WarmupRoute; server: http.Server; ports: Set<number>; unrouted: () => boolean }> {
  const server = http.createServer(handler);
  const ports = new Set<number>();
  server.on('connection', (socket) => ports.add(socket.remotePort!));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const from = 15_000 + 64 * Math.floor(Math.random() * 70);
  let unrouted = false;
  const route: WarmupRoute = {
    address: { host: '127.0.0.1', port, family: 4, text: `127.0.0.1:${port}` },
    routeBlock: (size) => ({ block: { from, to: from + size - 1 }, unroute: () => (unrouted = true) }),
  };
  return { route, server, ports, unrouted: () => unrouted };
}

const plan = { requests: 200, paths: ['/', '/b'], concurrency: 4, timeoutMs: 10_000 };
const options = () => ({ signal: new AbortController().signal, deadline: Date.now() + 10_000 });

describe('the supervisor\'s warm-up client', () => {
  test('answers every request, half on new connections, all from the routed block', async () => {
    const { route, server, ports, unrouted } = await serve((_req, res) => res.end('ok'));
    try {
      const outcome = await warmUp(route, plan, options());
      assert.equal(outcome.requests, 200);
      assert.equal(outcome.cutShort, false);
      assert.deepEqual(outcome.statuses, { 200: 200 });
      assert.ok(outcome.connections >= 100 && outcome.connections <= 108, `${outcome.connections} connections`);
      const block = route.routeBlock(16)!.block;
      assert.ok([...ports].every((port) => port >= block.from && port <= block.to), `source ports ${[...ports].slice(0, 5)}... outside ${block.from}-${block.to}`);
      assert.ok(unrouted(), 'the block is unrouted at the end');
    } finally {
      server.close();
    }
  });

  test('a 5xx fails it at once, naming the request', async () => {
    const { route, server, unrouted } = await serve((req, res) => {
      res.statusCode = req.url === '/b' ? 503 : 200;
      res.end();
    });
    try {
      await assert.rejects(warmUp(route, { ...plan, concurrency: 1 }, options()), (error: unknown) => {
        assert.ok(error instanceof NotReadyError);
        assert.equal(error.reason, 'warmup');
        assert.equal(error.message, 'failed its warm-up: GET /b answered 503 (request 2 of 200): the worker was not put in service');
        return true;
      });
      assert.ok(unrouted());
    } finally {
      server.close();
    }
  });

  test('a connection the worker drops fails it, with the cause', async () => {
    const { route, server } = await serve((req) => req.socket.destroy());
    try {
      await assert.rejects(warmUp(route, plan, options()), /^NotReadyError: failed its warm-up: GET \/b? on lane \d got no answer \(ECONNRESET\): the worker was not put in service$/);
    } finally {
      server.close();
    }
  });

  test('at the deadline it stops with what it got: cut short, not failed', async () => {
    const { route, server } = await serve((_req, res) => setTimeout(() => res.end('ok'), 30));
    try {
      const outcome = await warmUp(route, { ...plan, requests: 100_000 }, { signal: new AbortController().signal, deadline: Date.now() + 300 });
      assert.equal(outcome.cutShort, true);
      assert.ok(outcome.requests > 4 && outcome.requests < 200, `${outcome.requests} answered`);
    } finally {
      server.close();
    }
  });

  test('without a routed block it cannot start', async () => {
    const route: WarmupRoute = { address: { host: '127.0.0.1', port: 1, family: 4, text: '127.0.0.1:1' }, routeBlock: () => null };
    await assert.rejects(warmUp(route, plan, options()), /warm-up could not start: no block of source ports could be routed/);
  });
});
