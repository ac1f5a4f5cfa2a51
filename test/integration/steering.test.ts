import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { Daemon, exampleApp, fixture, isAlive } from '../helpers/harness.js';

const base = {
  workers: 2,
  drain: { signal: 'SIGTERM', timeout: '3s' },
  restart: { backoff: '100ms', max: '1s' },
};

test('http readiness probes reach the worker under test: old workers answering 200 cannot pass a new one that answers 503', async () => {
  const daemon = await Daemon.start({
    config: { ...base, command: ['node', exampleApp], env: { APP_VERSION: '1' }, ready: { kind: 'http', path: '/healthz', timeout: '5s' } },
  });
  try {
    const oldPids = await daemon.servingPids();
    daemon.writeConfig({ ...base, command: ['node', fixture('never-ready')], ready: { kind: 'http', path: '/healthz', timeout: '1500ms', interval: '50ms' } });
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 1, `a neighbour's answer promoted a broken generation: ${reload.stdout}`);
    assert.match(reload.stderr, /was not ready within 1500 ms \(ready\.kind: http\)/);
    assert.deepEqual((await daemon.servingPids()).sort(), oldPids.sort());
  } finally {
    await daemon.stop();
  }
});

test('tcp readiness needs the worker to accept: a worker that never accepts is not ready', async () => {
  const daemon = await Daemon.start({
    config: { ...base, command: ['node', exampleApp], env: { APP_VERSION: '1' }, ready: { kind: 'tcp', timeout: '5s' } },
  });
  try {
    const oldPids = await daemon.servingPids();
    daemon.writeConfig({ ...base, command: ['node', '-e', 'setInterval(() => {}, 1000)'], ready: { kind: 'tcp', timeout: '1s', interval: '50ms' } });
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 1, reload.stdout);
    assert.match(reload.stderr, /was not ready within 1000 ms \(ready\.kind: tcp\)/);
    for (const pid of oldPids) assert.ok(isAlive(pid));
  } finally {
    await daemon.stop();
  }
});

test('status and doctor name the lossless mechanism in force', async () => {
  const daemon = await Daemon.start({ config: { ...base, command: ['node', exampleApp], ready: { kind: 'notify', timeout: '5s' } } });
  try {
    const status = await daemon.status();
    assert.ok(status.lossless.mechanisms.includes('steer'), JSON.stringify(status.lossless));
    assert.match(status.lossless.guarantee, /^lossless: new connections are steered to ready workers only/);
    const text = await daemon.cli('status');
    assert.match(text.stdout, /lossless: steer/);
    const doctor = await daemon.cli('doctor', '-c', daemon.configPath, '--json');
    assert.equal(doctor.exitCode, 0, doctor.stderr);
    const report = JSON.parse(doctor.stdout);
    assert.equal(report.ok, true);
    assert.ok(report.findings.some((finding: { check: string; ok: boolean }) => /steering/.test(finding.check) && finding.ok));
  } finally {
    await daemon.stop();
  }
});

test('lossless: migrate is refused at start, naming the sysctl, where tcp_migrate_req is 0', { skip: readSysctl() === '1' ? 'tcp_migrate_req is 1 on this host' : false }, async () => {
  const daemon = await Daemon.start({ config: { ...base, lossless: 'migrate', command: ['node', exampleApp] }, waitReady: false });
  const code = await daemon.exited();
  assert.equal(code, 101, 'a sysctl that is off stays off: restarting will not help');
  assert.ok(daemon.logs.some((line) => /lossless: migrate needs net\.ipv4\.tcp_migrate_req=1/.test(String(line.msg))), JSON.stringify(daemon.logs));
  await daemon.stop();
});

function readSysctl(): string {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim();
  } catch {
    return 'missing';
  }
}
