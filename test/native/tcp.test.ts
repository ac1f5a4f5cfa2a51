// Listening sockets built by the addon, checked against real connections on 127.0.0.1.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  SyscallError,
  acceptQueue,
  attachReuseportProgram,
  closeFd,
  detachReuseportProgram,
  dupFd,
  errnoName,
  listenTcp,
  localAddress,
} from '../../src/native/index.js';

// Every fd a test opens is registered here and closed even when the test fails.
const openFds = new Set<number>();
const sockets = new Set<net.Socket>();
const servers = new Set<net.Server>();

function track(fd: number): number {
  openFds.add(fd);
  return fd;
}

function release(fd: number): void {
  if (openFds.delete(fd)) closeFd(fd);
}

after(async () => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) await new Promise<void>((done) => server.close(() => done()));
  for (const fd of openFds) closeFd(fd);
});

function listen(port = 0, reusePort = true, host = '127.0.0.1'): number {
  return track(listenTcp({ host, port, backlog: 64, reusePort }));
}

function connect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    sockets.add(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Takes ownership of fd: server.close() closes it. */
function serve(fd: number): Promise<net.Server> {
  openFds.delete(fd);
  const server = net.createServer((socket) => socket.end('hello\n'));
  servers.add(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => resolve(server));
  });
}

async function closeServer(server: net.Server): Promise<void> {
  servers.delete(server);
  await new Promise<void>((done) => server.close(() => done()));
}

async function readGreeting(port: number, host = '127.0.0.1'): Promise<string> {
  const socket = await connect(port, host);
  let text = '';
  socket.setEncoding('utf8');
  for await (const chunk of socket) text += chunk;
  sockets.delete(socket);
  return text;
}

/** Polls until read() returns expected or the deadline passes; returns the last value. */
async function settle<T>(read: () => T, expected: T, ms = 2000): Promise<T> {
  const deadline = Date.now() + ms;
  let value = read();
  while (value !== expected && Date.now() < deadline) {
    await sleep(20);
    value = read();
  }
  return value;
}

