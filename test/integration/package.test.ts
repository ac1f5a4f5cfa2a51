// The package as a user gets it: packed with `npm pack`, installed into an empty project, imported
// by name. The main entry is the client face and loads none of the daemon's dependencies;
// 'reuseport-supervisor/worker' is the helper for workers. The installed client then drives a real
// daemon: status, a reload with its progress, and a socket nobody answers on.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { execa } from 'execa';
import { Daemon, fixture, root } from '../helpers/harness.js';

const work = mkdtempSync(join(tmpdir(), 'rps-package-'));
after(() => rmSync(work, { recursive: true, force: true }));

// What the daemon needs and a client must not: the main entry has to load with these gone.
const DAEMON_DEPENDENCIES = ['pino', 'zod', 'chokidar', 'yargs', 'prom-client', 'yaml'];

// The type of each export of `specifier`, imported by name from `cwd` as a user's code would.
async function exportTypes(cwd: string, specifier: string): Promise<Record<string, string>> {
  const script = `import(${JSON.stringify(specifier)}).then((m) => console.log(JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v])))))`;
  const { stdout } = await execa(process.execPath, ['-e', script], { cwd, timeout: 20_000 });
  return JSON.parse(stdout) as Record<string, string>;
}

test('packed, installed and imported by name: the client face and the worker helper', { timeout: 120_000 }, async () => {
  // --ignore-scripts: no `prepare` rebuild; the tests run on the tree as built.
  const pack = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, timeout: 30_000 });
  const [{ filename }] = JSON.parse(pack.stdout) as Array<{ filename: string }>;
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  // --prefer-offline: dependencies from npm's cache where this repository's own install left them,
  // from the registry otherwise. --ignore-scripts: no addon build; neither entry needs the addon
  // to load (the helper loads it on first use).
  await execa('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', join(work, filename)], { cwd: app, timeout: 60_000 });

  const stash = join(work, 'stash');
  mkdirSync(stash);
  for (const name of DAEMON_DEPENDENCIES) renameSync(join(app, 'node_modules', name), join(stash, name));

  assert.deepEqual(await exportTypes(app, 'reuseport-supervisor'), {
    CommandFailed: 'function',
    ExitCode: 'object',
    HungUpError: 'function',
    NoDaemonError: 'function',
    PROTOCOL_VERSION: 'number',
    reload: 'function',
    status: 'function',
  });
  const worker = await exportTypes(app, 'reuseport-supervisor/worker');
  for (const name of ['serveHttp', 'notifyReady', 'inheritedListenFds', 'drainHttpServers', 'trackHttpServer']) {
    assert.equal(worker[name], 'function', `reuseport-supervisor/worker exports ${name}`);
  }

  const daemon = await Daemon.start({
    config: { workers: 1, command: ['node', fixture('good-app')], ready: { kind: 'notify', timeout: '5s' }, drain: { signal: 'SIGTERM', timeout: '2s' } },
  });
  try {
    const script = `
      import { reload, status } from 'reuseport-supervisor';
      const socket = process.argv[1];
      const before = await status({ socket });
      const events = [];
      const verdict = await reload({ socket, onProgress: (event) => events.push(event.event) });
      const after = await status({ socket });
      const missing = await status({ socket: socket + '.nobody' }).catch((error) => error.name);
      console.log(JSON.stringify({ pid: before.pid, verdict, events, serving: after.generations.map((g) => [g.generation, g.state]), missing }));`;
    const { stdout } = await execa(process.execPath, ['--input-type=module', '-e', script, daemon.socketPath], { cwd: app, timeout: 30_000 });
    const seen = JSON.parse(stdout) as { pid: number; verdict: { ok: boolean; code: number; message: string; result: { outcome: string; generation: number } }; events: string[]; serving: Array<[number, string]>; missing: string };
    assert.equal(seen.pid, daemon.pid);
    assert.deepEqual([seen.verdict.ok, seen.verdict.code, seen.verdict.result.outcome], [true, 0, 'promoted']);
    assert.match(seen.verdict.message, /^promoted: generation 2 serves/);
    assert.deepEqual(seen.events, ['accepted', 'starting', 'worker-ready', 'promoted', 'drained']);
    assert.deepEqual(seen.serving, [[2, 'serving']]);
    assert.equal(seen.missing, 'NoDaemonError');
  } finally {
    assert.equal(await daemon.stop(), 0);
  }
});
