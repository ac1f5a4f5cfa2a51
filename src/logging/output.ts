import { constants, fstatSync, openSync, writeSync } from 'node:fs';
import net from 'node:net';

// What may wait in memory for a stalled reader of the daemon's stdout or stderr (a stuck journald,
// a `| less` left open): beyond this, lines are dropped and counted rather than queued or waited
// for. Writing is never allowed to block the event loop: a blocked write(2) would leave the
// control socket, the signal handlers and every timer of the supervisor waiting with it.
export const LOG_BUFFER_BYTES = 1024 * 1024;

export type LogOutputMode = 'async' | 'sync';

// One of the daemon's output fds as a pino destination. A pipe is reopened through
// /proc/self/fd/N: that gives this process a file description of its own for the same pipe, so
// O_NONBLOCK is set on ours alone. Setting it on the inherited fd instead would set it on the
// description every other holder of the pipe shares (the shell that started us, a sibling in
// `{ supervisor run; other; } | tee`), and their blocking writes would start failing with EAGAIN.
// A socket cannot be reopened (ENXIO); it is written through libuv, which sets O_NONBLOCK on the
// shared description, as Node's own process.stdout does for any pipe or socket: that is safe for
// the socket a stdout is in practice, journald's stream, which systemd connects anew for each
// process it starts (the workers' output goes to sockets of their own). A regular file never
// blocks for long, and a terminal only while its operator holds it (Ctrl-S); they, and a pipe that
// cannot be reopened, are written synchronously, as Node writes to a terminal (should such a pipe
// be non-blocking already, a full one drops the line: EAGAIN is counted, never waited on).
export class LogOutput {
  readonly fd: number;
  readonly mode: LogOutputMode;
  readonly #limit: number;
  readonly #stream: net.Socket | null = null;
  #privateFd: number | null = null;
  #dropped = 0; // since the last report
  #droppedTotal = 0;
  #closed = false; // the reader went away for good (EPIPE): nothing more can be written
  #onDrained: (dropped: number) => void = () => {};

  constructor(fd: number, { limit = LOG_BUFFER_BYTES }: { limit?: number } = {}) {
    this.fd = fd;
    this.#limit = limit;
    const target = asyncTarget(fd);
    if (target === null) {
      this.mode = 'sync';
      return;
    }
    this.mode = 'async';
    this.#privateFd = target.reopened ? target.fd : null;
    // A high-water mark of one byte: 'drain' follows whenever anything had to wait, so the report
    // of dropped lines cannot be missed.
    const stream = new net.Socket({ fd: target.fd, readable: false, writable: true, writableHighWaterMark: 1 } as net.SocketConstructorOpts);
    stream.on('error', () => {
      // EPIPE: nobody will ever read again. Whatever waited is lost with the reader.
      this.#closed = true;
    });
    stream.on('drain', () => this.#reportDropped());
    this.#stream = stream;
  }

  /** Called with the count of lines dropped once the reader has caught up; it writes the report. */
  onDrained(report: (dropped: number) => void): void {
    this.#onDrained = report;
  }

  get droppedTotal(): number {
    return this.#droppedTotal;
  }

  /** Bytes written by this process and not yet taken by the reader. */
  get pendingBytes(): number {
    return this.#stream?.writableLength ?? 0;
  }

  write(line: string): void {
    if (this.#closed) return this.#drop();
    const stream = this.#stream;
    if (stream === null) return this.#writeSync(line);
    const waiting = stream.writableLength;
    // The first line to wait always may: a line is never longer than the bound in practice, and
    // refusing one into an empty queue would drop a line a reader could take at once.
    if (waiting > 0 && waiting + Buffer.byteLength(line) > this.#limit) return this.#drop();
    stream.write(line);
  }

  /** Waits until everything queued is written, or timeoutMs has passed (then it stays unwritten). */
  flush(timeoutMs: number): Promise<void> {
    const stream = this.#stream;
    if (stream === null || this.#closed || stream.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        // The drain that lets the report of dropped lines out may queue that report itself.
        if (!this.#closed && stream.writableLength > 0 && Date.now() < deadline) return;
        clearTimeout(timer);
        stream.off('drain', done);
        stream.off('error', done);
        resolve();
      };
      const deadline = Date.now() + timeoutMs;
      const timer = setTimeout(done, timeoutMs);
      stream.on('drain', done);
      stream.once('error', done);
    });
  }

  /** Closes the description this output opened for itself; an inherited fd stays open. */
  close(): void {
    if (this.#privateFd === null) return;
    this.#stream?.destroy(); // the stream owns the fd and closes it
    this.#privateFd = null;
  }

  #writeSync(line: string): void {
    try {
      writeSync(this.fd, line);
    } catch (error) {
      // EAGAIN: the fd came to us non-blocking and its reader is full; EPIPE: the reader is gone.
      if ((error as NodeJS.ErrnoException).code === 'EPIPE') this.#closed = true;
      this.#drop();
    }
  }

  #drop(): void {
    this.#dropped++;
    this.#droppedTotal++;
  }

  #reportDropped(): void {
    if (this.#dropped === 0) return;
    const dropped = this.#dropped;
    this.#dropped = 0;
    this.#onDrained(dropped);
  }
}

// The fd to write asynchronously, or null to write the inherited fd synchronously.
function asyncTarget(fd: number): { fd: number; reopened: boolean } | null {
  let stat;
  try {
    stat = fstatSync(fd);
  } catch {
    return null; // not open: writes fail and are counted as dropped
  }
  if (stat.isFIFO()) {
    try {
      const own = openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK);
      restoreBlocking(fd);
      return { fd: own, reopened: true };
    } catch {
      // No /proc, or the pipe belongs to another user (EACCES): its description is shared, and
      // only a blocking write is safe on it.
      return null;
    }
  }
  if (stat.isSocket()) return { fd, reopened: false };
  return null;
}

// Node makes the inherited description of a pipe non-blocking as soon as process.stdout (or
// stderr) is first used, and yargs reads process.stdout.columns when it loads. Nothing of ours
// writes through it any more, so it gets its blocking mode back: the other holders of the pipe
// find it as a pipe normally is. (Node restores the flags at exit too; this is for the time between.)
function restoreBlocking(fd: number): void {
  const stream = fd === 1 ? process.stdout : fd === 2 ? process.stderr : null;
  (stream as unknown as { _handle?: { setBlocking?: (on: boolean) => number } } | null)?._handle?.setBlocking?.(true);
}
