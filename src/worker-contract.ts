// The worker's environment (docs/worker-contract.md, "Environment"): which variables there are,
// how the supervisor writes them (workerEnvironment) and how a worker reads them (listenPlan and
// the drain settings). Both sides live here so they cannot drift apart; the daemon, the config's
// reserved names and the Node helper (src/worker/) all import this module. A worker loads it too,
// so it imports nothing but Node's own modules: never the daemon, the config or the addon.
import { constants } from 'node:os';

/**
 * Every variable the supervisor sets for a worker. The config refuses them in `env:` and
 * `inherit_env:`: a value there would be overwritten, or would break the contract.
 */
export const WORKER_ENV_NAMES = [
  'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET',
  'SUPERVISOR_GENERATION', 'SUPERVISOR_WORKER', 'SUPERVISOR_PID', 'SUPERVISOR_DRAIN_SIGNAL', 'SUPERVISOR_DRAIN_TIMEOUT_MS', 'SUPERVISOR_DRAIN_SPREAD_MS', 'SUPERVISOR_NICE', 'SUPERVISOR_AUTOGROUP_NICE', 'SUPERVISOR_READY_TIMEOUT_MS', 'SUPERVISOR_PARK_SIGNAL',
  'PORT', 'HOST',
] as const;

export type WorkerEnvName = (typeof WORKER_ENV_NAMES)[number];

/** First inherited fd, as in systemd's sd_listen_fds(): 0, 1, 2 are stdio. */
export const LISTEN_FDS_START = 3;

// ---------------------------------------------------------------------------------------------
// The supervisor's side.

/** A listen address as the contract needs it: an IP literal (IPv6 without brackets) and a port. */
export interface ContractAddress {
  host: string;
  port: number;
}

export interface WorkerEnvironmentInput {
  /** The supervisor's own environment, from which the `inherit` names are copied when set. */
  parent: NodeJS.ProcessEnv;
  inherit: readonly string[];
  /** The config's `env:`; it overrides inherited values and is overridden by the contract's. */
  configured: Readonly<Record<string, string>>;
  /** The config's `listen:` addresses: the first is PORT/HOST; each names one handed-over fd. */
  listen: readonly ContractAddress[];
  /** How many listening sockets are handed over at fd 3.. (0 in `self` mode). */
  listenFds: number;
  notifySocket: string;
  supervisorPid: number;
  generation: number;
  /** The worker's slot, 1..workers. */
  worker: number;
  drain: { signal: string; timeoutMs: number; spreadMs: number };
  /** bake.park_signal: the signal after which a worker of a baking generation closes its keep-alive connections and stays up; null: none. */
  parkSignal?: string | null;
  /** The thread nice value the worker starts at, for it to keep its own threads there; 0: none. */
  nice: number;
  /**
   * The autogroup nice the worker's session starts at (the exec shim writes it before the program
   * runs, so its start-up is at the warming priority from the first instruction); 0 or absent: none.
   */
  autogroupNice?: number;
  /** ready.timeout: how long the worker has to be ready (an in-process warm-up stays within it). */
  readyTimeoutMs: number;
}

/**
 * The whole environment of a worker: the inherited names, then `env:`, then the contract.
 * LISTEN_PID is not here: only the exec shim knows the worker's pid (native/shim.c sets it).
 */
