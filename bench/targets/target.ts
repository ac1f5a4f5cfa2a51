// What the benchmark needs from a strategy under test: a port that serves, a reload it can time,
// its processes by class (for the scheduling footing check), and a stop that leaves no process
// behind.
import type { ProcessClass } from '../lib/footing.js';

/** Epoch ms, measured by the benchmark process as it sees each step. */
export interface ReloadTiming {
  triggerAt: number; // the reload was asked for
  promotedAt: number | null; // the new generation serves (null: never)
  goneAt: number | null; // every old process has exited: the reload is over (null: never)
  ok: boolean;
  message: string; // 'promoted', or what went wrong
}

export interface Target {
  readonly host: string;
  readonly port: number;
  /** Facts about this run worth printing (mechanism, sysctl, fallbacks). */
  readonly notes: string[];
  reload(): Promise<ReloadTiming>;
  /** The live processes serving the port, by class (each started in a session of its own). */
  processes(): ProcessClass[];
  /** Ends every process the target started, by pid, and waits for them. Idempotent. */
  stop(): Promise<void>;
}

export const now = () => performance.timeOrigin + performance.now();

/** Waits for a child's exit, with SIGKILL by pid after `graceMs`. */
export async function reap(child: import('node:child_process').ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
