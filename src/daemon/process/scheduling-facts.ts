import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// What decides how the kernel shares CPU between a warming worker and the workers serving beside
// it, read from /proc and /sys. sched(7), "The autogroup feature": with autogroup on, every
// session is its own scheduling group and only the group's nice ranks it against other groups;
// inside a cpu cgroup other than the root, autogroup does not apply and thread nice values rank
// the threads of that cgroup against each other.
export interface SchedulingFacts {
  /** /proc/sys/kernel/sched_autogroup_enabled; null when the kernel has no autogroup support */
  autogroup: boolean | null;
  /** the supervisor's cpu cgroup when it is not the root one (then autogroup does not apply), else null */
  cpuCgroup: { version: 1 | 2; path: string } | null;
  /**
   * A cgroup v2 the supervisor could give each generation a cpu.weight in: its own cgroup, with the
   * cpu controller available and writable by it (systemd Delegate=yes). null when there is none.
   */
  delegatedCgroup: { path: string } | null;
  /** may lower a nice value (root, CAP_SYS_NICE, or RLIMIT_NICE allowing nice 0) */
  canLowerNice: boolean;
}

export function readSchedulingFacts(): SchedulingFacts {
  const cgroups = parseProcCgroup(readOr('/proc/self/cgroup', ''));
  const v2Root = cgroup2Mount(readOr('/proc/self/mountinfo', ''));
  const hasCpu = (path: string) => readOr(join(v2Root ?? '/nonexistent', path, 'cgroup.controllers'), '').split(/\s+/).includes('cpu');
  // cpu.weight exists exactly where the cpu controller is enabled, never in the real root: also
  // inside a cgroup namespace (a container), where the container's cgroup shows as "/".
  const weighs = (path: string) => existsSync(join(v2Root ?? '/nonexistent', path, 'cpu.weight'));
  return {
    autogroup: readAutogroupEnabled(),
    cpuCgroup: cpuCgroupOf(cgroups, v2Root === null ? () => false : weighs),
    delegatedCgroup: delegatedCgroupOf(cgroups, v2Root, hasCpu),
    canLowerNice: canLowerNice(readOr('/proc/self/status', ''), readOr('/proc/self/limits', '')),
  };
}

function readAutogroupEnabled(): boolean | null {
  try {
    return readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
  } catch {
    return null;
  }
}

/** /proc/PID/cgroup lines: "hierarchy:controllers:path"; v2 is "0::path". */
export function parseProcCgroup(text: string): { hierarchy: number; controllers: string[]; path: string }[] {
  return text.split('\n').flatMap((line) => {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    return match ? [{ hierarchy: Number(match[1]), controllers: match[2] ? match[2].split(',') : [], path: match[3]! }] : [];
  });
}

/** Where the cgroup2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid systems). */
export function cgroup2Mount(mountinfo: string): string | null {
  for (const line of mountinfo.split('\n')) {
    const [before, after] = line.split(' - ');
    if (after?.startsWith('cgroup2 ')) return before!.split(' ')[4] ?? null;
  }
  return null;
}

/**
 * The cpu cgroup the supervisor (and so every worker) runs in, when it is not the root one. A v1
 * hierarchy with the cpu controller decides if there is one; else in v2 the nearest cgroup, from
 * the supervisor's own up to "/" (a container's own cgroup, seen through its cgroup namespace),
 * that has the cpu controller enabled (`v2Weighs`: it has a cpu.weight file).
 */
export function cpuCgroupOf(cgroups: { hierarchy: number; controllers: string[]; path: string }[], v2Weighs: (path: string) => boolean): SchedulingFacts['cpuCgroup'] {
  const v1 = cgroups.find((entry) => entry.hierarchy !== 0 && entry.controllers.includes('cpu'));
  if (v1) return v1.path === '/' ? null : { version: 1, path: v1.path };
  const v2 = cgroups.find((entry) => entry.hierarchy === 0);
  if (!v2 || v2.path === '') return null;
  for (let path = v2.path; ; path = path.slice(0, path.lastIndexOf('/')) || '/') {
    if (v2Weighs(path)) return { version: 2, path };
    if (path === '/') return null;
  }
}

function delegatedCgroupOf(cgroups: { hierarchy: number; controllers: string[]; path: string }[], v2Root: string | null, hasCpu: (path: string) => boolean): SchedulingFacts['delegatedCgroup'] {
  const v2 = cgroups.find((entry) => entry.hierarchy === 0);
  if (!v2Root || !v2 || v2.path === '/' || !hasCpu(v2.path)) return null;
  try {
    accessSync(join(v2Root, v2.path, 'cgroup.subtree_control'), constants.W_OK);
    accessSync(join(v2Root, v2.path, 'cgroup.procs'), constants.W_OK);
  } catch {
    return null;
  }
  return { path: join(v2Root, v2.path) };
}

const CAP_SYS_NICE = 23n;

/** Root, CAP_SYS_NICE in the effective set, or a soft RLIMIT_NICE of 20 (nice 0) or more. */
export function canLowerNice(status: string, limits: string): boolean {
  const caps = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (caps !== undefined && (BigInt(`0x${caps}`) >> CAP_SYS_NICE) & 1n) return true;
  // "Max nice priority  0  0": the soft limit is the ceiling 20 - nice; 20 allows nice 0.
  const soft = /^Max nice priority\s+(\S+)/m.exec(limits)?.[1];
  return soft === 'unlimited' || (soft !== undefined && Number(soft) >= 20);
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}
