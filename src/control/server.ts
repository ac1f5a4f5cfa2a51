import { ExitCode } from './exit-codes.js';
import net from 'node:net';
import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';
import { peerCredentials, setCloseOnExec, socketKind } from '../native/index.js';
import { encodeFrame, LineReader, parseRequest, type Frame, type Request } from './protocol.js';

export const REQUEST_TIMEOUT_MS = 10_000;
// After a cut-off answer, how long a client still sending gets before its connection is destroyed.
const CUT_OFF_GRACE_MS = 1_000;
// A client that stops reading (an `events` stream piped into a stalled program) is cut off once
// this much is waiting to be written to it, so it cannot grow the daemon's memory.
export const MAX_UNSENT_BYTES = 1024 * 1024;

// What the server asks of the daemon for each request; the handler sends events and must end with
// exactly one result frame. `hungUp` is aborted when the client's connection closes, so a handler
// that streams (events) can unsubscribe.
export type RequestHandler = (request: Request, send: (frame: Frame) => void, hungUp: AbortSignal) => Promise<void>;

export class ControlSocketInUse extends Error {
  constructor(path: string) {
    super(
      `control socket ${path} is in use: another supervisor answers on it. Stop that one first ` +
        `(supervisor stop --socket ${path}) or give this one another control: path`,
    );
    this.name = 'ControlSocketInUse';
  }
}

// The unix control socket: mode 0600, and a peer whose uid is neither root nor ours is refused
// before a byte of its request is read.
export class ControlServer {
  readonly path: string;
  readonly #server: net.Server;
  readonly #log: Logger;
  readonly #connections = new Set<net.Socket>();
  readonly #inFlight = new Set<Promise<void>>();
  #adopted = false;

