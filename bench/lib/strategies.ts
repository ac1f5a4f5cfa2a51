// The strategies the benchmark compares, and what each needs from the kernel.
import type { SupervisorOptions } from '../targets/supervisor.js';

export type StrategyId = 'steer' | 'steer-c' | 'steer-bare' | 'migrate' | 'shared' | 'self' | 'naive' | 'cluster' | 'off';

export interface Strategy {
  id: StrategyId;
  label: string;
  /** What it is, for the docs and --help. */
  describe: string;
  kind: 'supervisor' | 'naive' | 'cluster';
  /**
   * handover: 'ramp' runs it with --slow-start and --drain-spread, 'spread' with --drain-spread
   * only (slow_start needs steering), none with neither.
   */
  supervisor?: Omit<SupervisorOptions, 'workers' | 'slowStartMs' | 'drainSpreadMs' | 'workerNode' | 'startConcurrency' | 'warming'> & { handover?: 'ramp' | 'spread' };
  /**
   * net.ipv4.tcp_migrate_req for its namespace. 'flag': --self-sysctl decides. On the host (no
   * namespace possible) a fixed value must already be in force, or the strategy is skipped: a
   * strategy run with the other value would not measure what its name says.
   */
  sysctl: 0 | 1 | 'flag' | 'any';
}

export const STRATEGIES: readonly Strategy[] = [
  {
    id: 'steer',
    label: 'supervisor reuseport+steer',
    describe: 'supervisor, socket: reuseport, lossless: steer (classic BPF steering), slow_start (--slow-start) and drain.spread (--drain-spread), ready.nice 19 -> 0 over 5 s, tcp_migrate_req=0',
    kind: 'supervisor',
    supervisor: { socket: 'reuseport', lossless: 'steer', handover: 'ramp', readyNice: 19 },
    sysctl: 0,
  },
  {
    id: 'steer-c',
    label: 'supervisor steer, C worker',
    describe: 'as steer, with the example worker in C (examples/c) instead of the Node app: the same reload path with an app that serves at full speed from its first request, so what latency a reload adds is the supervisor\'s and the kernel\'s, not a JIT warming up (not run by default)',
    kind: 'supervisor',
    supervisor: { socket: 'reuseport', lossless: 'steer', handover: 'ramp', app: 'c' },
    sysctl: 0,
  },
  {
    id: 'steer-bare',
    label: 'supervisor steer, no ramp',
    describe: 'as steer, without slow_start and drain.spread: the new generation takes every new connection at once, old workers close every keep-alive connection on its next response (not run by default)',
    kind: 'supervisor',
    supervisor: { socket: 'reuseport', lossless: 'steer' },
    sysctl: 0,
  },
  {
    id: 'migrate',
    label: 'supervisor reuseport+migrate',
    describe: 'supervisor, socket: reuseport, lossless: migrate, tcp_migrate_req=1',
    kind: 'supervisor',
    supervisor: { socket: 'reuseport', lossless: 'migrate' },
    sysctl: 1,
  },
  {
    id: 'shared',
    label: 'supervisor shared',
    describe: 'supervisor, socket: shared (one listener inherited by every worker)',
    kind: 'supervisor',
    supervisor: { socket: 'shared' },
    sysctl: 0,
  },
  {
    id: 'self',
    label: 'supervisor self',
    describe: 'supervisor, socket: self (workers bind the port with SO_REUSEPORT); lossless only with tcp_migrate_req=1',
    kind: 'supervisor',
    supervisor: { socket: 'self' },
    sysctl: 'flag',
  },
  {
    id: 'naive',
    label: 'naive reuseport',
    describe: 'N plain Node processes binding the port with SO_REUSEPORT; reload: start N new, wait until they listen, SIGTERM the old (server.close())',
    kind: 'naive',
    sysctl: 0,
  },
  {
    id: 'cluster',
    label: 'node:cluster rolling',
    describe: 'node:cluster primary, default scheduling; reload: per worker fork a replacement, wait for listening, disconnect() the old',
    kind: 'cluster',
    sysctl: 'any',
  },
  {
    id: 'off',
    label: 'supervisor reuseport+off',
    describe: 'supervisor, socket: reuseport, lossless: off (no steering), tcp_migrate_req=0: the naive behaviour inside the supervisor (not run by default)',
    kind: 'supervisor',
    supervisor: { socket: 'reuseport', lossless: 'off' },
    sysctl: 0,
  },
];

/** The steering variants: the reload-latency goal is about them, and the report profiles them. */
export const STEERING_VARIANTS: readonly StrategyId[] = ['steer', 'steer-c', 'steer-bare'];

export const DEFAULT_STRATEGIES: readonly StrategyId[] = ['steer', 'migrate', 'shared', 'self', 'naive', 'cluster'];

export function strategy(id: string): Strategy {
  const found = STRATEGIES.find((s) => s.id === id);
  if (!found) throw new Error(`unknown strategy '${id}': choose from ${STRATEGIES.map((s) => s.id).join(', ')}`);
  return found;
}
