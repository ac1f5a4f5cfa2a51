// Every request of a phase, in columns: compact enough to ship whole from a load process to the
// parent (structured clone over IPC), so the parent can later cut them by any time window.
import type { LoadMode } from './http-client.js';

export const MODES: readonly LoadMode[] = ['new-connection', 'keep-alive'];

/** Outcome 0 is always 'ok'; other codes index `outcomes`. */
export interface RequestRecords {
  count: number;
  startedAt: Float64Array; // epoch ms (sub-ms precision)
  latencyMs: Float32Array;
  outcome: Uint8Array;
  mode: Uint8Array; // index into MODES
  version: Uint16Array; // x-version of the response: the generation that answered (0: none)
  outcomes: string[];
}

export class Recorder {
  #count = 0;
  #startedAt = new Float64Array(1 << 14);
  #latencyMs = new Float32Array(1 << 14);
  #outcome = new Uint8Array(1 << 14);
  #mode = new Uint8Array(1 << 14);
  #version = new Uint16Array(1 << 14);
  readonly #outcomes = ['ok'];
  readonly #codes = new Map<string, number>([['ok', 0]]);

  add(startedAt: number, latencyMs: number, outcome: string, mode: LoadMode, version: number): void {
    if (this.#count === this.#startedAt.length) this.#grow();
    const i = this.#count++;
    this.#startedAt[i] = startedAt;
    this.#latencyMs[i] = latencyMs;
    this.#outcome[i] = this.#code(outcome);
    this.#mode[i] = mode === 'new-connection' ? 0 : 1;
    this.#version[i] = Math.min(version, 65535);
  }

  /** The records so far, as copies trimmed to size; the recorder starts empty again. */
  take(): RequestRecords {
    const n = this.#count;
    const records: RequestRecords = {
      count: n,
      startedAt: this.#startedAt.slice(0, n),
      latencyMs: this.#latencyMs.slice(0, n),
      outcome: this.#outcome.slice(0, n),
      mode: this.#mode.slice(0, n),
      version: this.#version.slice(0, n),
      outcomes: [...this.#outcomes],
    };
    this.#count = 0;
    return records;
  }

  #code(outcome: string): number {
    let code = this.#codes.get(outcome);
    if (code === undefined) {
      // 255 distinct failure names would mean something is badly wrong; fold the rest together.
      code = this.#outcomes.length < 255 ? this.#outcomes.push(outcome) - 1 : 255;
      if (code !== 255) this.#codes.set(outcome, code);
      else if (this.#outcomes.length === 255) this.#outcomes.push('other');
    }
    return code;
  }

  #grow(): void {
    const size = this.#startedAt.length * 2;
    const grow = <T extends Float64Array | Float32Array | Uint8Array | Uint16Array>(old: T, make: (n: number) => T): T => {
      const next = make(size);
      next.set(old);
      return next;
    };
    this.#startedAt = grow(this.#startedAt, (n) => new Float64Array(n));
    this.#latencyMs = grow(this.#latencyMs, (n) => new Float32Array(n));
    this.#outcome = grow(this.#outcome, (n) => new Uint8Array(n));
    this.#mode = grow(this.#mode, (n) => new Uint8Array(n));
    this.#version = grow(this.#version, (n) => new Uint16Array(n));
  }
}

/** Merges the records of several load processes into one set with one outcome table. */
export function mergeRecords(parts: RequestRecords[]): RequestRecords {
  const outcomes = ['ok'];
  const index = new Map<string, number>([['ok', 0]]);
  const count = parts.reduce((sum, part) => sum + part.count, 0);
  const merged: RequestRecords = {
    count,
    startedAt: new Float64Array(count),
    latencyMs: new Float32Array(count),
    outcome: new Uint8Array(count),
    mode: new Uint8Array(count),
    version: new Uint16Array(count),
    outcomes,
  };
  let at = 0;
  for (const part of parts) {
    const remap = part.outcomes.map((name) => {
      let code = index.get(name);
      if (code === undefined) {
        code = outcomes.push(name) - 1;
        index.set(name, code);
      }
      return code;
    });
    merged.startedAt.set(part.startedAt, at);
    merged.latencyMs.set(part.latencyMs, at);
    merged.mode.set(part.mode, at);
    merged.version.set(part.version, at);
    for (let i = 0; i < part.count; i++) merged.outcome[at + i] = remap[part.outcome[i]!]!;
    at += part.count;
  }
  return merged;
}
