import type { Logger } from '../../log.js';

// Where the workers' output lines go: the log (stdout lines to the daemon's stdout, stderr lines to
// its stderr) and a ring of the most recent lines in memory, which `supervisor logs` reads and
// follows. The ring is bounded both in lines and in bytes (a line is at most 16 KiB), whichever
// bound is reached first; the oldest lines leave first.
export const RING_LINES = 2000;
export const RING_BYTES = 1024 * 1024;

export interface OutputLine {
  time: string; // ISO 8601, when the supervisor read it
  gen: number;
  worker: number; // the slot, 1..workers
  pid: number;
  stream: 'stdout' | 'stderr';
  line: string;
}

export interface OutputFilter {
  gen?: number;
  worker?: number;
}

export function matches(line: OutputLine, filter: OutputFilter): boolean {
  return (filter.gen === undefined || line.gen === filter.gen) && (filter.worker === undefined || line.worker === filter.worker);
}

/** The last lines, oldest first, bounded in count and in bytes. */
export class LineRing {
  readonly #maxLines: number;
  readonly #maxBytes: number;
  #lines: OutputLine[] = [];
  #head = 0; // index of the oldest line in #lines
  #bytes = 0;

  constructor(maxLines = RING_LINES, maxBytes = RING_BYTES) {
    this.#maxLines = maxLines;
    this.#maxBytes = maxBytes;
  }

  push(line: OutputLine): void {
    this.#lines.push(line);
    this.#bytes += line.line.length;
    while (this.size > this.#maxLines || (this.#bytes > this.#maxBytes && this.size > 1)) {
      this.#bytes -= this.#lines[this.#head]!.line.length;
      this.#lines[this.#head++] = undefined as unknown as OutputLine;
    }
    // Compact now and then rather than shift() per line: O(1) amortised.
    if (this.#head > this.#maxLines) {
      this.#lines = this.#lines.slice(this.#head);
      this.#head = 0;
    }
  }

  get size(): number {
    return this.#lines.length - this.#head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The last `count` lines that match, oldest first. */
  last(count: number, filter: OutputFilter = {}): OutputLine[] {
    const found: OutputLine[] = [];
    for (let i = this.#lines.length - 1; i >= this.#head && found.length < count; i--) {
      const line = this.#lines[i]!;
      if (matches(line, filter)) found.push(line);
    }
    return found.reverse();
  }
}

export class WorkerOutputLog {
  readonly ring = new LineRing();
  readonly #loggers: { stdout: Logger; stderr: Logger };
  readonly #followers = new Set<(line: OutputLine) => void>();

  constructor(loggers: { stdout: Logger; stderr: Logger }) {
    this.#loggers = loggers;
  }

  record(fields: Omit<OutputLine, 'time' | 'line'>, line: string): void {
    this.#loggers[fields.stream].info(fields, line);
    const entry: OutputLine = { time: new Date().toISOString(), ...fields, line };
    this.ring.push(entry);
    for (const follower of this.#followers) follower(entry);
  }

  /** Calls `follower` with every line from now on, until the returned function is called. */
  follow(follower: (line: OutputLine) => void): () => void {
    this.#followers.add(follower);
    return () => this.#followers.delete(follower);
  }
}
