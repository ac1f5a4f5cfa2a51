// The node:cluster baseline as a target: one primary (a child with IPC) doing rolling restarts.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/helpers/harness.js';
import { childrenOf, type ProcessClass } from '../lib/footing.js';
import { OWN_SESSION, setsidPath } from '../lib/own-session.js';
import type { PrimaryCommand, PrimaryMessage } from '../servers/cluster-primary.js';
import { now, reap, type ReloadTiming, type Target } from './target.js';

const entry = fileURLToPath(new URL('../servers/cluster-primary.js', import.meta.url));

export interface ClusterOptions {
  workers: number;
  drainMs: number;
}

export class ClusterTarget implements Target {
  readonly host = '127.0.0.1';
  readonly port: number;
  readonly notes: string[];
  readonly #primary: ChildProcess;
  #reloads = 0;

  private constructor(port: number, primary: ChildProcess, options: ClusterOptions) {
    this.port = port;
    this.#primary = primary;
    this.notes = [`scheduling: ${process.platform === 'win32' ? 'none' : 'round-robin'} (default); old workers: disconnect(), SIGKILL at ${options.drainMs} ms`];
  }

  static async start(options: ClusterOptions): Promise<ClusterTarget> {
    const port = await freePort();
    const primary = fork(entry, [], {
      // The primary starts its workers each in a session of its own through setsid(1) (see
      // cluster-primary.ts); found here, so that a missing setsid fails before anything starts.
      env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), BENCH_WORKERS: String(options.workers), BENCH_DRAIN_MS: String(options.drainMs), BENCH_SETSID: setsidPath() },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      ...OWN_SESSION,
    });
    const target = new ClusterTarget(port, primary, options);
    try {
      await target.#next((message) => message.type === 'ready', 15_000);
    } catch (error) {
      await target.stop();
      throw error;
    }
    return target;
  }

  async reload(): Promise<ReloadTiming> {
    const reload = ++this.#reloads;
    const timing: ReloadTiming = { triggerAt: now(), promotedAt: null, goneAt: null, ok: false, message: '' };
    const failed = (message: PrimaryMessage) => message.type === 'failed' && message.reload === reload;
    try {
      const promoted = this.#next((message) => (message.type === 'promoted' && message.reload === reload) || failed(message), 30_000);
      const gone = this.#next((message) => (message.type === 'gone' && message.reload === reload) || failed(message), 30_000);
      this.#primary.send({ type: 'reload', reload } satisfies PrimaryCommand);
      const first = await promoted;
      if (first.type === 'failed') throw new Error(first.message);
      timing.promotedAt = now();
      const last = await gone;
      if (last.type === 'failed') throw new Error(last.message);
      timing.goneAt = now();
      timing.ok = true;
      timing.message = last.type === 'gone' && last.killed > 0 ? `promoted (${last.killed} old worker(s) killed at the deadline)` : 'promoted';
    } catch (error) {
      timing.message = (error as Error).message;
    }
    return timing;
  }

  processes(): ProcessClass[] {
    const primary = this.#primary.pid!;
    return [
      { name: 'cluster primary', pids: [primary] },
      { name: 'cluster workers', pids: childrenOf(primary) },
    ];
  }

  async stop(): Promise<void> {
    // Its workers exit with it (a cluster worker leaves when it loses its primary).
    if (this.#primary.exitCode === null && this.#primary.signalCode === null) this.#primary.kill('SIGTERM');
    await reap(this.#primary, 3000);
  }

  #next(match: (message: PrimaryMessage) => boolean, timeoutMs: number): Promise<PrimaryMessage> {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.#primary.off('message', onMessage);
        this.#primary.off('exit', onExit);
      };
      const onMessage = (message: PrimaryMessage) => {
        if (!match(message)) return;
        cleanup();
        resolve(message);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        cleanup();
        reject(new Error(`cluster primary exited (${signal ?? `code ${code}`})`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`cluster primary: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#primary.on('message', onMessage);
      this.#primary.once('exit', onExit);
    });
  }
}
