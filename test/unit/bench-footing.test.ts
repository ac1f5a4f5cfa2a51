// The benchmark's scheduling footing check: reading /proc/PID/autogroup and /proc/PID/cgroup, judging
// who shares a scheduling group, and (where the kernel has autogroups) that a process started in a
// session of its own really is in a group of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { childrenOf, cpuCgroupFrom, describeFooting, judgeFooting, parseAutogroup, readFooting, type ProcessFooting } from '../../bench/lib/footing.js';
import { OWN_SESSION, setsidPath } from '../../bench/lib/own-session.js';

const proc = (pid: number, autogroup: number | null, more: Partial<ProcessFooting> = {}): ProcessFooting => ({ pid, autogroup, nice: autogroup === null ? null : 0, cpuCgroup: '/', cpus: '0-1', ...more });

test('parseAutogroup reads the group and its nice, and nothing else', () => {
  assert.deepEqual(parseAutogroup('/autogroup-25 nice 0'), { autogroup: 25, nice: 0 });
  assert.deepEqual(parseAutogroup('/autogroup-3 nice -5'), { autogroup: 3, nice: -5 });
  assert.equal(parseAutogroup(''), null);
  assert.equal(parseAutogroup('autogroup-3 nice 0'), null);
});

test('cpuCgroupFrom: the cpu hierarchy in cgroup v1; in v2 the path only where the root enables cpu', () => {
  const v1 = '9:name=systemd:/\n4:memory:/jobs/x\n2:cpuacct:/\n1:cpu:/\n0::/\n';
  assert.equal(cpuCgroupFrom(v1, null), '/'); // memory elsewhere does not matter
  assert.equal(cpuCgroupFrom('3:cpu,cpuacct:/system.slice/bench.service\n0::/\n', null), '/system.slice/bench.service');
  assert.equal(cpuCgroupFrom('0::/user.slice/session-1.scope\n', 'memory pids'), '/');
  assert.equal(cpuCgroupFrom('0::/user.slice/session-1.scope\n', 'cpuset cpu io memory pids'), '/user.slice/session-1.scope');
  assert.equal(cpuCgroupFrom('0::/user.slice/session-1.scope\n', null), '/user.slice/session-1.scope'); // root unreadable: take the path
  assert.equal(cpuCgroupFrom('', null), null);
});

test('judgeFooting: every process in a group of its own is equal footing', () => {
  const footing = judgeFooting('on', [
    { class: 'bench runner', processes: [proc(100, 2)] },
    { class: 'load client', processes: [proc(101, 7), proc(102, 8)] },
    { class: 'supervisor daemon', processes: [proc(103, 9)] },
    { class: 'supervisor workers', processes: [proc(104, 10), proc(105, 11)] },
  ]);
  assert.deepEqual(footing.problems, []);
  assert.equal(footing.equal, true);
  assert.deepEqual(footing.classes.map((c) => c.ownGroupEach), [true, true, true, true]);
  assert.equal(describeFooting(footing), 'each process in an autogroup of its own, nice 0 (bench runner 1, load client 2, supervisor daemon 1, supervisor workers 2)');
});

test('judgeFooting: the old arrangement (load client and daemon in the runner\'s group) is named, group by group', () => {
  const footing = judgeFooting('on', [
    { class: 'bench runner', processes: [proc(100, 2)] },
    { class: 'load client', processes: [proc(101, 2), proc(102, 2)] },
    { class: 'supervisor daemon', processes: [proc(103, 2)] },
    { class: 'supervisor workers', processes: [proc(104, 10), proc(105, 11)] },
  ]);
  assert.equal(footing.equal, false);
  assert.deepEqual(footing.problems, ['/autogroup-2 holds bench runner 100, load client 101, load client 102, supervisor daemon 103: they share one group\'s CPU']);
  assert.deepEqual(footing.classes.map((c) => [c.class, c.ownGroupEach]), [['bench runner', false], ['load client', false], ['supervisor daemon', false], ['supervisor workers', true]]);
  assert.match(describeFooting(footing), /^NOT equal: \/autogroup-2 holds/);
});

