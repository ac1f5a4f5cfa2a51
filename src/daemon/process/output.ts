import type { Readable } from 'node:stream';

// A worker's output, split into lines for attributable log records. Lines are capped so a worker
// that writes megabytes without a newline cannot grow the supervisor's memory.
export const MAX_LINE_BYTES = 16 * 1024;
export const TAIL_LINES = 20;

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

export function forEachLine(stream: Readable, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) !== -1) {
      onLine(pending.slice(0, newline).replace(/\r$/, ''));
      pending = pending.slice(newline + 1);
    }
    if (pending.length > MAX_LINE_BYTES) {
      onLine(`${pending.slice(0, MAX_LINE_BYTES)} [line cut at ${MAX_LINE_BYTES} bytes]`);
      pending = '';
    }
  });
  stream.on('end', () => {
    if (pending.length > 0) onLine(pending);
    pending = '';
  });
  // A pipe error only means the worker went away; its exit is reported elsewhere.
  stream.on('error', () => {});
}
