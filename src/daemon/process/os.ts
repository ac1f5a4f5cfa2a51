import { spawn, type SpawnOptions } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { readRssBytes } from './proc.js';

// What a worker's process is to the supervisor: a pid, two output streams, an exit. Node's
// ChildProcess is one; a test's fake worker is another.
export interface ChildHandle extends EventEmitter {
  readonly pid?: number | undefined;
  readonly stdout: Readable | null | undefined; // undefined: spawn() failed before it made the pipes
  readonly stderr: Readable | null | undefined;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
}

// The operating system as the process layer uses it: start a program, send a signal. Everything
// the supervisor does to a process goes through these two, so a test can drive whole reloads with
// fake workers (tableflip's `env` is the model).
export interface ProcessOs {
  spawn(file: string, args: string[], options: SpawnOptions): ChildHandle;
  // kill(2): a negative pid addresses a process group. False when nothing received it (ESRCH).
  kill(pid: number, signal: NodeJS.Signals): boolean;
  // Resident memory in bytes, null when the process is gone (what a bake window keeps alive).
  rssBytes(pid: number): number | null;
}

export const realProcessOs: ProcessOs = {
  spawn: (file, args, options) => spawn(file, args, options),
  kill(pid, signal) {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  },
  rssBytes: readRssBytes,
};
