// reuseport-supervisor, the package's main entry: the client face for deploy scripts and fleet
// tools that drive a running supervisor over its control socket. It imports the control protocol
// and client only, so importing it loads no daemon code and none of the daemon's dependencies.
//
//   import { reload, status } from 'reuseport-supervisor';
//   const verdict = await reload({ socket: '/run/reuseport-supervisor/supervisor.sock', onProgress: (e) => console.error(e.event) });
//   if (!verdict.ok) throw new Error(verdict.message);
//
// Workers use the other entry, 'reuseport-supervisor/worker'.
import { resolve } from 'node:path';
import { defaultClientSocket } from './config/control.js';
import { openRequest, request } from './control/client.js';
import type { Command, DaemonStatus, ReloadProgress, ReloadResultData, ResultFrame } from './control/protocol.js';

export { HungUpError, NoDaemonError } from './control/client.js';
export { ExitCode, type ExitCodeValue } from './control/exit-codes.js';
export { PROTOCOL_VERSION } from './control/protocol.js';
export type {
  Command,
  DaemonStatus,
  EventFrame,
  GenerationStatus,
  ReloadOutcome,
  ReloadPhase,
  ReloadProgress,
  ReloadResultData,
  ReloadSummary,
  Request,
  ResultFrame,
  WorkerStatus,
} from './control/protocol.js';

export interface ClientOptions {
  /**
   * The daemon's control socket (the config's `control:`). Default: where `supervisor reload`
   * looks without -c/--socket: the path a supervisor.yaml in the current directory would get.
   */
  socket?: string;
}

/**
 * A reload's progress as the daemon sends it: `accepted` (the reload will run, even if this client
 * stops waiting; `queued`: after the one running now), then its phases (`starting`,
 * `worker-ready`, `rolling-back`, `promoted`, `shifted`, `drained`; docs/operations.md).
 */
export type ReloadProgressEvent = { type: 'event'; time: string } & ({ event: 'accepted'; pid: number; queued: boolean } | ReloadProgress);

export interface ReloadOptions extends ClientOptions {
  onProgress?: (event: ReloadProgressEvent) => void;
  /** Stops waiting; the promise rejects with HungUpError. The reload goes on in the daemon. */
  signal?: AbortSignal;
}

/** How a reload ended, as the daemon judged it. */
export interface ReloadVerdict {
  /** True only when the new generation was promoted: a rollback, a refusal or a failure never is. */
  ok: boolean;
  /** The exit code `supervisor reload` exits with for this verdict (ExitCode.ok or ExitCode.failed). */
  code: number;
  /** `promoted: generation 3 serves`, `rolled back: worker 2 (pid 4711) exited ...`, `refused: ...`, `reload failed: ...`. */
  message: string;
  /** What the reload ended with; null when the daemon turned the request down before one began (still starting, or code 4: this user may not control it). */
  result: ReloadResultData | null;
}

/** The daemon answered a command with a failure; `code` is the exit code the CLI would use. */
export class CommandFailed extends Error {
  readonly command: Command;
  readonly code: number;
  constructor(socket: string, command: Command, frame: ResultFrame) {
    super(`the supervisor on ${socket} did not answer ${command}: ${frame.message}`);
    this.name = 'CommandFailed';
    this.command = command;
    this.code = frame.code;
  }
}

/**
 * Asks the daemon for a reload and resolves with its verdict once the reload is over: promoted,
 * rolled back, refused or failed all resolve (check `ok`). Rejects with NoDaemonError when no supervisor
 * answers, with HungUpError when `signal` stops the wait.
 */
export async function reload(options: ReloadOptions = {}): Promise<ReloadVerdict> {
  const { signal, onProgress } = options;
  signal?.throwIfAborted();
  const call = openRequest(socketOf(options), { command: 'reload' }, onProgress && ((frame) => onProgress(frame as ReloadProgressEvent)));
  const stopWaiting = () => call.hangUp();
  signal?.addEventListener('abort', stopWaiting, { once: true });
  try {
    const frame = await call.result;
    return { ok: frame.ok, code: frame.code, message: frame.message, result: (frame.data as ReloadResultData | undefined) ?? null };
  } finally {
    signal?.removeEventListener('abort', stopWaiting);
  }
}

/**
 * The daemon's status (docs/status-schema.md). Rejects with NoDaemonError when no supervisor
 * answers, with CommandFailed when it refuses (this user may not control it, still starting).
 */
export async function status(options: ClientOptions = {}): Promise<DaemonStatus> {
  const socket = socketOf(options);
  const frame = await request(socket, { command: 'status' });
  if (!frame.ok) throw new CommandFailed(socket, 'status', frame);
  return frame.data as DaemonStatus;
}

function socketOf(options: ClientOptions): string {
  return options.socket === undefined ? defaultClientSocket() : resolve(options.socket);
}
