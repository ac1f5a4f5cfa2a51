import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { SpawnOptions } from 'node:child_process';
import type { DaemonOs, NotifyEndpoint } from '../../src/daemon/os.js';
import type { ChildHandle, ProcessOs } from '../../src/daemon/process/os.js';
import type { Listeners, WorkerSockets } from '../../src/daemon/sockets/plan.js';
import type { NotifyMessage } from '../../src/native/index.js';
import type { Timer } from '../../src/daemon/clock.js';
import { FakeClock } from './fake-clock.js';

// Pretend workers for driving the supervisor's reloads in milliseconds. Each fake worker acts out
// a behaviour chosen from its environment (APP_VERSION): it reports READY=1 on the notify
// endpoint, never does, or exits; on the drain signal it exits (or ignores it until SIGKILL).
// Everything a fake worker does later is scheduled on the fake clock the supervisor runs on, so
// the whole timeline is virtual.
export interface FakeBehaviour {
  readyAfterMs?: number | null; // null: never ready
  exitAfterMs?: number; // exits with code 1 this long after it started
  ignoreDrain?: boolean;
  drainMs?: number; // how long it takes to exit after the drain signal
}

export class FakeChild extends EventEmitter implements ChildHandle {
  readonly pid: number;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly env: Record<string, string>;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly signals: NodeJS.Signals[] = [];
  readonly #timers = new Set<Timer>();
  readonly #behaviour: FakeBehaviour;
  readonly #clock: FakeClock;

  constructor(pid: number, env: Record<string, string>, behaviour: FakeBehaviour, notify: (message: NotifyMessage) => void, clock: FakeClock) {
    super();
    this.pid = pid;
    this.env = env;
    this.#behaviour = behaviour;
    this.#clock = clock;
    const { readyAfterMs = 5, exitAfterMs } = behaviour;
    if (readyAfterMs !== null) this.#after(readyAfterMs, () => notify({ pid, uid: 0, gid: 0, text: 'READY=1', fields: { READY: '1' } } as NotifyMessage));
    if (exitAfterMs !== undefined) this.#after(exitAfterMs, () => this.exit(1, null, 'crashed on purpose'));
  }

  get alive(): boolean {
    return this.exitCode === null && this.signalCode === null;
  }

  receive(signal: NodeJS.Signals): void {
    this.signals.push(signal);
    if (signal === 'SIGKILL') return this.exit(null, 'SIGKILL');
    if (this.#behaviour.ignoreDrain) return;
    this.#after(this.#behaviour.drainMs ?? 1, () => this.exit(0, null));
  }

  exit(code: number | null, signal: NodeJS.Signals | null, lastLine?: string): void {
    if (!this.alive) return;
    for (const timer of this.#timers) timer.clear();
    if (lastLine) this.stderr.write(`${lastLine}\n`);
    this.exitCode = code;
    this.signalCode = signal;
    this.stdout.end();
    this.stderr.end();
    setImmediate(() => this.emit('exit', code, signal));
  }

  #after(ms: number, action: () => void): void {
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(timer);
      action();
    }, ms);
    this.#timers.add(timer);
  }
}

// Listeners that remember where each worker's sockets are routed, as the steering program would.
export class FakeListeners implements Listeners {
  readonly mode = 'reuseport' as const;
  readonly steering = true;
  readonly routes = new Map<WorkerSockets, { routable: boolean; weight: number }>();
  open(): void {}
  close(): void {}
  sharedFds(): number[] {
    return [];
  }
  // An upgrade execs a real program over real fds: the reload tests on fakes never ask for one.
  snapshot(): never {
    throw new Error('FakeListeners: an upgrade needs real sockets (test/integration/upgrade.test.ts)');
  }
  adopt(): never {
    throw new Error('FakeListeners: an upgrade needs real sockets (test/integration/upgrade.test.ts)');
  }
  adoptedSockets(): never {
    throw new Error('FakeListeners: an upgrade needs real sockets (test/integration/upgrade.test.ts)');
  }
  forWorker(): WorkerSockets {
    const sockets: WorkerSockets = { fds: [], members: [], owned: true };
    this.routes.set(sockets, { routable: false, weight: 0 });
    return sockets;
  }
  route(sockets: WorkerSockets[], routable: boolean, weight = 1000): void {
    this.routeMany([{ sockets, routable, weight }]);
  }
  routeMany(changes: { sockets: WorkerSockets[]; routable: boolean; weight?: number }[]): void {
    for (const { sockets, routable, weight = 1000 } of changes) for (const entry of sockets) this.routes.set(entry, { routable, weight });
  }
  addProbe(): null {
    return null;
  }
  addProbeBlock(): null {
    return null;
  }
  async quiesce(sockets: WorkerSockets): Promise<number> {
    this.route([sockets], false);
    return 0;
  }
  release(sockets: WorkerSockets): number {
    this.routes.delete(sockets);
    return 0;
  }
}

export class FakeOs implements DaemonOs {
  readonly children: FakeChild[] = [];
  readonly listenerSet = new FakeListeners();
  readonly shimPath = '/fake/supervisor-shim';
  readonly clock: FakeClock;
  #nextPid = 700_000;
  #notify: ((message: NotifyMessage) => void) | null = null;
  readonly #behaviourOf: (version: string) => FakeBehaviour;

  constructor(behaviourOf: (version: string) => FakeBehaviour = () => ({}), clock = new FakeClock()) {
    this.#behaviourOf = behaviourOf;
    this.clock = clock;
  }

  readonly process: ProcessOs = {
    spawn: (_file: string, _args: string[], options: SpawnOptions): ChildHandle => {
      const env = (options.env ?? {}) as Record<string, string>;
      const child = new FakeChild(this.#nextPid++, env, this.#behaviourOf(env.APP_VERSION ?? ''), (message) => this.#notify?.(message), this.clock);
      this.children.push(child);
      return child;
    },
    kill: (pid: number, signal: NodeJS.Signals): boolean => {
      const child = this.children.find((candidate) => candidate.pid === Math.abs(pid));
      if (!child?.alive) return false;
      child.receive(signal);
      return true;
    },
    // Every pretend worker holds 10 MB.
    rssBytes: (pid: number): number | null => (this.children.find((candidate) => candidate.pid === pid)?.alive ? 10 * 1024 ** 2 : null),
  };

  listeners(): Listeners {
    return this.listenerSet;
  }

  adoptNotifySocket(): never {
    throw new Error('FakeOs: an upgrade needs real sockets (test/integration/upgrade.test.ts)');
  }
  notifySocket(name: string): NotifyEndpoint {
    return {
      path: name,
      onMessage: (listener) => (this.#notify = listener),
      onError: () => {},
      close: () => (this.#notify = null),
    };
  }

  alive(): FakeChild[] {
    return this.children.filter((child) => child.alive);
  }
}
