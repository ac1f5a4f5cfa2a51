// Text -> SupervisorConfig. Collects every problem (syntax, shape, cross-key, filesystem) before
// throwing, so one run of `supervisor check` lists everything to fix.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type * as z from 'zod/mini';
import { defaultControlPath, socketPathProblem } from './control.js';
import { crossChecks } from './cross.js';
import { ConfigError, keyPath, type ConfigProblem, type PathProblem } from './errors.js';
import { describe } from './fields.js';
import { checkFilesystem } from './filesystem.js';
import { resolveGroup, resolveUser } from './identity.js';
import { named } from './quote.js';
import { closestKey } from './suggest.js';
import { configSchema, DEFAULT_INHERIT_ENV, KNOWN_KEYS, topFields, type ConfigValues } from './schema.js';
import { isWritten, locate, locateContents, locateKey, parseSource, type Source } from './source.js';
import type { LoadOptions, SupervisorConfig } from './types.js';

const READ_HINTS: Record<string, string> = {
  ENOENT: 'no such file: pass -c with the path of your config',
  EACCES: 'permission denied: run as a user that can read it, or change its permissions',
  EISDIR: 'is a directory: pass -c with the path of the config file itself',
  ENOTDIR: 'a part of the path is not a directory: pass -c with the path of your config',
};

// The text each config was parsed from: `supervisor upgrade` hands the text of the config in force
// to the next program, which parses it with its own code (its defaults, its checks), not the file
// on disk, which may have changed since the last reload.
const sources = new WeakMap<SupervisorConfig, string>();

/** The text `config` was parsed from, or null for one made otherwise (a test's). */
export function configSource(config: SupervisorConfig): string | null {
  return sources.get(config) ?? null;
}

export function loadConfig(file: string, options: LoadOptions = {}): SupervisorConfig {
  const absolute = resolve(file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    const message = `${code}: ${READ_HINTS[code] ?? (error as Error).message}`;
    throw new ConfigError(absolute, [{ key: '', message }], { headline: `cannot read config ${absolute}`, cause: error });
  }
  return parseConfig(configText(absolute, bytes), absolute, options);
}

// A config is UTF-8 text without NUL bytes (YAML allows neither). Anything else is the wrong
// file (a binary, a core dump, an archive): saying so beats hundreds of YAML syntax errors.
function configText(file: string, bytes: Buffer): string {
  let text: string;
  let bad: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    bad = '\0';
  } catch {
    text = bytes.toString('utf8');
    bad = '\uFFFD';
  }
  const at = text.indexOf(bad);
  if (at < 0) return text;
  const line = text.slice(0, at).split('\n').length;
  const what = bad === '\0' ? 'a NUL byte' : 'bytes that are not UTF-8';
  throw new ConfigError(file, [{ key: '', line, message: `not a text file: line ${line} holds ${what}; is this the config? pass -c with the path of your YAML or JSON config (saved as UTF-8)` }], { headline: `cannot read config ${file}` });
}

export function parseConfig(text: string, file: string, options: LoadOptions = {}): SupervisorConfig {
  const absolute = resolve(file);
  const parsed = parseSource(text);
  if (!parsed.ok) throw new ConfigError(absolute, parsed.problems);
  const { source, value } = parsed;
  const duplicates = parsed.problems;
  const raw = topLevelMapping(absolute, source, value);

  const problems: PathProblem[] = [];
  const result = configSchema.safeParse(raw);
  if (!result.success) problems.push(...result.error.issues.flatMap((issue) => issueProblems(issue, raw)));
  problems.push(...crossChecks(raw));

  // Paths and the filesystem are checked with whichever keys are valid on their own.
  const values = result.success ? result.data : validKeys(raw);
  const baseDir = dirname(absolute);
  const env = options.env ?? process.env;
  const uid = options.uid ?? process.getuid?.() ?? -1;

  const cwd = 'cwd' in values ? { path: resolve(baseDir, values.cwd ?? '.'), written: values.cwd !== undefined } : undefined;
  let control: { path: string; written: boolean } | undefined;
  if ('control' in values) {
    const path = values.control === undefined ? defaultControlPath(absolute, env, uid) : resolve(baseDir, values.control);
    control = { path, written: values.control !== undefined };
    const problem = socketPathProblem(path, control.written);
    if (problem !== undefined) problems.push({ path: ['control'], message: problem });
  }

  const user = identityOf(values, uid);
  problems.push(...user.problems);

  const fs = checkFilesystem(
    { cwd, command: values.command, searchPath: workerPath(raw, values, env), control },
    options.checkFilesystem !== false,
  );
  problems.push(...fs.problems);

  if (problems.length > 0 || duplicates.length > 0 || !result.success) {
    throw new ConfigError(absolute, [...duplicates, ...problems.map((problem) => place(source, problem))]);
  }
  const config = toConfig(absolute, result.data, { cwd: cwd!.path, control: control!.path, executable: fs.executable, user: user.value });
  sources.set(config, text);
  return config;
}

