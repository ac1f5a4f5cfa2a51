// Bad input at start-up: each refused with what, where and the fix, and no worker started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Daemon, exampleApp, root, waitFor, type LogLine } from '../helpers/harness.js';
import { isRoot, withoutDacOverride } from '../helpers/privileges.js';

const app = { workers: 1, command: ['node', exampleApp], ready: { kind: 'notify', timeout: '2s' }, drain: { signal: 'SIGTERM', timeout: '1s' } };

// Starts a daemon that must refuse to start; returns its exit code and every line it printed.
async function refusedStart(options: Parameters<typeof Daemon.start>[0]): Promise<{ code: number | null; text: string; logs: LogLine[]; daemon: Daemon }> {
  const daemon = await Daemon.start({ ...options, waitReady: false });
  const code = await Promise.race([daemon.exited(), new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000))]);
  if (code === 'hung') {
    await daemon.stop();
    assert.fail('the daemon did not exit');
  }
  const text = [...daemon.logs.map((line) => String(line.msg)), ...daemon.stderrLines].join('\n');
  assert.equal(daemon.countLogs((line) => line.msg === 'worker started'), 0, `a worker was started:\n${text}`);
  return { code, text, logs: daemon.logs, daemon };
}

test('invalid configs are refused by run with file:line:col and the fix; nothing starts', async () => {
  const cases: { name: string; yaml: string; prepare?: (dir: string) => void; expect: RegExp }[] = [
    { name: 'malformed YAML', yaml: 'listen: [127.0.0.1:{{PORT}}\ncommand: [node]\n', expect: /supervisor\.yaml:\d+:\d+:/ },
    { name: 'an unknown key', yaml: `listen: 127.0.0.1:{{PORT}}\ncommand: [node, ${exampleApp}]\nworkes: 2\n`, expect: /supervisor\.yaml:3:1: workes: unknown key 'workes': did you mean 'workers'\?/ },
    { name: 'an absurd count', yaml: `listen: 127.0.0.1:{{PORT}}\ncommand: [node, ${exampleApp}]\nworkers: 100000\n`, expect: /supervisor\.yaml:3:\d+: workers: 100000 is out of range: write a whole number from 1 to 256/ },
    { name: 'a negative duration', yaml: `listen: 127.0.0.1:{{PORT}}\ncommand: [node, ${exampleApp}]\ndrain: { timeout: -5s }\n`, expect: /supervisor\.yaml:3:\d+: drain\.timeout: .*negative/i },
    {
      name: 'a command that is not executable',
      yaml: 'listen: 127.0.0.1:{{PORT}}\ncommand: [./server.sh]\n',
      prepare: (dir) => writeFileSync(path.join(dir, 'server.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o644 }),
      expect: /supervisor\.yaml:2:\d+: command\[0\]: command '\.\/server\.sh' is not executable .*chmod \+x/,
    },
    { name: 'a command that does not exist', yaml: 'listen: 127.0.0.1:{{PORT}}\ncommand: [no-such-program-xyz]\n', expect: /command\[0\]: command 'no-such-program-xyz' was not found in PATH/ },
    { name: 'a missing cwd', yaml: `listen: 127.0.0.1:{{PORT}}\ncommand: [node, ${exampleApp}]\ncwd: ./gone\n`, expect: /cwd: working directory .*\/gone does not exist: create it, or set cwd:/ },
    { name: 'a control socket in a missing directory', yaml: `listen: 127.0.0.1:{{PORT}}\ncommand: [node, ${exampleApp}]\ncontrol: ./nowhere/s.sock\n`, expect: /control: directory .*\/nowhere for the control socket does not exist: create it .*or set control: to a writable path/ },
  ];
  for (const item of cases) {
    const { code, text, daemon } = await refusedStart({ config: item.yaml, ...(item.prepare ? { prepare: item.prepare } : {}) });
    try {
      assert.equal(code, 100, `${item.name}: exit ${code}\n${text}`);
      assert.match(text, item.expect, item.name);
    } finally {
      await daemon.stop();
    }
  }
});

test('a port held by another process without SO_REUSEPORT: exit 111 naming the address and the fix, nothing started', async () => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const port = (holder.address() as net.AddressInfo).port;
  try {
    const { code, text, daemon } = await refusedStart({ config: app, port });
    try {
      assert.equal(code, 111, text);
      assert.match(text, new RegExp(`bind 127\\.0\\.0\\.1:${port} failed: address already in use \\(EADDRINUSE\\); another process holds the port without SO_REUSEPORT`));
      assert.match(text, /stop it or pick another port/);
      assert.equal(existsSync(daemon.socketPath), false, 'the control socket is removed on the way out');
    } finally {
      await daemon.stop();
    }
  } finally {
    holder.close();
  }
});

test("a port in another user's reuseport group: a root supervisor cannot join it and refuses to start", { skip: isRoot ? false : 'needs root to run a listener as another user' }, async () => {
  const holderPort = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  // nobody's SO_REUSEPORT listener, made with this project's own addon.
  const script = `import(${JSON.stringify(path.join(root, 'dist/src/native/index.js'))}).then((m) => { m.listenTcp({ host: '127.0.0.1', port: ${holderPort}, backlog: 8, reusePort: true }); console.log('listening'); setInterval(() => {}, 1000); })`;
  const holder = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    holder.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await waitFor('the other user\'s listener', () => out.includes('listening'), 10_000);
    const { code, text, daemon } = await refusedStart({ config: app, port: holderPort });
    try {
      assert.equal(code, 111, text);
      assert.match(text, new RegExp(`bind 127\\.0\\.0\\.1:${holderPort} failed: .*EADDRINUSE.*another user's reuseport group`));
    } finally {
      await daemon.stop();
    }
  } finally {
    holder.kill('SIGKILL');
  }
});

