import { acceptQueue, closeFd, listenTcp } from '../native/index.js';
import type { ListenAddress, SupervisorConfig } from '../config/index.js';

// Which listening sockets a worker gets, per socket mode:
// - reuseport: a fresh SO_REUSEPORT listener per worker and address; the supervisor keeps its own
//   fd so it decides when the socket leaves the port's group.
// - shared: one listener per address, made once, handed to every worker of every generation.
// - self: none; the worker binds PORT/HOST itself with SO_REUSEPORT.
export interface WorkerSockets {
  fds: number[]; // the supervisor's fds, in listen order; passed to the worker as 3..
  owned: boolean; // closed when the worker retires (reuseport) or kept (shared)
}

export class SocketPlan {
  readonly #config: SupervisorConfig;
  #shared: number[] | null = null;

  constructor(config: SupervisorConfig) {
    this.#config = config;
  }

  // Binds what must exist before any worker starts; throws a SyscallError naming the address.
  open(): void {
    const { socket, listen, backlog } = this.#config;
    if (socket === 'shared') {
      this.#shared = openAll(listen, backlog, false);
    } else {
      // Prove the port can join a reuseport group now, so a port held by another program fails
      // start-up with a clear error instead of every worker crash looping.
      for (const fd of openAll(listen, backlog, true)) closeFd(fd);
    }
  }

  forWorker(): WorkerSockets {
    const { socket, listen, backlog } = this.#config;
    if (socket === 'shared') return { fds: this.#shared ?? [], owned: false };
    if (socket === 'self') return { fds: [], owned: false };
    return { fds: openAll(listen, backlog, true), owned: true };
  }

  release(sockets: WorkerSockets): void {
    if (!sockets.owned) return;
    for (const fd of sockets.fds) closeQuietly(fd);
    sockets.fds = [];
  }

  close(): void {
    for (const fd of this.#shared ?? []) closeQuietly(fd);
    this.#shared = null;
  }

  sharedFds(): number[] {
    return this.#shared ?? [];
  }
}

function openAll(listen: ListenAddress[], backlog: number, reusePort: boolean): number[] {
  const fds: number[] = [];
  try {
    for (const address of listen) fds.push(listenTcp({ host: address.host, port: address.port, backlog, reusePort }));
  } catch (error) {
    for (const fd of fds) closeQuietly(fd);
    throw error;
  }
  return fds;
}

function closeQuietly(fd: number): void {
  try {
    closeFd(fd);
  } catch {
    // Already closed: nothing is left to release.
  }
}

// Accept-queue depth of the first listener, or null where the supervisor holds no socket.
export function queueDepth(fds: number[]): number | null {
  if (fds.length === 0) return null;
  try {
    return fds.reduce((sum, fd) => sum + acceptQueue(fd).queued, 0);
  } catch {
    return null;
  }
}
