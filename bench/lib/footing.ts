// The benchmark's scheduling footing as the kernel sees it: for each class of process (bench
// runner, load client, supervisor daemon and workers, the baselines' servers), the autogroup each
// process is in, that group's nice, the cpu cgroup that schedules it and the CPUs it may use, read
// from /proc while the run is on and kept in the JSON. What it checks is the claim of own-session.ts: every measured
// process is a scheduling group of its own at nice 0, so none gets a share meant for several.
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessClass {
  name: string; // 'load client', 'supervisor workers', ...
  pids: number[];
}

export interface ProcessFooting {
  pid: number;
  autogroup: number | null; // N of /autogroup-N; null: no autogroup file, or an empty one (the kernel's default group)
  nice: number | null; // the autogroup's nice (sched(7): it ranks groups, as a thread's nice ranks threads)
  cpuCgroup: string | null; // the cgroup whose cpu controller schedules the process ('/': the root); null: unknown
  cpus: string | null; // the CPUs it may run on (Cpus_allowed_list): recorded, not judged (pinning is a choice of its own)
}

export interface ClassFooting {
  class: string;
  processes: ProcessFooting[]; // the live ones: a pid that exited before it was read is left out
  ownGroupEach: boolean; // no other process checked shares an autogroup with any of these
}

export type AutogroupSetting = 'on' | 'off' | 'absent'; // sched_autogroup_enabled 1, 0, or no such file

export interface SchedulingFooting {
  autogroup: AutogroupSetting;
  equal: boolean; // no problem found
  classes: ClassFooting[];
  problems: string[];
}

/** `/autogroup-25 nice 0` (the whole of /proc/PID/autogroup), or null for anything else. */
export function parseAutogroup(text: string): { autogroup: number; nice: number } | null {
  const match = /^\/autogroup-(\d+)\s+nice\s+(-?\d+)\s*$/.exec(text);
  return match ? { autogroup: Number(match[1]), nice: Number(match[2]) } : null;
}

/**
 * The cgroup whose cpu controller schedules a process, from its /proc/PID/cgroup. cgroup v1: the
 * path in the hierarchy that has `cpu`. cgroup v2 only: its path, unless the root does not enable
 * `cpu` for its children (the root's cgroup.subtree_control), in which case every process is in the
 * root task group, wherever it sits.
 */
export function cpuCgroupFrom(cgroupFile: string, rootSubtreeControl: string | null): string | null {
  const lines = cgroupFile.trim().split('\n').map((line) => /^(\d+):([^:]*):(.*)$/.exec(line)).filter((m) => m !== null);
  const v1 = lines.find((m) => m[2]!.split(',').includes('cpu'));
  if (v1) return v1[3]!;
  const v2 = lines.find((m) => m[1] === '0' && m[2] === '');
  if (!v2) return null;
  if (rootSubtreeControl !== null && !rootSubtreeControl.split(/\s+/).includes('cpu')) return '/';
  return v2[3]!;
}

const pidList = (footings: ProcessFooting[]) => footings.map((f) => f.pid).join(', ');

const DEFAULT_AUTOGROUP = 0;

