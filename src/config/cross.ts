// Rules that relate two keys. They run on the raw values, each key parsed on its own, so a
// mistake elsewhere in the file does not hide them: every problem is reported in one pass.
import type * as z from 'zod/mini';
import { formatDuration } from './duration.js';
import type { PathProblem } from './errors.js';
import { bakeFields, drainFields, readyFields, restartFields, topFields, warmupFields } from './schema.js';

export function crossChecks(raw: Record<string, unknown>): PathProblem[] {
  return [...restartChecks(mapping(raw.restart)), ...readyChecks(mapping(raw.ready)), ...warmupChecks(raw), ...losslessChecks(raw), ...watchChecks(raw), ...metricsChecks(raw), ...drainChecks(mapping(raw.drain)), ...parkChecks(raw)];
}

// The supervisor's warm-up reaches the one worker under test only through the steering program's
// probe route; in other modes its requests would land on serving workers (or on whichever worker
// the kernel picks). Whether the kernel attaches the program (lossless: auto) is known at start.
function warmupChecks(raw: Record<string, unknown>): PathProblem[] {
  const ready = mapping(raw.ready);
  if (ready === undefined || !('warmup' in ready)) return [];
  const socket = valueOf(topFields.socket, raw.socket);
  const lossless = valueOf(topFields.lossless, raw.lossless);
  if (socket === undefined || lossless === undefined) return [];
  const fix = 'remove ready.warmup, or warm up inside the worker before it says READY=1 (the Node helper: serveHttp(handler, { warmup }))';
  if (socket !== 'reuseport') {
    return [{ path: ['ready', 'warmup'], value: ready.warmup, atKey: true, message: `needs socket: reuseport with steering (socket is ${socket}): only there can warm-up requests be routed to the one new worker; ${fix}` }];
  }
  if (lossless === 'migrate' || lossless === 'off') {
    return [{ path: ['ready', 'warmup'], value: ready.warmup, atKey: true, message: `needs steering (lossless is ${lossless}): only the steering program can route warm-up requests to the one new worker; set lossless: auto or steer, or ${fix}` }];
  }
  // Both count from the worker's start: a warm-up allowed as long as the timeout would be cut by it.
  const warmup = mapping(ready.warmup);
  const warmupTimeout = warmup && 'timeout' in warmup ? valueOf(warmupFields.timeout, warmup.timeout) : undefined;
  const timeout = valueOf(readyFields.timeout, ready.timeout);
  if (warmupTimeout !== undefined && timeout !== undefined && warmupTimeout >= timeout) {
    return [{ path: ['ready', 'warmup', 'timeout'], value: warmup!.timeout, message: `ready.warmup.timeout (${formatDuration(warmupTimeout)}) must be shorter than ready.timeout (${formatDuration(timeout)}${'timeout' in ready ? '' : ', the default'}): both count from the worker's start; lower it (half of ready.timeout, the default, leaves the rest for a slow start) or raise ready.timeout` }];
  }
  return [];
}

// A baking worker gets bake.park_signal and must stay up: the drain signal would end it.
function parkChecks(raw: Record<string, unknown>): PathProblem[] {
  const bake = mapping(raw.bake);
  if (bake === undefined || !('park_signal' in bake)) return [];
  const park = valueOf(bakeFields.park_signal, bake.park_signal);
  const drain = mapping(raw.drain);
  const signal = valueOf(drainFields.signal, drain?.signal);
  if (park === undefined || park === 'none' || signal === undefined || park !== signal) return [];
  return [{ path: ['bake', 'park_signal'], value: bake.park_signal, message: `is drain.signal too (${signal}): a baking worker must stay up, and the drain signal ends it; choose another signal (SIGUSR2 is usual) or none` }];
}

// Connections still open at the drain deadline are cut: spreading the closes over the whole drain
// (or longer) would leave the last ones no time to finish.
function drainChecks(drain: Record<string, unknown> | undefined): PathProblem[] {
  if (drain === undefined || !('spread' in drain)) return [];
  const spread = valueOf(drainFields.spread, drain.spread);
  const timeout = valueOf(drainFields.timeout, drain.timeout);
  if (spread === undefined || timeout === undefined || spread === 0 || spread < timeout) return [];
  const timeoutText = `${formatDuration(timeout)}${'timeout' in drain ? '' : ', the default'}`;
  return [{ path: ['drain', 'spread'], value: drain.spread, message: `drain.spread (${formatDuration(spread)}) must be shorter than drain.timeout (${timeoutText}): connections still open at the timeout are cut; lower spread (1s suits most) or raise timeout` }];
}

