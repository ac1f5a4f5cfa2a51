// The fleet demo (examples/fleet/demo.mjs), short: three hosts in network namespaces behind
// HAProxy, rollout.yml run by Ansible one host at a time, a load client with no retries. A good
// release must roll out with no failed request; a release that cannot start on web2 must stop the
// rollout there, web1 on the new release, web3 untouched. The demo tears down what it made; the
// test checks that nothing of it is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { root } from '../helpers/harness.js';

const demo = path.join(root, 'examples/fleet/demo.mjs');

function missing(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const [command, fix] of [['ansible-playbook', 'ansible-core'], ['haproxy', 'haproxy'], ['ip', 'iproute2']]) {
    if (spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0) {
      return `${command} is missing: apt-get install -y --no-install-recommends ${fix}`;
    }
  }
  if (spawnSync('ip', ['netns', 'list']).status !== 0) return 'ip netns does not work here';
  return null;
}

interface HostState { verdict: string; serves: string | null; reloadMs: number | null }
interface Report {
  prefix: string;
  good: { exitCode: number; ok: number; failed: number; failures: Record<string, number>; hosts: Record<string, HostState> };
  broken: { exitCode: number; hosts: Record<string, HostState> };
  total: { ok: number; failed: number };
  reloadMs: { direct: number[]; behindHaproxy: number[] };
  supervisors: number[];
}

test('a fleet rollout behind HAProxy: a good release reaches every host with no failed request, a broken one stops at its host', { skip: missing() ?? false, timeout: 600_000 }, async (t) => {
  const began = Date.now();
  const child = spawn(process.execPath, [demo, '--quick', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.diagnostic(`demo ran ${((Date.now() - began) / 1000).toFixed(0)} s`);
  assert.equal(code, 0, `the demo failed:\n${stderr}\n${stdout}`);
  const report = JSON.parse(stdout.trim().split('\n').pop()!) as Report;
  t.diagnostic(`reload of web1: ${report.reloadMs.direct.join(', ')} ms without HAProxy, ${report.reloadMs.behindHaproxy.join(', ')} ms behind it`);

  assert.equal(report.good.exitCode, 0, 'the good rollout should succeed');
  assert.ok(report.good.ok > 0, 'requests went through HAProxy during the good rollout');
  assert.equal(report.good.failed, 0, `failed requests during the good rollout: ${JSON.stringify(report.good.failures)}`);
  for (const host of ['web1', 'web2', 'web3']) {
    assert.deepEqual([report.good.hosts[host].verdict, report.good.hosts[host].serves], ['promoted', '2'], `${host} after the good rollout`);
  }

  assert.notEqual(report.broken.exitCode, 0, 'the broken rollout should fail');
  assert.deepEqual([report.broken.hosts.web1.verdict, report.broken.hosts.web1.serves], ['promoted', '3'], 'web1 takes the new release');
  assert.deepEqual([report.broken.hosts.web2.verdict, report.broken.hosts.web2.serves], ['rolled-back', '2'], 'web2 rolls back and keeps serving');
  assert.deepEqual([report.broken.hosts.web3.verdict, report.broken.hosts.web3.serves], ['untouched', '2'], 'web3 is never touched');
  assert.equal(report.total.failed, 0, 'no request through HAProxy failed at all');

  // Nothing left: the namespaces are gone, and so are the supervisors (`ip netns del` succeeds
  // while processes still live in a namespace, so the pids are checked too).
  const namespaces = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  assert.ok(!namespaces.includes(report.prefix), `namespaces left behind: ${namespaces}`);
  for (const pid of report.supervisors) {
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `supervisor ${pid} still runs`);
  }
});
