// The worker environment contract, both sides against each other: what the supervisor writes
// (workerEnvironment) is what the Node helper reads (listenPlan), the config refuses exactly the
// contract's names, and the docs list exactly those names.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseConfig, ConfigError, RESERVED_ENV } from '../../src/config/index.js';
import {
  decodeListenFdName,
  encodeListenFdNames,
  listenFdName,
  listenPlan,
  WORKER_ENV_NAMES,
  workerEnvironment,
  type WorkerEnvironmentInput,
} from '../../src/worker-contract.js';

const root = new URL('../../../', import.meta.url);

const input: WorkerEnvironmentInput = {
  parent: { PATH: '/usr/bin', HOME: '/home/app', SECRET_TOKEN: 'must not leak' },
  inherit: ['PATH', 'HOME', 'TZ'],
  configured: { NODE_ENV: 'production', HOME: '/srv/app' },
  listen: [
    { host: '127.0.0.1', port: 8000 },
    { host: '::1', port: 8001 },
  ],
  listenFds: 2,
  notifySocket: '@reuseport-supervisor/100/x',
  supervisorPid: 100,
  generation: 3,
  worker: 1,
  drain: { signal: 'SIGTERM', timeoutMs: 30_000, spreadMs: 0 },
  nice: 0,
  readyTimeoutMs: 10_000,
};

describe('the supervisor writes', () => {
  test('inherited names that are set, then env:, then the contract', () => {
    assert.deepEqual(workerEnvironment(input), {
      PATH: '/usr/bin',
      HOME: '/srv/app',
      NODE_ENV: 'production',
      PORT: '8000',
      HOST: '127.0.0.1',
      NOTIFY_SOCKET: '@reuseport-supervisor/100/x',
      SUPERVISOR_PID: '100',
      SUPERVISOR_GENERATION: '3',
      SUPERVISOR_WORKER: '1',
      SUPERVISOR_DRAIN_SIGNAL: 'SIGTERM',
      SUPERVISOR_DRAIN_TIMEOUT_MS: '30000',
      SUPERVISOR_READY_TIMEOUT_MS: '10000',
      LISTEN_FDS: '2',
      LISTEN_FDNAMES: '127.0.0.1_8000:[__1]_8001',
    });
  });

  test('no LISTEN_* without handed-over fds (self mode); spread and nice only when set', () => {
    const env = workerEnvironment({ ...input, listenFds: 0, drain: { ...input.drain, spreadMs: 1500 }, nice: 10 });
    assert.equal(env.LISTEN_FDS, undefined);
    assert.equal(env.LISTEN_FDNAMES, undefined);
    assert.equal(env.SUPERVISOR_DRAIN_SPREAD_MS, '1500');
    assert.equal(env.SUPERVISOR_NICE, '10');
  });

  test('every contract name but LISTEN_PID, which only the exec shim can know', () => {
    const env = workerEnvironment({ ...input, parent: {}, configured: {}, drain: { ...input.drain, spreadMs: 1 }, nice: 1, autogroupNice: 1, parkSignal: 'SIGUSR2' });
    assert.deepEqual(Object.keys(env).sort(), WORKER_ENV_NAMES.filter((name) => name !== 'LISTEN_PID').sort());
  });
});

