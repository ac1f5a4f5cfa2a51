import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HANDOVER_FORMAT, HandoverUnreadable, handedOverFds, parseHandover, type Handover } from '../../src/daemon/upgrade/state.js';

function sample(): Handover {
  return {
    format: HANDOVER_FORMAT,
    from: { version: '0.1.0', node: 'v20.20.2' },
    requestedAt: 1_700_000_000_000,
    daemon: { startedAt: 1_699_999_000_000, upgrades: 0, lastUpgrade: null },
    configFile: '/etc/app/supervisor.yaml',
    configText: 'listen: 127.0.0.1:8000\ncommand: [node, server.js]\n',
    activated: [],
    sockets: { shared: null, groups: [{ members: [{ fd: 20, routable: true, weight: 1000 }, { fd: 22, routable: true, weight: 1000 }] }] },
    notify: { path: '@reuseport-supervisor/1/x', fd: 17 },
    control: { path: '/run/app.sock', fd: 18 },
    metrics: { fd: 19 },
    nextGenerationId: 3,
    lastReload: null,
    serving: {
      id: 2,
      startedAt: 1_699_999_500_000,
      release: { path: '/srv/app/releases/2', revision: '2' },
      weight: 1000,
      slots: [
        { index: 1, pid: 4211, startedAt: 1, readySince: 2, restarts: 0, consecutiveFailures: 0, bootFailures: 0, crashLooping: false, lastExit: null, listenFds: [20], stdout: 24, stderr: 25 },
        { index: 2, pid: 4212, startedAt: 1, readySince: 2, restarts: 1, consecutiveFailures: 1, bootFailures: 0, crashLooping: false, lastExit: 'exited with code 1', listenFds: [22], stdout: 26, stderr: null },
      ],
    },
  };
}

test('handover state: what one program writes the next reads back unchanged', () => {
  assert.deepEqual(parseHandover(JSON.stringify(sample())), sample());
});

test('handover state: every fd it names, once each (the ones whose close-on-exec the exec clears)', () => {
  assert.deepEqual(handedOverFds(sample()).sort((a, b) => a - b), [17, 18, 19, 20, 22, 24, 25, 26]);
});

test('handover state: another format, or a missing or malformed part, is refused naming it', () => {
  const refuse = (value: unknown, pattern: RegExp) => assert.throws(() => parseHandover(typeof value === 'string' ? value : JSON.stringify(value)), (error: Error) => error instanceof HandoverUnreadable && pattern.test(error.message));
  refuse('{"format":', /not JSON/);
  refuse([1], /format undefined, this program reads format 1: upgrade by restarting the daemon instead/);
  refuse({ ...sample(), format: 2 }, /format 2, this program reads format 1: upgrade by restarting the daemon instead/);
  refuse({ ...sample(), configText: undefined }, /the config is missing or malformed/);
  refuse({ ...sample(), control: { path: '/run/app.sock', fd: -1 } }, /control is missing or malformed/);
  refuse({ ...sample(), sockets: { shared: null, groups: [{ members: [{ fd: 'x' }] }] } }, /sockets.groups is missing or malformed/);
  const badWorker = sample();
  badWorker.serving.slots[1]!.pid = 0;
  refuse(badWorker, /worker 2 is missing or malformed/);
});
