// One closed-loop virtual user speaking just enough HTTP/1.1 over net.Socket.
//
// Why not http.request: on 2 cores the load generator shares the CPU with the server, and Node's
// http client costs several times what a fixed request buffer and a content-length parser cost.
// The cheaper the client, the more of the machine the strategies under test get.
//
// No retries, ever: each request either ends in a complete 2xx response or counts as one failure,
// named by its cause. A keep-alive connection that the server closed while it was idle is simply
// replaced before the next request (what any connection pool does; no request was lost), but a
// request written to a connection that the server then closes fails, exactly as it would for a
// real client.
import net from 'node:net';

export type LoadMode = 'new-connection' | 'keep-alive';

export interface Target {
  host: string;
  port: number;
}

/** Failure names besides errno codes (ECONNRESET, ECONNREFUSED, EPIPE, ...) and `HTTP <status>`. */
export const EOF = 'EOF'; // the server closed the connection before a complete response
export const TIMEOUT = 'timeout';
export const BAD_RESPONSE = 'bad-response'; // unparseable or without content-length

/** version: the response's x-version header (which generation answered; 0 when none). */
export type RecordFn = (startedAt: number, latencyMs: number, outcome: string, version: number) => void;

interface Pending {
  startedAt: number;
  resolve: (outcome: string) => void;
}

const HEADER_END = Buffer.from('\r\n\r\n');

function requestBytes(target: Target, mode: LoadMode): Buffer {
  const connection = mode === 'new-connection' ? 'close' : 'keep-alive';
  return Buffer.from(`GET / HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nConnection: ${connection}\r\n\r\n`, 'latin1');
}

export class VirtualUser {
  readonly mode: LoadMode;
  readonly #target: Target;
  readonly #request: Buffer;
  #socket: net.Socket | null = null;
  #buffer: Buffer | null = null;
  #pending: Pending | null = null;
  #version = 0;

  constructor(target: Target, mode: LoadMode) {
    this.#target = target;
    this.mode = mode;
    this.#request = requestBytes(target, mode);
  }

  /**
   * Sends requests while running() holds and records each one: back to back (closed loop), or,
   * with a schedule, one every intervalMs from firstAt (open loop). A request that could not start
   * on time because the one before was still running counts its latency from its scheduled time,
   * as a client with a fixed arrival rate would see it (no coordinated omission).
   */
  async run(running: () => boolean, record: RecordFn, now: () => number, schedule?: { intervalMs: number; firstAt: number }): Promise<void> {
    let due = schedule?.firstAt ?? 0;
    while (running()) {
      if (schedule) {
        const wait = due - now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (!running()) break;
      }
      // Late (the previous request ran past this one's time): latency counts from the scheduled
      // time. Early (a timer fires a fraction of a millisecond soon): from now.
      const startedAt = schedule ? Math.min(due, now()) : now();
      this.#version = 0;
      const outcome = await this.#send(startedAt);
      record(startedAt, now() - startedAt, outcome, this.#version);
      if (schedule) due += schedule.intervalMs;
    }
    this.#drop();
  }

  /** Fails the request in flight if it started before `olderThan` (the pool sweeps timeouts). */
  expire(olderThan: number): void {
    if (this.#pending && this.#pending.startedAt < olderThan) {
      this.#settle(TIMEOUT);
      this.#drop();
    }
  }

  #send(startedAt: number): Promise<string> {
    return new Promise((resolve) => {
      this.#pending = { startedAt, resolve };
      const socket = this.#socket ?? this.#connect();
      // Before 'connect' Node queues the write; a connect error then fails this request.
      socket.write(this.#request);
    });
  }

  #connect(): net.Socket {
    const socket = net.connect({ host: this.#target.host, port: this.#target.port, noDelay: true });
    this.#socket = socket;
    this.#buffer = null;
    socket.on('data', (chunk: Buffer) => {
      if (socket === this.#socket) this.#onData(chunk);
    });
    socket.on('end', () => {
      if (socket !== this.#socket) return;
      // With no request in flight this is an idle close: not a failure, the next request reconnects.
      this.#settle(EOF);
      this.#drop();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (socket !== this.#socket) return;
      this.#settle(error.code ?? error.message);
      this.#drop();
    });
    socket.on('close', () => {
      if (socket !== this.#socket) return;
      this.#settle(EOF);
      this.#drop();
    });
    return socket;
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer ? Buffer.concat([this.#buffer, chunk]) : chunk;
    if (!this.#pending) {
      // Bytes nobody asked for: the connection is out of step, do not reuse it.
      this.#drop();
      return;
    }
    const parsed = parseResponse(this.#buffer);
    if (parsed === null) return; // incomplete
    if (parsed === BAD_RESPONSE) {
      this.#settle(BAD_RESPONSE);
      this.#drop();
      return;
    }
    this.#buffer = parsed.rest.length > 0 ? parsed.rest : null;
    this.#version = parsed.version;
    const reusable = this.mode === 'keep-alive' && !parsed.close && this.#buffer === null;
    if (!reusable) this.#drop();
    this.#settle(parsed.status >= 200 && parsed.status < 300 ? 'ok' : `HTTP ${parsed.status}`);
  }

  #settle(outcome: string): void {
    const pending = this.#pending;
    if (!pending) return;
    this.#pending = null;
    pending.resolve(outcome);
  }

  #drop(): void {
    const socket = this.#socket;
    this.#socket = null;
    this.#buffer = null;
    socket?.destroy();
  }
}

interface Response {
  status: number;
  version: number;
  close: boolean;
  rest: Buffer;
}

/** A complete response, null while more bytes are needed, or BAD_RESPONSE. */
export function parseResponse(buffer: Buffer): Response | null | typeof BAD_RESPONSE {
  const headerEnd = buffer.indexOf(HEADER_END);
  if (headerEnd < 0) return buffer.length > 64 * 1024 ? BAD_RESPONSE : null;
  const head = buffer.toString('latin1', 0, headerEnd);
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  if (!status || !length) return BAD_RESPONSE;
  const end = headerEnd + HEADER_END.length + Number(length[1]);
  if (buffer.length < end) return null;
  return {
    status: Number(status[1]),
    version: Number(/\r\nx-version:[ \t]*(\d+)/i.exec(head)?.[1] ?? 0),
    close: /\r\nconnection:[ \t]*close/i.test(head) || head.startsWith('HTTP/1.0'),
    rest: buffer.subarray(end),
  };
}
