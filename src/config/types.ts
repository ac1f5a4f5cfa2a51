// The validated configuration the daemon and CLI consume. Every duration is in milliseconds and
// every path is absolute, so no consumer re-derives anything from the YAML.

export type SocketMode = 'reuseport' | 'shared' | 'self';
export type ReadyKind = 'notify' | 'http' | 'tcp' | 'delay';
/** How reuseport mode keeps a reload lossless (docs/configuration.md, "lossless"). */
export type LosslessMode = 'auto' | 'steer' | 'migrate' | 'off';

export interface ListenAddress {
  host: string;
  port: number;
  family: 4 | 6;
  /** "127.0.0.1:8000" or "[::1]:8000" */
  text: string;
}

export interface WarmupConfig {
  requests: number;
  /** requested in turn, GET */
  paths: string[];
  /** requests in flight at once */
  concurrency: number;
  /** the warm-up stops this long after the worker started, done or not (it then serves less warm) */
  timeoutMs: number;
}

export interface SupervisorConfig {
  /** absolute path of the config file */
  file: string;
  /** at least one, no duplicates */
  listen: ListenAddress[];
  socket: SocketMode;
  lossless: LosslessMode;
  workers: number;
  /** argv as written */
  command: string[];
  /** command[0] resolved to an absolute path */
  executable: string;
  /** absolute; symlinks are NOT resolved (the daemon resolves it per generation) */
  cwd: string;
  env: Record<string, string>;
  inheritEnv: string[];
  /**
   * nice/niceRampMs: a new worker starts at this nice value (0: normal priority), raised step by step
   * to 0 over niceRampMs while it is not ready. warmup: requests the supervisor sends each new worker
   * through its own socket after it is ready and before it serves; null: none.
   */
  ready: { kind: ReadyKind; timeoutMs: number; path: string; intervalMs: number; delayMs: number; nice: number; niceRampMs: number; warmup: WarmupConfig | null };
  /** spreadMs: workers close their keep-alive connections over this window instead of all at the drain signal */
  drain: { signal: NodeJS.Signals; timeoutMs: number; spreadMs: number };
  restart: { backoffMs: number; maxMs: number; crashLoop: number };
  /** a release to watch: a change triggers a reload; null when not configured */
  watch: { path: string; debounceMs: number; ignore: string[] } | null;
  /** per worker: lines past `burst` within `intervalMs` are counted, not forwarded; burst 0: no limit */
  outputLimit: { burst: number; intervalMs: number };
  backlog: number;
  /** workers run as this uid/gid (the supervisor must be root); null: as the supervisor */
  user: { uid: number; gid: number; name: string } | null;
  /** absolute path of the control socket */
  control: string;
  /** the HTTP listener for /metrics and /healthz; null when not configured */
  metrics: ListenAddress | null;
  /** on stop, /healthz answers 503 "draining" this long before any worker is told to drain */
  stopGraceMs: number;
  /** after a reload's promotion, the new generation's share of new connections grows from 0 to all over this long (steering only) */
  slowStartMs: number;
  /** a reload starts at most this many new workers at a time, the next when one is ready; 0: all at once */
  startConcurrency: number;
}

export interface LoadOptions {
  /** the supervisor's environment (default process.env): PATH for the executable search, RUNTIME_DIRECTORY */
  env?: NodeJS.ProcessEnv;
  /** the supervisor's uid (default process.getuid()): root gets a control socket under /run */
  uid?: number;
  /** check that cwd, the executable and the control socket's directory exist (default true) */
  checkFilesystem?: boolean;
}
