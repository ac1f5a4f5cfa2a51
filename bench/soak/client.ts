// The soak's load: closed-loop virtual users over raw sockets (new connection per request, or one
// keep-alive connection each), no retries. Successes are counted; every failure is kept with its
// time window and, on a keep-alive connection, the pid of the worker that answered it last, so
// the soak can tell a request lost with a SIGKILLed worker from any other failure.
import net from 'node:net';
import { parseResponse, type LoadMode } from '../load/http-client.js';

export interface Failure {
  mode: LoadMode;
  cause: string; // errno code, EOF, timeout, HTTP <status>, bad-response
  startedAt: number; // epoch ms
  endedAt: number;
  lastPid: number | null; // keep-alive: the worker that answered this connection's previous request
}

export interface LoadStats {
  ok: Record<LoadMode, number>;
  failures: Failure[];
}

const now = () => performance.timeOrigin + performance.now();
const HEADER_END = Buffer.from('\r\n\r\n');

class User {
  readonly #mode: LoadMode;
  readonly #port: number;
  readonly #request: Buffer;
  readonly #timeoutMs: number;
  #socket: net.Socket | null = null;
  #buffer: Buffer | null = null;
  #lastPid: number | null = null;
  #settle: ((outcome: string) => void) | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(port: number, mode: LoadMode, timeoutMs: number) {
    this.#port = port;
    this.#mode = mode;
    this.#timeoutMs = timeoutMs;
    this.#request = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: ${mode === 'new-connection' ? 'close' : 'keep-alive'}\r\n\r\n`, 'latin1');
  }

  async run(running: () => boolean, stats: LoadStats): Promise<void> {
    while (running()) {
      const startedAt = now();
      const lastPid = this.#socket ? this.#lastPid : null;
      const outcome = await this.#send();
      if (outcome === 'ok') stats.ok[this.#mode]++;
      else stats.failures.push({ mode: this.#mode, cause: outcome, startedAt, endedAt: now(), lastPid });
    }
    this.#drop();
  }

  #send(): Promise<string> {
    return new Promise((resolve) => {
      this.#settle = resolve;
      this.#timer = setTimeout(() => this.#finish('timeout', true), this.#timeoutMs);
      const socket = this.#socket ?? this.#connect();
      socket.write(this.#request);
    });
  }

  #connect(): net.Socket {
    const socket = net.connect({ host: '127.0.0.1', port: this.#port, noDelay: true });
    this.#socket = socket;
    this.#buffer = null;
    this.#lastPid = null;
    socket.on('data', (chunk: Buffer) => socket === this.#socket && this.#onData(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => socket === this.#socket && this.#finish(error.code ?? error.message, true));
    socket.on('close', () => socket === this.#socket && this.#finish('EOF', true));
    return socket;
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer ? Buffer.concat([this.#buffer, chunk]) : chunk;
    if (!this.#settle) return this.#drop(); // bytes nobody asked for
    const parsed = parseResponse(this.#buffer);
    if (parsed === null) return;
    if (parsed === 'bad-response') return this.#finish('bad-response', true);
    const headerEnd = this.#buffer.indexOf(HEADER_END);
    const pid = /\r\nx-pid:[ \t]*(\d+)/i.exec(this.#buffer.toString('latin1', 0, headerEnd))?.[1];
    this.#lastPid = pid === undefined ? null : Number(pid);
    this.#buffer = parsed.rest.length > 0 ? parsed.rest : null;
    const reusable = this.#mode === 'keep-alive' && !parsed.close && this.#buffer === null;
    this.#finish(parsed.status >= 200 && parsed.status < 300 ? 'ok' : `HTTP ${parsed.status}`, !reusable);
  }

  #finish(outcome: string, drop: boolean): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const settle = this.#settle;
    this.#settle = null;
    if (drop) this.#drop();
    settle?.(outcome);
  }

  #drop(): void {
    const socket = this.#socket;
    this.#socket = null;
    this.#buffer = null;
    socket?.destroy();
  }
}

export class SoakLoad {
  readonly stats: LoadStats = { ok: { 'new-connection': 0, 'keep-alive': 0 }, failures: [] };
  #running = false;
  #loops: Promise<void>[] = [];
  readonly #users: User[];

  constructor(port: number, newConnection: number, keepAlive: number, timeoutMs = 10_000) {
    this.#users = [
      ...Array.from({ length: newConnection }, () => new User(port, 'new-connection', timeoutMs)),
      ...Array.from({ length: keepAlive }, () => new User(port, 'keep-alive', timeoutMs)),
    ];
  }

  start(): void {
    this.#running = true;
    this.#loops = this.#users.map((user) => user.run(() => this.#running, this.stats));
  }

  async stop(): Promise<LoadStats> {
    this.#running = false;
    await Promise.all(this.#loops);
    return this.stats;
  }
}
