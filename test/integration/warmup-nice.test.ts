import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Daemon, exampleApp, fixture, sleep, waitFor } from '../helpers/harness.js';
import { autogroupNice, choosePriorityMechanism } from '../../src/daemon/process/priority.js';
import { readSchedulingFacts } from '../../src/daemon/process/scheduling-facts.js';

// Nice values of every thread of a process (field 19 of /proc/PID/task/TID/stat).
function threadNices(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

const expected = choosePriorityMechanism(readSchedulingFacts());

// The warming nice value as the kernel holds it, by the mechanism this machine uses.
function warmingNice(pid: number): number | null {
  if (expected.mechanism === 'autogroup') return autogroupNice(pid);
  return Math.max(...threadNices(pid));
}

test('ready.nice: status names the mechanism; a starting worker is lowered, raised step by step while not ready, and at 0 once ready', { skip: expected.mechanism === 'none' ? expected.reason : false }, async () => {
  const daemon = await Daemon.start({
    config: { workers: 2, command: ['node', exampleApp], ready: { kind: 'notify', timeout: '5s', nice: 19, nice_ramp: '2s' }, drain: { signal: 'SIGTERM', timeout: '2s' } },
  });
  try {
    const status = await daemon.status();
    assert.deepEqual(status.warming.priority, { mechanism: expected.mechanism, reason: expected.reason, nice: 19, rampMs: 2000 });
    const doctor = JSON.parse((await daemon.cli('doctor', '-c', daemon.configPath, '--json')).stdout) as { findings: { check: string; ok: boolean | null; detail: string }[] };
    assert.equal(doctor.findings.find((finding) => finding.check === 'warming priority')?.detail, `${expected.mechanism}: ${expected.reason}`);
    assert.match(doctor.findings.find((finding) => finding.check === 'warming priority schedule')?.detail ?? '', /^ready.nice 19 -> 0 while not ready: 19 at 0 ms, .* 0 at 2000 ms$/);
    for (const pid of await daemon.servingPids()) {
      assert.equal(warmingNice(pid), 0, `worker ${pid} is back at normal priority`);
      assert.deepEqual(new Set(threadNices(pid)), new Set([0]), `worker ${pid} threads`);
    }

    // A worker that never becomes ready: lowered at once, then aged up to 0 over nice_ramp, so a
    // busy machine cannot starve it; its timeout still rolls the reload back. Times are measured
    // from before the reload, an upper bound of the worker's age.
    daemon.writeConfig({ workers: 1, command: ['node', fixture('never-ready')], ready: { kind: 'notify', timeout: '9s', nice: 19, nice_ramp: '4s' }, drain: { signal: 'SIGTERM', timeout: '1s' } });
    const startedAt = Date.now();
    const reload = daemon.cli('reload');
    const { pid: candidate, startedAt: workerStartedAt } = await waitFor('the candidate worker', async () => {
      const worker = (await daemon.status()).generations.find((gen) => gen.state === 'starting')?.workers[0];
      return worker?.pid && worker.uptimeMs !== null ? { pid: worker.pid, startedAt: Date.now() - worker.uptimeMs } : undefined;
    });
    const early = warmingNice(candidate)!;
    const earlyAt = Date.now() - startedAt;
    assert.ok(early > 0 && early >= 19 - Math.ceil(earlyAt / (4000 / 19)), `nice ${early} at most ${earlyAt} ms after the worker started`);
    await sleep(700);
    const later = warmingNice(candidate)!;
    const laterAt = Date.now() - startedAt;
    assert.ok(later < early, `aging: ${early} -> ${later} 700 ms later`);
    if (laterAt < 3800) assert.ok(later > 0, `still lowered ${laterAt} ms after the start: ${later}`);
    const shown = (await daemon.status()).generations.find((gen) => gen.state === 'starting')?.workers[0]?.warming;
    assert.ok(shown && (shown.nice === null || shown.nice <= later), `status shows the warming nice: ${JSON.stringify(shown)}`);
    await sleep(Math.max(0, workerStartedAt + 4300 - Date.now()));
    assert.equal(warmingNice(candidate), 0, 'at 0 after nice_ramp, still not ready');
    assert.equal((await reload).exitCode, 1);
  } finally {
    await daemon.stop();
  }
});