// user:/group: resolved to numbers; only root can start workers as someone else.
function identityOf(values: Partial<ConfigValues>, uid: number): { value: SupervisorConfig['user']; problems: PathProblem[] } {
  const problems: PathProblem[] = [];
  if (values.user === undefined && values.group === undefined) return { value: null, problems };
  let identity: { uid: number; gid: number; name: string } | null = null;
  if (values.user !== undefined) {
    const resolved = resolveUser(values.user);
    if (resolved.ok) identity = resolved.value;
    else problems.push({ path: ['user'], value: values.user, message: resolved.message });
  } else {
    identity = { uid, gid: process.getgid?.() ?? uid, name: String(uid) };
  }
  if (values.group !== undefined && identity) {
    const resolved = resolveGroup(values.group);
    if (resolved.ok) identity = { ...identity, gid: resolved.value };
    else problems.push({ path: ['group'], value: values.group, message: resolved.message });
  }
  if (identity && uid !== 0 && (identity.uid !== uid || values.group !== undefined)) {
    const key = values.user !== undefined ? 'user' : 'group';
    problems.push({ path: [key], value: values[key], message: `only a supervisor running as root can start workers as another user or group (this one runs as uid ${uid}): run it as root, or remove ${key}:` });
  }
  return { value: identity, problems };
}

function toConfig(file: string, v: ConfigValues, paths: { cwd: string; control: string; executable: string | undefined; user: SupervisorConfig['user'] }): SupervisorConfig {
  return {
    file,
    listen: v.listen,
    socket: v.socket,
    lossless: v.lossless,
    workers: v.workers,
    command: v.command,
    executable: paths.executable ?? v.command[0]!,
    cwd: paths.cwd,
    env: v.env,
    inheritEnv: v.inherit_env,
    ready: { kind: v.ready.kind, timeoutMs: v.ready.timeout, path: v.ready.path, intervalMs: v.ready.interval, delayMs: v.ready.delay, nice: v.ready.nice, niceRampMs: v.ready.nice_ramp ?? halfOf(v.ready.timeout), warmup: v.ready.warmup ? { requests: v.ready.warmup.requests, paths: v.ready.warmup.paths, concurrency: v.ready.warmup.concurrency, timeoutMs: v.ready.warmup.timeout ?? halfOf(v.ready.timeout) } : null },
    drain: { signal: v.drain.signal, timeoutMs: v.drain.timeout, spreadMs: v.drain.spread },
    restart: { backoffMs: v.restart.backoff, maxMs: v.restart.max, crashLoop: v.restart.crash_loop },
    watch: v.watch.path === undefined ? null : { path: resolve(dirname(file), v.watch.path), debounceMs: v.watch.debounce, ignore: v.watch.ignore },
    outputLimit: { burst: v.output_limit.burst, intervalMs: v.output_limit.interval },
    backlog: v.backlog,
    user: paths.user,
    control: paths.control,
    metrics: v.metrics ?? null,
    stopGraceMs: v.stop_grace,
    slowStartMs: v.slow_start,
    bake: { windowMs: v.bake.window, maxRssBytes: v.bake.max_rss, maxExits: v.bake.max_exits, parkSignal: v.bake.park_signal === 'none' ? null : v.bake.park_signal },
    health: { kind: v.health.kind, path: v.health.path, intervalMs: v.health.interval, timeoutMs: v.health.timeout, failures: v.health.failures },
    canary: { share: v.canary.share, holdMs: v.canary.hold, onExpiry: v.canary.on_expiry },
    startConcurrency: v.start_concurrency,
  };
}

