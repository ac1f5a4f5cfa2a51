// Field validators as zod schemas with hand-written messages: zod walks the structure and keeps
// the key path; each field says in its own words what it expected and how to fix the value.
import * as z from 'zod/mini';
import { formatDuration, parseDuration } from './duration.js';
import { parsePercent } from './percent.js';
import { quote } from './quote.js';

/** `atKey`: the problem is the key's name, not its value, so point at the key. */
export type Report = (message: string, path?: PropertyKey[], atKey?: boolean) => void;

interface FieldSpec<T> {
  /** what a valid value looks like, e.g. "a whole number from 1 to 256" */
  expect: string;
  /** value when the key is absent; without one the key is optional (undefined) unless `required` */
  default?: T;
  /** how to show the default in messages */
  show?: (value: T) => string;
  /** the fix to print when a required key is missing */
  required?: string;
  /** value for a key written with nothing after it (`env:`); without one that is an error */
  empty?: T;
  parse: (value: unknown, report: Report) => T | undefined;
}

/** A zod schema running `spec.parse` and reporting each problem at its own path with its value. */
export function field<T>(spec: FieldSpec<T>) {
  return z.transform((value: unknown, ctx): T => {
    let failed = false;
    const report: Report = (message, path = [], atKey = false) => {
      failed = true;
      const at = path.reduce<unknown>((inner, key) => (inner as Record<PropertyKey, unknown> | undefined)?.[key], value);
      ctx.issues.push({ code: 'custom', message, path: path as (string | number)[], params: { value: at, atKey }, input: at });
    };
    let result: T | undefined;
    if (value === undefined) {
      if (spec.required !== undefined) report(`is required: ${spec.required}`);
      result = spec.default;
    } else if (value === null && spec.empty !== undefined) {
      result = spec.empty;
    } else if (value === null) {
      const fallback = spec.default === undefined ? '' : `, or remove the key to use the default (${(spec.show ?? String)(spec.default)})`;
      report(`has no value: write ${spec.expect}${fallback}`);
    } else {
      result = spec.parse(value, report);
    }
    return failed ? z.NEVER : (result as T);
  });
}

/** How a value reads in a message: strings quoted (a long one cut short), lists and mappings named. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'nothing';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

export function wholeNumber(min: number, max: number, fallback: number) {
  const expect = `a whole number from ${min} to ${max}`;
  return field<number>({
    expect,
    default: fallback,
    parse(value, report) {
      if (typeof value === 'number' && Number.isInteger(value)) {
        if (value >= min && value <= max) return value;
        report(`${value} is out of range: write ${expect}`);
        return undefined;
      }
      const quoted = typeof value === 'string' && /^\s*-?\d+\s*$/.test(value);
      report(`expected ${expect}, got ${describe(value)}${quoted ? ': write it without quotes' : ''}`);
      return undefined;
    },
  });
}

export function duration(min: number, max: number, fallback: number) {
  return field<number>({
    expect: `${durationRange(min, max)}, such as ${formatDuration(fallback)}`,
    default: fallback,
    show: formatDuration,
    parse: (value, report) => parseDurationValue(value, report, min, max),
  });
}

/**
 * A duration whose default depends on other keys (half of ready.timeout, say): absent, it is
 * undefined and the loader works the default out; `derived` says how, for messages.
 */
export function derivedDuration(min: number, max: number, example: number, derived: string) {
  return field<number | undefined>({
    expect: `${durationRange(min, max)}, such as ${formatDuration(example)}, or remove the key for the default (${derived})`,
    parse: (value, report) => parseDurationValue(value, report, min, max),
  });
}

function durationRange(min: number, max: number): string {
  return `a duration from ${formatDuration(min)} to ${formatDuration(max)}`;
}

function parseDurationValue(value: unknown, report: Report, min: number, max: number): number | undefined {
  const range = durationRange(min, max);
  const check = (ms: number): number | undefined => {
    if (ms < min || ms > max) {
      report(`${formatDuration(ms)} is ${ms < min ? 'too short' : 'too long'}: write ${range}`);
      return undefined;
    }
    return ms;
  };
  if (typeof value === 'number') {
    // YAML reads `timeout: 0` as a number; zero needs no unit, anything else does.
    if (value === 0) return check(0);
    if (value < 0) {
      report(`${value} is negative: write ${range}`);
      return undefined;
    }
    report(`a bare number has no unit: write a unit: ${value}s or ${value}ms (${range})`);
    return undefined;
  }
  if (typeof value !== 'string') {
    report(`expected ${range} written with a unit such as 10s or 500ms, got ${describe(value)}`);
    return undefined;
  }
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (error) {
    report(`${(error as Error).message.replace(/^invalid duration /, '')} (${range})`);
    return undefined;
  }
  return check(ms);
}

export function oneOf<const T extends string>(values: readonly T[], fallback: T, normalize: (text: string) => string = (s) => s) {
  const expect = `one of ${values.join(', ')}`;
  return field<T>({
    expect,
    default: fallback,
    parse(value, report) {
      const text = typeof value === 'string' ? normalize(value) : undefined;
      if (text !== undefined && (values as readonly string[]).includes(text)) return text as T;
      report(`expected ${expect}, got ${describe(value)}`);
      return undefined;
    },
  });
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };

/** A memory size such as "512MB" or "2GB" (binary units: 1MB = 1024 KB), or 0. */
export function byteSize(fallback: number) {
  const expect = 'a size such as 512MB or 2GB, or 0';
  return field<number>({
    expect,
    default: fallback,
    show: (bytes) => (bytes === 0 ? '0' : `${Math.round(bytes / 1024 ** 2)}MB`),
    parse(value, report) {
      if (value === 0) return 0;
      const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value) : null;
      const unit = match?.[2]?.toLowerCase();
      if (!match || unit === undefined || !(unit in SIZE_UNITS) || (unit === '' && Number(match[1]) !== 0)) {
        report(`expected ${expect}, got ${describe(value)}: write a number with a unit (KB, MB, GB)`);
        return undefined;
      }
      return Math.round(Number(match[1]) * SIZE_UNITS[unit]!);
    },
  });
}

/** A share such as "10%" (above 0, below 100), as a fraction; 0 for none. */
export function percentShare() {
  const expect = 'a percentage above 0% and below 100%, such as 10%, or 0 for none';
  return field<number>({
    expect,
    default: 0,
    show: (share) => (share === 0 ? '0' : `${Math.round(share * 1000) / 10}%`),
    parse(value, report) {
      if (value === 0) return 0;
      const share = parsePercent(value);
      if (share === null) report(`expected ${expect}, got ${describe(value)}`);
      return share ?? undefined;
    },
  });
}
