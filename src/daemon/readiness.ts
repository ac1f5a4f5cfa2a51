import http from 'node:http';
import net from 'node:net';
import type { Worker } from './worker.js';
import type { SupervisorConfig, ListenAddress } from '../config/index.js';

export type NotReadyReason = 'timeout' | 'exit' | 'probe' | 'aborted';

export class NotReadyError extends Error {
  readonly reason: NotReadyReason;
  constructor(reason: NotReadyReason, message: string) {
    super(message);
    this.name = 'NotReadyError';
    this.reason = reason;
  }
}

export interface ReadinessInputs {
  worker: Worker;
  ready: SupervisorConfig['ready'];
  probeAddress: ListenAddress;
  // Resolves when the worker sent READY=1 on the notify socket.
  notified: Promise<void>;
  signal: AbortSignal;
}

// Resolves when the worker proves it can serve, by the configured kind; rejects with the reason it
// never did. A worker that exits while we wait fails at once, whatever the kind.
export async function waitUntilReady(inputs: ReadinessInputs): Promise<void> {
  const { worker, ready, signal } = inputs;
  const local = new AbortController();
  const stop = () => local.abort();
  signal.addEventListener('abort', stop, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    const failures = new Promise<never>((_, reject) => {
      timer = setTimeout(
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
    clearTimeout(timer);
    local.abort();
    signal.removeEventListener('abort', stop);
  }
}

function proof(inputs: ReadinessInputs, signal: AbortSignal): Promise<void> {
  const { ready, probeAddress } = inputs;
  switch (ready.kind) {
    case 'notify':
      return inputs.notified;
    case 'delay':
      return sleep(ready.delayMs, signal);
    case 'http':
      return pollUntil(() => httpProbe(probeAddress, ready.path, ready.intervalMs * 10), ready.intervalMs, signal);
    case 'tcp':
      return pollUntil(() => tcpProbe(probeAddress, ready.intervalMs * 10), ready.intervalMs, signal);
    default:
      return Promise.reject(new NotReadyError('probe', `unknown ready.kind ${String(ready.kind)}`));
  }
}

async function pollUntil(probe: () => Promise<boolean>, intervalMs: number, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    if (await probe()) return;
    await sleep(intervalMs, signal);
  }
  return new Promise(() => {}); // cancelled: the race is decided elsewhere
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  });
}

export function httpProbe(address: ListenAddress, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get(
      { host: address.host, port: address.port, path, agent: false, timeout: timeoutMs, headers: { connection: 'close' } },
      (response) => {
        response.resume();
        const status = response.statusCode ?? 0;
        resolve(status >= 200 && status < 300);
      },
    );
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
}

export function tcpProbe(address: ListenAddress, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address.host, port: address.port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}
