// What a test that boots systemd in namespaces must leave as it found it on the host: the mounts
// of the host's mount namespace, the cgroups beside the test's own, the systemd unit directories,
// the machine id, and the sysctls a booting systemd sets (systemd-sysctl's files) or a supervisor
// reads. Compared as text, so a difference reads as what changed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/run/systemd/transient'];
const SYSCTL_DIRS = ['/usr/lib/sysctl.d', '/etc/sysctl.d', '/run/sysctl.d'];
const ALWAYS = ['kernel.core_pattern', 'kernel.printk', 'kernel.pid_max', 'kernel.hostname', 'net.ipv4.tcp_migrate_req', 'net.core.somaxconn', 'fs.file-max'];

export interface HostState {
  mounts: string[];
  cgroups: string[];
  units: string[];
  sysctls: string[];
}

// Named network namespaces (`ip netns add`) are mounts under /run/netns that other tests running
// alongside make and remove; the container makes none (unshare keeps its namespaces unnamed).
const OTHERS_MOUNTS = /^\/(var\/)?run\/netns(\/|$)/;

function mounts(): string[] {
  // mount point, type and source; ids and peer groups change with every mount elsewhere.
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(' ');
      const dash = fields.indexOf('-');
      return { point: fields[4]!, text: `${fields[4]} ${fields[dash + 1]} ${fields[dash + 2]}` };
    })
    .filter((mount) => !OTHERS_MOUNTS.test(mount.point))
    .map((mount) => mount.text)
    .sort();
}

function tree(dir: string, depth: number, dirsOnly: boolean, into: string[] = []): string[] {
  if (!existsSync(dir)) return into;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      into.push(`${full}/`);
      if (depth > 1) tree(full, depth - 1, dirsOnly, into);
    } else if (!dirsOnly) {
      into.push(full);
    }
  }
  return into.sort();
}

function sysctlKeys(): string[] {
  const keys = new Set(ALWAYS);
  for (const dir of SYSCTL_DIRS) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).filter((file) => file.endsWith('.conf'))) {
      for (const line of readFileSync(path.join(dir, name), 'utf8').split('\n')) {
        const match = /^\s*-?([\w.*/-]+)\s*=/.exec(line);
        if (match && !match[1]!.includes('*')) keys.add(match[1]!);
      }
    }
  }
  return [...keys].sort();
}

function sysctls(): string[] {
  return sysctlKeys().map((key) => {
    try {
      return `${key} = ${readFileSync(path.join('/proc/sys', key.replaceAll('.', '/')), 'utf8').trim()}`;
    } catch (error) {
      return `${key}: ${(error as NodeJS.ErrnoException).code}`;
    }
  });
}

/** A snapshot; `cgroupParent` is the host cgroup directory the test makes its own cgroup in. */
export function hostState(cgroupParent: string): HostState {
  const machineId = existsSync('/etc/machine-id') ? readFileSync('/etc/machine-id', 'utf8').trim() : 'none';
  return {
    mounts: mounts(),
    cgroups: tree(cgroupParent, 2, true),
    units: [...UNIT_DIRS.flatMap((dir) => tree(dir, 4, false)), `/etc/machine-id ${machineId}`],
    sysctls: sysctls(),
  };
}

/** Lines only in `before` (-) or only in `after` (+), per part; empty when nothing changed. */
export function hostChanges(before: HostState, after: HostState): string[] {
  const changes: string[] = [];
  for (const part of Object.keys(before) as (keyof HostState)[]) {
    const was = new Set(before[part]);
    const is = new Set(after[part]);
    for (const line of before[part]) if (!is.has(line)) changes.push(`${part}: - ${line}`);
    for (const line of after[part]) if (!was.has(line)) changes.push(`${part}: + ${line}`);
  }
  return changes;
}
