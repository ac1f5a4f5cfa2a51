// The worker helper's extra accept handles, on a real listening socket with clients in another
// process: Node accepts one connection per handle and event-loop turn, so with N handles a busy
// turn takes up to N; and the drain waits for connections any of them accepted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import { acceptorsOf, addAcceptors } from '../../src/worker/acceptors.js';
import { drainHttpServers, trackHttpServer } from '../../src/worker/drain.js';
import { acceptQueue, closeFd, listenTcp, localAddress } from '../../src/native/index.js';

async function serve(handles: number, handler: http.RequestListener): Promise<{ server: http.Server; port: number; fd: number }> {
  const fd = listenTcp({ host: '127.0.0.1', port: 0, backlog: 511, reusePort: true });
  const server = http.createServer(handler);
  trackHttpServer(server);
  await new Promise<void>((resolve) => server.listen({ fd }, resolve));
  if (handles > 1) await addAcceptors(server, fd, handles - 1);
  return { server, port: localAddress(fd).port, fd };
}

// A child process opens `count` connections (each sends one request) and holds them 5 s at most.
function connectFromChild(port: number, count: number) {
  const script = `const net = require('net');
    for (let i = 0; i < ${count}; i++) net.connect(${port}, '127.0.0.1', function () { this.write('GET / HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n'); }).on('error', () => {}).on('data', () => {});
    setTimeout(() => process.exit(0), 5000);`;
  return spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
}

async function acceptedPerTurn(handles: number): Promise<number[]> {
  let accepted = 0;
  const { server, port, fd } = await serve(handles, (_req, res) => res.end('ok'));
  server.on('connection', () => accepted++);
  const child = connectFromChild(port, 24);
  try {
    // Keep the loop busy while the child starts and connects, until all 24 wait in the accept
    // queue (read by TCP_INFO; the child's start may take a while on a busy machine).
    const until = Date.now() + 15_000;
    while (acceptQueue(fd).queued < 24 && Date.now() < until);
    assert.equal(acceptQueue(fd).queued, 24, 'the child did not queue its 24 connections within 15 s');
    const perTurn: number[] = [];
    let before = accepted;
    for (let turn = 0; turn < 4; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
      perTurn.push(accepted - before);
      before = accepted;
      const busy = Date.now() + 5;
      while (Date.now() < busy); // a turn that serves other work, as under keep-alive load
    }
    return perTurn;
  } finally {
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    server.closeAllConnections();
    for (const acceptor of acceptorsOf(server)) acceptor.close();
    server.close();
  }
}

test('one accept handle takes one queued connection per event-loop turn; eight take up to eight', async () => {
  const single = await acceptedPerTurn(1);
  const eight = await acceptedPerTurn(8);
  assert.ok(Math.max(...single) <= 1, `one handle accepted ${single.join(', ')} per turn`);
  assert.ok(Math.max(...eight) >= 4, `eight handles accepted only ${eight.join(', ')} per turn`);
});

test('the drain waits for requests on connections the extra handles accepted, and every one completes', async () => {
  const { server, port, fd } = await serve(8, (_req, res) => setTimeout(() => res.end('done'), 400));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  try {
    const replies = Array.from({ length: 16 }, () =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, agent }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        }).on('error', reject);
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 150)); // all 16 accepted, none answered yet
    const started = Date.now();
    const result = await drainHttpServers([server], 5000);
    const elapsed = Date.now() - started;
    const answers = await Promise.all(replies);
    assert.deepEqual(answers.map((answer) => answer.status), Array(16).fill(200));
    assert.equal(result.timedOut, false);
    assert.ok(elapsed >= 150, `the drain ended after ${elapsed} ms, before the requests in flight were answered`);
  } finally {
    agent.destroy();
    server.closeAllConnections();
    try {
      closeFd(fd);
    } catch {
      // already closed by the drain
    }
  }
});