function ipv6OffProblem(): string | null {
  const probe = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && sysctl -qw net.ipv6.conf.lo.disable_ipv6=1'], { encoding: 'utf8' });
  if (probe.error) return `unshare is not available (${probe.error.message})`;
  if (probe.status !== 0) return `cannot make a network namespace with IPv6 off: ${probe.stderr.trim() || `exit ${probe.status}`}`;
  return null;
}

// IPv6 turned off on loopback in a namespace of the test's own (the host is never touched). A host
// booted with ipv6.disable=1 fails one step earlier, at socket() with EAFNOSUPPORT; that hint is
// unit-tested, since no namespace can take the address family away.
const noIpv6 = ipv6OffProblem();
test('listen on [::1] where IPv6 is off: exit 111 naming the address, nothing started', { skip: noIpv6 ?? false }, async () => {
  const { code, text, daemon } = await refusedStart({
    config: { ...app, listen: '[::1]:8000' },
    launcher: ['unshare', '-n', 'sh', '-c', 'ip link set lo up && sysctl -qw net.ipv6.conf.lo.disable_ipv6=1 && exec "$0" "$@"'],
  });
  try {
    assert.equal(code, 111, text);
    assert.match(text, /bind \[::1\]:8000 failed: .*\(EADDRNOTAVAIL\); the address is not on this host \(is IPv6 disabled\?/);
  } finally {
    await daemon.stop();
  }
});

test('a control socket in a directory the supervisor cannot write: exit 101 (restarting will not help) naming the path and the fix, nothing started', { skip: isRoot ? false : 'needs root to drop capabilities' }, async () => {
  const { code, text, daemon } = await refusedStart({
    config: { ...app, control: 'locked/s.sock' },
    prepare: (dir) => {
      mkdirSync(path.join(dir, 'locked'));
      chmodSync(path.join(dir, 'locked'), 0o555);
    },
    launcher: withoutDacOverride,
  });
  try {
    assert.equal(code, 101, text);
    assert.match(text, /cannot open the control socket: listen EACCES: permission denied .*locked\/s\.sock: this user may not create/);
    assert.match(text, /set control: to a writable path|writable/);
  } finally {
    await daemon.stop();
  }
});

test('a port below 1024 without CAP_NET_BIND_SERVICE: exit 101 (restarting will not help) naming the capability, nothing started', { skip: isRoot ? false : 'needs root to drop a capability' }, async () => {
  const { code, text, daemon } = await refusedStart({
    config: { ...app, listen: '127.0.0.1:81' },
    launcher: ['setpriv', '--inh-caps=-net_bind_service', '--bounding-set=-net_bind_service'],
  });
  try {
    assert.equal(code, 101, text);
    assert.match(text, /bind 127\.0\.0\.1:81 failed: .*\(EACCES\); ports below 1024 need root or CAP_NET_BIND_SERVICE/);
    assert.match(text, /exit 101: starting again would fail the same way/);
  } finally {
    await daemon.stop();
  }
});

test('a 3 MB garbage config: check and a reload refuse it in a few short lines naming the problem and the fix; the old workers serve on', async () => {
  const daemon = await Daemon.start({ config: app });
  try {
    const oldPids = await daemon.servingPids();
    const garbage = [
      // a binary passed as the config
      { name: 'random bytes', text: randomBytes(3_000_000), expect: /not a text file: line \d+ holds bytes that are not UTF-8; .*pass -c with the path of your YAML or JSON config/ },
      // a value pasted wrong: the key is right, the value is megabytes of text
      {
        name: 'a 3 MB value',
        text: `listen: 127.0.0.1:${daemon.port}\ncontrol: ${daemon.socketPath}\ncommand: [node, ${exampleApp}]\nworkers: ${randomBytes(2_250_000).toString('base64')}\n`,
        expect: /supervisor\.yaml:4:\d+: workers: expected a whole number from 1 to 256, got "[A-Za-z0-9+/]{40}…" \(3000000 characters\)/,
      },
    ];
    for (const item of garbage) {
      writeFileSync(daemon.configPath, item.text);
      const check = await daemon.cli('check', '-c', daemon.configPath);
      assert.equal(check.exitCode, 100, `${item.name}: ${check.stderr.slice(0, 500)}`);
      assert.ok(check.stderr.length < 1000, `${item.name}: check printed ${check.stderr.length} characters`);
      assert.match(check.stderr, item.expect, item.name);

      const refusedBefore = daemon.countLogs((line) => line.msg === 'reload refused');
      const reload = await daemon.cli('reload');
      assert.equal(reload.exitCode, 1, `${item.name}: ${reload.stderr.slice(0, 500)}`);
      assert.ok(reload.stderr.length < 1000, `${item.name}: reload printed ${reload.stderr.length} characters`);
      assert.match(reload.stderr, item.expect, item.name);
      await waitFor('the refusal in the log', () => daemon.countLogs((line) => line.msg === 'reload refused') > refusedBefore);
      const logged = daemon.logs.filter((line) => line.msg === 'reload refused').at(-1)!;
      assert.ok(JSON.stringify(logged).length < 1500, `${item.name}: a log line of ${JSON.stringify(logged).length} characters`);
      assert.match(String(logged.reason), item.expect, item.name);
    }
    assert.deepEqual((await daemon.servingPids()).sort(), oldPids.sort(), 'the old workers serve on');
    assert.equal((await daemon.get()).status, 200);
  } finally {
    await daemon.stop();
  }
});
