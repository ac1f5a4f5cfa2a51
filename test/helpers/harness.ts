import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { shimPath } from '../../src/native/index.js';
import { readStat } from '../../src/daemon/process/proc.js';
import type { DaemonStatus } from '../../src/control/protocol.js';

export const root = fileURLToPath(new URL('../../../', import.meta.url));
export const cliPath = path.join(root, 'dist/cli/main.js');
export const fixture = (name: string) => path.join(root, 'dist/test/fixtures', `${name}.js`);
export const exampleApp = path.join(root, 'examples/app/server.js');
/** The example worker in C (examples/c/hello-worker.c), built by `npm install` beside the addon. */
export const helloWorker = path.join(root, 'build/Release/hello-worker');

// Ports this process has handed out: the kernel may give a just-closed ephemeral port again, and
// two ports of one test (say listen and metrics) must differ (seen in CI: both got 40893).
const portsHandedOut = new Set<number>();

function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await ephemeralPort();
    if (portsHandedOut.has(port)) continue;
    portsHandedOut.add(port);
    return port;
  }
  throw new Error('freePort: 100 ephemeral ports in a row were ones this test process already uses; is the ephemeral range tiny?');
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// A zombie (exited, not yet reaped by its new parent) counts as dead.
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const state = readStat(pid)?.state;
  return state !== undefined && state !== 'Z';
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export interface HttpAnswer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

export function get(port: number, urlPath = '/', agent: http.Agent | false = false): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

export type LogLine = Record<string, unknown> & { msg?: string };

// Appends each JSON log line a daemon writes to `into` (a line that is not JSON is kept as msg).
/**
 * For a daemon a test spawned itself (not through Daemon): SIGKILL it if it is still running, wait
 * for its exit, then SIGKILL every worker its log says it started that is still alive.
 */
export async function killSpawnedDaemon(child: import('node:child_process').ChildProcess | null, logs: LogLine[]): Promise<void> {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  for (const line of logs) {
    if (line.msg === 'worker started' && typeof line.pid === 'number' && isAlive(line.pid)) {
      try {
        process.kill(line.pid, 'SIGKILL');
      } catch {
        // gone in between
      }
    }
  }
}

export function collectLogLines(stream: NodeJS.ReadableStream, into: LogLine[]): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      try {
        into.push(JSON.parse(line) as LogLine);
      } catch {
        into.push({ msg: line, unparsed: true });
      }
    }
  });
}

export interface DaemonOptions {
  // Config as an object (written as JSON, which is YAML) or raw YAML text with {{PORT}}/{{DIR}}.
  config: Record<string, unknown> | string;
  port?: number;
  waitReady?: boolean;
  env?: NodeJS.ProcessEnv;
  // Runs in the daemon's directory before the config is written and the daemon starts.
  prepare?: (dir: string) => void;
  // Extra arguments for `supervisor run` (such as --subreaper).
  args?: string[];
  // A command the daemon runs under, e.g. ['setpriv', '--inh-caps=-all', ...]; node and the CLI follow.
  launcher?: string[];
  // Which raw stdout lines to keep in `logs` (default: all); a flood test keeps the daemon's own.
  keepLine?: (raw: string) => boolean;
}

// A real supervisor daemon in a temporary directory, with everything it started reaped on stop().
export class Daemon {
  readonly dir: string;
  readonly configPath: string;
  readonly socketPath: string;
  readonly port: number;
  readonly logs: LogLine[] = [];
  readonly stderrLines: string[] = [];
  child!: ChildProcess;
  exitCode: number | null = null;
  readonly #exited: Promise<number | null>;
  #resolveExit!: (code: number | null) => void;

