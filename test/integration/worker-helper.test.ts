// The worker helper and the fixtures as real processes: each gets a real SO_REUSEPORT listener as
// fd 3 through the exec shim (LISTEN_PID = its pid) and a real NOTIFY_SOCKET, as under the
// supervisor. Checks READY=1, serving, and the keep-alive-safe drain on SIGTERM.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import * as http from 'node:http';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  closeFd,
  listenTcp,
  localAddress,
  nativeStatus,
  NotifySocket,
  type NotifyMessage,
} from '../../src/native/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixture = (name: string): string => join(root, 'dist', 'test', 'fixtures', `${name}.js`);
const exampleApp = join(root, 'examples', 'app', 'server.js');
const helloWorker = join(root, 'build', 'Release', 'hello-worker');

const status = nativeStatus();
const skip = status.error
  ? `the native addon is not usable (${status.error})`
  : status.shimBuilt
    ? false
    : `the exec shim is not built (${status.shimPath})`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
}

function get(port: number, path = '/', agent: http.Agent | false = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reusedSocket: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

const O_CLOEXEC = 0o2000000;

/** fd -> open flags of every fd of pid that refers to the listening socket on 127.0.0.1:port. */
function listenerFds(pid: number, port: number): Map<number, number> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set(
    readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A') // 0A: LISTEN
      .map((f) => f[9]),
  );
  const found = new Map<number, number>();
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${name}`);
    } catch {
      continue; // closed meanwhile
    }
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
    if (inode === undefined || !inodes.has(inode)) continue;
    const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${name}`, 'utf8'))?.[1];
    found.set(Number(name), parseInt(flags ?? '0', 8));
  }
  return found;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

/** A worker process started the way the supervisor starts one. */
class Worker {
  readonly child: ChildProcess;
  readonly port: number;
  readonly messages: NotifyMessage[] = [];
  readonly exited: Promise<Exit>;
  stdout = '';
  stderr = '';
  readonly #notify: NotifySocket;