/** Judges what was read: which processes share a group, which are not where autogroup applies. */
export function judgeFooting(autogroup: AutogroupSetting, observed: { class: string; processes: ProcessFooting[] }[]): SchedulingFooting {
  const problems: string[] = [];
  const members = new Map<number, { class: string; pid: number }[]>();
  for (const { class: name, processes } of observed) {
    if (processes.length === 0) problems.push(`${name}: no live process to check`);
    for (const p of processes) {
      // With autogroup on, an empty /proc/PID/autogroup means the kernel's default group (id 0): a
      // process never started in a session of its own, sharing with every other such process.
      const group = p.autogroup ?? (autogroup === 'on' ? DEFAULT_AUTOGROUP : null);
      if (group !== null) members.set(group, [...(members.get(group) ?? []), { class: name, pid: p.pid }]);
    }
  }
  const sharedGroups = autogroup === 'on' ? [...members].filter(([, inGroup]) => inGroup.length > 1) : [];
  for (const [group, inGroup] of sharedGroups) {
    problems.push(`${group === DEFAULT_AUTOGROUP ? 'the default autogroup' : `/autogroup-${group}`} holds ${inGroup.map((m) => `${m.class} ${m.pid}`).join(', ')}: they share one group's CPU`);
  }
  const shared = new Set(sharedGroups.map(([group]) => group));
  const classes = observed.map(({ class: name, processes }): ClassFooting => ({
    class: name,
    processes,
    ownGroupEach: autogroup === 'on' && processes.every((p) => p.autogroup !== null && !shared.has(p.autogroup)),
  }));
  for (const { class: name, processes } of observed) {
    const niced = processes.filter((p) => p.nice !== null && p.nice !== 0);
    if (autogroup === 'on' && niced.length > 0) problems.push(`${name} ${niced.map((p) => `${p.pid} at autogroup nice ${p.nice}`).join(', ')}`);
    const outside = processes.filter((p) => p.cpuCgroup !== null && p.cpuCgroup !== '/');
    if (autogroup === 'on' && outside.length > 0) {
      problems.push(`${name} ${pidList(outside)} in cpu cgroup ${outside[0]!.cpuCgroup}: autogroup applies only in the root cpu cgroup, there the cgroup's cpu.weight decides`);
    }
  }
  // With autogroup off (or absent) the CPU is shared between threads wherever they are: sessions
  // change nothing, and only cpu cgroups could split the processes.
  if (autogroup !== 'on') {
    const cgroups = new Set(observed.flatMap((o) => o.processes.map((p) => p.cpuCgroup)));
    if (cgroups.size > 1) problems.push(`processes in different cpu cgroups (${[...cgroups].join(', ')}): their cpu.weight splits the CPU`);
  }
  return { autogroup, equal: problems.length === 0, classes, problems };
}

/** One line for the report. */
export function describeFooting(footing: SchedulingFooting): string {
  const counts = footing.classes.map((c) => `${c.class} ${c.processes.length}`).join(', ');
  if (!footing.equal) return `NOT equal: ${footing.problems.join('; ')}`;
  if (footing.autogroup === 'on') return `each process in an autogroup of its own, nice 0 (${counts})`;
  const why = footing.autogroup === 'off' ? 'autogroup is off (sched_autogroup_enabled 0)' : 'this kernel has no autogroup';
  return `${why}: the CPU is shared between threads, sessions change nothing (${counts})`;
}

function read(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

export function autogroupSetting(): AutogroupSetting {
  const value = read('/proc/sys/kernel/sched_autogroup_enabled');
  return value === null ? 'absent' : value.trim() === '0' ? 'off' : 'on';
}

/** null when the process is gone. */
function processFooting(pid: number, rootSubtreeControl: string | null): ProcessFooting | null {
  const cgroup = read(`/proc/${pid}/cgroup`);
  if (cgroup === null) return null;
  const text = read(`/proc/${pid}/autogroup`);
  const group = text === null ? null : parseAutogroup(text.trim());
  const cpus = /^Cpus_allowed_list:\s*(\S+)$/m.exec(read(`/proc/${pid}/status`) ?? '')?.[1] ?? null;
  return { pid, autogroup: group?.autogroup ?? null, nice: group?.nice ?? null, cpuCgroup: cpuCgroupFrom(cgroup, rootSubtreeControl), cpus };
}

/** Reads every class's processes from /proc now and judges the footing. */
export function readFooting(classes: ProcessClass[]): SchedulingFooting {
  const rootSubtreeControl = read('/sys/fs/cgroup/cgroup.subtree_control');
  const observed = classes.map(({ name, pids }) => ({
    class: name,
    processes: pids.map((pid) => processFooting(pid, rootSubtreeControl)).filter((p) => p !== null),
  }));
  return judgeFooting(autogroupSetting(), observed);
}

/** Live children of `pid` (from the ppid in each /proc/N/stat), e.g. a supervisor's workers. */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = read(`/proc/${name}/stat`);
    if (stat === null) continue;
    // After "(comm) ": state, ppid, ... (comm may hold spaces and parentheses: cut at the last ')').
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(ppid) === pid && state !== 'Z') children.push(Number(name));
  }
  return children.sort((a, b) => a - b);
}
