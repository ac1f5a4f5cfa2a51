import type { Readable } from 'node:stream';

// A worker's output, split into lines for attributable log records. Lines are capped so a worker
// that writes megabytes without a newline cannot grow the supervisor's memory.
export const MAX_LINE_BYTES = 16 * 1024;
export const TAIL_LINES = 20;
// While a worker's lines are suppressed they are still read (counted, never made into strings), so
// that a worker logging in bursts never blocks in write(2): one that writes synchronously (pino's
// default destination, C stdio) would stall, and stop serving, until the supervisor read again.
// Reading costs CPU by itself, though: a runaway such as `yes` writes gigabytes a second. Past this
// many bytes a second of suppressed output the supervisor stops reading that worker until the next
// slice, and the worker waits in write(2): ~8% of a core for the supervisor (docs/configuration.md).
export const DISCARD_BYTES_PER_SECOND = 16 * 1024 * 1024;
const SLICE_MS = 100;
const NEWLINE = 0x0a;

export class OutputTail {
  readonly #lines: string[] = [];

  push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > TAIL_LINES) this.#lines.shift();
  }

  lines(): string[] {
    return [...this.#lines];
  }
}

/** output_limit: at most `burst` lines per `intervalMs` of one worker (stdout and stderr together); burst 0: no limit. */
export interface OutputLimit {
  burst: number;
  intervalMs: number;
}

// journald's rate limit for one worker: fixed windows of intervalMs from the first line; the first
// `burst` lines of a window pass, the rest are counted. The count is reported once, when the
// window it fell in ends, so a flood costs one report per interval.
export class LineBudget {
  readonly #limit: OutputLimit;
  readonly #now: () => number;
  #windowEnds = -Infinity;
  #passed = 0;
  #suppressed = 0;
  suppressedTotal = 0;

  constructor(limit: OutputLimit, now: () => number = Date.now) {
    this.#limit = limit;
    this.#now = now;
  }

