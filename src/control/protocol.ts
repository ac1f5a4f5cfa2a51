// The control protocol: JSON lines over a unix stream socket. The client sends one request line;
// the daemon answers with any number of event lines and exactly one result line, then closes.
// `events` streams lifecycle events until the client hangs up (or the daemon stops: then a result).
// The result carries the exit code the CLI must use, so the daemon's verdict is the CLI's.

export const PROTOCOL_VERSION = 1;
export const MAX_FRAME_BYTES = 64 * 1024;

export type Command = 'status' | 'reload' | 'rollback' | 'promote' | 'stop' | 'ping' | 'events' | 'logs' | 'upgrade';
export const COMMANDS: readonly Command[] = ['status', 'reload', 'rollback', 'promote', 'stop', 'ping', 'events', 'logs', 'upgrade'];

/** What `logs` asks for: the last `lines` output lines (of one worker slot, one generation), then, with follow, every new one. */
export interface LogsQuery {
  worker?: number;
  generation?: number;
  lines?: number;
  follow?: boolean;
}
export const LOGS_FIELDS = ['worker', 'generation', 'lines', 'follow'] as const;
export const MAX_LOGS_LINES = 100_000;

export interface Request extends LogsQuery {
  command: Command;
  /** reload only: hold the new generation at this share (0..1, exclusive) of new connections: a canary. */
  canary?: number;
  /** upgrade only: the node binary the new program runs on (absolute path); default: the daemon's own, as it is on disk now. */
  node?: string;
}

// The lifecycle as one catalogue of typed events: the daemon publishes them, `supervisor events`
// and `supervisor reload` stream them as frames, the metrics count them and the CLI renders them.
// A renamed event or field stops compiling wherever it is used. docs/operations.md lists them.

/** The phases `supervisor reload` reports while one reload runs, with their fields. */
export interface ReloadPhaseFields {
  starting: { generation: number; workers: number; cwd: string; revision: string | null };
  'worker-ready': { generation: number; slot: number; pid: number; ready: number; total: number };
  'rolling-back': { generation: number; reason: string };
  promoted: { generation: number; drainingGeneration: number; drainWorkers: number; slowStartMs: number; canaryShare: number }; // canaryShare 0: no canary
  shifted: { generation: number; drainingGeneration: number; slowStartMs: number };
  drained: { generation: number; done: number; total: number };
  // The new generation holds at `share` of new connections until promote, rollback, a failure or the hold's end.
  canary: { generation: number; previousGeneration: number; share: number; holdMs: number; onExpiry: 'rollback' | 'promote' };
  'canary-promoted': { generation: number; reason: string };
}
export type ReloadPhase = keyof ReloadPhaseFields;
export type ReloadProgress = { [P in ReloadPhase]: { event: P } & ReloadPhaseFields[P] }[ReloadPhase];

/** Every lifecycle event on the daemon's bus, with its fields (each also gets `event` and `time`). */
export interface LifecycleFields {
  'supervisor-state': { from: string; to: string };
  'generation-state': { gen: number; from: string; to: string };
  'worker-started': { gen: number; worker: number; pid: number; restart: number }; // restart: 0 first start, n the nth restart of the slot
  'worker-state': { gen: number; worker: number; pid: number; from: string; to: string };
  'worker-exit': { gen: number; worker: number; pid: number; code: number | null; signal: string | null; restartInMs: number | null }; // null: not restarted
  'worker-unhealthy': { gen: number; worker: number; pid: number; reason: string }; // failed health: checks; replaced
  'crash-loop': { gen: number; worker: number; bootFailures: number; lastLines: string[] };
  'worker-drained': { gen: number; worker: number; pid: number; durationMs: number; killed: boolean }; // killed: SIGKILL at drain.timeout
  'reload-start': { trigger: string };
  'reload-phase': { phase: ReloadPhase } & Partial<ReloadPhaseFields[ReloadPhase]>; // the fields of the same `reload --json` event
  'reload-result': { outcome: ReloadOutcome; generation: number | null; reason: string | null; trigger: string; durationMs: number; release: { path: string; revision: string | null } | null; lastLines: string[] };
  'bake-start': { gen: number; previous: number; windowMs: number; previousRssBytes: number }; // gen serves, previous stays warm
  'bake-end': { gen: number; previous: number; reason: string }; // no rollback: previous drains
  rollback: { gen: number; from: number; reason: string; automatic: boolean; steeredMs: number }; // gen serves again, from drains
  'orphan-reaped': { pid: number; code: number | null; signal: string | null }; // a reparented descendant reaped (PID 1 / subreaper)
  'worker-output-suppressed': { gen: number; worker: number; pid: number; lines: number }; // lines past output_limit in a window that has ended
  upgraded: { from: string; to: string; durationMs: number }; // supervisor upgrade: the exec'd program took over (same pid, same workers)
}
export type LifecycleEventName = keyof LifecycleFields;

