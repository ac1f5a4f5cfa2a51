// The daemon's own output under hostile readers and chatty workers: a stdout pipe nobody reads
// must not wedge the control plane, a flooding worker must not cost the supervisor a core.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { request } from '../../src/control/client.js';
import type { DaemonStatus } from '../../src/control/protocol.js';
import { shimPath } from '../../src/native/index.js';
import { cliPath, Daemon, fixture, freePort, get, isAlive, sleep, waitFor } from '../helpers/harness.js';

const fast = { workers: 2, ready: { kind: 'notify', timeout: '10s' }, drain: { timeout: '5s' } };

// Bounded: a wedged daemon fails the test with a reason instead of hanging it.
async function statusOf(socket: string): Promise<DaemonStatus> {
  const result = await Promise.race([
    request(socket, { command: 'status' }),
    sleep(5_000).then(() => {
      throw new Error(`status got no answer within 5 s on ${socket}`);
    }),
  ]);
  assert.equal(result.ok, true, result.message);
  return result.data as DaemonStatus;
}

const pidsOf = (status: DaemonStatus) => status.generations.flatMap((gen) => gen.workers.flatMap((worker) => (worker.pid === null ? [] : [worker.pid])));

interface Unread {
  child: ChildProcess;
  stdout: net.Socket; // the test's end of the daemon's stdout
  dir: string;
  socket: string;
  port: number;
  exited: Promise<number | null>;
}

// A daemon started by the test itself, its stdout read only when the test chooses to: a pipe (a
// FIFO, as a shell's `| less` gives) or a socket pair (what Node's 'pipe' stdio and journald give).
async function startUnread(stdout: 'pipe' | 'socket', config: Record<string, unknown>): Promise<Unread> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rps-log-'));
  const port = await freePort();
  const socket = path.join(dir, 'supervisor.sock');
  const file = path.join(dir, 'supervisor.yaml');
  writeFileSync(file, JSON.stringify({ listen: `127.0.0.1:${port}`, control: socket, ...config }));
  const argv = [process.execPath, cliPath, 'run', '-c', file];
  let child: ChildProcess;
  let reader: net.Socket;
  if (stdout === 'pipe') {
    const fifo = path.join(dir, 'stdout.fifo');
    execFileSync('mkfifo', [fifo]);
    const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writeEnd = openSync(fifo, constants.O_WRONLY);
    child = spawn(shimPath, argv, { cwd: dir, stdio: ['ignore', writeEnd, 'pipe'] });
    closeSync(writeEnd);
    reader = new net.Socket({ fd: readEnd, readable: true, writable: false });
    reader.pause();
  } else {
    child = spawn(shimPath, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    reader = child.stdout as net.Socket;
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: reader, dir, socket, port, exited };
}

