import { EventEmitter } from 'node:events';
import { OutputReader, OutputTail, type OutputLimit } from './output.js';
import { transition, workerTransitions, type WorkerEvent, type WorkerState } from '../transitions.js';
import { killGroupRemnants, terminate, type TerminateResult } from './terminate.js';
import { ownChildren } from './own-children.js';
import { realProcessOs, type ChildHandle, type ProcessOs } from './os.js';
import { realClock, type Clock } from '../clock.js';

export interface WorkerSpec {
  generation: number;
  slot: number;
  shimPath: string;
  argv: string[]; // [absolute executable, ...args]
  cwd: string;
  env: Record<string, string>;
  listenFds: number[]; // become fds 3.. in the worker
  user: { uid: number; gid: number } | null; // run as (the supervisor is root); null: as the supervisor
  outputLimit?: OutputLimit; // lines past it are counted, not forwarded; default: no limit
  os?: ProcessOs; // the real one unless a test drives fake processes
  clock?: Clock; // the real one unless a test runs in virtual time
  // A worker that is already running (supervisor upgrade): the process the program before the
  // exec started, taken over as it is instead of spawning one.
  adopt?: { child: ChildHandle; startedAt: number; readySince: number | null };
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface WorkerEvents {
  'state-change': [{ from: WorkerState; to: WorkerState }];
  'impossible-event': [{ state: WorkerState; event: WorkerEvent }];
  output: [{ stream: 'stdout' | 'stderr'; line: string }];
  'output-suppressed': [{ lines: number }]; // lines past output_limit, once their window has ended
  exit: [WorkerExit];
}

// One worker process. Its lifecycle lives in one private field that changes only through
// apply(), which consults the transition table and emits 'state-change'.
export class Worker extends EventEmitter<WorkerEvents> {
  readonly generation: number;
  readonly slot: number;
  readonly startedAt: number;
  readonly tail = new OutputTail();
  readySince: number | null = null;
  exitInfo: WorkerExit | null = null;
  /** why spawn() failed (EMFILE, EAGAIN, ENOENT...), when it did: the process never ran */
  startError: NodeJS.ErrnoException | null = null;
  #state: WorkerState = 'starting';
  readonly #child: ChildHandle;
  readonly #os: ProcessOs;
  readonly #clock: Clock;
  readonly #output: OutputReader;

  constructor(spec: WorkerSpec) {
    super();
    this.generation = spec.generation;
    this.slot = spec.slot;
    this.#os = spec.os ?? realProcessOs;
    this.#clock = spec.clock ?? realClock;
    if (spec.adopt) {
      this.startedAt = spec.adopt.startedAt;
      this.#child = spec.adopt.child;
      if (spec.adopt.readySince !== null) {
        this.#state = 'ready';
        this.readySince = spec.adopt.readySince;
      }
    } else {
      this.startedAt = this.#clock.now();
      this.#child = this.#os.spawn(spec.shimPath, spec.argv, {
        cwd: spec.cwd,
        env: spec.env,
        stdio: ['ignore', 'pipe', 'pipe', ...spec.listenFds],
        detached: true, // its own process group, so a drain or kill reaches its helpers too
        ...(spec.user ? { uid: spec.user.uid, gid: spec.user.gid } : {}),
      });
    }
    ownChildren.add(this.#child.pid); // libuv (or AdoptedChild) reaps it; the orphan reaper must not
    this.#child.once('error', (error: NodeJS.ErrnoException) => {
      // spawn() itself failed (the shim is missing, the cwd vanished, no fd left for its pipes):
      // report it as an exit, keeping the errno for the reload's reason.
      this.startError = error;
      this.tail.push(`cannot start worker: ${error.message}`);
      this.#onExit({ code: 127, signal: null });
    });
    this.#child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      ownChildren.delete(this.#child.pid); // reaped by libuv
      this.#onExit({ code, signal });
    });
    this.#output = new OutputReader(spec.outputLimit ?? { burst: 0, intervalMs: 1000 }, {
      line: (stream, line) => {
        this.tail.push(line);
        this.emit('output', { stream, line });
      },
      suppressed: (lines) => this.emit('output-suppressed', { lines }),
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      // null without a pipe; undefined when spawn() failed before it made them (EMFILE, ENFILE)
      const source = this.#child[stream];
      if (source != null) this.#output.read(source, stream);
    }
  }

  /** Output lines suppressed by output_limit so far. */
  get outputSuppressed(): number {
    return this.#output.budget.suppressedTotal;
  }

  /** The fds of the output pipes (what an upgrade hands to the next program), null where none. */
  outputFds(): { stdout: number | null; stderr: number | null } {
    return { stdout: streamFd(this.#child.stdout), stderr: streamFd(this.#child.stderr) };
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  get state(): WorkerState {
    return this.#state;
  }

  get alive(): boolean {
    return this.#state !== 'exited';
  }

  markReady(): void {
    if (this.apply('ready')) this.readySince = this.#clock.now();
  }

  // Sends the drain signal and waits for the exit; SIGKILL at the deadline.
  async drain(signal: NodeJS.Signals, timeoutMs: number): Promise<TerminateResult> {
    this.apply('drain');
    return terminate(this.#os, this.#child, signal, timeoutMs, this.#clock);
  }

  // Sends a signal to the worker's process group without changing its state (bake.park_signal).
  signal(signal: NodeJS.Signals): boolean {
    return this.#child.pid !== undefined && this.#os.kill(-this.#child.pid, signal);
  }

  // Resolves when the process has exited (at once if it already has).
  exited(): Promise<WorkerExit> {
    if (this.exitInfo) return Promise.resolve(this.exitInfo);
    return new Promise((resolve) => this.once('exit', resolve));
  }

  describeExit(): string {
    const exit = this.exitInfo;
    if (!exit) return 'is still running';
    if (this.startError) return `could not be started (${this.startError.syscall?.split(' ')[0] ?? 'spawn'} failed with ${this.startError.code ?? this.startError.message})`;
    if (exit.signal) return `was killed by ${exit.signal}`;
    if (exit.code === 127) return 'could not be executed (exit code 127)';
    return `exited with code ${exit.code}`;
  }

  #onExit(exit: WorkerExit): void {
    if (this.exitInfo) return;
    this.exitInfo = exit;
    // However the worker ended (drained, crashed, killed by someone else), what it forked into its
    // process group goes with it: a helper left behind may hold the listening socket or the port.
    if (this.#child.pid !== undefined) killGroupRemnants(this.#os, this.#child.pid);
    this.apply('exit');
    this.emit('exit', exit);
  }

  private apply(event: WorkerEvent): boolean {
    const result = transition(workerTransitions, this.#state, event);
    if (!result.ok) {
      this.emit('impossible-event', { state: this.#state, event });
      return false;
    }
    const from = this.#state;
    this.#state = result.to;
    this.emit('state-change', { from, to: result.to });
    return true;
  }
}

// The fd under a pipe stream: Node's net.Socket keeps it on its handle.
function streamFd(stream: unknown): number | null {
  const fd = (stream as { _handle?: { fd?: unknown } } | null | undefined)?._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}