  constructor(path: string, log: Logger, handler: RequestHandler) {
    this.path = path;
    this.#log = log;
    this.#server = net.createServer({ pauseOnConnect: true }, (socket) => this.#accept(socket, handler));
    // An 'error' with no listener is thrown from the event loop and would end the daemon. Node
    // reports a failed accept() this way; libuv keeps the socket listening after it.
    this.#server.on('error', (error: NodeJS.ErrnoException) => {
      if (!this.#server.listening) return; // listen() rejects with it
      this.#log.error(
        { err: error, path: this.path },
        `control socket ${this.path}: ${error.syscall ?? 'a call'} failed (${error.code ?? error.message}); it keeps listening. ` +
          'If this repeats, the supervisor is out of file descriptors: raise its limit (LimitNOFILE= in the unit, ulimit -n)',
      );
    });
  }

  async listen(): Promise<void> {
    try {
      await this.#listen();
    } catch (error) {
      throw withFix(this.path, error as NodeJS.ErrnoException);
    }
  }

  async #listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
    if (existsSync(this.path)) {
      if (await answers(this.path)) throw new ControlSocketInUse(this.path);
      unlinkSync(this.path); // stale: left by a supervisor that was killed
      this.#log.info({ path: this.path }, 'removed a stale control socket');
    }
    // The umask makes the socket 0600 from the moment it exists.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen(this.path, () => {
          this.#server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(umask);
    }
  }

  // Listens on a socket the program before `supervisor upgrade` bound (an fd inherited across the
  // exec): clients that connected meanwhile wait in its queue and are answered now.
  async adopt(fd: number): Promise<void> {
    const kind = socketKind(fd);
    if (kind.domain !== 'unix' || kind.type !== 'stream' || !kind.listening) {
      throw new Error(`control socket ${this.path}: the handed-over fd ${fd} is a ${kind.domain} ${kind.type} socket${kind.listening ? '' : ' not listening'}, not the control socket`);
    }
    setCloseOnExec(fd, true);
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ fd }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#adopted = true;
  }

  /** The listening socket's fd (what an upgrade hands over), or null when not listening. */
  get fd(): number | null {
    const fd = (this.#server as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
    return typeof fd === 'number' && fd >= 0 ? fd : null;
  }

  // Lets answers already written reach their clients, then closes; a client that does not hang
  // up within a second is cut off.
  async close(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
    for (const socket of this.#connections) socket.end();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const timer = setTimeout(() => {
      for (const socket of this.#connections) socket.destroy();
    }, 1000);
    await closed;
    clearTimeout(timer);
    // Node removes the socket file only for a socket it bound itself, not for an adopted one.
    if (this.#adopted) {
      try {
        unlinkSync(this.path);
      } catch {
        // gone already
      }
    }
  }

  #accept(socket: net.Socket, handler: RequestHandler): void {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    // A client that hangs up mid-answer (EPIPE, ECONNRESET) is its own business, refused or not.
    socket.on('error', () => socket.destroy());
    const hungUp = new AbortController();
    socket.once('close', () => hungUp.abort());
    const send = (frame: Frame) => {
      if (socket.destroyed || !socket.writable) return;
      if (socket.writableLength > MAX_UNSENT_BYTES) {
        this.#log.warn({ unsentBytes: socket.writableLength }, 'control client stopped reading: connection closed');
        socket.destroy();
        return;
      }
      socket.write(encodeFrame(frame));
    };
    let peer: { pid: number; uid: number } | null = null;
    try {
      if (fd !== undefined && fd >= 0) peer = peerCredentials(fd);
    } catch {
      peer = null;
    }
    const ownUid = process.getuid?.() ?? 0;
    if (peer === null || (peer.uid !== 0 && peer.uid !== ownUid)) {
      this.#log.warn({ peer }, 'control connection refused: peer is neither root nor the supervisor\'s user');
      send({ type: 'result', ok: false, code: ExitCode.denied, message: `permission denied: only root and uid ${ownUid} may control this supervisor` });
      socket.end();
      return;
    }
    this.#connections.add(socket);
    socket.on('close', () => this.#connections.delete(socket));
    // A deadline from the connection's start, not an idle timeout: a client that sends its request
    // a byte at a time (a slowloris) is cut off like one that sends nothing.
    const deadline = setTimeout(() => {
      send({ type: 'result', ok: false, code: ExitCode.usage, message: `no request line within ${REQUEST_TIMEOUT_MS} ms: send one JSON line such as {"command":"status"}` });
      // end() sends the answer before the close (destroy() at once could drop it when the write was
      // queued); a client that keeps sending regardless is cut off a moment later.
      socket.end();
      setTimeout(() => socket.destroy(), CUT_OFF_GRACE_MS).unref();
    }, REQUEST_TIMEOUT_MS);
    socket.once('close', () => clearTimeout(deadline));
    const reader = new LineReader();
    let handled = false;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      if (handled) return;
      const { lines, overflow } = reader.push(chunk);
      if (overflow) {
        handled = true;
        send({ type: 'result', ok: false, code: ExitCode.usage, message: 'request line too long: one JSON request per line, under 64 KiB' });
        socket.end();
        return;
      }
      const line = lines[0];
      if (line === undefined) return;
      handled = true;
      clearTimeout(deadline);
      const parsed = parseRequest(line);
      if (!parsed.ok) {
        send({ type: 'result', ok: false, code: ExitCode.usage, message: parsed.message });
        socket.end();
        return;
      }
      const work = handler(parsed.request, send, hungUp.signal)
        .catch((error: Error) => send({ type: 'result', ok: false, code: ExitCode.system, message: `internal error: ${error.message}` }))
        .finally(() => {
          socket.end();
          this.#inFlight.delete(work);
        });
      this.#inFlight.add(work);
    });
    socket.resume();
  }
}

// A failure to create the control socket, with the fix for the usual causes.
function withFix(path: string, error: NodeJS.ErrnoException): Error {
  if (error instanceof ControlSocketInUse) return error;
  const fixes: Record<string, string> = {
    EACCES: `this user may not create ${path} (or the directory ${dirname(path)}): make the directory writable for it, or set control: to a writable path`,
    EPERM: `this user may not create ${path}: make ${dirname(path)} writable for it, or set control: to a writable path`,
    EROFS: `${dirname(path)} is on a read-only filesystem: set control: to a writable path, such as one under /run`,
    ENOENT: `a directory of ${path} does not exist and cannot be created: create it, or set control: to a writable path`,
    ENOTDIR: `a part of ${dirname(path)} is not a directory: set control: to a writable path`,
  };
  const fix = error.code ? fixes[error.code] : undefined;
  return fix ? new Error(`${error.message}: ${fix}`, { cause: error }) : error;
}

// True when something accepts connections on the path.
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
