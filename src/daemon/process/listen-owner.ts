import { listeningInodes, processIds, readStat, socketInodes } from './proc.js';

// Whether a process of this process group holds a LISTEN socket on the port: the self-mode
// readiness check, since there a probe of the shared port may be answered by an old worker.
// Socket inodes in /proc/PID/fd are matched against the listeners in /proc/net/tcp and tcp6.
export function groupListensOn(pgid: number, port: number): boolean {
  const listening = listeningInodes(port);
  if (listening.size === 0) return false;
  return processIds().some((pid) => readStat(pid)?.pgid === pgid && socketInodes(pid).some((inode) => listening.has(inode)));
}
