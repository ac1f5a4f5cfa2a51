import { acceptQueue, closeFd, listenTcp } from '../../native/index.js';
import type { ListenAddress, SupervisorConfig } from '../../config/index.js';
import { FULL_WEIGHT, ReuseportGroup, type Member } from './steering.js';
import { choosePortBlock, ephemeralPortRange, type PortBlock } from './probe-blocks.js';
import { realClock, type Clock } from '../clock.js';

// Which listening sockets a worker gets, per socket mode:
// - reuseport: a fresh SO_REUSEPORT listener per worker and address, joined to the port's group;
//   the supervisor keeps its own fd, steers with it, and decides when the socket leaves.
// - shared: one listener per address, made once, handed to every worker of every generation.
// - self: none; the worker binds PORT/HOST itself with SO_REUSEPORT.
export interface WorkerSockets {
  fds: number[]; // the supervisor's fds, in listen order; passed to the worker as 3..
  members: Member[]; // reuseport: the group membership of each fd, in listen order
  owned: boolean; // closed when the worker's slot is retired (reuseport) or kept (shared)
}

// What a generation and the supervisor use of a SocketPlan: a test gives a stand-in.
export type Listeners = Pick<
  SocketPlan,
  'mode' | 'steering' | 'open' | 'forWorker' | 'route' | 'routeMany' | 'addProbe' | 'addProbeBlock' | 'quiesce' | 'release' | 'close' | 'sharedFds' | 'snapshot' | 'adopt' | 'adoptedSockets'
>;

// The listening sockets as `supervisor upgrade` hands them to the next program: every fd it holds,
// and each port's group in the kernel's slot order with what the steering program makes of each.
export interface SocketsState {
  shared: number[] | null;
  groups: { members: { fd: number; routable: boolean; weight: number }[] }[];
}

// A worker that stops accepting leaves its queue full: a drain waits at most this long (or
// drain.timeout, if shorter) for a retiring listener's queue to empty.
export const QUIESCE_LIMIT_MS = 10_000;

// After a socket is steered out, handshakes already under way may still land in its queue.
const SETTLE_MS = 20;
const POLL_MS = 10;

export class SocketPlan {
  readonly #config: SupervisorConfig;
  readonly #steering: boolean;
  readonly #activated: number[];
  #shared: number[] | null = null;
  #groups: ReuseportGroup[] = [];

  // `activated`: listeners passed by systemd socket activation, in listen order. They are shared
  // by every worker whatever the socket mode: connections may already wait in their queues, and
  // only workers accepting from them can serve those.
  readonly #onSteeringError: (error: Error) => void;
  readonly #clock: Clock;

  constructor(config: SupervisorConfig, steering: boolean, activated: number[] = [], onSteeringError: (error: Error) => void = () => {}, clock: Clock = realClock) {
    this.#config = config;
    this.#clock = clock;
    this.#onSteeringError = onSteeringError;
    this.#activated = activated;
    this.#steering = steering && config.socket === 'reuseport' && activated.length === 0;
  }

  get mode(): 'reuseport' | 'shared' | 'self' {
    return this.#activated.length > 0 ? 'shared' : this.#config.socket;
  }

  get steering(): boolean {
    return this.#steering;
  }

  // Binds what must exist before any worker starts; throws a SyscallError naming the address.
  open(): void {
    const { socket, listen, backlog } = this.#config;
    if (this.#activated.length > 0) {
      this.#shared = this.#activated;
      return;
    }
    if (socket === 'shared') {
      this.#shared = openAll(listen, backlog, false);
      return;
    }
    // Prove the port can join a reuseport group now, so a port held by another program fails
    // start-up with a clear error instead of every worker crash looping.
    for (const fd of openAll(listen, backlog, true)) closeFd(fd);
    if (socket === 'reuseport') this.#groups = listen.map((address) => new ReuseportGroup(address, this.#steering, this.#onSteeringError));
  }

