import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { choosePriorityMechanism, cgroupWeightNote } from '../../src/daemon/process/priority.js';
import { canLowerNice, cgroup2Mount, cpuCgroupOf, parseProcCgroup, type SchedulingFacts } from '../../src/daemon/process/scheduling-facts.js';
import { agingSteps, nextStepAt, niceAt, WarmingPriority } from '../../src/daemon/process/priority-aging.js';
import { agingPlan } from '../../src/daemon/generation/warming.js';

const facts = (over: Partial<SchedulingFacts> = {}): SchedulingFacts => ({ autogroup: true, cpuCgroup: null, delegatedCgroup: null, canLowerNice: true, ...over });

describe('the priority mechanism, chosen from the machine\'s facts', () => {
  it('autogroup on, in the root cpu group: the autogroup nice (needs no privilege)', () => {
    assert.equal(choosePriorityMechanism(facts()).mechanism, 'autogroup');
    assert.equal(choosePriorityMechanism(facts({ canLowerNice: false })).mechanism, 'autogroup');
  });

  it('inside a cpu cgroup autogroup does not apply: thread nice values, if they can be lowered again', () => {
    const inCgroup = facts({ cpuCgroup: { version: 2, path: '/system.slice/app.service' } });
    const choice = choosePriorityMechanism(inCgroup);
    assert.equal(choice.mechanism, 'nice');
    assert.match(choice.reason, /cpu cgroup \/system\.slice\/app\.service/);
    const unprivileged = choosePriorityMechanism({ ...inCgroup, canLowerNice: false });
    assert.equal(unprivileged.mechanism, 'none');
    assert.match(unprivileged.reason, /LimitNICE=0/);
  });

  it('autogroup off or missing: thread nice values', () => {
    assert.equal(choosePriorityMechanism(facts({ autogroup: false })).mechanism, 'nice');
    assert.equal(choosePriorityMechanism(facts({ autogroup: null })).mechanism, 'nice');
    assert.equal(choosePriorityMechanism(facts({ autogroup: false, canLowerNice: false })).mechanism, 'none');
  });

  it('says why cgroup cpu.weight is not used', () => {
    assert.match(cgroupWeightNote(facts()), /^unavailable: .*Delegate=yes/);
    assert.match(cgroupWeightNote(facts({ delegatedCgroup: { path: '/sys/fs/cgroup/app.service' } })), /^not used: .*not implemented/);
  });
});

describe('reading the facts', () => {
  it('parses /proc/self/cgroup, v1 and v2 lines', () => {
    assert.deepEqual(parseProcCgroup('1:cpu,cpuacct:/app\n0::/system.slice/app.service\n'), [
      { hierarchy: 1, controllers: ['cpu', 'cpuacct'], path: '/app' },
      { hierarchy: 0, controllers: [], path: '/system.slice/app.service' },
    ]);
  });

  it('finds the cgroup2 mount, hybrid or unified', () => {
    assert.equal(cgroup2Mount('40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n'), '/sys/fs/cgroup/unified');
    assert.equal(cgroup2Mount('22 1 0:5 / /proc rw - proc proc rw\n'), null);
  });

  it('a v1 cpu hierarchy decides; in v2 the nearest cgroup with the cpu controller', () => {
    assert.equal(cpuCgroupOf(parseProcCgroup('1:cpu:/\n0::/x'), () => true), null, 'v1 cpu at the root');
    assert.deepEqual(cpuCgroupOf(parseProcCgroup('1:cpu,cpuacct:/docker/1\n0::/'), () => false), { version: 1, path: '/docker/1' });
    const enabled = new Set(['/system.slice']);
    assert.deepEqual(cpuCgroupOf(parseProcCgroup('0::/system.slice/app.service'), (path) => enabled.has(path)), { version: 2, path: '/system.slice' });
    assert.equal(cpuCgroupOf(parseProcCgroup('0::/user.slice/session-1.scope'), () => false), null, 'no cpu controller below the root');
    assert.deepEqual(cpuCgroupOf(parseProcCgroup('0::/'), (path) => path === '/'), { version: 2, path: '/' }, 'a container: its own cgroup seen as "/" has cpu.weight');
  });

  it('may lower nice with CAP_SYS_NICE or RLIMIT_NICE >= 20', () => {
    assert.equal(canLowerNice('CapEff:\t0000000000800000\n', 'Max nice priority 0 0\n'), true, 'bit 23');
    assert.equal(canLowerNice('CapEff:\t0000000000000000\n', 'Max nice priority         20                   20\n'), true);
    assert.equal(canLowerNice('CapEff:\t0000000000000000\n', 'Max nice priority         0                    0\n'), false);
  });
});

