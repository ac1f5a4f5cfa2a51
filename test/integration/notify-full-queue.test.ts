// A worker's READY=1 that finds the supervisor's notify queue full (the kernel keeps
// net.unix.max_dgram_qlen datagrams, 10 by default) waits until there is room, as libsystemd's
// sd_notify does, instead of failing the worker and rolling its reload back. Real sockets and a
// real worker-side process; the queue is filled by sending to a socket nobody reads yet.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NotifySocket, notifySend, type NotifyMessage } from '../../src/native/index.js';
import { notify } from '../../src/worker/notify.js';

const notifyModule = fileURLToPath(new URL('../../src/worker/notify.js', import.meta.url));

function fullQueue(): { path: string; socket: NotifySocket; queued: number } {
  const path = `@rps-test-full-queue-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const socket = NotifySocket.bind(path);
  let queued = 0;
  for (;;) {
    try {
      notifySend(path, `STATUS=filler ${queued}`);
      queued++;
    } catch (error) {
      assert.equal((error as { code?: string }).code, 'EAGAIN', String(error));
      return { path, socket, queued };
    }
    assert.ok(queued < 100_000, 'the queue never filled');
  }
}

test('READY=1 to a full notify queue is sent once the supervisor reads again', async () => {
  const { path, socket, queued } = fullQueue();
  try {
    const script = `import(${JSON.stringify(notifyModule)}).then(({ notify }) => { console.log('sending'); const t = Date.now(); notify({ NOTIFY_SOCKET: ${JSON.stringify(path)} }, 'READY=1'); console.log(Date.now() - t); })`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // Once the worker is sending (its start can take longer than the wait on a loaded machine), it
    // waits on the full queue; the supervisor comes back to it 400 ms later.
    const sendingBy = Date.now() + 30_000;
    while (!stdout.includes('sending\n') && child.exitCode === null && Date.now() < sendingBy) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 400));
    const messages: NotifyMessage[] = [];
    socket.onMessage((message) => messages.push(message));
    const [code] = (await once(child, 'close')) as [number | null];
    assert.equal(code, 0, `the worker failed to notify: ${stderr}`);
    const waited = Number(stdout.trim().split('\n').at(-1));
    assert.ok(waited >= 200, `READY=1 went out after ${waited} ms: the queue of ${queued} was not full`);
    const deadline = Date.now() + 2000;
    while (!messages.some((m) => m.fields.READY === '1') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(messages.some((m) => m.fields.READY === '1' && m.pid === child.pid), `no READY=1 from pid ${child.pid} among ${messages.length} messages`);
  } finally {
    socket.close();
  }
});

test('a notify queue that stays full fails the send after the wait, naming EAGAIN and the socket', () => {
  const { path, socket } = fullQueue();
  try {
    const started = Date.now();
    assert.throws(() => notify({ NOTIFY_SOCKET: path }, 'READY=1', 150), (error: Error) => {
      assert.match(error.message, /cannot send "READY=1" to NOTIFY_SOCKET=@rps-test-full-queue/);
      assert.match(error.message, /EAGAIN/);
      return true;
    });
    assert.ok(Date.now() - started >= 100, 'it gave up without waiting');
  } finally {
    socket.close();
  }
});
