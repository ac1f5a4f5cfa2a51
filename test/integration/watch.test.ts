import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Daemon, exampleApp, sleep, waitFor } from '../helpers/harness.js';
import { LoadClient } from '../helpers/load.js';

const GOOD = `import ${JSON.stringify(exampleApp)};\n`;
const BROKEN = `console.error('release is broken on purpose'); process.exit(3);\n`;

function makeRelease(dir: string, name: string, body = GOOD): string {
  const release = path.join(dir, 'releases', name);
  mkdirSync(release, { recursive: true });
  writeFileSync(path.join(release, 'start.js'), body);
  writeFileSync(path.join(release, 'VERSION'), `${name}\n`);
  return release;
}

// The Capistrano flip: a new symlink renamed over `current`, atomically.
function flip(dir: string, name: string): void {
  const temporary = path.join(dir, `current.${name}.tmp`);
  symlinkSync(path.join(dir, 'releases', name), temporary);
  renameSync(temporary, path.join(dir, 'current'));
}

const config = {
  workers: 2,
  command: ['node', 'start.js'],
  cwd: './current',
  ready: { kind: 'notify', timeout: '3s' },
  drain: { signal: 'SIGTERM', timeout: '3s' },
  watch: { path: './current', debounce: '300ms' },
};

const promoted = (daemon: Daemon) => daemon.countLogs((line) => line.msg === 'reload promoted');
const rolledBack = (daemon: Daemon) => daemon.countLogs((line) => line.msg === 'reload rolled-back');
const reloads = (daemon: Daemon) => promoted(daemon) + rolledBack(daemon);

async function versionNow(daemon: Daemon): Promise<string> {
  return String((await daemon.get()).headers['x-version']);
}

test('flipping current deploys: good releases roll forward, a broken one rolls back once, rapid flips coalesce; no request fails', async () => {
  const daemon = await Daemon.start({
    config,
    prepare: (dir) => {
      makeRelease(dir, 'v1');
      symlinkSync(path.join(dir, 'releases', 'v1'), path.join(dir, 'current'));
    },
  });
  const load = new LoadClient({ port: daemon.port, mode: 'new-connection', concurrency: 2 });
  load.start();
  try {
    assert.equal(await versionNow(daemon), 'v1');

    // A good release: the new generation serves it, the old one is drained.
    makeRelease(daemon.dir, 'v2');
    flip(daemon.dir, 'v2');
    await waitFor('v2 to serve', async () => promoted(daemon) === 1 && (await versionNow(daemon)) === 'v2');
    const status = await daemon.status();
    assert.equal(status.generations.length, 1);
    assert.equal(status.generations[0]!.release.path, path.join(daemon.dir, 'releases', 'v2'));
    assert.equal(status.generations[0]!.release.revision, 'v2');

    // A broken release: rolled back once, v2 keeps serving, and no retry follows.
    makeRelease(daemon.dir, 'v3-broken', BROKEN);
    flip(daemon.dir, 'v3-broken');
    await waitFor('the rollback', () => rolledBack(daemon) === 1);
    await sleep(1500);
    assert.equal(rolledBack(daemon), 1, 'a failed release is not retried until the path changes');
    assert.equal(await versionNow(daemon), 'v2');
    const afterRollback = await daemon.status();
    assert.equal(afterRollback.lastReload?.outcome, 'rolled-back');
    assert.equal(afterRollback.lastReload?.release?.revision, 'v3-broken');
    assert.match(afterRollback.lastReload?.reason ?? '', /exited with code 3 before it was ready/);

    // 20 rapid flips: at most two reloads, ending on the last release.
    const before = reloads(daemon);
    for (let i = 1; i <= 20; i++) makeRelease(daemon.dir, `r${i}`);
    for (let i = 1; i <= 20; i++) {
      flip(daemon.dir, `r${i}`);
      await sleep(20);
    }
    await waitFor('r20 to serve', async () => (await versionNow(daemon)) === 'r20' && (await daemon.status()).state === 'running', 20_000);
    await sleep(1000);
    const rapid = reloads(daemon) - before;
    assert.ok(rapid >= 1 && rapid <= 2, `20 flips made ${rapid} reloads`);
    assert.equal(await versionNow(daemon), 'r20');
  } finally {
    const report = await load.stop();
    await daemon.stop();
    assert.ok(report.ok > 50, `only ${report.ok} requests succeeded`);
    assert.equal(report.failed, 0, `failed requests: ${JSON.stringify(report.failures)}`);
  }
});

test('a slow multi-file copy into a watched directory triggers one reload, after it completes', async () => {
  const daemon = await Daemon.start({
    config: { ...config, cwd: './app', watch: { path: './app', debounce: '500ms', ignore: ['*.tmp'] } },
    prepare: (dir) => {
      mkdirSync(path.join(dir, 'app'));
      writeFileSync(path.join(dir, 'app', 'start.js'), GOOD);
      writeFileSync(path.join(dir, 'app', 'VERSION'), 'one\n');
    },
  });
  try {
    // Ignored files change nothing.
    writeFileSync(path.join(daemon.dir, 'app', 'scratch.tmp'), 'x');
    await sleep(900);
    assert.equal(reloads(daemon), 0);
    for (let i = 0; i < 8; i++) {
      writeFileSync(path.join(daemon.dir, 'app', `asset-${i}.js`), `// part ${i}\n`.repeat(100));
      await sleep(120);
    }
    writeFileSync(path.join(daemon.dir, 'app', 'VERSION'), 'two\n');
    await waitFor('the reload', () => promoted(daemon) >= 1, 10_000);
    await sleep(1200);
    assert.equal(reloads(daemon), 1, 'one reload for the whole copy');
    assert.equal(await versionNow(daemon), 'two');
  } finally {
    await daemon.stop();
  }
});