test('judgeFooting: processes in the kernel\'s default autogroup (an empty autogroup file) share it', () => {
  const footing = judgeFooting('on', [
    { class: 'bench runner', processes: [proc(100, null)] },
    { class: 'load client', processes: [proc(101, null)] },
    { class: 'supervisor workers', processes: [proc(104, 10)] },
  ]);
  assert.deepEqual(footing.problems, ['the default autogroup holds bench runner 100, load client 101: they share one group\'s CPU']);
  assert.deepEqual(footing.classes.map((c) => c.ownGroupEach), [false, false, true]);
  const alone = judgeFooting('on', [{ class: 'bench runner', processes: [proc(100, null)] }, { class: 'load client', processes: [proc(101, 7)] }]);
  assert.deepEqual(alone.problems, []);
});

test('judgeFooting: a reniced group, a process outside the root cpu cgroup and a class with no live process are problems', () => {
  const footing = judgeFooting('on', [
    { class: 'load client', processes: [proc(101, 7, { nice: 5 })] },
    { class: 'supervisor workers', processes: [proc(104, 10, { cpuCgroup: '/system.slice/app.service' })] },
    { class: 'cluster workers', processes: [] },
  ]);
  assert.deepEqual(footing.problems, [
    'cluster workers: no live process to check',
    'load client 101 at autogroup nice 5',
    "supervisor workers 104 in cpu cgroup /system.slice/app.service: autogroup applies only in the root cpu cgroup, there the cgroup's cpu.weight decides",
  ]);
});

test('judgeFooting: with autogroup off shared groups do not matter, different cpu cgroups still do', () => {
  const shared = [
    { class: 'bench runner', processes: [proc(100, 2)] },
    { class: 'load client', processes: [proc(101, 2)] },
  ];
  const off = judgeFooting('off', shared);
  assert.equal(off.equal, true);
  assert.match(describeFooting(off), /^autogroup is off .*sessions change nothing \(bench runner 1, load client 1\)$/);
  const split = judgeFooting('absent', [{ class: 'bench runner', processes: [proc(100, null)] }, { class: 'load client', processes: [proc(101, null, { cpuCgroup: '/bench' })] }]);
  assert.deepEqual(split.problems, ['processes in different cpu cgroups (/, /bench): their cpu.weight splits the CPU']);
});

// Live: the two ways the benchmark starts a process in a session of its own (`detached`, and
// setsid(1) in front of a command it does not spawn itself) give it an autogroup of its own, and
// setsid keeps the pid. Children of this test, killed by pid at the end.
test('a child started with OWN_SESSION or through setsid has an autogroup of its own', { skip: !existsSync('/proc/self/autogroup') && 'this kernel has no autogroup' }, async () => {
  const started: ChildProcess[] = [];
  const ready = (child: ChildProcess) => new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before it was ready`)));
  });
  const script = ['-c', 'echo ready; exec sleep 30'];
  try {
    const detached = spawn('sh', script, { stdio: ['ignore', 'pipe', 'inherit'], ...OWN_SESSION });
    started.push(detached);
    const wrapped = spawn(setsidPath(), ['sh', ...script], { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(wrapped);
    await Promise.all(started.map(ready));
    for (const child of started) {
      const session = Number(readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[3]);
      assert.equal(session, child.pid, 'the child leads its own session, under the pid Node knows');
    }
    assert.deepEqual(childrenOf(process.pid).filter((pid) => started.some((c) => c.pid === pid)), started.map((c) => c.pid).sort((a, b) => a! - b!));
    const footing = readFooting([{ name: 'test', pids: [process.pid] }, { name: 'detached', pids: [detached.pid!] }, { name: 'setsid', pids: [wrapped.pid!] }]);
    // The test itself may sit in the kernel's default autogroup (a runner never started in a session
    // of its own, as under some CI harnesses): /proc/PID/autogroup is then empty and it counts as
    // sharing. Only the two children are claimed to have a group each.
    const groups = footing.classes.map((c) => c.processes[0]?.autogroup ?? 'default');
    assert.equal(new Set(groups).size, 3, `three distinct autogroups, got ${groups.join(', ')}`);
    const children = footing.classes.filter((c) => c.class !== 'test');
    assert.deepEqual(children.map((c) => c.ownGroupEach), footing.autogroup === 'on' ? [true, true] : [false, false]);
    assert.ok(children.every((c) => c.processes[0]?.autogroup !== null), 'each child in a session of its own shows its autogroup');
  } finally {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(started.map((child) => (child.exitCode !== null || child.signalCode !== null ? undefined : new Promise((resolve) => child.once('exit', resolve)))));
  }
});
