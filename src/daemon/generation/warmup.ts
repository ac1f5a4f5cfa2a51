import http from 'node:http';
import net from 'node:net';
import type { ListenAddress, WarmupConfig } from '../../config/index.js';
import type { PortBlock } from '../sockets/probe-blocks.js';
import { probeSourceHost } from '../sockets/steering.js';
import { NotReadyError } from './readiness.js';
import { realClock, type Clock } from '../clock.js';

// The supervisor's warm-up (ready.warmup): once a worker said it is ready, and before it gets any
// client connection, the supervisor sends it `requests` GET requests itself, through its own
// listening socket, so a runtime with a JIT (Node, the JVM, PyPy) compiles its hot paths on this
// traffic instead of on its first clients'. Every connection comes from a block of source ports
// the steering program routes to this one worker. Half the requests go over keep-alive
// connections, half each on a new connection, so both the accept path and the keep-alive path
// run. Connections are closed with a reset (SO_LINGER 0, as HAProxy closes health checks) so no
// port of the block waits in TIME_WAIT and the block can be reused at once.
export interface WarmupRoute {
  address: ListenAddress;
  /** Routes a block of source ports to the worker under test; null when none can be (no steering, no free block). */
  routeBlock: (size: number) => { block: PortBlock; unroute: () => void } | null;
}

export interface WarmupOutcome {
  requests: number; // answered
  /** the deadline came first: the worker goes into service with the warm-up it got */
  cutShort: boolean;
  connections: number;
  durationMs: number;
  /** answers by status code, e.g. { "200": 999, "404": 1 } */
  statuses: Record<string, number>;
}

export interface WarmupOptions {
  signal: AbortSignal;
  /** clock.now() at which the warm-up stops, done or not */
  deadline: number;
  onProgress?: (done: number, total: number) => void;
  clock?: Clock; // the real one unless a test runs in virtual time
}

// Ports a lane may hold at once: its keep-alive connection and one new connection; four per lane
// keep a just-reset port out of use for a while anyway.
const PORTS_PER_LANE = 4;

/**
 * Resolves when every request is answered, or at the deadline with what was (cutShort): a busy
 * machine makes a warm-up shorter, never a rollback. Rejects with NotReadyError('warmup') on the
 * first request answered 5xx or not at all: a worker that fails requests before it serves anyone
 * would fail its clients' too.
 */
export async function warmUp(route: WarmupRoute, plan: WarmupConfig, options: WarmupOptions): Promise<WarmupOutcome> {
  const size = Math.min(256, Math.max(8, PORTS_PER_LANE * plan.concurrency));
  const routed = route.routeBlock(size);
  if (!routed) throw new NotReadyError('warmup', 'warm-up could not start: no block of source ports could be routed to the worker (steering is off, or ports 10000-19999 are all taken): the worker was not put in service');
  const clock = options.clock ?? realClock;
  const started = clock.now();
  const stop = new AbortController();
  const abort = () => stop.abort();
  options.signal.addEventListener('abort', abort, { once: true });
  const timer = clock.setTimeout(abort, Math.max(0, options.deadline - started));
  const client = new WarmupClient(route.address, routed.block, stop.signal);
  const statuses: Record<string, number> = {};
  let next = 0;
  let done = 0;
  try {
    const lane = async (laneIndex: number) => {
      const agent = client.agent();
      try {
        while (next < plan.requests && !stop.signal.aborted) {
          const index = next++;
          const path = plan.paths[index % plan.paths.length]!;
          const status = await client.get(agent, path, index % 2 === 0 ? 'new' : 'keep-alive', laneIndex);
          if (status >= 500) throw new NotReadyError('warmup', `failed its warm-up: GET ${path} answered ${status} (request ${index + 1} of ${plan.requests}): the worker was not put in service`);
          statuses[status] = (statuses[status] ?? 0) + 1;
          done++;
          options.onProgress?.(done, plan.requests);
        }
      } catch (error) {
        stop.abort(); // the first failure ends every lane
        throw error;
      } finally {
        client.release(agent);
      }
    };
    const lanes = Array.from({ length: Math.min(plan.concurrency, plan.requests) }, (_, index) => lane(index));
    const results = await Promise.allSettled(lanes);
    if (options.signal.aborted) throw new NotReadyError('aborted', 'warm-up was cancelled');
    const failure = results.flatMap((result) => (result.status === 'rejected' && !(result.reason instanceof WarmupAborted) ? [result.reason as unknown] : []))[0];
    if (failure !== undefined) throw failure;
    return { requests: done, cutShort: done < plan.requests, connections: client.connections, durationMs: clock.now() - started, statuses };
  } catch (error) {
    stop.abort();
    throw error instanceof NotReadyError ? error : new NotReadyError('warmup', `failed its warm-up: ${(error as Error).message}: the worker was not put in service`);
  } finally {
    timer.clear();
    options.signal.removeEventListener('abort', abort);
    client.close();
    routed.unroute();
  }
}

