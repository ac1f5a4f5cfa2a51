// Reads the worker contract's environment (docs/worker-contract.md). Pure functions over an env
// object so they are testable without touching process.env.
import { constants } from 'node:os';

/** First inherited fd, as in systemd's sd_listen_fds(): 0, 1, 2 are stdio. */
export const LISTEN_FDS_START = 3;

/** How this worker gets its listening sockets. */
export type ListenPlan =
  | { mode: 'inherited'; fds: number[]; names: string[] }
  | { mode: 'self'; host: string; port: number }
  | { mode: 'standalone'; host: string; port: number };

export class WorkerEnvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerEnvError';
  }
}

/**
 * The fds handed over by the supervisor (or systemd): [3 .. 3+LISTEN_FDS-1]. Empty when LISTEN_FDS
 * is unset, or when LISTEN_PID names another process: the variables were then inherited through a
 * wrapper that forked, and the fds (if still open) are not meant for us.
 */
export function inheritedListenFds(env: NodeJS.ProcessEnv = process.env): number[] {
  const count = env.LISTEN_FDS;
  if (count === undefined || count === '') return [];
  if (!listenPidMatches(env)) return [];
  const n = parseCount('LISTEN_FDS', count);
  return Array.from({ length: n }, (_, i) => LISTEN_FDS_START + i);
}

/** True when LISTEN_PID is unset (nothing to check) or equals this process's pid. */
export function listenPidMatches(env: NodeJS.ProcessEnv = process.env): boolean {
  const pid = env.LISTEN_PID;
  return pid === undefined || pid === '' || Number(pid) === process.pid;
}

/** Decides between inherited fds, binding PORT/HOST ourselves (`self` mode), or standalone. */
export function listenPlan(env: NodeJS.ProcessEnv, standalonePort?: number): ListenPlan {
  if (env.LISTEN_FDS !== undefined && env.LISTEN_FDS !== '') {
    if (!listenPidMatches(env)) {
      throw new WorkerEnvError(
        `LISTEN_FDS=${env.LISTEN_FDS} was handed to pid ${env.LISTEN_PID}, but this is pid ${process.pid}: ` +
          'the worker was started through a wrapper that forked (npm start, sh -c without exec, ...). ' +
          'Start node directly in the supervisor config, or end the wrapper script with `exec node ...`.',
      );
    }
    const fds = inheritedListenFds(env);
    if (fds.length === 0) {
      throw new WorkerEnvError('LISTEN_FDS=0: the supervisor handed over no listening socket; check its `socket:` setting.');
    }
    return { mode: 'inherited', fds, names: fdNames(env.LISTEN_FDNAMES ?? '', fds) };
  }
  const host = env.HOST;
  const portText = env.PORT;
  if (host && portText) {
    return { mode: 'self', host: stripBrackets(host), port: parsePort('PORT', portText) };
  }
  const port = portText ? parsePort('PORT', portText) : (standalonePort ?? 3000);
  return { mode: 'standalone', host: '127.0.0.1', port };
}

/**
 * How long the helper itself waits for connections to finish. It stops 500 ms before the
 * supervisor's SIGKILL so it can still destroy what is left and exit 0 on its own terms.
 */
export function drainTimeoutFromEnv(env: NodeJS.ProcessEnv): number {
  const ms = millisecondsFromEnv(env, 'SUPERVISOR_DRAIN_TIMEOUT_MS');
  return ms === null ? 30_000 : Math.max(0, ms - 500);
}

/** How long the supervisor waits for this worker to be ready (ready.timeout): SUPERVISOR_READY_TIMEOUT_MS, else null. */
export function readyTimeoutFromEnv(env: NodeJS.ProcessEnv): number | null {
  return millisecondsFromEnv(env, 'SUPERVISOR_READY_TIMEOUT_MS');
}

/** Over how long the helper spreads closing keep-alive connections: SUPERVISOR_DRAIN_SPREAD_MS, else 0. */
export function drainSpreadFromEnv(env: NodeJS.ProcessEnv): number {
  return millisecondsFromEnv(env, 'SUPERVISOR_DRAIN_SPREAD_MS') ?? 0;
}

// null when the variable is unset or empty.
function millisecondsFromEnv(env: NodeJS.ProcessEnv, name: string): number | null {
  const text = env[name];
  if (text === undefined || text === '') return null;
  const ms = Number(text);
  if (!Number.isFinite(ms) || ms < 0) throw new WorkerEnvError(`${name}=${JSON.stringify(text)} is not a number of milliseconds >= 0.`);
  return ms;
}

/** [SUPERVISOR_DRAIN_SIGNAL ?? SIGTERM, SIGINT], without duplicates. */
export function drainSignalsFromEnv(env: NodeJS.ProcessEnv): NodeJS.Signals[] {
  const configured = env.SUPERVISOR_DRAIN_SIGNAL || 'SIGTERM';
  // Same spellings as the config's drain.signal: TERM, sigterm, SIGTERM.
  const upper = configured.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (!(name in constants.signals)) {
    throw new WorkerEnvError(
      `SUPERVISOR_DRAIN_SIGNAL=${JSON.stringify(configured)} is not a signal name this system knows (for example SIGTERM, SIGQUIT, SIGUSR2).`,
    );
  }
  return [...new Set<NodeJS.Signals>([name as NodeJS.Signals, 'SIGINT'])];
}

/** Whether any part of the supervisor contract is present (used only to word log lines). */
export function isSupervised(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.SUPERVISOR_GENERATION || env.NOTIFY_SOCKET || env.LISTEN_FDS);
}

/**
 * Names for log lines only. LISTEN_FDNAMES is colon-separated, so a name written `host:port` only
 * splits cleanly when there is a single fd; otherwise fall back to the fd number.
 */
function fdNames(text: string, fds: number[]): string[] {
  const parts = text.split(':');
  if (fds.length === 1 && text) return [text];
  if (parts.length === fds.length) return fds.map((fd, i) => parts[i] || `fd ${fd}`);
  return fds.map((fd) => `fd ${fd}`);
}

function parseCount(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 1024) {
    throw new WorkerEnvError(`${name}=${JSON.stringify(text)} is not a count of file descriptors (an integer 0..1024).`);
  }
  return n;
}

function parsePort(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new WorkerEnvError(`${name}=${JSON.stringify(text)} is not a TCP port (an integer 0..65535).`);
  }
  return n;
}

// `[::1]` is how addresses are written next to a port; the socket API wants `::1`.
function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
