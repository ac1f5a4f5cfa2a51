// The quick parser reads a common command line exactly as yargs does (same options, aliases,
// defaults, normalized paths), and leaves to yargs whatever it is not sure of.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import yargs from 'yargs';
import { QUICK_COMMANDS, type QuickCommand } from '../../src/cli/options.js';
import { parseQuick } from '../../src/cli/quick-args.js';

function viaYargs(argv: string[]): Record<string, unknown> {
  const [command, ...rest] = argv as [QuickCommand, ...string[]];
  const parsed = yargs(rest).options(QUICK_COMMANDS[command]).strict().parseSync() as Record<string, unknown>;
  return Object.fromEntries(Object.keys(QUICK_COMMANDS[command]).filter((name) => parsed[name] !== undefined).map((name) => [name, parsed[name]]));
}

test('what the quick parser takes, it reads as yargs does', () => {
  const lines = [
    ['status'],
    ['status', '--json'],
    ['status', '-c', './conf//app.yaml'],
    ['status', '--socket=/run/x/../y.sock', '-w', '--interval', '500ms'],
    ['reload', '--no-wait'],
    ['reload', '--wait', '--timeout', '2m', '--config', 'a.yaml'],
    ['stop', '--json', '--socket', '/tmp/s.sock'],
    ['check', '-c', 'supervisor.yaml'],
    ['check', '--config=supervisor.yaml', '--json'],
    ['run', '-c', '/etc/app.yaml', '--subreaper'],
  ];
  for (const argv of lines) {
    const quick = parseQuick(argv);
    assert.ok(quick, `the quick parser takes ${argv.join(' ')}`);
    const defined = Object.fromEntries(Object.entries(quick.args).filter(([, value]) => value !== undefined));
    assert.deepEqual(defined, viaYargs(argv), argv.join(' '));
  }
});

test('what it is not sure of goes to yargs', () => {
  for (const argv of [
    [],
    ['--help'],
    ['status', '--help'],
    ['status', '-h'],
    ['--version'],
    ['events'],
    ['doctor'],
    ['install-unit', '--dry-run'],
    ['status', '--bogus'],
    ['status', 'extra'],
    ['status', '--json', '--json'],
    ['status', '--json=false'],
    ['status', '--socket'],
    ['status', '--socket', '--json'],
    ['status', '--', '--json'],
    ['reload', '--no-timeout'],
    ['check'], // -c is required: yargs names it
    ['run'],
  ]) {
    assert.equal(parseQuick(argv), null, argv.join(' ') || '(nothing)');
  }
});