describe('the aging schedule', () => {
  const plan = { startNice: 19, rampMs: 3800 };

  it('falls linearly from the start value to 0 over the ramp, one nice value per step', () => {
    assert.equal(niceAt(plan, 0), 19);
    assert.equal(niceAt(plan, 199), 19);
    assert.equal(niceAt(plan, 200), 18);
    assert.equal(niceAt(plan, 1900), 10);
    assert.equal(niceAt(plan, 3799), 1);
    assert.equal(niceAt(plan, 3800), 0);
    assert.equal(niceAt(plan, 60_000), 0);
    const steps = agingSteps(plan);
    assert.equal(steps.length, 20);
    assert.deepEqual(steps[0], [0, 19]);
    assert.deepEqual(steps.at(-1), [3800, 0]);
    assert.ok(steps.every(([, nice], i) => nice === 19 - i));
  });

  it('says when the value changes next, and stops after the ramp', () => {
    assert.equal(nextStepAt(plan, 0), 200);
    assert.equal(nextStepAt(plan, 200), 400);
    assert.equal(nextStepAt(plan, 3700), 3800);
    assert.equal(nextStepAt(plan, 3800), null);
  });

  it('nice 0 lowers nothing; ramp 0 holds the start value (no aging)', () => {
    assert.equal(niceAt({ startNice: 0, rampMs: 1000 }, 0), 0);
    assert.equal(nextStepAt({ startNice: 0, rampMs: 1000 }, 0), null);
    assert.equal(niceAt({ startNice: 10, rampMs: 0 }, 99_999), 10);
  });

  it('reaches 0 by half the ready timeout at the latest', () => {
    const ready = { kind: 'notify' as const, timeoutMs: 4000, path: '/', intervalMs: 100, delayMs: 1000, nice: 19, niceRampMs: 3000, warmup: null };
    assert.deepEqual(agingPlan(ready), { startNice: 19, rampMs: 2000 });
    assert.deepEqual(agingPlan({ ...ready, timeoutMs: 10_000 }), { startNice: 19, rampMs: 3000 });
  });
});

describe('one worker\'s warming priority over time', () => {
  it('applies each step, retries EAGAIN, and restores 0 at ready', () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    try {
      const applied: number[] = [];
      let refuseNext = false;
      const priority = new WarmingPriority('autogroup', { startNice: 4, rampMs: 400 }, (nice) => {
        if (refuseNext) {
          refuseNext = false;
          return Object.assign(new Error('busy'), { code: 'EAGAIN' });
        }
        applied.push(nice);
        return null;
      }, () => assert.fail('no error expected'));
      priority.start();
      assert.deepEqual(applied, [4]);
      assert.equal(priority.nice, 4);
      mock.timers.tick(100);
      assert.deepEqual(applied, [4, 3]);
      refuseNext = true; // the kernel's 100 ms limit between autogroup writes
      mock.timers.tick(100);
      assert.deepEqual(applied, [4, 3], 'refused with EAGAIN');
      mock.timers.tick(110);
      assert.deepEqual(applied, [4, 3, 1], 'retried with the value due by then');
      assert.equal(priority.restore(), null);
      assert.deepEqual(applied, [4, 3, 1, 0]);
      assert.equal(priority.nice, null);
      mock.timers.tick(10_000);
      assert.deepEqual(applied, [4, 3, 1, 0], 'no step after restore');
    } finally {
      mock.timers.reset();
    }
  });

  it('reports a refusal once and stops aging; restore still tries 0', () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    try {
      const errors: number[] = [];
      const applied: number[] = [];
      const priority = new WarmingPriority('nice', { startNice: 2, rampMs: 200 }, (nice) => {
        if (nice < 2) return Object.assign(new Error('not permitted'), { code: 'EACCES' });
        applied.push(nice);
        return null;
      }, (_error, wanted) => errors.push(wanted));
      priority.start();
      mock.timers.tick(100);
      mock.timers.tick(1000);
      assert.deepEqual(applied, [2]);
      assert.deepEqual(errors, [1]);
      assert.equal(priority.nice, 2);
      assert.equal(priority.restore()?.code, 'EACCES');
    } finally {
      mock.timers.reset();
    }
  });

  it('the mechanism none touches nothing', () => {
    const priority = new WarmingPriority('none', { startNice: 19, rampMs: 1000 }, () => assert.fail('nothing to apply'), () => {});
    priority.start();
    assert.equal(priority.nice, null);
    assert.equal(priority.restore(), null);
  });
});