// The warming priority reaches 0, and the warm-up ends, by half of ready.timeout unless written:
// the second half of the timeout is for a worker that is slow for its own reasons.
const halfOf = (timeoutMs: number) => Math.floor(timeoutMs / 2);

/** The document as a mapping of keys, or the error for an empty file or another top-level type. */
function topLevelMapping(file: string, source: Source, value: unknown): Record<string, unknown> {
  if (value === null || value === undefined) {
    throw new ConfigError(file, [{ key: '', message: 'the file has no settings: write at least listen: 127.0.0.1:8000 and command: [node, server.js]' }]);
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    const found = Array.isArray(value) ? 'a list' : `the value ${describe(value)}`;
    throw new ConfigError(file, [{
      key: '',
      ...locateContents(source),
      message: `the top level must be a mapping of keys such as listen: and command:, found ${found}`,
    }]);
  }
  return value as Record<string, unknown>;
}

/** The PATH workers will get: the config's env, else the supervisor's if inherited, else none. */
function workerPath(raw: Record<string, unknown>, values: Partial<ConfigValues>, env: NodeJS.ProcessEnv): string | undefined {
  // Read env.PATH from the raw mapping: a bad key elsewhere in env must not hide it and turn into
  // a second, false "not found in PATH".
  const rawPath = (raw.env as Record<string, unknown> | null | undefined)?.PATH;
  if (typeof rawPath === 'string') return rawPath;
  const inherited: readonly string[] = values.inherit_env ?? DEFAULT_INHERIT_ENV;
  return inherited.includes('PATH') ? env.PATH : undefined;
}

/** Each top-level key parsed alone; a key is present only when its value is valid. */
function validKeys(raw: Record<string, unknown>): Partial<ConfigValues> {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(topFields) as [string, z.ZodMiniType][]) {
    const result = schema.safeParse(raw[key]);
    if (result.success) out[key] = result.data;
  }
  return out as Partial<ConfigValues>;
}

function issueProblems(issue: z.core.$ZodIssue, raw: Record<string, unknown>): PathProblem[] {
  const path = issue.path as PropertyKey[];
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: [...path, key], atKey: true, message: unknownKeyMessage(path, key) }));
  }
  if (issue.code === 'custom') {
    const params = issue.params as { value?: unknown; atKey?: boolean } | undefined;
    return [{ path, value: params?.value, atKey: params?.atKey === true, message: issue.message }];
  }
  // Only the sections (ready:, drain:, restart:) are plain zod objects; their one failure is "not a mapping".
  if (issue.code === 'invalid_type' && issue.expected === 'object') {
    const section = keyPath(path);
    const keys = (KNOWN_KEYS[section] ?? []).map((key) => `${key}:`).join(', ');
    const value = path.reduce<unknown>((inner, key) => (inner as Record<PropertyKey, unknown> | undefined)?.[key], raw);
    return [{ path, value, message: `expected a mapping with ${keys} (each indented under ${section}:), got ${describe(value)}` }];
  }
  return [{ path, message: issue.message }];
}

function unknownKeyMessage(path: PropertyKey[], key: string): string {
  const section = keyPath(path);
  const known = KNOWN_KEYS[section] ?? [];
  const where = section === '' ? '' : ` in ${section}`;
  const name = named(key);
  // A right key at the wrong level (e.g. "timeout" at the top) is a more useful hint than a typo.
  const homes = Object.entries(KNOWN_KEYS).filter(([other, keys]) => other !== section && keys.includes(key)).map(([other]) => other);
  if (homes.length > 0) {
    const place = homes.map((home) => (home === '' ? 'at the top level' : `under ${home}:`)).join(' or ');
    return `unknown key ${name}${where}: ${name} belongs ${place}; move it there`;
  }
  const suggestion = closestKey(key, known);
  if (suggestion !== undefined) return `unknown key ${name}${where}: did you mean '${suggestion}'?`;
  return `unknown key ${name}${where}: known keys are ${known.join(', ')}`;
}


function place(source: Source, problem: PathProblem): ConfigProblem {
  const path = problem.path;
  const last = path[path.length - 1];
  const where =
    problem.atKey && typeof last === 'string' && isWritten(source, path)
      ? locateKey(source, path.slice(0, -1), last)
      : locate(source, path);
  const placed: ConfigProblem = { key: keyPath(path), ...where, message: problem.message };
  if (problem.value !== undefined) placed.value = problem.value;
  return placed;
}