  private constructor(port: number) {
    this.port = port;
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'rps-test-'));
    this.configPath = path.join(this.dir, 'supervisor.yaml');
    this.socketPath = path.join(this.dir, 'supervisor.sock');
    this.#exited = new Promise((resolve) => (this.#resolveExit = resolve));
  }

  static async start(options: DaemonOptions): Promise<Daemon> {
    const daemon = new Daemon(options.port ?? (await freePort()));
    options.prepare?.(daemon.dir);
    daemon.writeConfig(options.config);
    daemon.#launcher = options.launcher ?? [];
    daemon.#keepLine = options.keepLine ?? (() => true);
    daemon.#spawn(options.env, options.args);
    if (options.waitReady !== false) {
      try {
        await daemon.waitForLog('all workers ready', (line) => line.msg === 'all workers ready', 20_000);
      } catch (error) {
        await daemon.stop();
        throw error;
      }
    }
    return daemon;
  }

  writeConfig(config: Record<string, unknown> | string): void {
    const text =
      typeof config === 'string'
        ? config.replaceAll('{{PORT}}', String(this.port)).replaceAll('{{DIR}}', this.dir)
        : JSON.stringify({ listen: `127.0.0.1:${this.port}`, control: this.socketPath, ...config }, null, 2);
    writeFileSync(this.configPath, text);
  }

  #launcher: string[] = [];
  #keepLine: (raw: string) => boolean = () => true;

  #spawn(env?: NodeJS.ProcessEnv, args: string[] = []): void {
    // Through the exec shim (PR_SET_PDEATHSIG): if the test process is killed (a runner
    // timeout), the daemon dies with it and takes its workers along, so no test leaves one behind.
    const [program, ...prefix] = [shimPath, ...this.#launcher, process.execPath];
    this.child = spawn(program!, [...prefix, cliPath, 'run', '-c', this.configPath, ...args], {
      cwd: this.dir,
      env: { ...process.env, SUPERVISOR_PID: String(process.pid), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let pending = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (!this.#keepLine(line)) continue;
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.logs.push({ msg: line, unparsed: true });
        }
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => this.stderrLines.push(...chunk.split('\n').filter((line) => line !== '' && this.#keepLine(line))));
    this.child.on('exit', (code) => {
      this.exitCode = code;
      this.#resolveExit(code);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  // Every worker pid the daemon reported starting.
  workerPids(): number[] {
    return this.logs.filter((line) => line.msg === 'worker started').map((line) => line.pid as number);
  }

  waitForLog(what: string, predicate: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    return waitFor(what, () => {
      if (this.exitCode !== null && !this.logs.some(predicate)) {
        throw new Error(`daemon exited with ${this.exitCode} while waiting for ${what}; stderr: ${this.stderrLines.join('\n')}`);
      }
      return this.logs.find(predicate);
    }, timeoutMs);
  }

  countLogs(predicate: (line: LogLine) => boolean): number {
    return this.logs.filter(predicate).length;
  }

  // Runs the CLI against this daemon (--socket added for the commands that talk to it).
  cli(...args: string[]) {
    const target = ['check', 'run', 'doctor'].includes(args[0] ?? '') ? [] : ['--socket', this.socketPath];
    return execa(process.execPath, [cliPath, ...args, ...target], { reject: false, cwd: this.dir, timeout: 120_000 });
  }

  async status(): Promise<DaemonStatus> {
    const result = await this.cli('status', '--json');
    if (result.exitCode !== 0) throw new Error(`status failed (${result.exitCode}): ${result.stderr}`);
    return (JSON.parse(result.stdout) as { data: DaemonStatus }).data;
  }

  async servingPids(): Promise<number[]> {
    const status = await this.status();
    const serving = status.generations.find((gen) => gen.state === 'serving');
    return serving ? serving.workers.flatMap((worker) => (worker.pid === null ? [] : [worker.pid])) : [];
  }

  get(urlPath = '/'): Promise<HttpAnswer> {
    return get(this.port, urlPath);
  }

  exited(): Promise<number | null> {
    return this.#exited;
  }

  // Stops the daemon (SIGTERM, then SIGKILL after 15 s) and kills any worker it left, by pid.
  async stop(): Promise<number | null> {
    if (this.exitCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
      await this.#exited;
      clearTimeout(timer);
    }
    for (const pid of this.workerPids()) {
      if (isAlive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone in between
        }
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    return this.exitCode;
  }
}
