// The naive baseline as a deploy script would run it: start N new processes that bind the port
// with SO_REUSEPORT, wait until they listen, then SIGTERM the old ones.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/helpers/harness.js';
import type { ProcessClass } from '../lib/footing.js';
import { OWN_SESSION } from '../lib/own-session.js';
import { now, reap, type ReloadTiming, type Target } from './target.js';

const entry = fileURLToPath(new URL('../servers/naive-server.js', import.meta.url));

export interface NaiveOptions {
  workers: number;
  drainMs: number;
}

export class NaiveTarget implements Target {
  readonly host = '127.0.0.1';
  readonly port: number;
  readonly notes: string[];
  readonly #options: NaiveOptions;
  readonly #all = new Set<ChildProcess>();
  #current: ChildProcess[] = [];
  #version = 1;

  private constructor(port: number, options: NaiveOptions) {
    this.port = port;
    this.#options = options;
    this.notes = [`old processes: server.close(), exit when it completes or at ${options.drainMs} ms`];
  }

  static async start(options: NaiveOptions): Promise<NaiveTarget> {
    const target = new NaiveTarget(await freePort(), options);
    try {
      target.#current = await target.#generation();
    } catch (error) {
      await target.stop();
      throw error;
    }
    return target;
  }

  async reload(): Promise<ReloadTiming> {
    const timing: ReloadTiming = { triggerAt: now(), promotedAt: null, goneAt: null, ok: false, message: '' };
    this.#version += 1;
    let next: ChildProcess[];
    try {
      next = await this.#generation();
    } catch (error) {
      timing.message = (error as Error).message;
      return timing;
    }
    timing.promotedAt = now();
    const old = this.#current;
    this.#current = next;
    await Promise.all(old.map((child) => {
      child.kill('SIGTERM');
      // The server exits by itself at its deadline; the extra second only guards against a hang.
      return reap(child, this.#options.drainMs + 1000);
    }));
    timing.goneAt = now();
    timing.ok = true;
    timing.message = 'promoted';
    return timing;
  }

  processes(): ProcessClass[] {
    return [{ name: 'naive servers', pids: [...this.#all].map((child) => child.pid!) }];
  }

  async stop(): Promise<void> {
    for (const child of this.#all) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all([...this.#all].map((child) => reap(child, 1000)));
  }

  #generation(): Promise<ChildProcess[]> {
    return Promise.all(Array.from({ length: this.#options.workers }, () => this.#spawn()));
  }

  #spawn(): Promise<ChildProcess> {
    const child = fork(entry, [], {
      env: { ...process.env, HOST: this.host, PORT: String(this.port), BENCH_VERSION: String(this.#version), BENCH_DRAIN_MS: String(this.#options.drainMs) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      ...OWN_SESSION,
    });
    this.#all.add(child);
    child.once('exit', () => this.#all.delete(child));
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
        reject(new Error(`naive server ${child.pid} exited (${signal ?? `code ${code}`}) before listening`));
      child.once('exit', onExit);
      child.once('message', (message) => {
        if (message !== 'listening') return;
        child.off('exit', onExit);
        resolve(child);
      });
    });
  }
}