  snapshot(): SocketsState {
    return { shared: this.#shared, groups: this.#groups.map((group) => ({ members: group.snapshot() })) };
  }

  // Instead of open(), in the program an upgrade exec'd: the sockets the previous one held, in the
  // same group order, so the steering program it attaches means what the kernel's groups hold.
  adopt(state: SocketsState): void {
    const { listen } = this.#config;
    if (state.groups.length !== (this.#config.socket === 'reuseport' && this.#activated.length === 0 ? listen.length : 0)) {
      throw new Error(`the handed-over state has ${state.groups.length} reuseport group(s) for ${listen.length} listen address(es) in ${this.mode} mode`);
    }
    this.#shared = this.#activated.length > 0 ? this.#activated : state.shared;
    this.#groups = state.groups.map((group, index) => {
      const adopted = new ReuseportGroup(listen[index]!, this.#steering, this.#onSteeringError);
      adopted.adopt(group.members);
      return adopted;
    });
  }

  // A worker's sockets after an upgrade: its fds, and their members in the adopted groups.
  adoptedSockets(fds: number[]): WorkerSockets {
    const socket = this.mode;
    if (socket !== 'reuseport') return { fds: this.#shared ?? [], members: [], owned: false };
    const members = fds.map((fd, index) => {
      const member = this.#groups[index]?.memberOf(fd);
      if (!member) throw new Error(`fd ${fd} is not in the handed-over group of ${this.#config.listen[index]?.text ?? `address ${index + 1}`}`);
      return member;
    });
    return { fds, members, owned: true };
  }

  forWorker(): WorkerSockets {
    const { listen, backlog } = this.#config;
    const socket = this.mode;
    if (socket === 'shared') return { fds: this.#shared ?? [], members: [], owned: false };
    if (socket === 'self') return { fds: [], members: [], owned: false };
    const fds = openAll(listen, backlog, true);
    const members = fds.map((fd, index) => this.#groups[index]!.join(fd));
    return { fds, members, owned: true };
  }

  // Lets new connections reach these workers' sockets, or steers them away; one program per port.
  // weight: their share relative to other routable sockets (FULL_WEIGHT unless a slow start
  // is shifting connections from one generation to the next).
  route(sockets: WorkerSockets[], routable: boolean, weight = FULL_WEIGHT): void {
    this.routeMany([{ sockets, routable, weight }]);
  }

  // Several changes in one program attach per port: a hand-over between generations never shows
  // the kernel a half-applied mix.
  routeMany(changes: { sockets: WorkerSockets[]; routable: boolean; weight?: number }[]): void {
    if (!this.#steering) return;
    for (const { sockets, routable, weight = FULL_WEIGHT } of changes) {
      for (const entry of sockets) {
        for (const member of entry.members) {
          member.routable = routable;
          member.weight = weight;
        }
      }
    }
    for (const group of this.#groups) group.commit();
  }

  // Routes connections from one source port to this worker's first socket: a targeted probe.
  addProbe(sockets: WorkerSockets, sourcePort: number): (() => void) | null {
    const member = sockets.members[0];
    const group = this.#groups[0];
    if (!this.#steering || !member || !group) return null;
    group.addProbe(sourcePort, member);
    return () => group.removeProbe(sourcePort);
  }

  // Routes connections from a block of `size` source ports to this worker's first socket: the
  // connections of a warm-up. Returns the block and its undo, or null without steering or when no
  // block is free.
  addProbeBlock(sockets: WorkerSockets, size: number): { block: PortBlock; unroute: () => void } | null {
    const member = sockets.members[0];
    const group = this.#groups[0];
    if (!this.#steering || !member || !group) return null;
    const block = choosePortBlock(size, group.probeBlocks(), ephemeralPortRange());
    if (!block) return null;
    group.addProbeBlock(block.from, block.to, member);
    return { block, unroute: () => group.removeProbeBlock(block.from) };
  }

  // Steers the sockets out and waits until their accept queues stay empty, so that the worker
  // accepts everything the kernel gave it before it is told to drain. Returns what is still
  // queued at the deadline, or as soon as `gone()` says the worker exited (nobody will accept).
  async quiesce(sockets: WorkerSockets, timeoutMs: number, gone: () => boolean = () => false): Promise<number> {
    if (!this.#steering || sockets.members.length === 0) return 0;
    this.route([sockets], false);
    const deadline = this.#clock.now() + timeoutMs;
    await this.#clock.sleep(SETTLE_MS);
    let emptyReads = 0;
    for (;;) {
      const queued = this.#queued(sockets);
      emptyReads = queued === 0 ? emptyReads + 1 : 0;
      if (emptyReads >= 2 || this.#clock.now() >= deadline || gone()) return queued;
      await this.#clock.sleep(POLL_MS);
    }
  }

  // Closes the supervisor's copies; with steering, the socket leaves its group here. Returns how
  // many connections were still queued (reset by the close unless tcp_migrate_req moves them).
  release(sockets: WorkerSockets): number {
    if (!sockets.owned) return 0;
    const queued = this.#queued(sockets);
    if (sockets.members.length > 0) {
      sockets.members.forEach((member, index) => this.#groups[index]!.leave(member));
    } else {
      for (const fd of sockets.fds) closeQuietly(fd);
    }
    sockets.fds = [];
    sockets.members = [];
    return queued;
  }

  close(): void {
    for (const fd of this.#shared ?? []) closeQuietly(fd);
    this.#shared = null;
  }

  sharedFds(): number[] {
    return this.#shared ?? [];
  }

  #queued(sockets: WorkerSockets): number {
    return queueDepth(sockets.fds) ?? 0;
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

// Connections waiting in the accept queues of these listeners, or null where none is held.
export function queueDepth(fds: number[]): number | null {
  if (fds.length === 0) return null;
  try {
    return fds.reduce((sum, fd) => sum + acceptQueue(fd).queued, 0);
  } catch {
    return null;
  }
}
