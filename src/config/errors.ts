// One error carrying every problem in the file, so a user fixes them in one pass, not one per run.
import { elide, QUOTE_LIMIT, quote } from './quote.js';

export interface ConfigProblem {
  /** dotted path of the offending key, e.g. "ready.timeout" or "listen[1]"; "" for the file as a whole */
  key: string;
  line?: number;
  column?: number;
  /** the value as written, when a value is at fault */
  value?: unknown;
  /** what is wrong, and what is allowed or how to fix it */
  message: string;
}

/** A problem before it is given a line and column: found by key path, placed by load.ts. */
export interface PathProblem {
  path: PropertyKey[];
  message: string;
  value?: unknown;
  /** point at the key itself rather than its value (unknown and misplaced keys) */
  atKey?: boolean;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly file: string;
  readonly problems: ConfigProblem[];

  /** `headline` replaces the default first line ("invalid config <file>: N problems"). */
  constructor(file: string, problems: ConfigProblem[], options: { headline?: string; cause?: unknown } = {}) {
    const sorted = [...problems].sort(byPosition);
    const count = `${sorted.length} problem${sorted.length === 1 ? '' : 's'}`;
    const headline = options.headline ?? `invalid config ${file}: ${count}`;
    // A file that is not a config at all (a binary, a log) yields hundreds of syntax errors: the
    // first ones say what is wrong, the rest would only bury them.
    const shown = sorted.slice(0, MAX_PROBLEMS_SHOWN).map((problem) => formatProblem(file, problem));
    if (sorted.length > MAX_PROBLEMS_SHOWN) shown.push(`... and ${sorted.length - MAX_PROBLEMS_SHOWN} more problems: fix these first (is ${file} the config?), then run supervisor check again`);
    super([headline, ...shown].join('\n'), { cause: options.cause });
    this.file = file;
    this.problems = sorted;
  }
}

/** Problems a message lists before it says how many more there are. */
export const MAX_PROBLEMS_SHOWN = 20;

/** "<file>:<line>:<col>: <key>: <message>", leaving out whatever is unknown; a long one elided in the middle. */
export function formatProblem(file: string, problem: ConfigProblem): string {
  let where = file;
  if (problem.line !== undefined) {
    where += `:${problem.line}`;
    if (problem.column !== undefined) where += `:${problem.column}`;
  }
  return elide(problem.key === '' ? `${where}: ${problem.message}` : `${where}: ${problem.key}: ${problem.message}`);
}

/** Renders a path the way the user would point at it: ready.timeout, listen[1], env["A.B"]. */
export function keyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && part.length <= QUOTE_LIMIT && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${quote(String(part))}]`;
  }
  return out;
}

// Problems in file order; those without a position (missing keys) last, in the order found.
function byPosition(a: ConfigProblem, b: ConfigProblem): number {
  const la = a.line ?? Infinity;
  const lb = b.line ?? Infinity;
  if (la !== lb) return la - lb;
  return (a.column ?? 0) - (b.column ?? 0);
}
