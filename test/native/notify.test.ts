// sd_notify over unix datagrams (sender pid from SCM_CREDENTIALS) and SO_PEERCRED.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  type NotifyMessage,
  NotifySocket,
  SyscallError,
  notifySend,
  parseNotifyFields,
  peerCredentials,
} from '../../src/native/index.js';

const nativeModule = fileURLToPath(new URL('../../src/native/index.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'rps-native-'));
const notifySockets = new Set<NotifySocket>();
const children = new Set<ChildProcess>();

after(() => {
  for (const socket of notifySockets) socket.close();
  for (const child of children) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

let names = 0;
function abstractName(): string {
  return `@reuseport-supervisor-test-${process.pid}-${++names}`;
}

function bind(path: string): NotifySocket {
  const socket = NotifySocket.bind(path);
  notifySockets.add(socket);
  return socket;
}

function closeSocket(socket: NotifySocket): void {
  notifySockets.delete(socket);
  socket.close();
}

/** The first message matching accept, or a rejection naming what was awaited. */
function nextMessage(
  socket: NotifySocket,
  accept: (message: NotifyMessage) => boolean,
  ms = 5000,
): Promise<NotifyMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no matching notify message on ${socket.path} within ${ms} ms`)), ms);
    socket.onMessage((message) => {
      if (!accept(message)) return;
      clearTimeout(timer);
      resolve(message);
    });
  });
}

/** Runs node with an ESM script; resolves with its exit code and output; killed after ms. */
function runNode(script: string, env: NodeJS.ProcessEnv, ms = 10_000) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, exited };
}

describe('NotifySocket', { timeout: 30_000 }, () => {
  test('receives READY=1 on an abstract name with this process as the sender', async () => {
    const socket = bind(abstractName());
    const received = nextMessage(socket, () => true);
    notifySend(socket.path, 'READY=1\nSTATUS=serving');
    const message = await received;
    assert.equal(message.pid, process.pid);
    assert.equal(message.uid, process.getuid?.());
    assert.equal(message.gid, process.getgid?.());
    assert.equal(message.text, 'READY=1\nSTATUS=serving');
    assert.equal(message.fields.READY, '1');
    assert.equal(message.fields.STATUS, 'serving');
    closeSocket(socket);
  });

  test('receives from a child process with the child pid, on a filesystem path removed by close', async () => {
    const socket = bind(join(scratch, 'notify.sock'));
    assert.ok(existsSync(socket.path));
    const script = `
      const { notifySend } = await import(${JSON.stringify(nativeModule)});
      notifySend(process.env.NOTIFY_SOCKET, 'READY=1\\nMAINPID=' + process.pid);`;
    const { child, exited } = runNode(script, { NOTIFY_SOCKET: socket.path });
    const message = await nextMessage(socket, (m) => m.fields.READY === '1');
    const { code, stderr } = await exited;
    assert.equal(code, 0, stderr);
    assert.equal(message.pid, child.pid);
    assert.equal(message.fields.MAINPID, String(child.pid));
    closeSocket(socket);
    assert.equal(existsSync(socket.path), false, 'close() removed the socket file');
    socket.close(); // idempotent
  });

  test('a watched socket keeps the loop alive until close() releases it', async () => {
    const name = abstractName();
    const script = `
      const { NotifySocket } = await import(${JSON.stringify(nativeModule)});
      const socket = NotifySocket.bind(${JSON.stringify(name)});
      socket.onMessage((message) => { console.log('got ' + message.text); socket.close(); });
      console.log('bound');`;
    const { child, exited } = runNode(script, {});
    await new Promise<void>((resolve) => child.stdout?.on('data', (chunk: string) => chunk.includes('bound') && resolve()));
    await new Promise((resolve) => setTimeout(resolve, 300)); // nothing but the watch keeps it alive
    notifySend(name, 'READY=1');
    const { code, stdout, stderr } = await exited;
    assert.equal(code, 0, stderr);
    assert.equal(stdout, 'bound\ngot READY=1\n');
  });

  test('a listener that throws reaches process uncaughtException, like an event listener', async () => {
    const name = abstractName();
    const script = `
      const { NotifySocket, notifySend } = await import(${JSON.stringify(nativeModule)});
      const socket = NotifySocket.bind(${JSON.stringify(name)});
      process.on('uncaughtException', (error) => { console.log('uncaught ' + error.message); socket.close(); });
      socket.onMessage((message) => { throw new Error('listener failed on ' + message.text); });
      notifySend(socket.path, 'READY=1');`;
    const { code, stdout, stderr } = await runNode(script, {}).exited;
    assert.equal(code, 0, stderr);
    assert.equal(stdout, 'uncaught listener failed on READY=1\n');
  });

  // The daemon's notify socket must not end the daemon when recvmsg fails. To make it fail, the fd
  // under the watch is closed while a duplicate keeps the socket alive: epoll still reports the
  // socket readable under the old fd number, where recvmsg now gets EBADF.
  test('a failed recvmsg is never thrown: kept in failure, a process warning without a listener, the listener with one', async () => {
    const name = abstractName();
    const script = `
      const { NotifySocket, notifySend, dupFd, closeFd } = await import(${JSON.stringify(nativeModule)});
      process.on('uncaughtException', (error) => { console.log('uncaught ' + error.message); process.exit(1); });
      process.on('warning', (warning) => console.log('warning ' + warning.name + ' ' + warning.syscall + ' ' + warning.code));
      for (const subscribed of [false, true]) {
        const socket = NotifySocket.bind(${JSON.stringify(name)} + subscribed);
        socket.onMessage((message) => console.log('message ' + message.text));
        if (subscribed) socket.onError((error) => console.log('listener ' + error.syscall + ' ' + error.code));
        await new Promise((resolve) => setTimeout(resolve, 20)); // libuv adds the fd to epoll on the loop's next turn
        const keep = dupFd(socket.fd);
        closeFd(socket.fd);
        notifySend(socket.path, 'READY=1');
        await new Promise((resolve) => setTimeout(resolve, 100));
        console.log('failure ' + socket.failure?.message.split(';')[0]);
        closeFd(keep);
        socket.close();
      }
      console.log('still running');`;
    const { code, stdout, stderr } = await runNode(script, {}).exited;
    assert.equal(code, 0, stderr);
    const path = (subscribed: boolean) => `${name}${subscribed}`;
    assert.equal(
      stdout,
      `warning SyscallError recvmsg EBADF\nfailure recvmsg ${path(false)} failed: bad file descriptor (EBADF)\n` +
        `listener recvmsg EBADF\nfailure recvmsg ${path(true)} failed: bad file descriptor (EBADF)\n` +
        'still running\n',
    );
  });

  test('binding a name that is taken fails with EADDRINUSE and the fix', () => {
    const socket = bind(abstractName());
    assert.throws(() => NotifySocket.bind(socket.path), (error: unknown) => {
      assert.ok(error instanceof SyscallError);
      assert.equal(error.code, 'EADDRINUSE');
      assert.equal(error.address, socket.path);
      assert.match(error.message, /^bind @reuseport-supervisor-test-.* failed: .*another process holds this abstract name/);
      return true;
    });
    closeSocket(socket);
  });

  test('sending to a name nobody bound fails with ECONNREFUSED naming sendto', () => {
    assert.throws(() => notifySend(abstractName(), 'READY=1'), {
      name: 'SyscallError',
      code: 'ECONNREFUSED',
      message: /^sendto @reuseport-supervisor-test-\S+ failed: connection refused \(ECONNREFUSED\); nothing is bound/,
    });
  });

  test('parseNotifyFields keeps KEY=VALUE lines, the last value of a repeated key', () => {
    assert.deepEqual(parseNotifyFields('READY=1\nSTATUS=a=b\n\nnoise\nSTATUS=c\n__proto__=x'), {
      READY: '1',
      STATUS: 'c',
      ['__proto__']: 'x',
    });
  });
});

describe('peerCredentials', { timeout: 10_000 }, () => {
  test('names the process at the other end of a unix stream socket', async () => {
    const path = join(scratch, 'peer.sock');
    const server = net.createServer();
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const client = net.connect(path);
    try {
      const socket = await accepted;
      const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
      assert.deepEqual(peerCredentials(fd), { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() });
      socket.destroy();
    } finally {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
