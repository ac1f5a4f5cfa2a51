import http from 'node:http';
import net from 'node:net';
import type { Worker } from '../process/worker.js';
import type { SupervisorConfig, ListenAddress } from '../../config/index.js';
import type { PortBlock } from '../sockets/probe-blocks.js';
import { probeSourceHost } from '../sockets/steering.js';
import { realClock, type Clock, type Timer } from '../clock.js';

export type NotReadyReason = 'timeout' | 'exit' | 'probe' | 'warmup' | 'aborted';

export class NotReadyError extends Error {
  readonly reason: NotReadyReason;
  constructor(reason: NotReadyReason, message: string) {
    super(message);
    this.name = 'NotReadyError';
    this.reason = reason;
  }
}

// Where readiness probes go. `route` sends connections from one source port to the worker under
// test (steering), so a neighbour never answers for it; `owner` checks that the worker itself has
// a listening socket on the port (self mode, where nothing can be routed).
export interface ProbeTarget {
  address: ListenAddress;
  route?: (sourcePort: number) => (() => void) | null;
  // The same for a block of source ports at once (the warm-up's connections).
  routeBlock?: (size: number) => { block: PortBlock; unroute: () => void } | null;
  owner?: () => boolean;
  // True when the worker's own listener has no connection waiting: with a listener the supervisor
  // made, the handshake alone proves nothing, the worker taking the connection does.
  queueEmpty?: () => boolean;
}

export interface ReadinessInputs {
  worker: Worker;
  ready: SupervisorConfig['ready'];
  probe: ProbeTarget;
  // Resolves when the worker sent READY=1 on the notify socket.
  notified: Promise<void>;
  signal: AbortSignal;
  clock: Clock; // the timeout and the polls run on it
}

// Resolves when the worker proves it can serve, by the configured kind; rejects with the reason it
// never did. A worker that exits while we wait fails at once, whatever the kind.
export async function waitUntilReady(inputs: ReadinessInputs): Promise<void> {
  const { worker, ready, signal, clock } = inputs;
  const local = new AbortController();
  const stop = () => local.abort();
  signal.addEventListener('abort', stop, { once: true });
  let timer: Timer | undefined;
  try {
    const failures = new Promise<never>((_, reject) => {
      timer = clock.setTimeout(
        () => reject(new NotReadyError('timeout', `was not ready within ${ready.timeoutMs} ms (ready.kind: ${ready.kind})`)),
        ready.timeoutMs,
      );
      worker.exited().then(() => reject(new NotReadyError('exit', `${worker.describeExit()} before it was ready`)));
      if (signal.aborted) reject(new NotReadyError('aborted', 'readiness wait was cancelled'));
      signal.addEventListener('abort', () => reject(new NotReadyError('aborted', 'readiness wait was cancelled')), {
        once: true,
      });
    });
    await Promise.race([proof(inputs, local.signal), failures]);
  } finally {
    timer?.clear();
    local.abort();
    signal.removeEventListener('abort', stop);
  }
}

function proof(inputs: ReadinessInputs, signal: AbortSignal): Promise<void> {
  const { ready, probe, clock } = inputs;
  const owned = () => Promise.resolve(probe.owner ? probe.owner() : true);
  switch (ready.kind) {
    case 'notify':
      return inputs.notified;
    case 'delay':
      return sleep(clock, ready.delayMs, signal);
    case 'http':
      return pollUntil(async () => (await owned()) && httpProbe(probe, ready.path, ready.intervalMs * 10), ready.intervalMs, signal, clock);
    case 'tcp':
      return pollUntil(async () => (await owned()) && tcpProbe(probe, ready.intervalMs * 10, clock), ready.intervalMs, signal, clock);
    default:
      return Promise.reject(new NotReadyError('probe', `unknown ready.kind ${String(ready.kind)}`));
  }
}

async function pollUntil(probe: () => Promise<boolean>, intervalMs: number, signal: AbortSignal, clock: Clock): Promise<void> {
  while (!signal.aborted) {
    if (await probe()) return;
    await sleep(clock, intervalMs, signal);
  }
  return new Promise(() => {}); // cancelled: the race is decided elsewhere
}

// Never settles once cancelled (unlike clock.sleep, which rejects): the race is decided by the
// cancellation's own NotReadyError.
function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(resolve, ms);
    signal.addEventListener('abort', () => timer.clear(), { once: true });
  });
}

// Probes connect to the loopback address of a wildcard listener: the source address the steering
// program expects of them.
const connectHost = probeSourceHost;

// Source ports for targeted probes come from below the usual ephemeral range (32768-60999), so
// they rarely collide with the kernel's own choices; a collision is retried with another port.
const PROBE_PORT_BASE = 20_000;
const PROBE_PORT_SPAN = 12_000;
const PROBE_ATTEMPTS = 5;

interface Connected {
  socket: net.Socket;
  done: () => void;
}

async function connectTargeted(probe: ProbeTarget, timeoutMs: number): Promise<Connected | null> {
  const host = connectHost(probe.address);
  for (let attempt = 0; attempt < (probe.route ? PROBE_ATTEMPTS : 1); attempt++) {
    const sourcePort = PROBE_PORT_BASE + Math.floor(Math.random() * PROBE_PORT_SPAN);
    const unroute = probe.route?.(sourcePort) ?? null;
    const options: net.NetConnectOpts = { host, port: probe.address.port, timeout: timeoutMs };
    if (unroute) Object.assign(options, { localAddress: host, localPort: sourcePort });
    const result = await new Promise<net.Socket | 'retry' | null>((resolve) => {
      const socket = net.connect(options);
      socket.once('connect', () => resolve(socket));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(null);
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        socket.destroy();
        resolve(unroute && (error.code === 'EADDRINUSE' || error.code === 'EADDRNOTAVAIL') ? 'retry' : null);
      });
    });
    if (result === 'retry') {
      unroute?.();
      continue;
    }
    if (result === null) {
      unroute?.();
      return null;
    }
    return { socket: result, done: () => unroute?.() };
  }
  return null;
}

export async function httpProbe(probe: ProbeTarget, path: string, timeoutMs: number): Promise<boolean> {
  const connected = await connectTargeted(probe, timeoutMs);
  if (!connected) return false;
  return new Promise((resolve) => {
    const finish = (ok: boolean) => {
      connected.done();
      resolve(ok);
    };
    const request = http.get(
      { createConnection: () => connected.socket, path, timeout: timeoutMs, headers: { connection: 'close', host: connectHost(probe.address) } },
      (response) => {
        response.resume();
        const status = response.statusCode ?? 0;
        finish(status >= 200 && status < 300);
      },
    );
    request.on('timeout', () => request.destroy());
    request.on('error', () => finish(false));
  });
}

export async function tcpProbe(probe: ProbeTarget, timeoutMs: number, clock: Clock = realClock): Promise<boolean> {
  const connected = await connectTargeted(probe, timeoutMs);
  if (!connected) return false;
  connected.done();
  const deadline = clock.now() + timeoutMs;
  let accepted = !probe.queueEmpty;
  while (!accepted && clock.now() < deadline) {
    accepted = probe.queueEmpty!();
    if (!accepted) await clock.sleep(5);
  }
  connected.socket.destroy();
  return accepted;
}
