// A load process: runs the virtual users the parent asks for and, on 'stop', sends back every
// request it made. Started by LoadPool with an IPC channel; it exits when that channel closes, so
// it never outlives the benchmark.
import { VirtualUser, type LoadMode } from './http-client.js';
import type { FromLoadProcess, StartMessage, ToLoadProcess } from './messages.js';
import { Recorder } from './records.js';

const now = () => performance.timeOrigin + performance.now();
const recorder = new Recorder();
let running = false;
let loops: Promise<void>[] = [];
let users: VirtualUser[] = [];
let sweep: NodeJS.Timeout | undefined;
let cpuAtStart: NodeJS.CpuUsage | undefined;

function send(message: FromLoadProcess): void {
  process.send!(message);
}

function start(message: StartMessage): void {
  if (running) throw new Error('load process: start while already running');
  const target = { host: message.host, port: message.port };
  const make = (mode: LoadMode, n: number) => Array.from({ length: n }, () => new VirtualUser(target, mode));
  users = [...make('new-connection', message.newConnection), ...make('keep-alive', message.keepAlive)];
  running = true;
  cpuAtStart = process.cpuUsage();
  const interval = message.intervalMs;
  // Open loop: users start at evenly spread phases of the interval, so the rate is smooth.
  const schedule = (index: number) => (interval ? { intervalMs: interval, firstAt: now() + (interval * index) / users.length } : undefined);
  loops = users.map((user, index) =>
    user.run(() => running, (startedAt, latencyMs, outcome, version) => recorder.add(startedAt, latencyMs, outcome, user.mode, version), now, schedule(index)),
  );
  // One timer for all users instead of one per request: the load client must stay cheap.
  sweep = setInterval(() => {
    const olderThan = now() - message.timeoutMs;
    for (const user of users) user.expire(olderThan);
  }, 100);
}

async function stop(): Promise<void> {
  running = false;
  // Each loop ends after its request in flight, which the sweep bounds by the timeout.
  await Promise.all(loops);
  clearInterval(sweep);
  loops = [];
  users = [];
  const cpu = process.cpuUsage(cpuAtStart);
  send({ type: 'records', records: recorder.take(), cpuMicros: cpu.user + cpu.system });
}

process.on('message', (message: ToLoadProcess) => {
  try {
    if (message.type === 'start') start(message);
    else if (message.type === 'stop') void stop();
  } catch (error) {
    send({ type: 'error', message: (error as Error).message });
  }
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
