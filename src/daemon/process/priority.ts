import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import type { SchedulingFacts } from './scheduling-facts.js';
import { taskIds } from './proc.js';

// How a warming worker's CPU priority is lowered so the kernel honours it against the workers
// that serve meanwhile, chosen from the machine's facts:
// - autogroup: each worker leads its own session (spawned detached, so setsid), which with
//   autogroup on is its own scheduling group; between groups only the group's nice counts, so
//   the supervisor writes it to /proc/PID/autogroup. Raising it needs no privilege; setting it
//   back to 0 neither (only values below 0 do).
// - nice: every thread's own nice value, where thread nice values do rank processes against
//   each other: autogroup off, or the supervisor inside a cpu cgroup (autogroup applies only in
//   the root one). Setting it back needs CAP_SYS_NICE or RLIMIT_NICE.
// - none: neither would work here; new workers start at normal priority.
export type PriorityMechanism = 'autogroup' | 'nice' | 'none';

export interface PriorityChoice {
  mechanism: PriorityMechanism;
  /** why, in words for `doctor`, `status` and the start-up log */
  reason: string;
}

export function choosePriorityMechanism(facts: SchedulingFacts): PriorityChoice {
  if (facts.cpuCgroup !== null) {
    const { path, version } = facts.cpuCgroup;
    const cgroup = path === '/' ? `a container's cpu cgroup ("/" in its cgroup namespace, cgroup v${version})` : `cpu cgroup ${path} (cgroup v${version})`;
    const where = `the supervisor runs in ${cgroup}, where autogroup does not apply and thread nice values rank its workers`;
    return niceIfAllowed(where);
  }
  if (facts.autogroup === true) {
    return { mechanism: 'autogroup', reason: 'autogroup is on (kernel.sched_autogroup_enabled=1) and each worker leads its own session: its autogroup\'s nice ranks it against the serving workers' };
  }
  return niceIfAllowed(facts.autogroup === false ? 'autogroup is off (kernel.sched_autogroup_enabled=0): thread nice values rank every thread' : 'the kernel has no autogroup: thread nice values rank every thread');

  function niceIfAllowed(where: string): PriorityChoice {
    if (facts.canLowerNice) return { mechanism: 'nice', reason: where };
    return {
      mechanism: 'none',
      reason: `${where}, but this supervisor may not lower a nice value again (no CAP_SYS_NICE, RLIMIT_NICE below 20), so a warming worker could never get its priority back: workers start at normal priority; run as root or set LimitNICE=0 in the unit`,
    };
  }
}

/** What `doctor` and `status` say about a cgroup v2 cpu.weight per generation. */
export function cgroupWeightNote(facts: SchedulingFacts): string {
  if (facts.delegatedCgroup === null) return 'unavailable: the supervisor owns no delegated cgroup v2 with the cpu controller (systemd Delegate=yes)';
  return `not used: ${facts.delegatedCgroup.path} is delegated with the cpu controller, but cpu.weight per generation is not implemented; inside it thread nice values rank the workers`;
}

// Sets a worker's warming nice value by the chosen mechanism. Returns the error when the kernel
// refused; a worker that exited meanwhile is not an error.
export function setWarmingNice(mechanism: PriorityMechanism, pid: number, nice: number): NodeJS.ErrnoException | null {
  if (mechanism === 'autogroup') return setAutogroupNice(pid, nice);
  if (mechanism === 'nice') return setThreadsNice(pid, nice);
  return null;
}

// /proc/PID/autogroup takes the nice value of the autogroup PID is in. Writers without
// CAP_SYS_ADMIN get EAGAIN within 100 ms of the previous write by anyone: the caller retries.
export function setAutogroupNice(pid: number, nice: number): NodeJS.ErrnoException | null {
  try {
    // A worker that shares the supervisor's session shares its autogroup: lowering that would
    // lower the supervisor (and whatever else runs in its session) instead.
    const own = autogroupOf('self');
    if (own !== null && autogroupOf(String(pid)) === own) {
      return Object.assign(new Error(`worker ${pid} is in the supervisor's own autogroup (${own}): it does not lead a session of its own, so its autogroup nice was not changed`), { code: 'ESHAREDGROUP' });
    }
    writeFileSync(`/proc/${pid}/autogroup`, String(nice));
    return null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ESRCH' ? null : (error as NodeJS.ErrnoException);
  }
}

// "/autogroup-42 nice 0": the group's name.
function autogroupOf(pid: string): string | null {
  try {
    return readFileSync(`/proc/${pid}/autogroup`, 'utf8').split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

/** The nice value of the autogroup pid is in, or null when it cannot be read. */
export function autogroupNice(pid: number): number | null {
  try {
    const match = /nice (-?\d+)/.exec(readFileSync(`/proc/${pid}/autogroup`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

// Linux keeps a nice value per thread, so each task is set, not just the main one.
export function setThreadsNice(pid: number, nice: number): NodeJS.ErrnoException | null {
  const tasks = taskIds(pid);
  if (tasks === null) return null; // exited meanwhile
  for (const task of tasks) {
    try {
      os.setPriority(task, nice);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') continue;
      return error as NodeJS.ErrnoException;
    }
  }
  return null;
}