function countOpenFds(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('listenTcp', { timeout: 20_000 }, () => {
  test('binds port 0, reports the port, and a net.Server accepts on the fd', async () => {
    const fd = listen();
    const address = localAddress(fd);
    assert.equal(address.host, '127.0.0.1');
    assert.ok(address.port > 0 && address.port < 65536, `port ${address.port}`);
    const server = await serve(fd);
    assert.equal(await readGreeting(address.port), 'hello\n');
    await closeServer(server);
  });

  test('two SO_REUSEPORT listeners share a port', () => {
    const first = listen();
    const { port } = localAddress(first);
    const second = listen(port);
    assert.equal(localAddress(second).port, port);
    release(second);
    release(first);
  });

  test('a plain bind on a port held by a reuseport group fails with EADDRINUSE naming bind and the address', () => {
    const holder = listen();
    const { port } = localAddress(holder);
    const before = countOpenFds();
    assert.throws(
      () => listen(port, false),
      (error: unknown) => {
        assert.ok(error instanceof SyscallError);
        assert.equal(error.code, 'EADDRINUSE');
        assert.equal(error.errno, 98);
        assert.equal(error.syscall, 'bind');
        assert.equal(error.address, `127.0.0.1:${port}`);
        assert.match(error.message, new RegExp(`^bind 127\\.0\\.0\\.1:${port} failed: .*\\(EADDRINUSE\\); another process holds the port`));
        return true;
      },
    );
    assert.equal(countOpenFds(), before, 'the failed listener closed its socket');
    release(holder);
  });

  test('rejects a host name with a TypeError that names the fix', () => {
    assert.throws(() => listenTcp({ host: 'localhost', port: 0, backlog: 8, reusePort: true }), {
      name: 'TypeError',
      message: /not an IP address literal.*127\.0\.0\.1/,
    });
    assert.throws(() => listenTcp({ host: '127.0.0.1', port: 70000, backlog: 8, reusePort: true }), RangeError);
  });

  test('IPv6 ::1 listens and accepts when the host has IPv6', async (t) => {
    let fd: number;
    try {
      fd = listen(0, true, '::1');
    } catch (error) {
      if (error instanceof SyscallError && ['EADDRNOTAVAIL', 'EAFNOSUPPORT'].includes(error.code)) {
        t.skip(`no IPv6 on this host: ${error.message}`);
        return;
      }
      throw error;
    }
    const address = localAddress(fd);
    assert.deepEqual(address, { host: '::1', port: address.port });
    const server = await serve(fd);
    assert.equal(await readGreeting(address.port, '::1'), 'hello\n');
    await closeServer(server);
  });
});

describe('acceptQueue', { timeout: 20_000 }, () => {
  test('counts connections nobody accepted', async () => {
    const fd = listen();
    const { port } = localAddress(fd);
    assert.deepEqual(acceptQueue(fd), { queued: 0, backlog: 64 });
    const clients = await Promise.all([connect(port), connect(port), connect(port)]);
    assert.equal(await settle(() => acceptQueue(fd).queued, 3), 3);
    for (const client of clients) client.destroy();
    release(fd);
  });

  test('refuses a socket that is not listening', async () => {
    const fd = listen();
    const client = await connect(localAddress(fd).port);
    const clientFd = (client as unknown as { _handle: { fd: number } })._handle.fd;
    assert.throws(() => acceptQueue(clientFd), new RegExp(`fd ${clientFd} is not a listening socket \\(TCP state 1\\)`));
    client.destroy();
    release(fd);
  });
});

describe('dupFd and closeFd', { timeout: 20_000 }, () => {
  test('the duplicate keeps listening after the original is closed', async () => {
    const original = listen();
    const { port } = localAddress(original);
    const copy = track(dupFd(original));
    assert.ok(copy >= 3 && copy !== original);
    release(original);
    const server = await serve(copy);
    assert.equal(await readGreeting(port), 'hello\n');
    await closeServer(server);
  });

  test('closing an fd twice throws EBADF naming close and the fd', () => {
    const fd = listen();
    release(fd);
    assert.throws(() => closeFd(fd), (error: unknown) => {
      assert.ok(error instanceof SyscallError);
      assert.equal(error.code, 'EBADF');
      assert.match(error.message, new RegExp(`^close fd ${fd} failed: bad file descriptor \\(EBADF\\)`));
      return true;
    });
  });

  test('errnoName maps numbers to names', () => {
    assert.equal(errnoName(98), 'EADDRINUSE');
    assert.equal(errnoName(-13), 'EACCES');
    assert.equal(errnoName(11), 'EAGAIN');
  });
});

describe('reuseport steering (SO_ATTACH_REUSEPORT_CBPF)', { timeout: 20_000 }, () => {
  const BPF_RET_K = 0x06;
  const returnIndex = (index: number) => [{ code: BPF_RET_K, jt: 0, jf: 0, k: index }];

  test('a program returning a socket index sends every new connection there', async () => {
    const first = listen();
    const { port } = localAddress(first);
    const second = listen(port);
    attachReuseportProgram(first, returnIndex(1));
    await Promise.all([connect(port), connect(port), connect(port), connect(port)]);
    assert.equal(await settle(() => acceptQueue(second).queued, 4), 4);
    assert.equal(acceptQueue(first).queued, 0);

    attachReuseportProgram(second, returnIndex(0)); // any member replaces the group's program
    await Promise.all([connect(port), connect(port)]);
    assert.equal(await settle(() => acceptQueue(first).queued, 2), 2);
    assert.equal(acceptQueue(second).queued, 4);

    detachReuseportProgram(first);
    release(second);
    release(first);
  });

  test('a socket without SO_REUSEPORT refuses a program with an error naming the option', () => {
    const fd = listen(0, false);
    assert.throws(() => attachReuseportProgram(fd, returnIndex(0)), /setsockopt SO_ATTACH_REUSEPORT_CBPF fd \d+ failed/);
    release(fd);
  });
});
