// The node:cluster baseline: a primary with N workers and the usual rolling restart. On a
// 'reload' message: for each worker, fork a replacement, wait for its 'listening', then
// disconnect the old one (SIGKILL at the drain deadline, since busy keep-alive connections never
// close on their own). Reports 'promoted' when every replacement listens and 'gone' when every old
// worker has exited.
//
// Environment: PORT, HOST, BENCH_WORKERS, BENCH_DRAIN_MS, BENCH_SETSID (the path of setsid(1)).
// Exits when its IPC channel closes; its workers then exit too (a cluster worker exits when it
// loses its primary).
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';

export type PrimaryMessage =
  | { type: 'ready' }
  | { type: 'promoted'; reload: number }
  | { type: 'gone'; reload: number; killed: number }
  | { type: 'failed'; reload: number; message: string };
export type PrimaryCommand = { type: 'reload'; reload: number };

const workers = Number(process.env.BENCH_WORKERS ?? 2);
const drainMs = Number(process.env.BENCH_DRAIN_MS ?? 1000);

const setsid = process.env.BENCH_SETSID;
if (!setsid) throw new Error('cluster primary: BENCH_SETSID is not set; start it through bench/targets/cluster.ts, which finds setsid(1)');

// Each worker in a session, and so an autogroup, of its own, as the supervisor's workers are.
// cluster.fork() has no `detached` option, but it spawns process.execPath with execArgv before the
// script: with setsid as the one and node first in the other, a worker runs `setsid node ...`, and
// setsid execs in place (a worker is not a process group leader), so the worker keeps its pid.
// Nothing else in this process reads process.execPath.
cluster.setupPrimary({ exec: fileURLToPath(new URL('./cluster-worker.js', import.meta.url)), execArgv: [process.execPath, ...process.execArgv] });
process.execPath = setsid;

function send(message: PrimaryMessage): void {
  process.send?.(message);
}

let stopping = false;

function startWorker(version: number): Promise<Worker> {
  const worker = cluster.fork({ BENCH_VERSION: String(version) });
  return new Promise((resolve, reject) => {
    // A worker that shutdown() killed did not fail to start: this process is about to exit.
    const onExit = (code: number, signal: string | null) => {
      if (!stopping) reject(new Error(`cluster worker ${worker.process.pid} exited (${signal ?? `code ${code}`}) before listening`));
    };
    worker.once('exit', onExit);
    worker.once('listening', () => {
      worker.off('exit', onExit);
      resolve(worker);
    });
  });
}

// Resolves true when the worker was killed at the deadline.
function retire(worker: Worker): Promise<boolean> {
  return new Promise((resolve) => {
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      worker.process.kill('SIGKILL');
    }, drainMs);
    worker.once('exit', () => {
      clearTimeout(timer);
      resolve(killed);
    });
    worker.disconnect();
  });
}

// Ends every worker and waits for its exit, so the benchmark leaves no process behind. Armed before
// the first workers start: neither this primary nor its workers get the terminal's SIGINT (each has
// a session of its own), so a benchmark interrupted while they start ends them through these.
async function shutdown(): Promise<never> {
  stopping = true;
  const all = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
  await Promise.all(all.map((worker) => new Promise<void>((resolve) => {
    if (worker.process.exitCode !== null || worker.process.signalCode !== null) return resolve();
    worker.process.once('exit', () => resolve());
    worker.process.kill('SIGKILL');
  })));
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown());
process.once('disconnect', () => void shutdown());

let current = await Promise.all(Array.from({ length: workers }, () => startWorker(1)));
send({ type: 'ready' });

let reloading = Promise.resolve();
process.on('message', (message: PrimaryCommand) => {
  if (message.type !== 'reload') return;
  reloading = reloading.then(async () => {
    const next: Worker[] = [];
    const retiring: Promise<boolean>[] = [];
    for (const old of current) {
      next.push(await startWorker(message.reload + 1));
      retiring.push(retire(old));
    }
    current = next;
    send({ type: 'promoted', reload: message.reload });
    const killed = (await Promise.all(retiring)).filter(Boolean).length;
    send({ type: 'gone', reload: message.reload, killed });
  }).catch((error: unknown) => send({ type: 'failed', reload: message.reload, message: (error as Error).message }));
});
