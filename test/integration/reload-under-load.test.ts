import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { helloWorker, root } from '../helpers/harness.js';

const scenario = path.join(root, 'dist/test/helpers/reload-scenario.js');
const RELOADS = 5;

interface ScenarioReport {
  socket: string;
  reloads: string[];
  load: { mode: string; ok: number; failed: number; failures: Record<string, number> }[];
}

function parse(stdout: string): ScenarioReport {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as ScenarioReport;
}

function assertLossless(report: ScenarioReport) {
  assert.deepEqual(report.reloads, Array(RELOADS).fill('promoted'));
  for (const load of report.load) {
    assert.ok(load.ok > 100, `${load.mode}: only ${load.ok} requests succeeded`);
    assert.equal(load.failed, 0, `${load.mode}: ${load.failed} failed requests: ${JSON.stringify(load.failures)}`);
  }
}

test('shared mode: reloads under load fail no request (new connections and keep-alive)', async () => {
  const run = await execa(process.execPath, [scenario, 'shared', String(RELOADS)], { reject: false, timeout: 180_000 });
  assert.equal(run.exitCode, 0, run.stderr);
  assertLossless(parse(run.stdout));
});

function namespaceProblem(): string | null {
  const probe = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && sysctl -qw net.ipv4.tcp_migrate_req=1'], { encoding: 'utf8' });
  if (probe.error) return `unshare is not available (${probe.error.message})`;
  if (probe.status !== 0) return `cannot create a network namespace with tcp_migrate_req=1: ${probe.stderr.trim() || `exit ${probe.status}`}`;
  return null;
}

// Runs the scenario in a fresh network namespace with the given tcp_migrate_req, so the host's
// sysctls are never touched.
async function inNamespace(migrateReq: 0 | 1, lossless: string, app: 'node' | 'c' = 'node'): Promise<ScenarioReport> {
  const script = `ip link set lo up && sysctl -qw net.ipv4.tcp_migrate_req=${migrateReq} && exec "$0" "$@"`;
  const run = await execa('unshare', ['-n', 'sh', '-c', script, process.execPath, scenario, 'reuseport', String(RELOADS), '2', lossless, app], {
    reject: false,
    timeout: 180_000,
  });
  assert.equal(run.exitCode, 0, run.stderr);
  return parse(run.stdout);
}

const problem = namespaceProblem();
test('reuseport mode with steering and tcp_migrate_req=0 (its own network namespace): reloads under load fail no request', { skip: problem ?? false }, async () => {
  assertLossless(await inNamespace(0, 'steer'));
});

test('reuseport mode with tcp_migrate_req=1 (its own network namespace): reloads under load fail no request', { skip: problem ?? false }, async () => {
  assertLossless(await inNamespace(1, 'migrate'));
});

test('the example worker in C, reuseport mode with steering and tcp_migrate_req=0: reloads under load fail no request', { skip: problem ?? (existsSync(helloWorker) ? false : `the C example worker is not built (${helloWorker}); run npm install`) }, async () => {
  assertLossless(await inNamespace(0, 'steer', 'c'));
});
