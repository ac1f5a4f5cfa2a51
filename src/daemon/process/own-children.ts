// The pids of the children this process spawned through node:child_process. libuv waits for each
// of them by pid and reports its exit to Node; the orphan reaper (reaper.ts) must never reap one of
// these, or Node would lose its exit status. A pid is added right after spawn() returns and removed
// once Node has reported the exit (libuv has reaped it by then). Every spawn in the daemon goes
// through Worker, which keeps this set.
const pids = new Set<number>();

export const ownChildren = {
  add(pid: number | undefined): void {
    if (pid !== undefined && pid > 0) pids.add(pid);
  },
  delete(pid: number | undefined): void {
    if (pid !== undefined) pids.delete(pid);
  },
  has(pid: number): boolean {
    return pids.has(pid);
  },
};
