// The shape of the config file: every key, its type, range and default. Checks that relate two
// keys live in cross.ts; checks that touch the filesystem live in filesystem.ts.
import * as z from 'zod/mini';
import { parseListenAddress } from './address.js';
import { WORKER_ENV_NAMES } from '../worker-contract.js';
import { byteSize, percentShare, derivedDuration, describe, duration, field, oneOf, wholeNumber, type Report } from './fields.js';
import type { ListenAddress, LosslessMode, ReadyKind, SocketMode } from './types.js';

const SECOND = 1_000;
const HOUR = 3_600_000;

export const SOCKET_MODES = ['reuseport', 'shared', 'self'] as const satisfies readonly SocketMode[];
export const LOSSLESS_MODES = ['auto', 'steer', 'migrate', 'off'] as const satisfies readonly LosslessMode[];
export const READY_KINDS = ['notify', 'http', 'tcp', 'delay'] as const satisfies readonly ReadyKind[];
export const DRAIN_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const satisfies readonly NodeJS.Signals[];
export const DEFAULT_INHERIT_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'USER'] as const;

/** Set by the supervisor for every worker (docs/worker-contract.md); a config value would be overwritten or break the contract. */
export const RESERVED_ENV = WORKER_ENV_NAMES;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function envNameProblem(name: string): string | undefined {
  if (!ENV_NAME.test(name)) return `"${name}" is not a valid environment variable name: use letters, digits and _, not starting with a digit`;
  if ((RESERVED_ENV as readonly string[]).includes(name)) {
    return `${name} is set by the supervisor for every worker (see docs/worker-contract.md); remove it`;
  }
  return undefined;
}

const listen = field<ListenAddress[]>({
  expect: 'an address such as 127.0.0.1:8000, or a list of them',
  required: 'write listen: 127.0.0.1:8000 (or a list of addresses)',
  parse(value, report) {
    if (typeof value === 'string') {
      const parsed = parseListenAddress(value);
      if (!parsed.ok) report(parsed.message);
      return parsed.ok ? [parsed.address] : undefined;
    }
    if (!Array.isArray(value)) {
      report(`expected an address such as 127.0.0.1:8000, or a list of them, got ${describe(value)}${typeof value === 'number' ? `: write 127.0.0.1:${value} or 0.0.0.0:${value}` : ''}`);
      return undefined;
    }
    if (value.length === 0) {
      report('the list is empty: give at least one address, such as [127.0.0.1:8000]');
      return undefined;
    }
    const addresses: ListenAddress[] = [];
    const firstIndex = new Map<string, number>();
    value.forEach((item: unknown, index) => {
      if (typeof item !== 'string') {
        const hint = typeof item === 'number' ? `: write 127.0.0.1:${item} or 0.0.0.0:${item}` : '';
        report(`expected an address such as 127.0.0.1:8000, got ${describe(item)}${hint}`, [index]);
        return;
      }
      const parsed = parseListenAddress(item);
      if (!parsed.ok) return report(parsed.message, [index]);
      const first = firstIndex.get(parsed.address.text);
      if (first !== undefined) return report(`${parsed.address.text} is listed twice (also listen[${first}]): remove one`, [index]);
      firstIndex.set(parsed.address.text, index);
      addresses.push(parsed.address);
    });
    return addresses;
  },
});

// The optional HTTP listener for /metrics (Prometheus) and /healthz (load balancers).
const metrics = field<ListenAddress | undefined>({
  expect: 'an address such as 127.0.0.1:9100',
  parse(value, report) {
    if (typeof value !== 'string') {
      report(`expected an address such as 127.0.0.1:9100, got ${describe(value)}${typeof value === 'number' ? `: write 127.0.0.1:${value}` : ''}`);
      return undefined;
    }
    const parsed = parseListenAddress(value);
    if (!parsed.ok) report(parsed.message);
    return parsed.ok ? parsed.address : undefined;
  },
});

