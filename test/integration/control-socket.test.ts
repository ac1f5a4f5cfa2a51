import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, statSync } from 'node:fs';
import net from 'node:net';
import { execa } from 'execa';
import { cliPath, Daemon, exampleApp } from '../helpers/harness.js';

const config = { workers: 1, command: ['node', exampleApp], ready: { kind: 'notify', timeout: '5s' } };

function exchange(path: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

test('the control socket is mode 0600 and answers malformed requests with a usage result', async () => {
  const daemon = await Daemon.start({ config });
  try {
    assert.equal(statSync(daemon.socketPath).mode & 0o777, 0o600);
    const notJson = JSON.parse(await exchange(daemon.socketPath, 'hello\n'));
    assert.deepEqual([notJson.type, notJson.ok, notJson.code], ['result', false, 100]);
    assert.match(notJson.message, /not valid JSON/);
    const unknown = JSON.parse(await exchange(daemon.socketPath, '{"command":"format-disk"}\n'));
    assert.equal(unknown.code, 100);
    const huge = JSON.parse(await exchange(daemon.socketPath, `${'x'.repeat(70_000)}\n`));
    assert.match(huge.message, /too long/);
    assert.equal((await daemon.status()).state, 'running', 'the daemon still answers');
  } finally {
    await daemon.stop();
  }
});

const isRoot = process.getuid?.() === 0;
test('a peer that is neither root nor the daemon\'s user is refused before its request is read', { skip: isRoot ? false : 'needs root to run a client as another user' }, async () => {
  const daemon = await Daemon.start({ config });
  try {
    // Open the way for the other user on purpose, so that only the peer-credential check stands.
    chmodSync(daemon.dir, 0o755);
    chmodSync(daemon.socketPath, 0o666);
    const asNobody = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cliPath, 'status', '--socket', daemon.socketPath], { reject: false });
    assert.equal(asNobody.exitCode, 4, asNobody.stderr);
    assert.match(asNobody.stderr, /permission denied: only root and uid 0 may control this supervisor/);
    assert.ok(daemon.logs.some((line) => /control connection refused/.test(String(line.msg))));
  } finally {
    await daemon.stop();
  }
});

test('a second supervisor on the same control socket is refused and the first keeps running', async () => {
  const daemon = await Daemon.start({ config });
  try {
    const second = await execa(process.execPath, [cliPath, 'run', '-c', daemon.configPath], { reject: false, timeout: 20_000 });
    assert.equal(second.exitCode, 111);
    assert.match(second.stdout, /control socket .* is in use: another supervisor answers on it/);
    assert.equal((await daemon.status()).state, 'running');
  } finally {
    await daemon.stop();
  }
});
