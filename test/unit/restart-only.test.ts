// The keys a reload may not change have one home (src/config/restart-only.ts); the docs that list
// them quote exactly that list, in its order.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseConfig, RESTART_ONLY_KEYS, RESTART_ONLY_REASONS } from '../../src/config/index.js';

const root = new URL('../../../', import.meta.url);
const doc = (name: string) => readFileSync(new URL(`docs/${name}`, root), 'utf8');
const quoted = (text: string) => [...text.matchAll(/`([a-z_]+)`/g)].map((match) => match[1]!);

// Where each doc lists them.
const LISTS: Array<[file: string, where: RegExp]> = [
  ['architecture.md', /so does a change to a key only a restart can apply \(`RESTART_ONLY_KEYS` in `src\/config\/`: ([^)]*)\)/],
  ['configuration.md', /A reload applies every key but ([^]*?): changing one of those needs a restart/],
  ['operations.md', /\| `refused: config changes 'listen'` \| ([^|]*) cannot change on reload \|/],
];

test('every restart-only key is a top-level config key, with a reason', () => {
  const config = parseConfig('listen: 127.0.0.1:8000\ncommand: [node, server.js]\n', '/srv/app/supervisor.yaml', { checkFilesystem: false, env: {}, uid: 1000 });
  for (const key of RESTART_ONLY_KEYS) {
    assert.ok(key in config, `${key} is a key of the config`);
    assert.ok(RESTART_ONLY_REASONS[key].length > 0);
  }
});

for (const [file, where] of LISTS) {
  test(`docs/${file} lists exactly the restart-only keys`, () => {
    const found = where.exec(doc(file).replace(/\s+/g, ' '));
    assert.ok(found, `docs/${file} has the sentence ${where}`);
    assert.deepEqual(quoted(found[1]!), RESTART_ONLY_KEYS);
  });
}

test('docs/configuration.md says "needs a restart" only in the sections of restart-only keys', () => {
  const sections = doc('configuration.md').split(/^### /m).slice(1);
  const saying = sections.filter((section) => /needs a\s+restart/.test(section)).map((section) => /^`([a-z_]+)`/.exec(section)?.[1]);
  assert.ok(saying.length > 0, 'some section says it (lossless, metrics)');
  for (const key of saying) assert.ok(RESTART_ONLY_KEYS.includes(key as never), `the section of ${key} says it needs a restart`);
});
