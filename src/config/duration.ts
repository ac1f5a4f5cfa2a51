// Durations in the config are strings with a unit ("500ms", "10s", "1.5s", "2m", "1h"), so a
// reader never has to guess whether `timeout: 30` meant seconds or milliseconds.

import { quote } from './quote.js';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
type Unit = keyof typeof UNIT_MS;

const PART = /(\d+(?:\.\d+)?|\.\d+)([a-zA-Zµ]*)/y;

/** Parses "500ms", "10s", "1.5s", "2m", "1h", "1m30s", "0" into whole milliseconds. */
export function parseDuration(text: string): number {
  if (typeof text !== 'string') {
    throw new Error(`invalid duration ${describe(text)}: write a string with a unit, such as 10s or 500ms`);
  }
  const source = text.trim();
  if (source === '') throw new Error('invalid duration "": write a unit: 10s or 500ms');
  if (source.startsWith('-')) {
    throw new Error(`invalid duration ${quote(text)}: a duration cannot be negative; write 0 or more, such as 10s`);
  }
  // A lone zero is the same in every unit, so it needs none.
  if (/^0+(\.0+)?$/.test(source)) return 0;
  if (/^\d+(\.\d+)?$/.test(source)) {
    throw new Error(`invalid duration ${quote(text)}: a bare number has no unit; write a unit: 10s or 500ms`);
  }

  let total = 0;
  let offset = 0;
  while (offset < source.length) {
    PART.lastIndex = offset;
    const match = PART.exec(source);
    if (match === null) {
      throw new Error(`invalid duration ${quote(text)}: expected a number and a unit (ms, s, m, h), such as 10s, 500ms or 1m30s`);
    }
    const [whole, amount, unit] = match as unknown as [string, string, string];
    if (unit === '') {
      throw new Error(`invalid duration ${quote(text)}: ${quote(amount)} has no unit; write a unit: 10s or 500ms`);
    }
    if (!(unit in UNIT_MS)) {
      throw new Error(`invalid duration ${quote(text)}: unknown unit ${quote(unit)}; use ms, s, m or h (such as 10s or 500ms)`);
    }
    total += Number(amount) * UNIT_MS[unit as Unit];
    offset += whole.length;
  }
  // Float arithmetic: 1.1s is 1100.0000000000002; anything within a micro-ms is that whole ms.
  const rounded = Math.round(total);
  if (Math.abs(total - rounded) > 1e-6) {
    throw new Error(`invalid duration ${quote(text)}: durations are whole milliseconds; write at most 3 decimals of seconds (such as 1.25s)`);
  }
  if (!Number.isSafeInteger(rounded)) throw new Error(`invalid duration ${quote(text)}: too long`);
  return rounded;
}

/** Formats milliseconds in the largest unit that keeps it exact: 250 -> "250ms", 1500 -> "1.5s", 120000 -> "2m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const sign = ms < 0 ? '-' : '';
  const value = Math.abs(ms);
  if (value === 0) return '0ms';
  if (value % UNIT_MS.h === 0) return `${sign}${value / UNIT_MS.h}h`;
  if (value % UNIT_MS.m === 0) return `${sign}${value / UNIT_MS.m}m`;
  if (value >= 1_000 && Number.isInteger(value)) return `${sign}${trimDecimals(value / 1_000)}s`;
  return `${sign}${trimDecimals(value)}ms`;
}

function trimDecimals(n: number): string {
  return Number(n.toFixed(3)).toString();
}

function describe(value: unknown): string {
  return typeof value === 'string' ? quote(value) : `${String(value)} (${typeof value})`;
}