const command = field<string[]>({
  expect: 'an argv list such as [node, server.js]',
  required: 'write the program and its arguments as a list, such as command: [node, server.js]',
  parse(value, report) {
    if (typeof value === 'string') {
      const words = value.trim().split(/\s+/).filter(Boolean);
      const example = words.length > 0 && !/[|&;<>$`"'\\*?(){}]/.test(value) ? `[${words.join(', ')}]` : '[node, server.js]';
      report(`a plain string is not allowed: write an argv list such as ${example}; no shell is used (for shell features write [sh, -c, "..."])`);
      return undefined;
    }
    if (!Array.isArray(value)) {
      report(`expected an argv list such as [node, server.js], got ${describe(value)}`);
      return undefined;
    }
    if (value.length === 0) {
      report('the list is empty: give the program and its arguments, such as [node, server.js]');
      return undefined;
    }
    value.forEach((item: unknown, index) => {
      if (typeof item !== 'string') report(`expected a string, got ${describe(item)}: write each argument as text`, [index]);
      else if (item === '') report(`an argument cannot be empty: remove it${index === 0 ? ' and name the program first' : ''}`, [index]);
      else if (item.includes('\0')) report('an argument cannot contain a NUL byte', [index]);
    });
    return value as string[];
  },
});

const env = field<Record<string, string>>({
  expect: 'a mapping of NAME: value',
  default: {},
  empty: {},
  parse(value, report) {
    if (typeof value !== 'object' || Array.isArray(value)) {
      report(`expected a mapping of NAME: value, such as { NODE_ENV: production }, got ${describe(value)}`);
      return undefined;
    }
    const out: Record<string, string> = {};
    for (const [name, item] of Object.entries(value as Record<string, unknown>)) {
      const problem = envNameProblem(name);
      if (problem !== undefined) report(problem, [name], true);
      else if (item === null) report(`has no value: write "" for an empty value, or remove ${name}`, [name]);
      else if (typeof item !== 'string') report(`expected a string, number or boolean, got ${describe(item)}`, [name]);
      else if (item.includes('\0')) report('a value cannot contain a NUL byte', [name]);
      else out[name] = item;
    }
    return out;
  },
});

const inheritEnv = field<string[]>({
  expect: `a list of variable names, such as [${DEFAULT_INHERIT_ENV.join(', ')}]; [] to inherit nothing`,
  default: [...DEFAULT_INHERIT_ENV],
  show: (names) => `[${names.join(', ')}]`,
  parse(value, report) {
    if (!Array.isArray(value)) {
      report(`expected a list of variable names, such as [PATH, HOME], got ${describe(value)}`);
      return undefined;
    }
    const names = new Set<string>();
    value.forEach((item: unknown, index) => {
      if (typeof item !== 'string') return report(`expected a variable name, got ${describe(item)}`, [index]);
      const problem = envNameProblem(item);
      if (problem !== undefined) return report(problem, [index]);
      names.add(item);
    });
    return [...names];
  },
});

function requestPathProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || !value.startsWith('/')) return `expected a path starting with "/", such as /healthz, got ${describe(value)}`;
  // The path goes into a raw request line; spaces or control characters would break it.
  if (/[\s\x00-\x1f\x7f]/.test(value)) return 'the path cannot contain spaces or control characters: percent-encode them (%20)';
  return undefined;
}

const httpPath = field<string>({
  expect: 'a path starting with "/", such as /healthz',
  default: '/',
  parse(value, report) {
    const problem = requestPathProblem(value);
    if (problem) {
      report(problem);
      return undefined;
    }
    return value as string;
  },
});

// A user or group by name or number, for workers started by a root supervisor.
const MAX_IDENTITY_NAME = 255; // LOGIN_NAME_MAX (256) less the NUL: no longer name can exist
const identity = (what: 'user' | 'group') =>
  field<string | number | undefined>({
    expect: `a ${what} name or number`,
    parse(value, report) {
      if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 2 ** 32) return value;
      if (typeof value === 'string' && value.length <= MAX_IDENTITY_NAME && /^[a-z_][a-z0-9_.-]*\$?$/i.test(value)) return /^\d+$/.test(value) ? Number(value) : value;
      report(`expected a ${what} name such as www-data (at most ${MAX_IDENTITY_NAME} characters), or a number, got ${describe(value)}`);
      return undefined;
    },
  });

const optionalPath = (what: string) =>
  field<string | undefined>({
    expect: what,
    parse(value: unknown, report: Report) {
      if (typeof value !== 'string' || value === '') {
        report(`expected ${what}, got ${describe(value)}`);
        return undefined;
      }
      if (value.includes('\0')) {
        report('a path cannot contain a NUL byte');
        return undefined;
      }
      return value;
    },
  });

/**
 * A mapping that rejects unknown keys. Absent keys are passed to their field as undefined, so
 * each field itself decides between its default and "is required" (zod alone would report an
 * absent key before the field could say which).
 */
function mapping<T extends z.core.$ZodLooseShape>(shape: T, emptyIsDefault: boolean) {
  const absent = Object.fromEntries(Object.keys(shape).map((key) => [key, undefined]));
  const withAbsentKeys = z.transform((value: unknown) => {
    if (emptyIsDefault && (value === null || value === undefined)) return { ...absent };
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...absent, ...value } : value;
  });
  return z.pipe(withAbsentKeys, z.strictObject(shape));
}

/** A section (`ready:`) may be absent or left empty to take every default. */
const section = <T extends z.core.$ZodLooseShape>(shape: T) => mapping(shape, true);

const warmupPaths = field<string[]>({
  expect: 'a list of paths starting with "/", such as [/, /api/items]',
  default: ['/'],
  show: (list) => `[${list.join(', ')}]`,
  parse(value, report) {
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || list.length === 0 || list.length > 100) {
      report(`expected a list of 1 to 100 paths starting with "/", such as [/, /api/items], got ${Array.isArray(list) ? `${list.length} paths` : describe(value)}`);
      return undefined;
    }
    const paths: string[] = [];
    list.forEach((item: unknown, index) => {
      const problem = requestPathProblem(item);
      if (problem) report(problem, typeof value === 'string' ? [] : [index]);
      else paths.push(item as string);
    });
    return paths;
  },
});

/** Requests the supervisor sends a new worker through its own socket before it serves (ready.warmup). */
export const warmupFields = {
  requests: wholeNumber(1, 1_000_000, 1000),
  paths: warmupPaths,
  concurrency: wholeNumber(1, 64, 4),
  // Counted from the worker's start, like the aging: by default both end at half of ready.timeout.
  timeout: derivedDuration(100, HOUR, 5 * SECOND, 'half of ready.timeout'),
};

export const readyFields = {
  kind: oneOf(READY_KINDS, 'notify'),
  timeout: duration(100, HOUR, 10 * SECOND),
  path: httpPath,
  interval: duration(10, 10 * SECOND, 100),
  delay: duration(0, HOUR, SECOND),
  nice: wholeNumber(0, 19, 0),
  nice_ramp: derivedDuration(0, HOUR, 5 * SECOND, 'half of ready.timeout'),
  // Absent: no warm-up; written (even empty, `warmup:`): every key's default.
  warmup: z.optional(section(warmupFields)),
};

export const drainFields = {
  signal: oneOf(DRAIN_SIGNALS, 'SIGTERM', (text) => {
    const upper = text.trim().toUpperCase();
    return upper.startsWith('SIG') ? upper : `SIG${upper}`;
  }),
  timeout: duration(0, HOUR, 30 * SECOND),
  spread: duration(0, HOUR, 0),
};

export const restartFields = {
  backoff: duration(10, HOUR, SECOND),
  max: duration(10, HOUR, 30 * SECOND),
  crash_loop: wholeNumber(1, 1000, 5),
};

const patterns = field<string[]>({
  expect: 'a list of patterns such as ["*.tmp", "**/.git/**"]',
  default: [],
  show: (list) => `[${list.join(', ')}]`,
  parse(value, report) {
    if (!Array.isArray(value)) {
      report(`expected a list of patterns such as ["*.tmp", "**/.git/**"], got ${describe(value)}`);
      return undefined;
    }
    value.forEach((item: unknown, index) => {
      if (typeof item !== 'string' || item === '') report(`expected a pattern such as "*.tmp", got ${describe(item)}`, [index]);
    });
    return value as string[];
  },
});

export const PARK_SIGNALS = ['none', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;

export const bakeFields = {
  window: duration(0, 24 * HOUR, 0),
  max_rss: byteSize(0),
  max_exits: wholeNumber(0, 1000, 0),
  // The signal, if any, that tells a baking worker to close its keep-alive connections and stay
  // up (docs/worker-contract.md): only workers that handle it may get it, so it is never a default.
  park_signal: oneOf(PARK_SIGNALS, 'none', (text) => {
    const upper = text.trim().toUpperCase();
    return upper === 'NONE' ? 'none' : upper.startsWith('SIG') ? upper : `SIG${upper}`;
  }),
};

export const HEALTH_KINDS = ['none', 'http', 'tcp'] as const;

export const healthFields = {
  kind: oneOf(HEALTH_KINDS, 'none'),
  path: httpPath,
  interval: duration(100, HOUR, 2 * SECOND),
  timeout: duration(10, HOUR, SECOND),
  failures: wholeNumber(1, 1000, 3),
};

export const CANARY_EXPIRY_ACTIONS = ['rollback', 'promote'] as const;

export const canaryFields = {
  share: percentShare(),
  hold: duration(SECOND, 24 * HOUR, 5 * 60 * SECOND),
  on_expiry: oneOf(CANARY_EXPIRY_ACTIONS, 'rollback'),
};

// `bake: 60s` is short for `bake: { window: 60s }`.
const bake = z.pipe(
  z.transform((value: unknown) => (typeof value === 'string' ? { window: value } : value)),
  section(bakeFields),
);

// A worker's output lines past `burst` in one `interval` are counted, not forwarded (journald's
// RateLimitBurst=/RateLimitIntervalSec=, per worker); burst 0 forwards every line.
export const outputLimitFields = {
  burst: wholeNumber(0, 100_000_000, 10_000),
  interval: duration(10, HOUR, 10 * SECOND),
};

export const watchFields = {
  path: optionalPath('a path to watch: a current symlink, a marker file such as REVISION, or a directory'),
  debounce: duration(0, 10 * 60 * SECOND, SECOND),
  ignore: patterns,
};

export const topFields = {
  listen,
  socket: oneOf(SOCKET_MODES, 'reuseport'),
  lossless: oneOf(LOSSLESS_MODES, 'auto'),
  workers: wholeNumber(1, 256, 2),
  command,
  cwd: optionalPath('a directory path, such as ./app'),
  env,
  inherit_env: inheritEnv,
  ready: section(readyFields),
  drain: section(drainFields),
  restart: section(restartFields),
  watch: section(watchFields),
  output_limit: section(outputLimitFields),
  backlog: wholeNumber(1, 65535, 511),
  user: identity('user'),
  group: identity('group'),
  control: optionalPath('a socket path, such as ./supervisor.sock'),
  metrics,
  stop_grace: duration(0, 10 * 60 * SECOND, 0),
  slow_start: duration(0, 10 * 60 * SECOND, 0),
  health: section(healthFields),
  bake,
  canary: section(canaryFields),
  start_concurrency: wholeNumber(0, 256, 0),
};

export const configSchema = mapping(topFields, false);
export type ConfigValues = z.output<typeof configSchema>;

/** Known keys of each mapping, by the path of that mapping ("" is the top level). */
export const KNOWN_KEYS: Record<string, readonly string[]> = {
  '': Object.keys(topFields),
  ready: Object.keys(readyFields),
  'ready.warmup': Object.keys(warmupFields),
  drain: Object.keys(drainFields),
  restart: Object.keys(restartFields),
  watch: Object.keys(watchFields),
  bake: Object.keys(bakeFields),
  canary: Object.keys(canaryFields),
  health: Object.keys(healthFields),
  output_limit: Object.keys(outputLimitFields),
};