export function workerEnvironment(input: WorkerEnvironmentInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of input.inherit) {
    const value = input.parent[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, input.configured);
  const first = input.listen[0]!;
  const contract: Partial<Record<WorkerEnvName, string>> = {
    PORT: String(first.port),
    HOST: first.host,
    NOTIFY_SOCKET: input.notifySocket,
    SUPERVISOR_PID: String(input.supervisorPid),
    SUPERVISOR_GENERATION: String(input.generation),
    SUPERVISOR_WORKER: String(input.worker),
    SUPERVISOR_DRAIN_SIGNAL: input.drain.signal,
    SUPERVISOR_DRAIN_TIMEOUT_MS: String(input.drain.timeoutMs),
    ...(input.parkSignal ? { SUPERVISOR_PARK_SIGNAL: input.parkSignal } : {}),
    ...(input.drain.spreadMs > 0 ? { SUPERVISOR_DRAIN_SPREAD_MS: String(input.drain.spreadMs) } : {}),
    ...(input.nice > 0 ? { SUPERVISOR_NICE: String(input.nice) } : {}),
    ...((input.autogroupNice ?? 0) > 0 ? { SUPERVISOR_AUTOGROUP_NICE: String(input.autogroupNice) } : {}),
    SUPERVISOR_READY_TIMEOUT_MS: String(input.readyTimeoutMs),
    ...(input.listenFds > 0 ? { LISTEN_FDS: String(input.listenFds), LISTEN_FDNAMES: encodeListenFdNames(input.listen) } : {}),
  };
  return Object.assign(env, contract);
}

// ---------------------------------------------------------------------------------------------
// LISTEN_FDNAMES: one name per fd, joined with ':' as systemd does, so a name holds no ':'. A
// name is the listen address with each ':' written '_' (127.0.0.1_8000, [__1]_8000): readable,
// and reversible, since no IP literal holds a '_' (a zone id after '%' may; it is left alone).

/** `127.0.0.1_8000`, `[__1]_8000`. */
export function listenFdName(address: ContractAddress): string {
  return addressText(address).replaceAll(':', '_');
}

export function encodeListenFdNames(addresses: readonly ContractAddress[]): string {
  return addresses.map(listenFdName).join(':');
}

/** The address a name stands for, or null for a name this supervisor did not write (systemd's own, e.g. `http`). */
export function decodeListenFdName(name: string): ContractAddress | null {
  const match = /^(.+)_(\d{1,5})$/.exec(name);
  if (!match) return null;
  const written = match[1]!;
  const port = Number(match[2]);
  if (port > 65535) return null;
  if (!written.startsWith('[')) return /^[\d.]+$/.test(written) ? { host: written, port } : null;
  if (!written.endsWith(']')) return null;
  const inner = written.slice(1, -1);
  const zone = inner.indexOf('%');
  const address = zone < 0 ? inner : inner.slice(0, zone);
  return { host: address.replaceAll('_', ':') + (zone < 0 ? '' : inner.slice(zone)), port };
}

/** `127.0.0.1:8000`, `[::1]:8000`. */
export function addressText(address: ContractAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

// ---------------------------------------------------------------------------------------------
// The worker's side: pure functions over an env object, testable without touching process.env.

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
function millisecondsFromEnv(env: NodeJS.ProcessEnv, name: WorkerEnvName): number | null {
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

/** SUPERVISOR_PARK_SIGNAL, or null when unset or empty. */
export function parkSignalFromEnv(env: NodeJS.ProcessEnv): NodeJS.Signals | null {
  const configured = env.SUPERVISOR_PARK_SIGNAL;
  if (!configured) return null;
  if (!(configured in constants.signals)) {
    throw new WorkerEnvError(`SUPERVISOR_PARK_SIGNAL=${JSON.stringify(configured)} is not a signal name this system knows (for example SIGUSR2).`);
  }
  return configured as NodeJS.Signals;
}

/**
 * What each inherited fd is, for log lines and errors: the address its LISTEN_FDNAMES name stands
 * for (`127.0.0.1:8000`), another supervisor's name as it is, else `fd N`.
 */
function fdNames(text: string, fds: number[]): string[] {
  const names = text === '' ? [] : text.split(':');
  if (names.length !== fds.length) return fds.map((fd) => `fd ${fd}`);
  return fds.map((fd, i) => {
    const name = names[i]!;
    const address = decodeListenFdName(name);
    return address ? addressText(address) : name || `fd ${fd}`;
  });
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