describe('LISTEN_FDNAMES', () => {
  const addresses = [
    { host: '127.0.0.1', port: 8000 },
    { host: '0.0.0.0', port: 1 },
    { host: '::', port: 65535 },
    { host: '::1', port: 8000 },
    { host: '2001:db8::42', port: 443 },
    { host: 'fe80::1%br_lan', port: 8080 },
  ];

  test('names hold no ":" (the list separator) and read back as the address', () => {
    for (const address of addresses) {
      const name = listenFdName(address);
      assert.doesNotMatch(name, /:/, name);
      assert.deepEqual(decodeListenFdName(name), address, name);
    }
    assert.equal(listenFdName({ host: '127.0.0.1', port: 8000 }), '127.0.0.1_8000');
    assert.equal(listenFdName({ host: '::1', port: 8000 }), '[__1]_8000');
  });

  test('names another supervisor wrote (systemd FileDescriptorName=) decode to nothing', () => {
    for (const name of ['http', 'web.socket', 'stored_1', '127.0.0.1_99999', '[__1_8000', '']) {
      assert.equal(decodeListenFdName(name), null, name);
    }
  });

  test('the helper reads the names the supervisor writes, one per fd', () => {
    const env = { ...workerEnvironment({ ...input, listen: addresses, listenFds: addresses.length }), LISTEN_PID: String(process.pid) };
    const plan = listenPlan(env);
    assert.equal(plan.mode, 'inherited');
    assert.deepEqual(plan.mode === 'inherited' && plan.names, [
      '127.0.0.1:8000',
      '0.0.0.0:1',
      '[::]:65535',
      '[::1]:8000',
      '[2001:db8::42]:443',
      '[fe80::1%br_lan]:8080',
    ]);
  });

  test("the helper keeps other names as they are, and falls back to fd numbers when the count does not match", () => {
    const plan = (names: string, fds: number) => listenPlan({ LISTEN_FDS: String(fds), LISTEN_FDNAMES: names });
    assert.deepEqual(plan(`http:${encodeListenFdNames([{ host: '127.0.0.1', port: 80 }])}`, 2), { mode: 'inherited', fds: [3, 4], names: ['http', '127.0.0.1:80'] });
    assert.deepEqual(plan('127.0.0.1:8000', 1), { mode: 'inherited', fds: [3], names: ['fd 3'] });
    assert.deepEqual(plan('', 2), { mode: 'inherited', fds: [3, 4], names: ['fd 3', 'fd 4'] });
  });
});

describe('reserved names', () => {
  test('the config refuses exactly the contract names, in env: and in inherit_env:', () => {
    assert.deepEqual([...RESERVED_ENV], [...WORKER_ENV_NAMES]);
    for (const name of WORKER_ENV_NAMES) {
      for (const text of [`env:\n  ${name}: x\n`, `inherit_env: [${name}]\n`]) {
        assert.throws(
          () => parseConfig(`listen: 127.0.0.1:8000\ncommand: [node, server.js]\n${text}`, '/srv/app/supervisor.yaml', { checkFilesystem: false, env: {}, uid: 1000 }),
          (error: unknown) => error instanceof ConfigError && error.problems.some((problem) => problem.message.startsWith(`${name} is set by the supervisor`)),
          text,
        );
      }
    }
  });

  test('docs/worker-contract.md and docs/configuration.md name every one of them, and no other', () => {
    const contract = readFileSync(new URL('docs/worker-contract.md', root), 'utf8');
    const table = contract.slice(contract.indexOf('## Environment'), contract.indexOf('\n## ', contract.indexOf('## Environment') + 1));
    const rows = [...table.matchAll(/^\| (`[A-Z_]+`(?:, `[A-Z_]+`)*) \|/gm)].flatMap((row) => row[1]!.split(', ').map((name) => name.slice(1, -1)));
    assert.deepEqual(rows.sort(), [...WORKER_ENV_NAMES].sort(), 'the Environment table of docs/worker-contract.md');

    const configuration = readFileSync(new URL('docs/configuration.md', root), 'utf8');
    const sentence = /Names the supervisor sets for every worker are refused[^:]*:([^.]*)\./.exec(configuration);
    assert.ok(sentence, 'docs/configuration.md lists the refused names after "Names the supervisor sets for every worker are refused ...:"');
    const listed = [...sentence[1]!.matchAll(/`([A-Z_]+)`/g)].map((match) => match[1]!);
    assert.deepEqual(listed.sort(), [...WORKER_ENV_NAMES].sort(), 'the env: section of docs/configuration.md');
  });
});