/** The events only a control connection sees: `subscribed` (events), `accepted` (reload), `output` and `following` (logs), `upgrading` (upgrade). */
export type ConnectionEventName = 'subscribed' | 'accepted' | 'output' | 'following' | 'upgrading';

/** Every event name a frame can carry. */
export type EventName = LifecycleEventName | ReloadPhase | ConnectionEventName;

export interface EventFrame {
  type: 'event';
  event: string;
  time: string;
  [field: string]: unknown;
}

export interface ResultFrame {
  type: 'result';
  ok: boolean;
  code: number;
  message: string;
  data?: unknown;
}

export type Frame = EventFrame | ResultFrame;

export function encodeFrame(frame: Frame | Request): string {
  return `${JSON.stringify(frame)}\n`;
}

export type ParsedRequest = { ok: true; request: Request } | { ok: false; message: string };

export function parseRequest(line: string): ParsedRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, message: 'request is not valid JSON: send one JSON object per line, such as {"command":"status"}' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, message: 'request must be a JSON object such as {"command":"status"}' };
  }
  const command = (value as { command?: unknown }).command;
  if (typeof command !== 'string' || !(COMMANDS as readonly string[]).includes(command)) {
    return { ok: false, message: `unknown command ${JSON.stringify(command)}: expected one of ${COMMANDS.join(', ')}` };
  }
  if (command === 'logs') {
    const query = parseLogsQuery(value as Record<string, unknown>);
    return typeof query === 'string' ? { ok: false, message: query } : { ok: true, request: { command, ...query } };
  }
  if (command === 'upgrade') {
    const node = (value as { node?: unknown }).node;
    if (node === undefined) return { ok: true, request: { command } };
    if (typeof node !== 'string' || !node.startsWith('/') || node.length > 4096) {
      return { ok: false, message: `upgrade: node must be the absolute path of a node binary, got ${JSON.stringify(node)?.slice(0, 60)}` };
    }
    return { ok: true, request: { command, node } };
  }
  const canary = (value as { canary?: unknown }).canary;
  if (canary === undefined) return { ok: true, request: { command: command as Command } };
  if (command !== 'reload' || typeof canary !== 'number' || !(canary > 0 && canary < 1)) {
    return { ok: false, message: `canary ${JSON.stringify(canary)?.slice(0, 40)} is not valid for ${command}: only reload takes a canary, a share above 0 and below 1, such as {"command":"reload","canary":0.1}` };
  }
  return { ok: true, request: { command: 'reload', canary } };
}

// The fields of a `logs` request, or what is wrong with one of them.
function parseLogsQuery(value: Record<string, unknown>): LogsQuery | string {
  const query: LogsQuery = {};
  for (const [key, max] of [['worker', 1024], ['generation', Number.MAX_SAFE_INTEGER], ['lines', MAX_LOGS_LINES]] as const) {
    const field = value[key];
    if (field === undefined) continue;
    if (typeof field !== 'number' || !Number.isInteger(field) || field < (key === 'lines' ? 0 : 1) || field > max) {
      return `logs: ${key} must be a whole number from ${key === 'lines' ? 0 : 1} to ${max}, got ${JSON.stringify(field)?.slice(0, 40)}`;
    }
    query[key] = field;
  }
  if (value.follow !== undefined) {
    if (typeof value.follow !== 'boolean') return `logs: follow must be true or false, got ${JSON.stringify(value.follow)?.slice(0, 40)}`;
    query.follow = value.follow;
  }
  return query;
}

// Splits a byte stream into lines, refusing any line longer than the frame limit.
export class LineReader {
  #buffer = '';
  readonly #limit: number;

  constructor(limit = MAX_FRAME_BYTES) {
    this.#limit = limit;
  }