class WarmupAborted extends Error {}

// HTTP/1.1 GETs from the routed port block: one keep-alive agent per lane (Node's parser and
// connection reuse), each request either on the lane's kept connection or on a new one that is
// reset after its answer.
class WarmupClient {
  connections = 0;
  readonly #address: ListenAddress;
  readonly #source: string;
  readonly #block: PortBlock;
  readonly #signal: AbortSignal;
  readonly #sockets = new Set<net.Socket>();
  readonly #portsInUse = new Set<number>();
  #cursor = 0;

  constructor(address: ListenAddress, block: PortBlock, signal: AbortSignal) {
    this.#address = address;
    this.#source = probeSourceHost(address);
    this.#block = block;
    this.#signal = signal;
  }

  agent(): { kept: http.Agent; fresh: http.Agent } {
    return { kept: this.#agent(), fresh: this.#agent() };
  }

  // Resets the lane's connections (a plain destroy() would close with a FIN and leave the port
  // in TIME_WAIT), then lets its agents go.
  release(agent: { kept: http.Agent; fresh: http.Agent }): void {
    for (const one of [agent.kept, agent.fresh]) {
      for (const list of [...Object.values(one.freeSockets), ...Object.values(one.sockets)]) {
        for (const socket of list ?? []) resetQuietly(socket as net.Socket);
      }
      one.destroy();
    }
  }

  async get(agent: { kept: http.Agent; fresh: http.Agent }, path: string, connection: 'new' | 'keep-alive', lane: number): Promise<number> {
    // A port of the block another program holds (or a connection of ours not yet gone) fails the
    // bind: the next port is tried, up to the block's size.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#request(connection === 'new' ? agent.fresh : agent.kept, path, connection === 'new');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const local = code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL';
        if (!local || attempt >= this.#block.to - this.#block.from) {
          if (this.#signal.aborted) throw new WarmupAborted('aborted');
          throw new Error(`GET ${path} on lane ${lane + 1} got no answer (${code ?? (error as Error).message})`, { cause: error });
        }
      }
    }
  }

  close(): void {
    for (const socket of this.#sockets) resetQuietly(socket);
    this.#sockets.clear();
  }

  #agent(): http.Agent {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 });
    // Every connection from the next port of the routed block, to the one address.
    (agent as unknown as { createConnection: () => net.Socket }).createConnection = () => {
      const localPort = this.#nextPort();
      const socket = net.connect({ host: this.#source, port: this.#address.port, localAddress: this.#source, localPort });
      this.connections++;
      this.#sockets.add(socket);
      this.#portsInUse.add(localPort);
      socket.once('close', () => {
        this.#sockets.delete(socket);
        this.#portsInUse.delete(localPort);
      });
      return socket;
    };
    return agent;
  }

  // The next port of the block that none of our own connections holds (the lanes' keep-alive
  // connections keep theirs for the whole warm-up).
  #nextPort(): number {
    const size = this.#block.to - this.#block.from + 1;
    for (let tries = 0; tries < size; tries++) {
      const port = this.#block.from + (this.#cursor++ % size);
      if (!this.#portsInUse.has(port)) return port;
    }
    return this.#block.from + (this.#cursor++ % size); // all held: the bind fails and is retried
  }

  #request(agent: http.Agent, path: string, resetAfter: boolean): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#signal.aborted) return reject(new WarmupAborted('aborted'));
      const host = this.#address.family === 6 ? `[${this.#source}]:${this.#address.port}` : `${this.#source}:${this.#address.port}`;
      const request = http.get({ agent, path, headers: { host, 'user-agent': 'reuseport-supervisor-warmup' } });
      let socket: net.Socket | null = null;
      const onAbort = () => request.destroy(new WarmupAborted('aborted'));
      this.#signal.addEventListener('abort', onAbort, { once: true });
      const settle = () => this.#signal.removeEventListener('abort', onAbort);
      request.on('socket', (s) => (socket = s));
      request.on('error', (error) => {
        settle();
        reject(error);
      });
      request.on('response', (response) => {
        response.resume();
        response.on('error', (error) => {
          settle();
          reject(error);
        });
        response.on('end', () => {
          settle();
          if (resetAfter && socket) resetQuietly(socket);
          resolve(response.statusCode ?? 0);
        });
      });
    });
  }
}

// SO_LINGER 0 and close: an RST instead of a FIN, so neither side keeps the port in TIME_WAIT.
function resetQuietly(socket: net.Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