// The metrics listener is the supervisor's own: it cannot share a port with the workers.
function metricsChecks(raw: Record<string, unknown>): PathProblem[] {
  const metrics = valueOf(topFields.metrics, raw.metrics);
  const listen = valueOf(topFields.listen, raw.listen);
  if (metrics === undefined || listen === undefined) return [];
  const clash = listen.find((address) => address.port === metrics.port && (address.host === metrics.host || isWildcard(address.host) || isWildcard(metrics.host)));
  if (clash === undefined) return [];
  return [{ path: ['metrics'], value: raw.metrics, message: `${metrics.text} would share port ${metrics.port} with listen ${clash.text}: choose another port for metrics, such as ${metrics.host.includes(':') ? `[${metrics.host}]` : metrics.host}:9100` }];
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

// A watch: section says what to watch; without a path it would watch nothing.
function watchChecks(raw: Record<string, unknown>): PathProblem[] {
  const watch = raw.watch;
  if (typeof watch !== 'object' || watch === null || Array.isArray(watch) || 'path' in watch) return [];
  return [{ path: ['watch'], value: watch, message: 'has no path: write watch: { path: ./current } (a current symlink, a marker file such as REVISION, or a directory), or remove watch:' }];
}

// Steering works on the reuseport group the supervisor owns; other socket modes have none.
function losslessChecks(raw: Record<string, unknown>): PathProblem[] {
  const lossless = valueOf(topFields.lossless, raw.lossless);
  const socket = valueOf(topFields.socket, raw.socket);
  if (lossless !== 'steer' || socket === undefined || socket === 'reuseport') return [];
  const fix = socket === 'shared' ? 'shared mode is lossless without it: remove lossless:' : 'self mode is lossless only with tcp_migrate_req=1: write lossless: migrate';
  return [{ path: ['lossless'], value: raw.lossless, message: `steer needs socket: reuseport (socket is ${socket}): ${fix}` }];
}

function restartChecks(restart: Record<string, unknown> | undefined): PathProblem[] {
  if (restart === undefined) return [];
  const backoff = valueOf(restartFields.backoff, restart.backoff);
  const max = valueOf(restartFields.max, restart.max);
  if (backoff === undefined || max === undefined || max >= backoff) return [];
  const maxText = `${formatDuration(max)}${'max' in restart ? '' : ', the default'}`;
  const backoffText = `${formatDuration(backoff)}${'backoff' in restart ? '' : ', the default'}`;
  return [{
    path: ['restart', 'max' in restart ? 'max' : 'backoff'],
    value: 'max' in restart ? restart.max : restart.backoff,
    message: `restart.max (${maxText}) is less than restart.backoff (${backoffText}): max caps the growing delay, so it must be at least backoff; raise max or lower backoff`,
  }];
}

// Keys that only one kind of readiness reads: writing them for another kind is a sign the
// config says something the supervisor will not do.
const KIND_KEYS = { path: ['http'], interval: ['http', 'tcp'], delay: ['delay'] } as const;

function readyChecks(ready: Record<string, unknown> | undefined): PathProblem[] {
  if (ready === undefined) return [];
  const kind = valueOf(readyFields.kind, ready.kind);
  if (kind === undefined) return [];
  const problems: PathProblem[] = [];
  const kindText = `kind is ${kind}${'kind' in ready ? '' : ', the default'}`;
  for (const [key, kinds] of Object.entries(KIND_KEYS) as [keyof typeof KIND_KEYS, readonly string[]][]) {
    if (key in ready && !kinds.includes(kind)) {
      problems.push({
        path: ['ready', key],
        value: ready[key],
        atKey: true,
        message: `applies only to kind: ${kinds.join(' or kind: ')} (${kindText}): remove it, or set kind: ${kinds[0]}`,
      });
    }
  }
  problems.push(...niceChecks(ready));
  if (kind === 'delay') {
    const delay = valueOf(readyFields.delay, ready.delay);
    const timeout = valueOf(readyFields.timeout, ready.timeout);
    if (delay !== undefined && timeout !== undefined && delay >= timeout) {
      problems.push({
        path: ['ready', 'delay' in ready ? 'delay' : 'timeout'],
        value: 'delay' in ready ? ready.delay : ready.timeout,
        message: `ready.delay (${formatDuration(delay)}) must be shorter than ready.timeout (${formatDuration(timeout)}), or no worker could become ready in time: lower delay or raise timeout`,
      });
    }
  }
  return problems;
}

// nice_ramp without a nice value to ramp from, or one that outlasts the timeout: the config would
// claim a priority schedule the worker never gets.
function niceChecks(ready: Record<string, unknown>): PathProblem[] {
  if (!('nice_ramp' in ready)) return [];
  const nice = valueOf(readyFields.nice, ready.nice);
  const ramp = valueOf(readyFields.nice_ramp, ready.nice_ramp);
  const timeout = valueOf(readyFields.timeout, ready.timeout);
  if (nice === 0) {
    return [{ path: ['ready', 'nice_ramp'], value: ready.nice_ramp, atKey: true, message: `applies only when ready.nice is above 0 (it is 0${'nice' in ready ? '' : ', the default'}): set nice (19 lets the serving workers go first), or remove nice_ramp` }];
  }
  if (ramp !== undefined && timeout !== undefined && ramp >= timeout) {
    return [{ path: ['ready', 'nice_ramp'], value: ready.nice_ramp, message: `ready.nice_ramp (${formatDuration(ramp)}) must be shorter than ready.timeout (${formatDuration(timeout)}${'timeout' in ready ? '' : ', the default'}): a worker still below normal priority at its timeout may have been starved, not broken; lower nice_ramp (half the timeout at most is a good rule) or raise timeout` }];
  }
  return [];
}

function mapping(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return {};
  return typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function valueOf<T>(schema: z.ZodMiniType<T>, value: unknown): T | undefined {
  const result = schema.safeParse(value);
  return result.success ? result.data : undefined;
}