  /**
   * socket: 'own' (default) a new reuseport listener handed over as fd 3; 'none' for self mode;
   * or an fd the caller keeps, shared with other workers (`shared` socket mode). A script runs
   * with this node; `program` runs an executable instead (the C example worker).
   */
  constructor(
    script: string | { program: string },
    env: Record<string, string>,
    options: { socket?: 'own' | 'none' | number; cwd?: string } = {},
  ) {
    this.#notify = NotifySocket.bind(`@rps-worker-helper-test-${process.pid}-${Worker.#count++}`);
    const shared = typeof options.socket === 'number';
    let fd: number | undefined;
    if (typeof options.socket === 'number') fd = options.socket;
    else if (options.socket !== 'none') fd = listenTcp({ host: '127.0.0.1', port: 0, backlog: 511, reusePort: true });
    try {
      this.port = fd === undefined ? Number(env.PORT) : localAddress(fd).port;
      const fdEnv: Record<string, string> =
        fd === undefined ? {} : { LISTEN_FDS: '1', LISTEN_FDNAMES: `127.0.0.1_${this.port}` };
      const argv = typeof script === 'string' ? [process.execPath, script] : [script.program];
      this.child = spawn(status.shimPath, argv, {
        cwd: options.cwd ?? root,
        stdio: ['ignore', 'pipe', 'pipe', ...(fd === undefined ? [] : [fd])],
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          NOTIFY_SOCKET: this.#notify.path,
          SUPERVISOR_PID: String(process.pid),
          SUPERVISOR_GENERATION: '7',
          SUPERVISOR_WORKER: '1',
          SUPERVISOR_DRAIN_SIGNAL: 'SIGTERM',
          SUPERVISOR_DRAIN_TIMEOUT_MS: '20000',
          ...(fd === undefined ? {} : { PORT: String(this.port), HOST: '127.0.0.1' }),
          ...fdEnv,
          ...env,
        },
      });
    } finally {
      // The child has its own copy now; like the supervisor before it sends the drain signal, keep none.
      if (fd !== undefined && !shared) closeFd(fd);
    }
    this.child.stdout?.setEncoding('utf8').on('data', (text: string) => (this.stdout += text));
    this.child.stderr?.setEncoding('utf8').on('data', (text: string) => (this.stderr += text));
    this.#notify.onMessage((message) => {
      if (message.pid === this.child.pid) this.messages.push(message);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() }));
      // A failed spawn (shim missing) emits only 'error': resolve anyway so reap() cannot hang.
      this.child.once('error', (error) => {
        this.stderr += `spawn failed: ${error.message}\n`;
        resolve({ code: null, signal: null, at: Date.now() });
      });
    });
    Worker.all.add(this);
  }

  static #count = 0;
  static readonly all = new Set<Worker>();

  get alive(): boolean {
    return this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async ready(timeoutMs = 10_000): Promise<void> {
    await this.waitFor('READY=1', () => this.messages.some((m) => m.fields.READY === '1'), timeoutMs);
  }

  async waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!check()) {
      if (!this.alive) throw new Error(`worker exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}; stderr: ${this.stderr}`);
      if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stdout: ${this.stdout} stderr: ${this.stderr}`);
      await sleep(10);
    }
  }

  signal(name: NodeJS.Signals): number {
    this.child.kill(name);
    return Date.now();
  }

  /** Kills the process if it still runs (it is ours: started above) and waits for it. */
  async reap(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
    this.#notify.close();
    Worker.all.delete(this);
  }
}

after(async () => {
  for (const worker of [...Worker.all]) await worker.reap();
});

// Contract: the listener is close-on-exec, so a worker's own children cannot keep the socket in
// the group after the worker exits.
function assertListenerCloseOnExec(worker: Worker): void {
  const held = listenerFds(worker.child.pid!, worker.port);
  assert.ok(held.size >= 1, 'the worker holds the listening socket');
  for (const [fd, flags] of held) assert.ok(flags & O_CLOEXEC, `fd ${fd} of the listener is close-on-exec`);
}

// Contract, drain steps 2-4: an idle keep-alive connection outlives the drain signal, its next
// request is answered on the same connection with Connection: close, and the worker exits 0 as
// soon as that connection ends (not at its deadline).
// Contract, drain step 4: with SUPERVISOR_DRAIN_TIMEOUT_MS=1000 and an idle keep-alive connection
// that never ends, the worker exits 0 by itself at 1000 - 500 ms, leaving SIGKILL nothing to do.
async function assertExitAtDrainDeadline(program: string | { program: string }): Promise<Worker> {
  const worker = new Worker(program, { SUPERVISOR_DRAIN_TIMEOUT_MS: '1000' });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await worker.ready();
    await get(worker.port, '/', agent);
    const signalled = worker.signal('SIGTERM');
    const exit = await worker.exited;
    const elapsed = exit.at - signalled;
    assert.deepEqual([exit.code, exit.signal], [0, null]);
    assert.ok(elapsed >= 400 && elapsed < 1000, `exited at its deadline, ${elapsed} ms after SIGTERM`);
    return worker;
  } finally {
    agent.destroy();
    await worker.reap();
  }
}

async function assertKeepAliveDrain(worker: Worker, agent: http.Agent, signalled: number): Promise<void> {
  await sleep(100); // the idle connection must outlive the start of the drain
  assert.ok(worker.alive, 'the worker waits for its keep-alive connection');
  const reply = await get(worker.port, '/', agent);
  assert.equal(reply.status, 200);
  assert.equal(reply.reusedSocket, true, 'sent on the keep-alive connection opened before the drain signal');
  assert.equal(reply.headers.connection, 'close');
  const exit = await worker.exited;
  assert.deepEqual([exit.code, exit.signal], [0, null], `stderr: ${worker.stderr}`);
  assert.ok(exit.at - signalled < 5000, `exited when the connection closed, not at the deadline (${exit.at - signalled} ms)`);
}

describe('worker helper, as a process', { skip }, () => {
  test('READY=1, serving, and a keep-alive request after SIGTERM answered with Connection: close', async () => {
    const worker = new Worker(fixture('good-app'), { APP_VERSION: 'v-test' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await worker.ready();
      const first = await get(worker.port, '/', agent);
      assert.equal(first.status, 200);
      assert.equal(first.headers['x-version'], 'v-test');
      assert.equal(first.headers['x-pid'], String(worker.child.pid));
      assert.equal(first.body, `hello from pid ${worker.child.pid}, version v-test, generation 7\n`);
      assert.equal(first.headers.connection, 'keep-alive');

      // Node marks the inherited fd close-on-exec at startup; a guard for other Node versions (TEST_NODE).
      assertListenerCloseOnExec(worker);

      const signalled = worker.signal('SIGTERM');
      await worker.waitFor('the drain to start', () => worker.stdout.includes('draining'));
      assert.ok(worker.messages.some((m) => m.fields.STOPPING === '1'), 'STOPPING=1 sent when the drain starts');
      await assertKeepAliveDrain(worker, agent, signalled);
      await assert.rejects(get(worker.port), { code: 'ECONNREFUSED' }, 'the socket is gone with the worker');
    } finally {
      agent.destroy();
      await worker.reap();
    }
  });

  test('a request in flight at SIGTERM completes, with Connection: close', async () => {
    const worker = new Worker(fixture('good-app'), { APP_VERSION: 'v-test' });
    try {
      await worker.ready();
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const slow = get(worker.port, '/?delay=600', agent);
      await sleep(150);
      worker.signal('SIGTERM');
      const reply = await slow;
      agent.destroy();
      assert.equal(reply.status, 200);
      assert.equal(reply.headers.connection, 'close');
      assert.deepEqual([(await worker.exited).code, (await worker.exited).signal], [0, null]);
    } finally {
      await worker.reap();
    }
  });

  test('an idle keep-alive connection held past the drain timeout: destroyed, exit 0 before SIGKILL would come', async () => {
    const worker = await assertExitAtDrainDeadline(fixture('good-app'));
    assert.match(worker.stderr, /drain timeout \(500 ms\) reached; destroyed 1 connection/);
  });

  test('self mode: two workers bind the same PORT/HOST with SO_REUSEPORT', async () => {
    const probe = listenTcp({ host: '127.0.0.1', port: 0, backlog: 1, reusePort: false });
    const port = localAddress(probe).port;
    closeFd(probe);
    const env = { PORT: String(port), HOST: '127.0.0.1', APP_VERSION: 'self' };
    const workers = [new Worker(fixture('good-app'), env, { socket: 'none' }), new Worker(fixture('good-app'), env, { socket: 'none' })];
    try {
      await Promise.all(workers.map((w) => w.ready()));
      // The log line follows READY=1.
      for (const w of workers) await w.waitFor('the ready line', () => w.stdout.includes(`ready on 127.0.0.1:${port} (self)`));
      const reply = await get(port);
      assert.equal(reply.headers['x-version'], 'self');
    } finally {
      await Promise.all(workers.map((w) => w.reap()));
    }
  });

  test('example app: version from ./VERSION, generation, /healthz, ?delay validation, drain', async () => {
    const worker = new Worker(exampleApp, {}, { cwd: dirname(exampleApp) });
    try {
      await worker.ready();
      const hello = await get(worker.port);
      assert.equal(hello.status, 200);
      assert.equal(hello.body, `hello from pid ${worker.child.pid}, version 1, generation 7\n`);
      assert.equal(hello.headers['x-version'], '1');
      assert.equal((await get(worker.port, '/healthz')).body, 'ok\n');
      assert.equal((await get(worker.port, '/?delay=nope')).status, 400);
      assert.equal((await get(worker.port, '/?delay=60001')).status, 400);
      assert.equal((await get(worker.port, '/?delay=20')).status, 200);
      assert.match(worker.stdout, /example app: pid \d+ version 1 generation 7 worker 1 listening on 127\.0\.0\.1:\d+ \(inherited\)/);
      worker.signal('SIGTERM');
      const exit = await worker.exited;
      assert.equal(exit.code, 0);
      assert.match(worker.stdout, /version 1 draining/);
    } finally {
      await worker.reap();
    }
  });
});

// The example worker in C keeps the same contract with no Node in the worker at all.
const cSkip = skip || (existsSync(helloWorker) ? false : `the C example worker is not built (${helloWorker}); run npm install`);
describe('example worker in C, as a process', { skip: cSkip }, () => {
  test('READY=1, routes, headers; a keep-alive request after SIGTERM answered with Connection: close, then exit 0', async () => {
    const worker = new Worker({ program: helloWorker }, { APP_VERSION: 'c-test' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await worker.ready();
      const first = await get(worker.port, '/?from=test', agent);
      assert.equal(first.status, 200);
      assert.equal(first.headers['x-version'], 'c-test');
      assert.equal(first.headers['x-pid'], String(worker.child.pid));
      assert.equal(first.body, `hello from pid ${worker.child.pid}, version c-test, generation 7\n`);
      assert.equal(first.headers.connection, undefined, 'HTTP/1.1 keeps the connection open by default');
      assert.deepEqual([(await get(worker.port, '/healthz', agent)).body, (await get(worker.port, '/nope', agent)).status], ['ok\n', 404]);

      assertListenerCloseOnExec(worker);

      const signalled = worker.signal('SIGTERM');
      await worker.waitFor('the listener to close', () => listenerFds(worker.child.pid!, worker.port).size === 0);
      await assert.rejects(get(worker.port), { code: 'ECONNREFUSED' }, 'the listener closed at the drain signal');
      await assertKeepAliveDrain(worker, agent, signalled);
    } finally {
      agent.destroy();
      await worker.reap();
    }
  });

  test('an idle keep-alive connection held past the drain timeout: exit 0 at timeout - 500 ms', async () => {
    await assertExitAtDrainDeadline({ program: helloWorker });
  });

  test('without handed-over sockets: exit 1 and a message that names the fix', async () => {
    const worker = new Worker({ program: helloWorker }, { PORT: '1' }, { socket: 'none' });
    try {
      const exit = await worker.exited;
      assert.equal(exit.code, 1);
      assert.match(worker.stderr, /no listening sockets handed over .*socket: reuseport or shared/);
      assert.equal(worker.messages.length, 0, 'no READY=1');
    } finally {
      await worker.reap();
    }
  });
});

describe('drain under keep-alive load', { skip }, () => {
  test('two workers share one socket; one drains mid-load; no request fails', async () => {
    const fd = listenTcp({ host: '127.0.0.1', port: 0, backlog: 511, reusePort: false });
    const port = localAddress(fd).port;
    // The old worker starts alone and takes the load's keep-alive connections, so it has some to
    // close when it drains (with both listening from the start, the kernel may hand every one of
    // them to the new worker, and then there is nothing to check).
    const old = new Worker(fixture('good-app'), { APP_VERSION: 'old' }, { socket: fd });
    const workers = [old];
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    try {
      await old.ready();
      const startedAt = Date.now();
      const stopAt = startedAt + 2000;
      const counts = { ok: 0, failed: 0, closeFromOld: 0, afterExit: 0 };
      const errors = new Set<string>();
      let oldExitedAt = Infinity;
      void old.exited.then((exit) => (oldExitedAt = exit.at));
      const client = async (): Promise<void> => {
        while (Date.now() < stopAt) {
          try {
            const reply = await get(port, '/', agent);
            if (reply.status !== 200) throw new Error(`status ${reply.status}`);
            counts.ok++;
            if (reply.headers['x-version'] === 'old' && reply.headers.connection === 'close') counts.closeFromOld++;
            if (Date.now() > oldExitedAt) counts.afterExit++;
          } catch (error) {
            counts.failed++;
            errors.add(error instanceof Error ? error.message : String(error));
          }
        }
      };
      const load = Promise.all(Array.from({ length: 16 }, client));
      const fresh = new Worker(fixture('good-app'), { APP_VERSION: 'new' }, { socket: fd });
      workers.push(fresh);
      await fresh.ready();
      await sleep(Math.max(0, startedAt + 600 - Date.now()));
      old.signal('SIGTERM');
      await load;
      const exit = await old.exited;
      assert.deepEqual([exit.code, exit.signal], [0, null], `old worker stderr: ${old.stderr}`);
      assert.equal(counts.failed, 0, `failed requests: ${[...errors].join('; ')}`);
      assert.ok(counts.closeFromOld > 0, 'the old worker answered its keep-alive connections with Connection: close');
      assert.ok(counts.afterExit > 0, 'the new worker kept serving after the old one exited');
    } finally {
      agent.destroy();
      await Promise.all(workers.map((w) => w.reap()));
      closeFd(fd);
    }
  });
});

describe('fixtures, as processes', { skip }, () => {
  test('crash-on-boot: one stderr line, exit 3, no READY=1', async () => {
    const worker = new Worker(fixture('crash-on-boot'), {});
    try {
      const exit = await worker.exited;
      assert.equal(exit.code, 3);
      assert.equal(worker.stderr, 'crash-on-boot: failing on purpose\n');
      assert.equal(worker.messages.length, 0);
    } finally {
      await worker.reap();
    }
  });

  test('never-ready: answers 503, never sends READY=1, exits 0 on SIGTERM', async () => {
    const worker = new Worker(fixture('never-ready'), {});
    try {
      await worker.waitFor('the listening line', () => worker.stdout.includes('not sending READY=1'));
      assert.equal((await get(worker.port)).status, 503);
      await sleep(300);
      assert.equal(worker.messages.length, 0);
      worker.signal('SIGTERM');
      assert.equal((await worker.exited).code, 0);
    } finally {
      await worker.reap();
    }
  });

  test('ignore-sigterm: ready, keeps serving through SIGTERM and SIGINT, only SIGKILL ends it', async () => {
    const worker = new Worker(fixture('ignore-sigterm'), {});
    try {
      await worker.ready();
      worker.signal('SIGTERM');
      worker.signal('SIGINT');
      await worker.waitFor('both signals to be ignored', () => worker.stdout.includes('ignoring SIGINT'));
      await sleep(300);
      assert.ok(worker.alive);
      assert.equal((await get(worker.port)).status, 200);
      worker.signal('SIGKILL');
      assert.equal((await worker.exited).signal, 'SIGKILL');
    } finally {
      await worker.reap();
    }
  });

  test('crash-after-ready: READY=1, then exit 1 after CRASH_AFTER_MS', async () => {
    const worker = new Worker(fixture('crash-after-ready'), { CRASH_AFTER_MS: '200' });
    try {
      await worker.ready();
      const readyAt = Date.now();
      const exit = await worker.exited;
      assert.equal(exit.code, 1);
      assert.ok(exit.at - readyAt >= 100, `crashed ${exit.at - readyAt} ms after ready`);
      assert.match(worker.stderr, /exiting 1 on purpose/);
    } finally {
      await worker.reap();
    }
  });

  test('slow-drain: exits 0 no sooner than DRAIN_DELAY_MS after SIGTERM', async () => {
    const worker = new Worker(fixture('slow-drain'), { DRAIN_DELAY_MS: '700' });
    try {
      await worker.ready();
      const signalled = worker.signal('SIGTERM');
      const exit = await worker.exited;
      assert.equal(exit.code, 0);
      assert.ok(exit.at - signalled >= 650, `exited ${exit.at - signalled} ms after SIGTERM`);
    } finally {
      await worker.reap();
    }
  });
});

describe('standalone (no supervisor environment)', () => {
  test('good-app listens on 127.0.0.1:PORT without the addon, exits 0 on SIGINT', async () => {
    // A free port, found with plain net so this runs even where the addon is missing.
    const net = await import('node:net');
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as import('node:net').AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const child = spawn(process.execPath, [fixture('good-app')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: String(port), APP_VERSION: 'alone' },
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const until = Date.now() + 10_000;
      while (!stdout.includes('ready on')) {
        if (Date.now() > until || child.exitCode !== null) throw new Error(`good-app did not start: ${stdout}`);
        await sleep(10);
      }
      assert.match(stdout, new RegExp(`ready on 127\\.0\\.0\\.1:${port} \\(standalone\\)`));
      assert.equal((await get(port)).headers['x-version'], 'alone');
      child.kill('SIGINT');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  });
});
