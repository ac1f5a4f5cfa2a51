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
  /**
   * After a promotion the previous generation stays alive, steered out, for windowMs (0: no bake),
   * so `supervisor rollback` or a failing new generation can bring it back at once. Skipped when
   * the previous generation holds more than maxRssBytes (0: no limit). maxExits: worker exits of
   * the new generation tolerated during the window before it is rolled back.
   */
  bake: { windowMs: number; maxRssBytes: number; maxExits: number; parkSignal: NodeJS.Signals | null };
  /**
   * Liveness after ready: every intervalMs each ready worker of the serving generation is probed
   * through its own socket (steering only); `failures` failed probes in a row and it is replaced,
   * and a canary or bake window in progress rolls back. kind none: no checks.
   */
  health: { kind: 'none' | 'http' | 'tcp'; path: string; intervalMs: number; timeoutMs: number; failures: number };
  /**
   * Every reload holds the new generation at `share` of new connections (0: no canary) until
   * `supervisor promote`, `supervisor rollback`, a worker exit, or holdMs ending (then onExpiry).
   * `supervisor reload --canary 10%` gives one reload a share.
   */
  canary: { share: number; holdMs: number; onExpiry: 'rollback' | 'promote' };
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
