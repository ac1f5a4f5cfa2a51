import { EventEmitter } from 'node:events';
import net from 'node:net';
import { setCloseOnExec, waitpidNoHang } from '../../native/index.js';
import { ownChildren } from './own-children.js';

// How often an adopted worker's exit is looked for. Node knows nothing of a child it did not spawn
// (after an upgrade the daemon's program is new, its workers are not), so nothing tells it of the
// exit: waitpid(pid, WNOHANG) on that one pid, on a timer, as the orphan reaper does.
export const ADOPTED_POLL_MS = 100;

// A worker started by the program this daemon ran before `supervisor upgrade` exec'd the new one:
// the same process (still this pid's child), its output pipes inherited as fds. It is a
// ChildHandle like Node's ChildProcess, so a Worker drives it the same way.
export class AdoptedChild extends EventEmitter {
  readonly pid: number;
  readonly stdout: net.Socket | null;
  readonly stderr: net.Socket | null;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly #timer: NodeJS.Timeout;

  constructor(pid: number, stdoutFd: number | null, stderrFd: number | null) {
    super();
    this.pid = pid;
    this.stdout = stdoutFd === null ? null : openPipe(stdoutFd);
    this.stderr = stderrFd === null ? null : openPipe(stderrFd);
    ownChildren.add(pid); // reaped here: the orphan reaper must leave it alone
    this.#timer = setInterval(() => this.#poll(), ADOPTED_POLL_MS);
    // The first look right away: a worker that died while the programs changed is a zombie already.
    setImmediate(() => this.#poll());
  }

  #poll(): void {
    if (this.exitCode !== null || this.signalCode !== null) return;
    let exit;
    try {
      exit = waitpidNoHang(this.pid);
    } catch {
      // ECHILD: reaped by someone else (it cannot be: this pid is ours alone) or not our child.
      exit = { pid: this.pid, code: null, signal: 'SIGKILL' as const };
    }
    if (exit === null) return;
    clearInterval(this.#timer);
    ownChildren.delete(this.pid);
    this.exitCode = exit.code;
    this.signalCode = typeof exit.signal === 'string' ? exit.signal : exit.signal === null ? null : 'SIGKILL';
    this.emit('exit', this.exitCode, this.signalCode);
  }
}

// The read end of a worker's stdout or stderr pipe (libuv makes them socketpairs), closed on any
// later exec like every other fd the daemon holds.
function openPipe(fd: number): net.Socket {
  setCloseOnExec(fd, true);
  return new net.Socket({ fd, readable: true, writable: false });
}