for (const kind of ['pipe', 'socket'] as const) {
test(`a daemon whose stdout is a full ${kind} nobody reads answers status, reloads, stops on SIGTERM; the dropped lines are reported once it drains`, async (t) => {
  const metricsPort = await freePort();
  const daemon = await startUnread(kind, { ...fast, command: ['node', fixture('chatty-app')], env: { CHATTY_LINES_PER_SECOND: '2000' }, output_limit: { burst: 0 }, metrics: `127.0.0.1:${metricsPort}` });
  const workers = new Set<number>();
  try {
    // Nothing reads stdout (a paused stream takes at most its first 64 KiB and stops); stderr is read.
    daemon.child.stderr!.resume();
    const ready = await waitFor('both workers ready', async () => {
      const status = await statusOf(daemon.socket).catch(() => null);
      return status?.generations[0]?.workers.every((worker) => worker.state === 'ready') ? status : undefined;
    }, 20_000);
    pidsOf(ready).forEach((pid) => workers.add(pid));
    // The daemon writes through a description of its own: the inherited one, which every other
    // holder of the pipe shares, stays blocking (O_NONBLOCK is 04000).
    const flags = (fd: number) => parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/${daemon.child.pid}/fdinfo/${fd}`, 'utf8'))![1]!, 8);
    if (kind === 'pipe') assert.equal(flags(1) & constants.O_NONBLOCK, 0, 'the shared description of stdout became non-blocking');
    await waitFor('lines dropped: the pipe and the daemon\'s buffer are full', async () => (await statusOf(daemon.socket)).droppedLogLines > 0, 20_000);

    const asked = performance.now();
    const status = await statusOf(daemon.socket);
    const statusMs = performance.now() - asked;
    assert.ok(status.droppedLogLines > 0);
    const reload = await execa(process.execPath, [cliPath, 'reload', '--socket', daemon.socket], { reject: false, timeout: 30_000 });
    assert.equal(reload.exitCode, 0, reload.stderr);
    assert.match(reload.stdout, /promoted: generation 2 serves/);
    pidsOf(await statusOf(daemon.socket)).forEach((pid) => workers.add(pid));
    assert.equal((await get(daemon.port)).status, 200);

    // The reader comes back: what waited goes out, then one line with the count.
    let text = '';
    daemon.stdout.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).resume();
    const report = await waitFor('the log lines dropped line', () => text.split('\n').find((line) => line.includes('"log lines dropped')), 15_000);
    const dropped = JSON.parse(report) as { droppedLines: number; fd: number; level: number };
    assert.ok(dropped.droppedLines > 0 && dropped.fd === 1 && dropped.level === 40, report);
    const metrics = await get(metricsPort, '/metrics');
    const counted = Number(/^supervisor_log_lines_dropped_total (\d+)$/m.exec(metrics.body)?.[1]);
    assert.ok(counted >= dropped.droppedLines, `metric ${counted} < reported ${dropped.droppedLines}`);

    // Stalled again, then SIGTERM: the daemon drains its workers and exits without waiting for the pipe.
    daemon.stdout.pause();
    const before = (await statusOf(daemon.socket)).droppedLogLines;
    await waitFor('lines dropped again', async () => (await statusOf(daemon.socket)).droppedLogLines > before, 20_000);
    const signalled = performance.now();
    daemon.child.kill('SIGTERM');
    const code = await Promise.race([daemon.exited, sleep(10_000).then(() => 'still running' as const)]);
    const stopMs = performance.now() - signalled;
    t.diagnostic(`status answered in ${statusMs.toFixed(0)} ms with the pipe full; ${dropped.droppedLines} lines dropped, reported on drain; exit ${code} ${stopMs.toFixed(0)} ms after SIGTERM`);
    assert.ok(statusMs < 2_000, `status took ${statusMs} ms`);
    assert.equal(code, 0);
    // The workers drain in well under a second; the flush of the stalled pipe gives up after 1 s.
    assert.ok(stopMs < 5_000, `stopped ${stopMs} ms after SIGTERM`);
  } finally {
    if (daemon.child.exitCode === null && daemon.child.signalCode === null) {
      daemon.child.kill('SIGKILL');
      await daemon.exited;
    }
    for (const pid of workers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    daemon.stdout.destroy();
    rmSync(daemon.dir, { recursive: true, force: true });
  }
});
}

// utime + stime of a process, in clock ticks (100 a second on Linux).
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

test('a worker flooding its output (a yes loop) costs the supervisor at most 20% of a core; the other worker serves; the suppressed lines are counted and reported', async (t) => {
  const metricsPort = await freePort();
  let forwarded = 0;
  const daemon = await Daemon.start({
    config: { ...fast, command: ['node', fixture('yes-worker')], output_limit: { burst: 1000, interval: '1s' }, metrics: `127.0.0.1:${metricsPort}` },
    keepLine: (raw) => {
      if (!raw.includes('"stream":')) return true;
      forwarded++;
      return false;
    },
  });
  try {
    const suppressing = await waitFor('worker 1 suppressed', async () => {
      const status = await daemon.status();
      const worker = status.generations[0]!.workers.find((w) => w.slot === 1)!;
      return worker.outputSuppressed > 0 ? status : undefined;
    });
    const quiet = suppressing.generations[0]!.workers.find((w) => w.slot === 2)!;
    assert.equal(quiet.outputSuppressed, 0);
    const seconds = 4;
    const before = cpuTicks(daemon.pid);
    const pids = new Set<string>();
    const deadline = Date.now() + seconds * 1000;
    let answered = 0;
    while (Date.now() < deadline) {
      const answer = await daemon.get();
      assert.equal(answer.status, 200);
      pids.add(String(answer.headers['x-pid']));
      answered++;
      await sleep(50);
    }
    const share = (cpuTicks(daemon.pid) - before) / 100 / seconds;
    const status = await daemon.status();
    const suppressed = status.generations[0]!.workers.find((w) => w.slot === 1)!.outputSuppressed;
    const diagnosis = `supervisor CPU ${(share * 100).toFixed(1)}% of a core over ${seconds} s; ${answered} requests answered by ${pids.size} worker(s); ${suppressed} lines suppressed, ${forwarded} forwarded`;
    t.diagnostic(diagnosis);
    assert.ok(share <= 0.2, diagnosis);
    assert.equal(pids.size, 2, `both workers serve: ${diagnosis}`);
    const report = await daemon.waitForLog('a suppression report', (line) => String(line.msg).startsWith('worker output suppressed') && line.worker === 1);
    assert.ok(Number(report.suppressed) > 0 && report.gen === 1 && report.pid === status.generations[0]!.workers[0]!.pid, JSON.stringify(report));
    const metrics = await get(metricsPort, '/metrics');
    assert.ok(Number(/^supervisor_worker_output_suppressed_lines_total\{worker="1"\} (\d+)$/m.exec(metrics.body)?.[1]) > 0, 'the metric counts worker 1');
    // At most burst lines per second were forwarded (and a little for the window the test began in).
    assert.ok(forwarded > 0);
  } finally {
    assert.equal(await daemon.stop(), 0);
  }
});

// Runs `supervisor run` on a pseudo-terminal (util-linux script), returns what the terminal showed
// once `until` matched it; the daemon is stopped through its control socket and every worker reaped.
async function onTerminal(extraArgs: string[], until: RegExp): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rps-tty-'));
  const port = await freePort();
  const socket = path.join(dir, 'supervisor.sock');
  const file = path.join(dir, 'supervisor.yaml');
  writeFileSync(file, JSON.stringify({ listen: `127.0.0.1:${port}`, control: socket, ...fast, command: ['node', fixture('good-app')] }));
  const command = [shimPath, process.execPath, cliPath, 'run', '-c', file, ...extraArgs].map((word) => `'${word}'`).join(' ');
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm' };
  delete env.NO_COLOR;
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'], env });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let screen = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (screen += chunk));
  const workers: number[] = [];
  try {
    await waitFor(`${until} on the terminal`, () => until.test(screen), 20_000);
    const status = await statusOf(socket);
    workers.push(...pidsOf(status));
    const stopped = await request(socket, { command: 'stop' });
    assert.equal(stopped.ok, true, stopped.message);
    await Promise.race([exited, sleep(15_000)]);
    return screen;
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL'); // script; the daemon under it dies with its terminal (SIGHUP), then by its shim
      await exited;
    }
    for (const pid of workers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

test('on a terminal the log is one readable line per event, colored; --log-format json keeps JSON there', async () => {
  const pretty = await onTerminal([], /all workers ready/);
  assert.match(pretty, /\x1b\[32mINFO \x1b\[0m all workers ready/, 'the level is colored');
  const plain = pretty.replace(/\x1b\[\d+m/g, '');
  assert.match(plain, /^\d\d:\d\d:\d\d\.\d{3} INFO  all workers ready gen=1 workers=2\r?$/m);
  assert.match(plain, /^\d\d:\d\d:\d\d\.\d{3} gen 1 worker 1 \| good-app: pid \d+ version dev ready/m, 'a worker line shows whose it is, then the line');
  assert.doesNotMatch(plain, /"msg":/);
  const json = await onTerminal(['--log-format', 'json'], /"msg":"all workers ready"/);
  const line = json.split(/\r?\n/).find((text) => text.includes('"all workers ready"'))!;
  assert.equal((JSON.parse(line) as { gen: number }).gen, 1);
});

test('on a pipe the log is JSON; --log-format pretty makes it readable there, without color', async () => {
  const daemon = await Daemon.start({ config: { ...fast, command: ['node', fixture('good-app')] }, args: ['--log-format', 'pretty'], waitReady: false });
  const workers: number[] = []; // the harness finds them in JSON lines; these are not
  try {
    const ready = await daemon.waitForLog('the pretty ready line', (line) => line.unparsed === true && / INFO  all workers ready gen=1 workers=2$/.test(String(line.msg)), 20_000);
    assert.match(String(ready.msg), /^\d\d:\d\d:\d\d\.\d{3} INFO  all workers ready/);
    workers.push(...pidsOf(await daemon.status()));
    assert.ok(daemon.logs.every((line) => line.unparsed === true), 'no JSON line');
    assert.ok(!daemon.logs.some((line) => String(line.msg).includes('\x1b[')), 'no escape sequence on a pipe');
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
    workers.push(...pidsOf(await daemon.status()));
  } finally {
    await daemon.stop();
    for (const pid of workers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  const plain = await Daemon.start({ config: { ...fast, command: ['node', fixture('good-app')] } });
  try {
    assert.ok(plain.logs.some((line) => line.msg === 'all workers ready' && line.unparsed === undefined), 'JSON by default on a pipe');
  } finally {
    await plain.stop();
  }
});

test('supervisor logs: the recent output per worker and generation from the daemon\'s ring, --json, and -f following new lines until SIGTERM', async () => {
  const daemon = await Daemon.start({ config: { ...fast, command: ['node', fixture('good-app')] } });
  let follower: ChildProcess | null = null;
  try {
    const all = await daemon.cli('logs');
    assert.equal(all.exitCode, 0, all.stderr);
    const lines = all.stdout.split('\n').filter(Boolean);
    assert.equal(lines.length, 2, all.stdout);
    for (const line of lines) assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} gen 1 worker [12] \| good-app: pid \d+ version dev ready on 127\.0\.0\.1:\d+/);

    const json = await daemon.cli('logs', '--worker', '2', '--json');
    assert.equal(json.exitCode, 0, json.stderr);
    const frames = json.stdout.split('\n').filter(Boolean).map((text) => JSON.parse(text) as Record<string, unknown>);
    assert.deepEqual(frames.map((frame) => [frame.event ?? frame.type, frame.gen, frame.worker, frame.stream]), [['output', 1, 2, 'stdout'], ['result', undefined, undefined, undefined]]);
    assert.match(String(frames[0]!.line), /^good-app: pid \d+ version dev ready/);

    const bad = await daemon.cli('logs', '--worker', '0');
    assert.equal(bad.exitCode, 100);
    assert.match(bad.stderr, /logs: worker must be a whole number from 1/);

    // Following generation 1 only: a reload makes its workers say "draining"; generation 2's ready lines are not shown.
    follower = spawn(process.execPath, [cliPath, 'logs', '-f', '--generation', '1', '--lines', '0', '--socket', daemon.socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    follower.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    follower.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const followerExit = new Promise<number | null>((resolve) => follower!.once('exit', (code) => resolve(code)));
    await waitFor('the follower subscribed', () => err.includes('following the output'));
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
    await waitFor('both draining lines', () => out.split('\n').filter((line) => line.includes('draining')).length === 2);
    assert.ok(out.split('\n').filter(Boolean).every((line) => / gen 1 worker [12] \| good-app: pid \d+ draining$/.test(line)), out);
    follower.kill('SIGTERM');
    assert.equal(await Promise.race([followerExit, sleep(5_000).then(() => 'still running')]), 0);
    const after = await daemon.cli('logs', '--generation', '2');
    assert.equal(after.stdout.split('\n').filter(Boolean).length, 2, 'generation 2\'s ready lines are in the ring');
  } finally {
    if (follower && follower.exitCode === null) follower.kill('SIGKILL');
    await daemon.stop();
  }
});
