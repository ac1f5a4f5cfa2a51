// Starting a process in a session of its own, which with the kernel's autogroup feature on also
// makes it a scheduling group of its own (sched(7), "The autogroup feature"): the CPU is shared
// between groups first, then between the processes of a group. The supervisor starts each worker
// in its own session; the benchmark gives every other process it measures the same footing, so
// that no class of processes shares one group's CPU among many (footing.ts checks the result).
//
// A process in its own session no longer gets the terminal's SIGINT: whoever starts one must end it
// (each target's stop(), the load pool's close(), and an IPC channel that ends it with its parent).
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** spawn()/fork() options: Node's `detached` calls setsid() in the child before it execs. */
export const OWN_SESSION = { detached: true } as const;

let setsidFile: string | undefined;

/**
 * The path of setsid(1) (util-linux), for children whose spawn the benchmark does not control
 * (the test harness's daemon, node:cluster's workers). Run by a child that is not a process group
 * leader, setsid calls setsid() and execs in place: the command keeps the child's pid.
 */
export function setsidPath(): string {
  if (setsidFile) return setsidFile;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, 'setsid');
    try {
      accessSync(file, constants.X_OK);
      return (setsidFile = file);
    } catch {
      // not in this directory
    }
  }
  throw new Error(
    `setsid not found on PATH (${process.env.PATH ?? ''}): the benchmark starts the supervisor daemon and the node:cluster workers in sessions of their own with it; install util-linux`,
  );
}
