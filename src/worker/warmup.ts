// In-process warm-up for the Node helper: before the worker listens on the supervisor's sockets
// and says READY=1, it sends itself requests through a private server on 127.0.0.1 that runs the
// same handler, so V8 compiles the handler and Node's HTTP paths on this traffic rather than on the
// first clients'. It works in every socket mode (nothing is listening on the real sockets yet) and
// costs only the warming process's own CPU, at its own (lowered) priority. A plan's GETs go out
// through a client of prebuilt bytes (warmup-client.ts), so the CPU goes to the server's side; the
// fetch a warm-up function is given is Node's own client, for any method, header and body.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readyTimeoutFromEnv } from '../worker-contract.js';
import { WarmupConnections } from './warmup-client.js';

/** Requests the helper sends itself; half on new connections, half on keep-alive ones. */
export interface WarmupPlan {
  /** default 1000 */
  requests?: number;
  /** GET paths, requested in turn; default ['/'] */
  paths?: string[];
  /** requests in flight at once; default 4 */
  concurrency?: number;
  /**
   * Stop after this long, done or not, and serve less warm: on a busy machine a long warm-up must
   * not run into the supervisor's ready.timeout. Default: 5000, and at most half of
   * SUPERVISOR_READY_TIMEOUT_MS less the time since the process started.
   */
  timeoutMs?: number;
}

export interface WarmupRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** A request to the private warm-up server: resolves with the answer, rejects when there is none. */
export type WarmupFetch = (path: string, init?: WarmupRequest) => Promise<{ status: number; body: string }>;

/** Either a plan, or the app's own function given a fetch to the private server. */
export type Warmup = WarmupPlan | ((fetch: WarmupFetch) => void | Promise<void>);

export interface WarmupResult {
  requests: number;
  durationMs: number;
  /** timeoutMs came first */
  cutShort: boolean;
}

/** The user-agent of the warm-up requests, so a handler can tell them from clients'. */
export const WARMUP_USER_AGENT = 'reuseport-supervisor-worker-warmup';

// A 5xx (or no answer) during warm-up means the app is not fit to serve: the worker exits
// non-zero before READY=1, and the supervisor rolls the reload back.
// `prepare` sets the private server up as the real ones are (serveHttp tracks their connections
// for the drain), so that code is warm too.
export async function warmUpInProcess(handler: http.RequestListener, warmup: Warmup, prepare: (server: http.Server) => void = () => {}): Promise<WarmupResult> {
  const plan = typeof warmup === 'function' ? null : checkPlan(warmup);
  const started = Date.now();
  const server = http.createServer();
  prepare(server);
  server.on('request', handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const keepAlive = new http.Agent({ keepAlive: true });
  let requests = 0;
  const fetch = (path: string, init: WarmupRequest = {}, agent: http.Agent | false = keepAlive) =>
    send(port, path, init, agent).then((answer) => {
      requests++;
      return answer;
    });
  try {
    if (plan === null) {
      await (warmup as Exclude<Warmup, WarmupPlan>)(fetch);
    } else {
      let next = 0;
      const deadline = started + plan.timeoutMs;
      const lane = async (connections: WarmupConnections) => {
        while (next < plan.requests && Date.now() < deadline) {
          const index = next++;
          const path = plan.paths[index % plan.paths.length]!;
          // Even requests on a new connection each, odd ones on the lanes' keep-alive connections.
          const status = await connections.get(path, index % 2 === 0 ? 'new' : 'keep-alive').catch((error: NodeJS.ErrnoException) => {
            throw new Error(`GET ${path} got no answer (${error.code ?? error.message})`, { cause: error });
          });
          requests++;
          if (status >= 500) throw new Error(`GET ${path} answered ${status} (request ${index + 1} of ${plan.requests})`);
        }
      };
      const lanes = Array.from({ length: Math.min(plan.concurrency, plan.requests) }, () => new WarmupConnections(port, WARMUP_USER_AGENT));
      try {
        await Promise.all(lanes.map(lane));
      } finally {
        for (const connections of lanes) connections.close();
      }
    }
  } catch (error) {
    throw new Error(`reuseport-supervisor/worker: warm-up failed: ${(error as Error).message}: fix the app or its warmup option; the worker does not say READY=1`, { cause: error });
  } finally {
    keepAlive.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  const cutShort = plan !== null && requests < plan.requests;
  if (cutShort) {
    process.stderr.write(`reuseport-supervisor/worker: warm-up cut short after ${plan.timeoutMs} ms (warmup.timeoutMs): ${requests} of ${plan.requests} requests; serving less warm (expected on a busy machine)\n`);
  }
  return { requests, durationMs: Date.now() - started, cutShort };
}

function checkPlan(plan: WarmupPlan): Required<WarmupPlan> {
  const requests = plan.requests ?? 1000;
  const paths = plan.paths ?? ['/'];
  const concurrency = plan.concurrency ?? 4;
  const timeoutMs = plan.timeoutMs ?? defaultTimeoutMs(readyTimeoutFromEnv(process.env));
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`reuseport-supervisor/worker: warmup.timeoutMs must be a number of milliseconds above 0; got ${String(timeoutMs)}`);
  if (!Number.isInteger(requests) || requests < 1) throw new RangeError(`reuseport-supervisor/worker: warmup.requests must be a whole number of at least 1; got ${String(requests)}`);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new RangeError(`reuseport-supervisor/worker: warmup.concurrency must be a whole number from 1 to 64; got ${String(concurrency)}`);
  if (!Array.isArray(paths) || paths.length === 0 || paths.some((path) => typeof path !== 'string' || !path.startsWith('/'))) {
    throw new RangeError(`reuseport-supervisor/worker: warmup.paths must be a non-empty list of paths starting with "/"; got ${JSON.stringify(paths)}`);
  }
  return { requests, paths, concurrency, timeoutMs };
}

const DEFAULT_TIMEOUT_MS = 5000;

// Half the supervisor's ready.timeout, less what starting took already: the warm-up ends well
// before the supervisor would give up on the worker. At least 1 ms (a warm-up cut short at once).
export function defaultTimeoutMs(readyTimeoutMs: number | null, uptimeMs = process.uptime() * 1000): number {
  if (readyTimeoutMs === null) return DEFAULT_TIMEOUT_MS;
  return Math.max(1, Math.min(DEFAULT_TIMEOUT_MS, Math.floor(readyTimeoutMs / 2 - uptimeMs)));
}

function send(port: number, path: string, init: WarmupRequest, agent: http.Agent | false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, path, agent, method: init.method ?? 'GET', headers: { 'user-agent': WARMUP_USER_AGENT, ...init.headers } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('error', (error) => reject(new Error(`${init.method ?? 'GET'} ${path} got no answer (${(error as NodeJS.ErrnoException).code ?? error.message})`, { cause: error })));
    request.end(init.body);
  });
}
