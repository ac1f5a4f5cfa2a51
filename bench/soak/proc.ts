// What /proc says about the supervisor and whatever it started.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

/** Anonymous resident memory (RssAnon): the process's own heap and stacks, without the mapped binary's pages. */
export function anonKb(pid: number): number {
  return Number(/RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

// Live processes that are one of `pids`, or carry SUPERVISOR_PID=<supervisor> in their environment
// (every worker and anything a worker started that kept its environment).
export function leftovers(supervisorPid: number, pids: Iterable<number>): number[] {
  const found = new Set<number>();
  for (const pid of pids) if (alive(pid)) found.add(pid);
  const marker = `SUPERVISOR_PID=${supervisorPid}\0`;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').includes(marker) && alive(Number(name))) found.add(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return [...found].sort((a, b) => a - b);
}

// Open fds by kind (socket, pipe, anon_inode:[eventpoll], a path...), to explain a difference.
export function fdKinds(pid: number): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const kind = target.replace(/:\[\d+\]$/, '').replace(/^\/.*/, 'file');
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}
