import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The daemon's folders are layered in the order of a reload's story: the daemon's face and run
// loop, then the operator surfaces, the supervisor, the reload, the generation, processes and
// sockets. An import may only point down this list (or sideways inside one folder); the leaves
// (the state tables, the event bus, the clock) may be imported from anywhere and import nothing
// of the daemon.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const src = join(root, 'src');
const LAYERS = ['index.ts', 'run.ts', 'ops', 'supervisor.ts', 'os.ts', 'upgrade', 'reload', 'generation', 'process', 'sockets'];
const LEAVES = new Set(['transitions.ts', 'events.ts', 'clock.ts']);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)].map((m) => resolve(dirname(file), `${m[1]!}.ts`));
}

// The layer a daemon file belongs to: its folder, or its own name at the daemon's top level.
function layerOf(file: string): string | null {
  const inDaemon = relative(join(src, 'daemon'), file);
  if (inDaemon.startsWith('..')) return null;
  return inDaemon.split('/')[0]!;
}

test('no file under src/daemon or src/control imports from src/cli', () => {
  const offenders = [...sources(join(src, 'daemon')), ...sources(join(src, 'control'))].flatMap((file) =>
    relativeImports(file)
      .filter((target) => !relative(join(src, 'cli'), target).startsWith('..'))
      .map((target) => `${relative(root, file)} -> ${relative(root, target)}`),
  );
  assert.deepEqual(offenders, []);
});

test('the CLI reaches the daemon only through src/daemon/index.ts', () => {
  const offenders = sources(join(src, 'cli')).flatMap((file) =>
    relativeImports(file)
      .filter((target) => layerOf(target) !== null && relative(src, target) !== 'daemon/index.ts')
      .map((target) => `${relative(root, file)} -> ${relative(root, target)}`),
  );
  assert.deepEqual(offenders, []);
});

test('daemon imports only point down the layers: run -> ops -> supervisor -> upgrade -> reload -> generation -> process -> sockets', () => {
  const offenders: string[] = [];
  for (const file of sources(join(src, 'daemon'))) {
    const from = layerOf(file)!;
    for (const target of relativeImports(file)) {
      const to = layerOf(target);
      if (to === null || to === from || LEAVES.has(to)) continue;
      const fromRank = LAYERS.indexOf(from);
      const toRank = LAYERS.indexOf(to);
      assert.ok(fromRank >= 0 || LEAVES.has(from), `${relative(root, file)}: its folder is in no layer; add it to LAYERS`);
      if (LEAVES.has(from) || toRank < 0 || toRank < fromRank) offenders.push(`${relative(root, file)} -> ${relative(root, target)}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('src/control writes no literal exit code', () => {
  for (const file of sources(join(src, 'control'))) {
    if (file.endsWith('exit-codes.ts')) continue;
    const literal = /\bcode:\s*\d+/.exec(readFileSync(file, 'utf8'));
    assert.equal(literal, null, `${relative(root, file)} writes ${literal?.[0]}: use ExitCode from control/exit-codes.ts`);
  }
});
