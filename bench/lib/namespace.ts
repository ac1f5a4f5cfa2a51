// Where a strategy runs: in a network namespace of its own (`unshare -n`, needs root or
// CAP_SYS_ADMIN), with its own loopback, ports and net.ipv4.tcp_migrate_req, so nothing touches
// the host's network settings; or, when no namespace can be made, on the host as it is.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const SYSCTL = 'net.ipv4.tcp_migrate_req';

/** null when namespaces work here, else why not. */
export function namespaceProblem(): string | null {
  const probe = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up && sysctl -qw ${SYSCTL}=1`], { encoding: 'utf8' });
  if (probe.error) return `unshare is not available (${probe.error.message})`;
  if (probe.status !== 0) return `cannot create a network namespace and set ${SYSCTL} in it: ${probe.stderr.trim() || `exit ${probe.status}`}`;
  return null;
}

/** The host's tcp_migrate_req, read only; null where the kernel has no such setting (< 5.14). */
export function hostMigrateReq(): number | null {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim());
  } catch {
    return null;
  }
}

/** argv that runs `command` in a fresh namespace with loopback up and the sysctl set there. */
export function inNamespace(migrateReq: number, command: string[]): string[] {
  // `exec "$0" "$@"` keeps the argv unquoted-safe and makes the pid of unshare the command's pid.
  const script = `ip link set lo up && sysctl -qw ${SYSCTL}=${migrateReq} && exec "$0" "$@"`;
  return ['unshare', '-n', 'sh', '-c', script, ...command];
}
