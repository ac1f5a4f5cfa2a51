// reuseport-supervisor/worker: the helper for Node workers. It listens where the supervisor says
// (inherited fds, or PORT/HOST with SO_REUSEPORT), says READY=1, and on the drain signal finishes
// every request, keep-alive ones included, before exiting. The contract is docs/worker-contract.md.
import * as http from 'node:http';
import { drainHttpServers, parkHttpServers, trackHttpServer, type DrainResult } from './drain.js';
import { drainSignalsFromEnv, drainSpreadFromEnv, drainTimeoutFromEnv, listenPlan, parkSignalFromEnv, type ListenPlan } from '../worker-contract.js';
import { listenTargets, serverAddress } from './listen.js';
import { notify, notifyReady } from './notify.js';
import { acceptorsOf, addAcceptors } from './acceptors.js';
import { warmUpInProcess, type Warmup } from './warmup.js';

const DEFAULT_ACCEPTORS = 8;
const MAX_ACCEPTORS = 64;

export { drainHttpServers, parkHttpServers, trackHttpServer, type DrainResult } from './drain.js';
export {
  drainSignalsFromEnv,
  drainSpreadFromEnv,
  drainTimeoutFromEnv,
  inheritedListenFds,
  listenPlan,
  WorkerEnvError,
  type ListenPlan,
} from '../worker-contract.js';
export { notify, notifyReady } from './notify.js';
export { warmUpInProcess, WARMUP_USER_AGENT, type Warmup, type WarmupFetch, type WarmupPlan, type WarmupRequest, type WarmupResult } from './warmup.js';

export interface ServeOptions {
  /** How long to wait for connections once draining. Default: SUPERVISOR_DRAIN_TIMEOUT_MS - 500 (min 0), else 30000. */
  drainTimeoutMs?: number;
  /**
   * Spread closing keep-alive connections over this window once draining: each gets its
   * `Connection: close` on its first response after a random moment within it. Default:
   * SUPERVISOR_DRAIN_SPREAD_MS (the supervisor's drain.spread), else 0 (all on their next response).
   */
  drainSpreadMs?: number;
  /** Signals that start the drain. Default: [SUPERVISOR_DRAIN_SIGNAL ?? 'SIGTERM', 'SIGINT']. `[]`: none, call drain() yourself. */
  drainSignals?: NodeJS.Signals[];
  /** Called once when draining starts. A returned promise is awaited (within the drain timeout) before exit. */
  onDrain?: () => void | Promise<void>;
  /** Port for runs without any supervisor environment: 127.0.0.1:(PORT ?? standalonePort ?? 3000). */
  standalonePort?: number;
  /** Send READY=1 once listening (default true). false: call notifyReady() yourself when warmed up. */
  sendReady?: boolean;
  /**
   * Accept handles per listening socket (default 8, 1 to 64): how many new connections one turn of
   * the event loop can accept. Node accepts one per handle and turn, so under keep-alive load new
   * connections otherwise wait a whole turn each. Standalone runs use one.
   */
  acceptors?: number;
  /**
   * Warm up before listening on the supervisor's sockets and before READY=1: `{ requests, paths,
   * concurrency }` sends the handler that many requests through a private server on 127.0.0.1
   * (half on new connections, half keep-alive), or a function is given a fetch to that server and
   * awaited. A 5xx or a request with no answer rejects serveHttp (the worker should exit non-zero:
   * the supervisor then rolls the reload back). Default: none.
   */
  warmup?: Warmup;
}

export interface WorkerHandle {
  servers: http.Server[];
  /** True from the moment the drain starts. */
  draining: boolean;
  /** Starts the drain (once; later calls return the same promise). Resolves when done; does not exit. */
  drain(): Promise<DrainResult>;
  /** Where the servers listen, e.g. `127.0.0.1:8000`. */
  addresses: string[];
  /** How the sockets were obtained. */
  mode: ListenPlan['mode'];
}

/**
 * Serves `handler` on the supervisor's sockets and sends READY=1 when all of them listen. On a drain
 * signal: stop accepting, finish in-flight and keep-alive work with `Connection: close`, exit 0.
 */
