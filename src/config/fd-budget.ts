// How many file descriptors the supervisor holds with a config, at the peak of a reload, against
// how many it may open (RLIMIT_NOFILE). Out of descriptors, a reload cannot start its workers: it
// rolls back, which is safe but blocks every deploy, so check and doctor warn beforehand and a
// reload that hit EMFILE says the number to raise the limit to.
import { readFileSync } from 'node:fs';
import type { SupervisorConfig } from './types.js';

/**
 * Node's and libuv's own (about 20 measured: stdio, epoll, eventfds, signal pipes), the control
 * and notify sockets, a spawn's passing pipes, a few control clients and reads of /proc.
 */
export const OWN_FDS = 32;

export interface FdBudget {
  /** what one worker costs the supervisor: its stdout and stderr pipes, its listeners (reuseport) */
  perWorker: number;
  /** two generations of workers during a reload */
  workers: number;
  /** what only a starting worker holds: its readiness probe, its warm-up connections */
  starting: number;
  /** listeners held once: shared sockets, the metrics endpoint and its clients */
  listeners: number;
  own: number;
  total: number;
}

export function fdBudget(config: SupervisorConfig): FdBudget {
  const listeners = config.socket === 'shared' ? config.listen.length : 0;
  const perWorker = 2 + (config.socket === 'reuseport' ? config.listen.length : 0);
  const probe = config.ready.kind === 'http' || config.ready.kind === 'tcp' ? 1 : 0;
  const starting = config.workers * (probe + (config.ready.warmup?.concurrency ?? 0));
  const metrics = config.metrics === null ? 0 : 1 + 4;
  const budget = { perWorker, workers: 2 * config.workers * perWorker, starting, listeners: listeners + metrics, own: OWN_FDS };
  return { ...budget, total: budget.workers + budget.starting + budget.listeners + budget.own };
}

/** "16 workers x 3 fds x 2 generations + 16 for readiness probes + 32 of its own" */
export function describeFdBudget(config: SupervisorConfig, budget = fdBudget(config)): string {
  const parts = [`${config.workers} worker(s) x ${budget.perWorker} fds x 2 generations`];
  if (budget.starting > 0) parts.push(`${budget.starting} for readiness probes and warm-up`);
  if (budget.listeners > 0) parts.push(`${budget.listeners} for shared listeners and metrics`);
  parts.push(`${budget.own} of its own`);
  return parts.join(' + ');
}

/**
 * The soft and hard RLIMIT_NOFILE of this process, or null where /proc cannot tell. Node raises
 * its soft limit to the hard one as it starts, so in a Node process both are the number a
 * supervisor started the same way gets.
 */
export function openFileLimit(limitsFile = '/proc/self/limits'): { soft: number; hard: number } | null {
  try {
    const line = readFileSync(limitsFile, 'utf8').split('\n').find((row) => row.startsWith('Max open files'));
    const match = line && /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(line);
    if (!match) return null;
    const value = (text: string) => (text === 'unlimited' ? Infinity : Number(text));
    return { soft: value(match[1]!), hard: value(match[2]!) };
  } catch {
    return null;
  }
}

/** The warning for a limit below the budget, or null when it is enough (or unknown). */
export function fdLimitWarning(config: SupervisorConfig, limit = openFileLimit()): string | null {
  if (limit === null) return null;
  const budget = fdBudget(config);
  if (limit.soft >= budget.total) return null;
  return `the open file limit here is ${limit.soft} (RLIMIT_NOFILE), and this config needs about ${budget.total} across a reload (${describeFdBudget(config, budget)}): ${fdLimitFix(budget.total)}`;
}

/** What to do when the supervisor runs out of descriptors. */
export function fdLimitFix(needed: number): string {
  return `raise the limit to at least ${needed}: LimitNOFILE=${needed} in the systemd unit, or ulimit -n ${needed} in the shell that starts it, then restart the supervisor`;
}
