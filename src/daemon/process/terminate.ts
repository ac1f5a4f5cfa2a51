import { once } from 'node:events';
import type { ChildHandle, ProcessOs } from './os.js';
import { realClock, type Clock, type Timer } from '../clock.js';

export interface TerminateResult {
  killed: boolean; // true when the grace period ran out and SIGKILL was sent
  waitedMs: number;
}

// Signals go to the worker's process group (it leads one: spawned detached), so helpers it forked
// stop with it.
export function signalGroup(os: ProcessOs, pid: number, signal: NodeJS.Signals): boolean {
  return os.kill(-pid, signal) || os.kill(pid, signal);
}

function hasExited(child: ChildHandle): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

// The one way a worker is ended: the signal, a grace period, then SIGKILL. Whatever is left of
// its process group after the leader exits is killed too.
export async function terminate(
  os: ProcessOs,
  child: ChildHandle,
  signal: NodeJS.Signals,
  graceMs: number,
  clock: Clock = realClock,
): Promise<TerminateResult> {
  const started = clock.now();
  const pid = child.pid;
  if (pid === undefined) return { killed: false, waitedMs: 0 };
  if (!hasExited(child)) {
    const exited = once(child, 'exit');
    signalGroup(os, pid, signal);
    let timer: Timer | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = clock.setTimeout(() => resolve('deadline'), graceMs);
    });
    const outcome = await Promise.race([exited.then(() => 'exited' as const), deadline]);
    timer?.clear();
    if (outcome === 'deadline' && !hasExited(child)) {
      signalGroup(os, pid, 'SIGKILL');
      await exited;
      killGroupRemnants(os, pid);
      return { killed: true, waitedMs: clock.now() - started };
    }
  }
  killGroupRemnants(os, pid);
  return { killed: false, waitedMs: clock.now() - started };
}

export function killGroupRemnants(os: ProcessOs, pid: number): void {
  os.kill(-pid, 'SIGKILL'); // false (ESRCH): the group is already empty
}
