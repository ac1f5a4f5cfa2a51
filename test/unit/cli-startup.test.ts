// Pure logic of the CLI's start: which Node options the daemon still lacks, and which command
// lines the prerendered help answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DAEMON_NODE_FLAGS, missingFlags } from '../../src/cli/daemon-node-flags.js';
import { helpKey } from '../../src/cli/help-text.js';

test('the daemon adds only the options it lacks, by name, whatever value or spelling it was started with', () => {
  assert.deepEqual(missingFlags([], undefined), [...DAEMON_NODE_FLAGS]);
  assert.deepEqual(missingFlags([...DAEMON_NODE_FLAGS], undefined), []);
  // An operator's own value wins: the name is present, so nothing is added for it.
  assert.deepEqual(missingFlags(['--max_semi_space_size=8', '--inspect'], undefined), ['--heap-growing-percent=20']);
  assert.deepEqual(missingFlags(['--inspect', '--heap-growing-percent=50'], undefined), ['--max-semi-space-size=1']);
  // The environment replaces the list; empty means none.
  assert.deepEqual(missingFlags([], ''), []);
  assert.deepEqual(missingFlags([], ' --max-old-space-size=64  --no-opt '), ['--max-old-space-size=64', '--no-opt']);
  assert.deepEqual(missingFlags(['--max-old-space-size=64'], '--max-old-space-size=64'), []);
  // NODE_OPTIONS counts as the command line does.
  assert.deepEqual(missingFlags([], undefined, '--max-semi-space-size=4 --import ./hooks.mjs'), ['--heap-growing-percent=20']);
});

test('prerendered help answers --help and COMMAND --help alone; anything more goes to yargs', () => {
  assert.equal(helpKey(['--help']), '');
  assert.equal(helpKey(['-h']), '');
  assert.equal(helpKey(['reload', '--help']), 'reload');
  assert.equal(helpKey(['install-unit', '-h']), 'install-unit');
  assert.equal(helpKey(['reload', '-c', 'x.yaml', '--help']), null);
  assert.equal(helpKey(['--help', 'reload']), null);
  assert.equal(helpKey(['--version']), null);
  assert.equal(helpKey(['../x', '--help']), null);
  assert.equal(helpKey([]), null);
});
