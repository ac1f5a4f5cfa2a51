// Draining HTTP/1 servers without failing a request (DESIGN.md section 2, "Keep-alive clients").
//
// A client may send a request on an idle keep-alive connection at any moment; if the server closes
// that connection at the same moment, the request fails and the client cannot know whether it ran.
// So the server never closes an idle connection while draining: it waits for the next request and
// answers it with `Connection: close`, or for the client to close. Only the deadline cuts this short.
import type * as http from 'node:http';
import * as net from 'node:net';
import { acceptorsOf } from './acceptors.js';

interface Tracker {
  readonly connections: Set<net.Socket>;
  readonly responses: Set<http.ServerResponse>;
  draining: boolean;
  // While draining: when each connection's next response becomes its last (performance.now()).
  readonly lastResponseFrom: WeakMap<net.Socket, number>;
  // Parked connections (bake.park_signal): each one's next response is its last; the server keeps
  // listening, and connections accepted later are kept alive as usual.
  readonly parked: WeakSet<net.Socket>;
}

export interface DrainResult {
  /** True when the deadline came before every connection had closed. */
  timedOut: boolean;
  /** Connections destroyed at the deadline. */
  destroyed: number;
  /** Of those, how many had a response still in progress. */
  destroyedBusy: number;
  elapsedMs: number;
}

const trackers = new WeakMap<http.Server, Tracker>();

/**
 * Starts tracking a server's connections and responses. Call it before the server listens (serveHttp
 * does); drainHttpServers calls it too, but connections accepted before that are then only counted
 * by the server itself, not individually known.
 */
export function trackHttpServer(server: http.Server): void {
  trackerOf(server);
}

/**
 * Stops accepting on every server, lets in-flight and keep-alive work finish with
 * `Connection: close`, and resolves when all connections are gone or `timeoutMs` has passed (then
 * what is left is destroyed). Does not exit the process.
 *
 * spreadMs: each connection gets its `Connection: close` on its first response after a moment
 * drawn at random within this window, not on the very next one. Every keep-alive client of a
 * worker reconnecting at once lands on the next generation as one burst, its freshly started
 * workers then serve those connections in lockstep, and new connections wait behind them (HAProxy's
 * close-spread-time answers the same problem).
 */
export async function drainHttpServers(servers: http.Server[], timeoutMs: number, spreadMs = 0): Promise<DrainResult> {
  const started = performance.now();
  const states = servers.map(trackerOf);
  for (const state of states) {
    state.draining = true;
    if (spreadMs > 0) for (const socket of state.connections) state.lastResponseFrom.set(socket, started + Math.random() * spreadMs);
    for (const res of state.responses) if (isDue(state, res)) closeAfter(res);
  }

  // net.Server's close() closes only the listening handle and reports when the last connection is
  // gone. http.Server's close() would also close idle keep-alive connections (Node >= 19).
  // The extra accept handles count the connections they accepted: each closes when its own are gone.
  const handles = servers.flatMap((server) => [server, ...acceptorsOf(server)]);
  const allClosed = Promise.all(
    handles.map((handle) => new Promise<void>((resolve) => net.Server.prototype.close.call(handle, () => resolve()))),
  );

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, 'deadline');
  });
  const outcome = await Promise.race([allClosed.then(() => 'drained' as const), deadline]);
  clearTimeout(timer);

  let destroyed = 0;
  let destroyedBusy = 0;
  if (outcome === 'deadline') {
    for (const state of states) {
      const busy = new Set([...state.responses].map((res) => res.socket));
      for (const socket of state.connections) {
        destroyed += 1;
        if (busy.has(socket)) destroyedBusy += 1;
        socket.destroy();
      }
    }
    // Connections accepted before tracking started are known only to the http server itself.
    for (const server of servers) server.closeAllConnections();
    // 'close' events follow destroy() within a tick or two; do not hang if one never comes.
    await Promise.race([allClosed, delay(1000)]);
  }
  return { timedOut: outcome === 'deadline', destroyed, destroyedBusy, elapsedMs: Math.round(performance.now() - started) };
}

/**
 * Parks the servers' connections (the supervisor's bake.park_signal): every connection open now
 * gets `Connection: close` on its next response, as in a drain, but the servers keep listening and
 * the process keeps running, so the supervisor can roll back to it. Idle connections are not
 * closed (a client may be sending on one right now): their next request gets the close. Returns
 * how many connections were parked.
 */
export function parkHttpServers(servers: http.Server[]): number {
  let parked = 0;
  for (const state of servers.map(trackerOf)) {
    for (const socket of state.connections) {
      state.parked.add(socket);
      parked++;
    }
    for (const res of state.responses) if (state.parked.has(res.socket as net.Socket)) closeAfter(res);
  }
  return parked;
}

function trackerOf(server: http.Server): Tracker {
  const existing = trackers.get(server);
  if (existing) return existing;
  const state: Tracker = { connections: new Set(), responses: new Set(), draining: false, lastResponseFrom: new WeakMap(), parked: new WeakSet() };
  server.on('connection', (socket: net.Socket) => {
    state.connections.add(socket);
    socket.once('close', () => state.connections.delete(socket));
  });
  // Prepended so the response is marked before the application's handler can send headers.
  server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if ((state.draining && isDue(state, res)) || state.parked.has(res.socket as net.Socket)) closeAfter(res);
    state.responses.add(res);
    // 'close' follows 'finish', and also comes alone when the client goes away mid-response.
    res.once('close', () => state.responses.delete(res));
  });
  trackers.set(server, state);
  return state;
}

// Connections accepted after the drain began have no moment: their first response is their last.
function isDue(state: Tracker, res: http.ServerResponse): boolean {
  const from = state.lastResponseFrom.get(res.socket as net.Socket);
  return from === undefined || performance.now() >= from;
}

/**
 * Makes this response the connection's last: Node then sends `Connection: close` and ends the
 * socket once the response is written. A response whose headers already went out with keep-alive
 * is left alone: its connection turns idle afterwards, and its next request gets the close.
 */
function closeAfter(res: http.ServerResponse): void {
  if (res.headersSent) return;
  res.shouldKeepAlive = false;
  // An explicit header also wins over a `Connection: keep-alive` the handler may have set already.
  res.setHeader('Connection', 'close');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