  push(chunk: string): { lines: string[]; overflow: boolean } {
    this.#buffer += chunk;
    const lines: string[] = [];
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) !== -1) {
      const line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line.length > this.#limit) return { lines, overflow: true };
      if (line.trim() !== '') lines.push(line);
    }
    return { lines, overflow: this.#buffer.length > this.#limit };
  }
}

// Status as the daemon reports it (status --json prints this, schema version 1; every field is
// documented in docs/status-schema.md: fields may be added within a schema version, never removed
// or changed in meaning).
export interface WorkerStatus {
  slot: number;
  pid: number | null;
  state: string; // starting | ready | draining | exited | backoff
  readySince: string | null;
  uptimeMs: number | null;
  restarts: number;
  crashLooping: boolean;
  acceptQueue: number | null;
  lastExit: string | null;
  /** A starting worker on its way into service: its warming nice value, the supervisor's warm-up progress; null once ready. */
  warming: { nice: number | null; warmup: { done: number; total: number } | null } | null;
  /** Lines of this slot's current (or last) worker suppressed by output_limit. */
  outputSuppressed: number;
}

export interface GenerationStatus {
  generation: number;
  state: string;
  cwd: string;
  release: { path: string; revision: string | null };
  command: string[];
  startedAt: string;
  workers: WorkerStatus[];
}

// promoted: the new generation serves. rolled-back: it proved unfit (a worker exited or was not
// ready in time) and was stopped. refused: nothing was started (bad config, a restart-only change,
// the supervisor stopping). failed: a step of the reload itself threw; one generation still serves.
export type ReloadOutcome = 'promoted' | 'rolled-back' | 'refused' | 'failed';

export interface ReloadSummary {
  trigger: string;
  release: { path: string; revision: string | null } | null;
  outcome: ReloadOutcome;
  generation: number | null;
  reason: string | null;
  startedAt: string;
  durationMs: number;
}

/** The `data` of a reload's result frame: what the daemon's reload ended with. */
export interface ReloadResultData {
  outcome: ReloadOutcome;
  generation: number | null;
  reason: string | null;
  /** The failing worker's last output lines, on a rollback. */
  lastLines: string[];
  trigger: string;
  release: { path: string; revision: string | null } | null;
  startedAt: number; // ms since the epoch
  durationMs: number;
}

export interface DaemonStatus {
  schema: typeof PROTOCOL_VERSION;
  pid: number;
  /** The supervisor's own program: its version and Node, since when it runs, and its last `supervisor upgrade`. Absent from daemons before upgrades. */
  supervisor?: { version: string; node: string; startedAt: string; upgrades: number; lastUpgrade: { from: string; to: string; at: string; durationMs: number } | null };
  state: string;
  config: string;
  socket: string;
  listen: string[];
  lossless: { configured: string; mechanisms: string[]; migrateReq: boolean | null; guarantee: string; lossless: boolean };
  sharedAcceptQueue: number | null;
  generations: GenerationStatus[];
  lastReload: ReloadSummary | null;
  eventSubscribers: number; // `supervisor events` clients connected now
  /** Log lines the daemon dropped because the reader of its stdout/stderr did not keep up. */
  droppedLogLines: number;
  /** A slow start in progress: the promoted generation's share of new connections, and the time left. */
  slowStart: { generation: number; from: number; share: number; remainingMs: number } | null;
  /** A canary holding now: the new generation's share of new connections, the time left and what happens then. */
  canary?: { generation: number; from: number; share: number; remainingMs: number; onExpiry: 'rollback' | 'promote' } | null;
  /** A bake window open now: the previous generation kept warm for a rollback, and the time left. Absent from daemons before the bake window. */
  bake?: { generation: number; previous: number; endsAt: string; remainingMs: number; previousRssBytes: number; exits: number; maxExits: number } | null;
  /** The last rollback (`supervisor rollback`, or automatic during a bake). */
  lastRollback?: { generation: number; from: number; reason: string; automatic: boolean; at: string; steeredMs: number; durationMs: number | null } | null;
  /** How new workers warm up before they serve: the CPU priority mechanism in use, and the supervisor's warm-up. */
  warming: WarmingReport;
}

export interface WarmingReport {
  priority: { mechanism: 'autogroup' | 'nice' | 'none'; reason: string; nice: number; rampMs: number };
  warmup: { requests: number; paths: string[]; concurrency: number; timeoutMs: number; available: boolean; reason: string | null } | null;
}
