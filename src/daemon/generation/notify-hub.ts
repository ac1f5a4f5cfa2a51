import type { NotifyMessage } from '../../native/index.js';
import { readStat } from '../process/proc.js';

// Routes sd_notify datagrams to the worker that sent them. The kernel stamps each datagram with
// the sender's pid; a worker started through `sh -c` or a launcher sends from a descendant, so
// the sender's ancestors are searched for a known worker pid.
export class NotifyHub {
  readonly #waiting = new Map<number, { resolve: () => void; ready: boolean }>();

  // Promise that resolves on the first READY=1 from this pid or one of its descendants.
  expect(pid: number): Promise<void> {
    return new Promise((resolve) => this.#waiting.set(pid, { resolve, ready: false }));
  }

  forget(pid: number): void {
    this.#waiting.delete(pid);
  }

  deliver(message: NotifyMessage): number | null {
    const owner = this.#findOwner(message.pid);
    if (owner === null) return null;
    if (message.fields.READY === '1') {
      const entry = this.#waiting.get(owner);
      if (entry && !entry.ready) {
        entry.ready = true;
        entry.resolve();
      }
    }
    return owner;
  }

  #findOwner(pid: number): number | null {
    let current = pid;
    for (let depth = 0; depth < 16 && current > 1; depth++) {
      if (this.#waiting.has(current)) return current;
      const parent = readStat(current)?.ppid ?? null;
      if (parent === null) return null;
      current = parent;
    }
    return null;
  }
}
