import type { Logger } from '../../log.js';
import { isChildSubreaper, waitpidNoHang, type ReapedChild } from '../../native/index.js';
import type { LifecycleBus } from '../events.js';
import { ownChildren } from './own-children.js';
import { childPids, readStat } from './proc.js';

// PID 1 duty: orphaned descendants (a worker's double-forked helper whose parent died) are
// reparented to PID 1, or to the nearest child subreaper, and stay zombies until that process
// waits for them. Node waits only for the children it spawned, by pid, so the supervisor reaps
// the others itself: every interval it lists its children, and for each zombie that is not one of
// Node's own (own-children.ts) it calls waitpid(pid, WNOHANG) on that one pid. It never waits for
// "any child", which would steal the exit statuses of the workers.
export const REAP_INTERVAL_MS = 500;

export type ReaperRole = 'pid1' | 'subreaper';

// Whether this process inherits orphans at all: as PID 1 (a container's entrypoint), or when it
// (or whoever exec'd it) set PR_SET_CHILD_SUBREAPER.
export function reaperRole(pid = process.pid): ReaperRole | null {
  if (pid === 1) return 'pid1';
  try {
    return isChildSubreaper() ? 'subreaper' : null;
  } catch {
    return null;
  }
}

export interface ReaperOptions {
  log: Logger;
  events: LifecycleBus;
  intervalMs?: number;
  pid?: number;
}

export class OrphanReaper {
  readonly #log: Logger;
  readonly #events: LifecycleBus;
  readonly #intervalMs: number;
  readonly #pid: number;
  #timer: NodeJS.Timeout | null = null;
  #reaped = 0;

  constructor(options: ReaperOptions) {
    this.#log = options.log;
    this.#events = options.events;
    this.#intervalMs = options.intervalMs ?? REAP_INTERVAL_MS;
    this.#pid = options.pid ?? process.pid;
  }

  get reaped(): number {
    return this.#reaped;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.reapNow(), this.#intervalMs);
    this.#timer.unref(); // the reaper never keeps the daemon alive by itself
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  // Reaps every zombie child that Node does not own; returns what was reaped.
  reapNow(): ReapedChild[] {
    const reaped: ReapedChild[] = [];
    for (const pid of childPids(this.#pid)) {
      if (ownChildren.has(pid) || readStat(pid)?.state !== 'Z') continue;
      let exit: ReapedChild | null;
      try {
        exit = waitpidNoHang(pid);
      } catch (error) {
        this.#log.debug({ pid, err: error }, 'orphan could not be reaped');
        continue;
      }
      if (exit === null) continue;
      reaped.push(exit);
      this.#reaped++;
      this.#log.info({ orphan: exit.pid, code: exit.code, signal: exit.signal }, 'reaped an orphaned process');
      this.#events.publish('orphan-reaped', { pid: exit.pid, code: exit.code, signal: exit.signal === null ? null : String(exit.signal) });
    }
    return reaped;
  }
}
