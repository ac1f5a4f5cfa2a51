#!/usr/bin/env node
// Runs every compiled test file with Node's own test runner.
// TEST_NODE=/path/to/node runs the suite on another Node binary (22, 24); TEST_FILTER=substring
// narrows the files. Integration tests start real daemons, so files run two at a time on 2 cores.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const testRoot = join(root, 'dist', 'test');

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith('.test.js')) found.push(path);
  }
  return found;
}

let files;
try {
  files = findTests(testRoot);
} catch (error) {
  console.error(`run-tests: cannot read ${testRoot} (${error.code}): run 'npm run build' first.`);
  process.exit(100);
}
const filter = process.env.TEST_FILTER;
if (filter) files = files.filter((file) => relative(testRoot, file).includes(filter));
if (files.length === 0) {
  console.error(`run-tests: no test files under ${testRoot}${filter ? ` matching '${filter}'` : ''}.`);
  process.exit(100);
}

const node = process.env.TEST_NODE || process.execPath;
const args = ['--test', '--test-concurrency=2', '--test-timeout=240000', ...files];
const result = spawnSync(node, args, { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
