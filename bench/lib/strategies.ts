// The strategies the benchmark compares, and what each needs from the kernel.
import type { SupervisorOptions } from '../targets/supervisor.js';

export type StrategyId = 'steer' | 'steer-nice' | 'migrate' | 'shared' | 'self' | 'naive' | 'cluster' | 'off';

export interface Strategy {
  id: StrategyId;
  label: string;
  /** What it is, for the docs and --help. */
  describe: string;
  kind: 'supervisor' | 'naive' | 'cluster';
  supervisor?: Omit<SupervisorOptions, 'workers'>;
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
    describe: 'supervisor, socket: reuseport, lossless: steer (classic BPF steering), tcp_migrate_req=0',
    kind: 'supervisor',
    supervisor: { socket: 'reuseport', lossless: 'steer' },
    sysctl: 0,
  },
  {
    id: 'steer-nice',
    label: 'supervisor steer+ready.nice',
    describe: 'as steer, with ready.nice: 10 (new workers warm up at lower CPU priority, back to 0 once ready)',
    kind: 'supervisor',
    supervisor: { socket: 'reuseport', lossless: 'steer', readyNice: 10 },
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

export const DEFAULT_STRATEGIES: readonly StrategyId[] = ['steer', 'migrate', 'shared', 'self', 'naive', 'cluster'];

export function strategy(id: string): Strategy {
  const found = STRATEGIES.find((s) => s.id === id);
  if (!found) throw new Error(`unknown strategy '${id}': choose from ${STRATEGIES.map((s) => s.id).join(', ')}`);
  return found;
}
