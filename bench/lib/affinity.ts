// CPU affinity for the throughput comparison: the load client on CPU 0, the servers on the other
// CPUs. On shared cores a closed-loop client takes CPU in proportion to the throughput it gets, so
// the faster strategy's servers were left less CPU than the slower one's (0.85 vs 0.54 of a core
// for the client here); pinned, every strategy's servers get the same CPUs.
//
// Affinity is inherited at fork: the caller pins its own main thread, starts the processes that
// belong on those CPUs, and moves on. `taskset` (util-linux) does the syscall.
import { spawnSync } from 'node:child_process';
import os from 'node:os';

export interface Pinning {
  client: string; // CPU list for the load processes
  servers: string; // CPU list for the servers
  all: string;
}

/** The split, or why there is none (one CPU, or no taskset). */
export function planPinning(): Pinning | string {
  const cpus = os.availableParallelism();
  if (cpus < 2) return `one CPU (${cpus})`;
  const probe = spawnSync('taskset', ['-p', String(process.pid)], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return `taskset is not usable (${probe.error?.message ?? probe.stderr.trim()}); install util-linux`;
  return { client: '0', servers: cpus === 2 ? '1' : `1-${cpus - 1}`, all: `0-${cpus - 1}` };
}

/** Pins this process's main thread (and so the processes it starts next) to `cpus`. */
export function pinSelf(cpus: string): void {
  const result = spawnSync('taskset', ['-p', '-c', cpus, String(process.pid)], { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new Error(`taskset -p -c ${cpus} ${process.pid} failed: ${result.error?.message ?? result.stderr.trim()}; run the benchmark with --no-pin`);
  }
}