export async function serveHttp(handler: http.RequestListener, options: ServeOptions = {}): Promise<WorkerHandle> {
  const env = process.env;
  const drainTimeoutMs = options.drainTimeoutMs ?? drainTimeoutFromEnv(env);
  const drainSignals = options.drainSignals ?? drainSignalsFromEnv(env);
  const drainSpreadMs = Math.min(options.drainSpreadMs ?? drainSpreadFromEnv(env), drainTimeoutMs);
  const plan = listenPlan(env, options.standalonePort);
  if (plan.mode === 'inherited') forgetListenEnv(env);

  const acceptors = options.acceptors ?? DEFAULT_ACCEPTORS;
  if (!Number.isInteger(acceptors) || acceptors < 1 || acceptors > MAX_ACCEPTORS) {
    throw new RangeError(`reuseport-supervisor/worker: acceptors must be a whole number from 1 to ${MAX_ACCEPTORS}; got ${String(acceptors)}`);
  }
  // Before listening: in shared and self mode a listening worker takes client connections at once.
  if (options.warmup !== undefined) await warmUpInProcess(handler, options.warmup, trackHttpServer);
  const servers: http.Server[] = [];
  for (const target of listenTargets(plan)) {
    const server = http.createServer();
    // Tracking starts before listening so every connection is known to the drain.
    trackHttpServer(server);
    server.on('request', handler);
    try {
      const fd = await target.listen(server);
      if (fd !== null && acceptors > 1) await addAcceptors(server, fd, acceptors - 1);
    } catch (error) {
      for (const started of [...servers, server]) {
        for (const acceptor of acceptorsOf(started)) acceptor.close();
        if (started.listening) started.close();
      }
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`reuseport-supervisor/worker: cannot listen on ${target.describe}: ${reason}`, { cause: error });
    }
    servers.push(server);
  }

  let drainPromise: Promise<DrainResult> | undefined;
  const handle: WorkerHandle = {
    servers,
    draining: false,
    addresses: servers.map(serverAddress),
    mode: plan.mode,
    drain: () => (drainPromise ??= runDrain(handle, drainTimeoutMs, drainSpreadMs, options.onDrain)),
  };

  // Signal handlers only start the drain; everything else happens in runDrain.
  for (const signal of drainSignals) {
    process.on(signal, () => {
      if (handle.draining) return;
      handle.drain().then(
        () => process.exit(0),
        (error: unknown) => {
          process.stderr.write(`reuseport-supervisor/worker: drain failed: ${describe(error)}\n`);
          process.exit(1);
        },
      );
    });
  }

  // bake.park_signal: the supervisor keeps this process for a rollback; its clients should move on.
  const parkSignal = parkSignalFromEnv(env);
  if (parkSignal !== null && !drainSignals.includes(parkSignal)) {
    process.on(parkSignal, () => {
      if (handle.draining) return;
      const parked = parkHttpServers(handle.servers);
      process.stderr.write(`reuseport-supervisor/worker: parked (${parkSignal}): ${parked} connection(s) close after their next response; still listening\n`);
    });
  }

  if (options.sendReady !== false) notifyReady(env);
  return handle;
}

async function runDrain(
  handle: WorkerHandle,
  timeoutMs: number,
  spreadMs: number,
  onDrain: ServeOptions['onDrain'],
): Promise<DrainResult> {
  handle.draining = true;
  const deadline = Date.now() + timeoutMs;
  try {
    // Informational for the supervisor; a failure here must not stop the drain.
    notify(process.env, 'STOPPING=1');
  } catch (error) {
    process.stderr.write(`${describe(error)}\n`);
  }
  // Started before the servers drain so the application can close its own long-lived connections.
  const appDone = Promise.resolve().then(() => onDrain?.());
  appDone.catch(() => {}); // observed below; this only keeps an early rejection from counting as unhandled
  const result = await drainHttpServers(handle.servers, timeoutMs, spreadMs);
  if (result.timedOut) {
    process.stderr.write(
      `reuseport-supervisor/worker: drain timeout (${timeoutMs} ms) reached; destroyed ${result.destroyed} ` +
        `connection(s), ${result.destroyedBusy} with a response in progress. Raise the supervisor's drain timeout ` +
        'if requests legitimately take this long.\n',
    );
  }
  let timer: NodeJS.Timeout | undefined;
  const appDeadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
  });
  try {
    await Promise.race([appDone, appDeadline]);
  } finally {
    clearTimeout(timer);
  }
  return result;
}

// Child processes of the worker must not mistake the supervisor's sockets for their own
// (sd_listen_fds(unset_environment=1) does the same).
function forgetListenEnv(env: NodeJS.ProcessEnv): void {
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
