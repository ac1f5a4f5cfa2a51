// The parent side of the load generator: several load processes, so the client is not one event
// loop on one core. They start and stop together; their records are merged.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { OWN_SESSION } from '../lib/own-session.js';
import type { FromLoadProcess, ToLoadProcess } from './messages.js';
import { mergeRecords, type RequestRecords } from './records.js';

const entry = fileURLToPath(new URL('./load-process.js', import.meta.url));

export interface LoadSpec {
  host: string;
  port: number;
  newConnection: number; // total over all processes
  keepAlive: number;
  timeoutMs: number;
  ratePerMode?: number; // requests per second per load mode, over all users (open loop); absent: closed loop
}

/** n split into `parts` near-equal whole numbers. */
export function split(n: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));
}

export class LoadPool {
  readonly #children: ChildProcess[];
  readonly #exited: Promise<void>[];

  private constructor(children: ChildProcess[]) {
    this.#children = children;
    this.#exited = children.map((child) => (child.exitCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()))));
  }

  static async start(processes: number): Promise<LoadPool> {
    const children = Array.from({ length: processes }, () =>
      // Each in a session (an autogroup) of its own, as each server process is: sharing one, the
      // load processes had one group's CPU between them. close() ends them, and each exits by
      // itself when its IPC channel closes, so none outlives the benchmark.
      fork(entry, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...OWN_SESSION }),
    );
    const pool = new LoadPool(children);
    try {
      await Promise.all(children.map((child) => pool.#next(child, 'ready', 10_000)));
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  get pids(): number[] {
    return this.#children.map((child) => child.pid!);
  }

  run(spec: LoadSpec): void {
    const newConnection = split(spec.newConnection, this.#children.length);
    const keepAlive = split(spec.keepAlive, this.#children.length);
    // At R requests/s per mode spread over N users of that mode, each user sends one every N/R s.
    const intervals = spec.ratePerMode ? { intervalMs: (1000 * Math.max(spec.newConnection, spec.keepAlive)) / spec.ratePerMode } : {};
    this.#children.forEach((child, i) =>
      this.#send(child, { type: 'start', host: spec.host, port: spec.port, newConnection: newConnection[i]!, keepAlive: keepAlive[i]!, timeoutMs: spec.timeoutMs, ...intervals }),
    );
  }

  /** Stops every virtual user; returns all requests made since run() and the CPU the client used. */
  async stop(timeoutMs: number): Promise<{ records: RequestRecords; cpuMs: number }> {
    const replies = this.#children.map((child) => this.#next(child, 'records', timeoutMs));
    for (const child of this.#children) this.#send(child, { type: 'stop' });
    const parts = (await Promise.all(replies)) as Extract<FromLoadProcess, { type: 'records' }>[];
    return {
      records: mergeRecords(parts.map((part) => part.records)),
      cpuMs: parts.reduce((sum, part) => sum + part.cpuMicros, 0) / 1000,
    };
  }

  /** Ends every load process (disconnect, then SIGKILL by pid after 2 s) and waits for their exit. */
  async close(): Promise<void> {
    for (const child of this.#children) if (child.connected) child.disconnect();
    const timer = setTimeout(() => {
      for (const child of this.#children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, 2000);
    await Promise.all(this.#exited);
    clearTimeout(timer);
  }

  #send(child: ChildProcess, message: ToLoadProcess): void {
    child.send(message);
  }

  #next(child: ChildProcess, type: FromLoadProcess['type'], timeoutMs: number): Promise<FromLoadProcess> {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const onMessage = (message: FromLoadProcess) => {
        if (message.type === 'error') {
          cleanup();
          reject(new Error(`load process ${child.pid}: ${message.message}`));
        } else if (message.type === type) {
          cleanup();
          resolve(message);
        }
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        cleanup();
        reject(new Error(`load process ${child.pid} exited (${signal ?? `code ${code}`}) while the benchmark waited for '${type}'`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`load process ${child.pid} sent no '${type}' within ${timeoutMs} ms`));
      }, timeoutMs);
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  }
}