  /** The lines suppressed in a window that has ended (0 if none), and a new window if one is due. */
  roll(): number {
    if (this.#now() < this.#windowEnds) return 0;
    const ended = this.#suppressed;
    this.#suppressed = 0;
    this.#passed = 0;
    this.#windowEnds = this.#now() + this.#limit.intervalMs;
    return ended;
  }

  /** How many of `lines` may pass now; the rest are counted as suppressed. */
  take(lines: number): number {
    if (this.#limit.burst === 0) return lines;
    const allowed = Math.min(lines, this.#limit.burst - this.#passed);
    this.#passed += allowed;
    this.suppress(lines - allowed);
    return allowed;
  }

  suppress(lines: number): void {
    this.#suppressed += lines;
    this.suppressedTotal += lines;
  }

  /** Lines suppressed in the current window, not reported yet; they are reported (and forgotten) here. */
  takeUnreported(): number {
    const pending = this.#suppressed;
    this.#suppressed = 0;
    return pending;
  }

  get windowEndsIn(): number {
    return Math.max(0, this.#windowEnds - this.#now());
  }
}

export interface OutputEvents {
  line(stream: 'stdout' | 'stderr', line: string): void;
  /** A window in which lines were suppressed has ended (or the worker's output ended). */
  suppressed(lines: number): void;
}

// Reads a worker's stdout and stderr as Buffers: a line within the budget is decoded and handed
// on; a line past it is only counted. The budget is shared by both streams of the worker.
export class OutputReader {
  readonly budget: LineBudget;
  readonly #events: OutputEvents;
  readonly #streams: Readable[] = [];
  #discarded = 0; // bytes of suppressed lines read in the current slice
  #sliceTimer: NodeJS.Timeout | null = null;
  #reportTimer: NodeJS.Timeout | null = null;
  #open = 0;

  constructor(limit: OutputLimit, events: OutputEvents) {
    this.budget = new LineBudget(limit);
    this.#events = events;
  }

  read(stream: Readable, name: 'stdout' | 'stderr'): void {
    this.#streams.push(stream);
    this.#open++;
    let pending: Buffer[] = []; // the start of a line whose newline has not come yet
    let pendingBytes = 0;
    let skipping = false; // inside the rest of a line that was cut
    const deliver = (line: string) => {
      if (this.budget.take(1) === 1) this.#events.line(name, line);
      else this.#scheduleReport();
    };
    stream.on('data', (chunk: Buffer) => {
      this.#reportEndedWindow();
      let start = 0;
      while (start < chunk.length) {
        const newline = chunk.indexOf(NEWLINE, start);
        if (newline === -1) {
          if (skipping) return;
          pending.push(chunk.subarray(start));
          pendingBytes += chunk.length - start;
          if (pendingBytes > MAX_LINE_BYTES) {
            deliver(`${Buffer.concat(pending).subarray(0, MAX_LINE_BYTES).toString('utf8')} [line cut at ${MAX_LINE_BYTES} bytes]`);
            pending = [];
            pendingBytes = 0;
            skipping = true;
          }
          return;
        }
        if (skipping) {
          skipping = false;
        } else if (pendingBytes + newline - start > MAX_LINE_BYTES) {
          deliver(`${Buffer.concat([...pending, chunk.subarray(start, newline)]).subarray(0, MAX_LINE_BYTES).toString('utf8')} [line cut at ${MAX_LINE_BYTES} bytes]`);
        } else if (this.budget.take(1) === 1) {
          const line = (pendingBytes === 0 ? chunk.subarray(start, newline) : Buffer.concat([...pending, chunk.subarray(start, newline)])).toString('utf8');
          this.#events.line(name, line.endsWith('\r') ? line.slice(0, -1) : line);
        } else {
          // Past the budget: every whole line left in this chunk is counted; none is made a string.
          const last = chunk.lastIndexOf(NEWLINE);
          this.budget.suppress(countNewlines(chunk, newline + 1, last + 1));
          this.#discard(pendingBytes + last + 1 - start);
          pending = [];
          pendingBytes = 0;
          start = last + 1;
          continue;
        }
        pending = [];
        pendingBytes = 0;
        start = newline + 1;
      }
    });
    stream.on('end', () => {
      if (pendingBytes > 0 && !skipping) {
        const line = Buffer.concat(pending).toString('utf8');
        deliver(line);
      }
      pending = [];
      if (--this.#open === 0) this.#finish();
    });
    // A pipe error only means the worker went away; its exit is reported elsewhere.
    stream.on('error', () => {});
  }

  // Suppressed bytes read in this slice; past the allowance, the worker's pipes wait for the next.
  #discard(bytes: number): void {
    this.#scheduleReport();
    this.#discarded += bytes;
    if (this.#sliceTimer !== null) {
      if (this.#discarded >= (DISCARD_BYTES_PER_SECOND * SLICE_MS) / 1000) for (const stream of this.#streams) stream.pause();
      return;
    }
    this.#sliceTimer = setTimeout(() => {
      this.#sliceTimer = null;
      this.#discarded = 0;
      for (const stream of this.#streams) if (!stream.destroyed && stream.isPaused()) stream.resume();
    }, SLICE_MS);
  }

  // A worker that goes quiet right after a flood still gets its count reported when the window ends.
  #scheduleReport(): void {
    if (this.#reportTimer !== null) return;
    this.#reportTimer = setTimeout(() => {
      this.#reportTimer = null;
      this.#reportEndedWindow();
    }, this.budget.windowEndsIn + 1);
  }

  #reportEndedWindow(): void {
    const ended = this.budget.roll();
    if (ended > 0) this.#events.suppressed(ended);
  }

  #finish(): void {
    if (this.#sliceTimer) clearTimeout(this.#sliceTimer);
    if (this.#reportTimer) clearTimeout(this.#reportTimer);
    this.#sliceTimer = null;
    this.#reportTimer = null;
    const unreported = this.budget.takeUnreported();
    if (unreported > 0) this.#events.suppressed(unreported);
  }
}

function countNewlines(chunk: Buffer, from: number, to: number): number {
  let lines = 0;
  for (let i = from; i < to; i++) if (chunk[i] === NEWLINE) lines++;
  return lines;
}
