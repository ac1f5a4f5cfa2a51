// Out of file descriptors: a supervisor under a low RLIMIT_NOFILE (prlimit, as LimitNOFILE= would
// set it) rolls a reload back with EMFILE, its limit and the number to raise it to; the daemon,
// check and doctor warn before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { execa } from 'execa';
import { cliPath, Daemon, exampleApp } from '../helpers/harness.js';

const prlimit = spawnSync('prlimit', ['--version']).status === 0;
const WORKERS = 16;
// 16 workers x 3 fds (stdout, stderr, listener) x 2 generations + 32 of its own
const NEEDED = 128;
const app = { workers: WORKERS, command: ['node', exampleApp], ready: { kind: 'notify', timeout: '20s' }, drain: { signal: 'SIGTERM', timeout: '2s' } };

test('a reload out of file descriptors rolls back naming EMFILE, the limit and the fix; the daemon, check and doctor warn before', { skip: prlimit ? false : 'needs prlimit (util-linux)' }, async () => {
  const daemon = await Daemon.start({ config: app, launcher: ['prlimit', '--nofile=110'] });
  try {
    const warned = daemon.logs.find((line) => String(line.msg).startsWith('a reload may run out of file descriptors'));
    assert.ok(warned, 'the daemon warns at start');
    assert.match(String(warned.msg), new RegExp(`the open file limit here is 110 \\(RLIMIT_NOFILE\\), and this config needs about ${NEEDED} across a reload`));
    const oldPids = (await daemon.servingPids()).sort();
    assert.equal(oldPids.length, WORKERS);

    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 1, reload.stderr);
    // Which call runs out first is a race: the listener's socket() or the spawn's pipes.
    const reason = reload.stderr.split('\n').find((line) => /^supervisor: (rolled back|reload failed)/.test(line)) ?? reload.stderr;
    assert.match(reason, /(spawn failed with EMFILE|socket 127\.0\.0\.1:\d+ failed: too many open files \(EMFILE\))/, 'the syscall and the errno name');
    assert.match(reason, /the supervisor may open 110 files \(RLIMIT_NOFILE\)/, 'the limit');
    assert.match(reason, new RegExp(`needs about ${NEEDED} across a reload \\(16 worker\\(s\\) x 3 fds x 2 generations \\+ 32 of its own\\)`), 'what the config needs');
    assert.match(reason, new RegExp(`LimitNOFILE=${NEEDED} in the systemd unit, or ulimit -n ${NEEDED}`), 'the fix');
    assert.doesNotMatch(reload.stderr, /Cannot read properties/);
    assert.deepEqual((await daemon.servingPids()).sort(), oldPids, 'the old generation serves on');
    assert.equal((await daemon.get()).status, 200);
    const status = await daemon.status();
    assert.equal(status.generations.length, 1);
    assert.ok(['rolled-back', 'failed'].includes(String(status.lastReload?.outcome)), `outcome ${status.lastReload?.outcome}`);
  } finally {
    assert.equal(await daemon.stop(), 0);
  }

  // Before any reload: check (exit 0, with a warning) and doctor (a failed finding) under the same kind of limit.
  const lowLimit = ['--nofile=120'];
  const config = { ...app, listen: '127.0.0.1:1', control: '/tmp/unused.sock' };
  const configFile = `${daemon.dir}.yaml`;
  const { writeFileSync, rmSync } = await import('node:fs');
  writeFileSync(configFile, JSON.stringify(config));
  try {
    const check = await execa('prlimit', [...lowLimit, process.execPath, cliPath, 'check', '-c', configFile], { reject: false });
    assert.equal(check.exitCode, 0, check.stderr);
    assert.match(check.stderr, new RegExp(`warning: a reload may run out of file descriptors: the open file limit here is 120 \\(RLIMIT_NOFILE\\), and this config needs about ${NEEDED}.*LimitNOFILE=${NEEDED}`));
    const doctor = await execa('prlimit', [...lowLimit, process.execPath, cliPath, 'doctor', '--json', '-c', configFile], { reject: false });
    const finding = (JSON.parse(doctor.stdout) as { findings: { check: string; ok: boolean | null; detail: string }[] }).findings.find((f) => f.check.startsWith('open file limit'));
    assert.equal(finding?.ok, false, doctor.stdout);
    assert.match(finding.detail, new RegExp(`here is 120 .* needs about ${NEEDED}`));
    const roomy = await execa('prlimit', ['--nofile=4096', process.execPath, cliPath, 'check', '-c', configFile], { reject: false });
    assert.equal(roomy.exitCode, 0, roomy.stderr);
    assert.doesNotMatch(roomy.stderr, /warning/);
  } finally {
    rmSync(configFile, { force: true });
  }
});
