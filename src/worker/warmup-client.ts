// The in-process warm-up's client: HTTP/1.1 GETs written as prebuilt bytes on plain sockets, with
// only as much of each answer read as it takes to find its status and its end. The warm-up runs
// client and server in one process, and Node's own HTTP client (an agent, a parser, an
// IncomingMessage and a stream per answer) cost that process as much CPU as the serving it warms:
// measured on Node 20, 2,000 requests took 1.2 s of CPU that way against about 0.6 s for the same
// requests sent from another process. Only the server's side needs to get warm.
import * as net from 'node:net';

/** One lane's connections: GETs on a kept connection, or each on a new one. */
export class WarmupConnections {
  readonly #port: number;
  readonly #userAgent: string;
  #kept: AnswerReader | null = null;
  readonly #open = new Set<AnswerReader>();

  constructor(port: number, userAgent: string) {
    this.#port = port;
    this.#userAgent = userAgent;
  }

  /** Resolves with the answer's status code; rejects when the connection ends without a whole answer. */
  async get(path: string, connection: 'new' | 'keep-alive'): Promise<number> {
    const keep = connection === 'keep-alive';
    let reader = keep ? this.#kept : null;
    if (reader === null || reader.closed) {
      reader = await this.#connect();
      if (keep) this.#kept = reader;
    }
    const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${this.#port}\r\nUser-Agent: ${this.#userAgent}\r\nConnection: ${keep ? 'keep-alive' : 'close'}\r\n\r\n`;
    const answer = reader.next();
    reader.socket.write(request, 'latin1');
    const { status, close } = await answer;
    if (!keep || close) {
      reader.socket.destroy();
      if (this.#kept === reader) this.#kept = null;
    }
    return status;
  }

  close(): void {
    for (const reader of this.#open) reader.socket.destroy();
    this.#open.clear();
    this.#kept = null;
  }

  #connect(): Promise<AnswerReader> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port: this.#port, noDelay: true });
      const failed = (error: Error) => reject(error);
      socket.once('error', failed);
      socket.once('connect', () => {
        socket.off('error', failed);
        const reader = new AnswerReader(socket);
        this.#open.add(reader);
        socket.once('close', () => this.#open.delete(reader));
        resolve(reader);
      });
    });
  }
}

interface Answer {
  status: number;
  /** the server said Connection: close, or ends the body by closing */
  close: boolean;
}

// Reads answers one at a time off a socket: the head up to its blank line, then a body framed by
// Content-Length, by chunks, or (neither) by the end of the connection. 1xx heads are skipped.
class AnswerReader {
  readonly socket: net.Socket;
  closed = false;
  #buffer: Buffer = Buffer.alloc(0);
  #waiting: { resolve: (answer: Answer) => void; reject: (error: Error) => void } | null = null;
  #head: { status: number; close: boolean; length: number | null; chunked: boolean } | null = null;
  #chunk: { kind: 'size' } | { kind: 'data'; left: number } | { kind: 'data-end' } | { kind: 'trailer' } = { kind: 'size' };

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (data: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? data : Buffer.concat([this.#buffer, data]);
      this.#parse();
    });
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => {
      this.closed = true;
      const head = this.#head;
      // A body without a length ends with the connection.
      if (head !== null && head.length === null && !head.chunked) return this.#done({ status: head.status, close: true });
      this.#fail(Object.assign(new Error('the connection closed before a whole answer'), { code: 'ECONNRESET' }));
    });
  }

  next(): Promise<Answer> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(Object.assign(new Error('the connection is closed'), { code: 'ECONNRESET' }));
      this.#waiting = { resolve, reject };
    });
  }

  #parse(): void {
    for (;;) {
      if (this.#head === null) {
        const end = this.#buffer.indexOf('\r\n\r\n', 0, 'latin1');
        if (end < 0) return;
        const head = parseHead(this.#buffer.toString('latin1', 0, end));
        this.#buffer = this.#buffer.subarray(end + 4);
        if (head === null) return this.#fail(new Error('the answer is not HTTP/1.x'));
        if (Number.isNaN(head.length)) return this.#fail(new Error('the answer\'s Content-Length is not a number'));
        if (head.status < 200) continue; // 100 Continue, 103 Early Hints: the real answer follows
        this.#head = head;
        this.#chunk = { kind: 'size' };
      }
      const head = this.#head;
      if (head.chunked) {
        if (!this.#readChunks()) return;
      } else if (head.length !== null) {
        if (this.#buffer.length < head.length) return;
        this.#buffer = this.#buffer.subarray(head.length);
      } else {
        this.#buffer = Buffer.alloc(0); // read to the end of the connection
        return;
      }
      this.#head = null;
      this.#done({ status: head.status, close: head.close });
    }
  }

  // True once the last chunk and the trailer's blank line are read.
  #readChunks(): boolean {
    for (;;) {
      const state = this.#chunk;
      if (state.kind === 'data') {
        const take = Math.min(state.left, this.#buffer.length);
        this.#buffer = this.#buffer.subarray(take);
        state.left -= take;
        if (state.left > 0) return false;
        this.#chunk = { kind: 'data-end' };
        continue;
      }
      const line = this.#buffer.indexOf('\r\n', 0, 'latin1');
      if (line < 0) return false;
      const text = this.#buffer.toString('latin1', 0, line);
      this.#buffer = this.#buffer.subarray(line + 2);
      if (state.kind === 'data-end') {
        this.#chunk = { kind: 'size' };
      } else if (state.kind === 'trailer') {
        if (text === '') return true;
      } else {
        const size = parseInt(text, 16); // a chunk extension after ";" is ignored
        if (!Number.isFinite(size) || size < 0) {
          this.#fail(new Error(`a chunk size is not a hex number: ${JSON.stringify(text.slice(0, 40))}`));
          return false;
        }
        this.#chunk = size === 0 ? { kind: 'trailer' } : { kind: 'data', left: size };
      }
    }
  }

  #done(answer: Answer): void {
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.resolve(answer);
  }

  #fail(error: Error): void {
    this.closed = true;
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.reject(error);
    this.socket.destroy();
  }
}

function parseHead(text: string): { status: number; close: boolean; length: number | null; chunked: boolean } | null {
  const lines = text.split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!match) return null;
  const status = Number(match[1]);
  let close = lines[0]!.startsWith('HTTP/1.0');
  let length: number | null = null;
  let chunked = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim().toLowerCase();
    if (name === 'content-length') length = /^\d+$/.test(value) ? Number(value) : NaN;
    else if (name === 'transfer-encoding') chunked = value.split(',').some((coding) => coding.trim() === 'chunked');
    else if (name === 'connection') close = value.split(',').some((token) => token.trim() === 'close');
  }
  // Answers without a body by definition.
  if (status === 204 || status === 304) return { status, close, length: 0, chunked: false };
  return { status, close, length: chunked ? null : length, chunked };
}
