// A value, key or file of megabytes is refused in a message that quotes a short prefix of it:
// the message still names the key, the problem and the fix.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/index.js';
import { MAX_PROBLEMS_SHOWN } from '../../src/config/errors.js';
import { elide, quote } from '../../src/config/quote.js';

const FILE = '/srv/app/supervisor.yaml';
const BASE = 'listen: 127.0.0.1:8000\ncommand: [node, server.js]\n';
const MB = 'ab'.repeat(1_500_000); // 3 MB of one line

function rejected(text: string): ConfigError {
  try {
    parseConfig(text, FILE, { checkFilesystem: false, env: {}, uid: 1000 });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail('expected the config to be refused');
}

function assertShort(error: ConfigError, limit = 1000): void {
  assert.ok(error.message.length < limit, `a message of ${error.message.length} characters: ${error.message.slice(0, 300)}`);
}

test('quote: short text whole, long text as a prefix and its length', () => {
  assert.equal(quote('abc'), '"abc"');
  assert.equal(quote('x'.repeat(100), 5), '"xxxxx…" (100 characters)');
  assert.equal(quote('a"b\nc'.repeat(20), 6), '"a\\"b\\nca…" (100 characters)');
});

test('elide: the start and the end of a long line stay, the middle is counted', () => {
  assert.equal(elide('short'), 'short');
  const line = `head ${'x'.repeat(5000)} the fix`;
  const out = elide(line, 100);
  assert.ok(out.startsWith('head '));
  assert.ok(out.endsWith(' the fix'));
  assert.match(out, /…\(4913 characters left out\)…/);
});

test('a 3 MB value for a key: the key, a prefix, the length and what to write', () => {
  for (const [key, text, expect] of [
    ['workers', `${BASE}workers: ${MB}\n`, /write|expected a whole number/],
    ['drain.timeout', `${BASE}drain:\n  timeout: ${MB}\n`, /expected a number and a unit/],
    ['drain.signal', `${BASE}drain:\n  signal: ${MB}\n`, /expected one of SIGTERM/],
    ['listen', `listen: ${MB}\ncommand: [node, server.js]\n`, /is too long for an address: write host:port/],
    ['user', `${BASE}user: ${MB}\n`, /expected a user name such as www-data/],
  ] as const) {
    const error = rejected(text);
    assertShort(error);
    const problem = error.problems.find((found) => found.key === key);
    assert.ok(problem, `${key}: ${error.message}`);
    assert.match(problem.message, /"(ab){20}…" \(3000000 characters\)/, key);
    assert.match(problem.message, expect, key);
  }
});

test('a 3 MB top-level scalar and a 3 MB unknown key are named by a prefix', () => {
  const scalar = rejected(`${MB}\n`);
  assertShort(scalar);
  assert.match(scalar.message, /the top level must be a mapping of keys such as listen: and command:, found the value "(ab){20}…" \(3000000 characters\)/);

  // A flow mapping lifts YAML's 1024-character limit on a plain key.
  const key = rejected(`{ listen: 127.0.0.1:8000, command: [node, server.js], ${MB}: 1 }\n`);
  assertShort(key);
  assert.match(key.message, /unknown key '(ab){20}…' \(3000000 characters\): known keys are listen, /);
});

test('a file of hundreds of syntax errors lists the first ones and counts the rest', () => {
  const error = rejected(Array.from({ length: 300 }, (_, i) => `k${i}: ] ${'x'.repeat(5000)}`).join('\n'));
  assert.ok(error.problems.length > MAX_PROBLEMS_SHOWN);
  const lines = error.message.split('\n');
  assert.equal(lines.length, MAX_PROBLEMS_SHOWN + 2, 'headline, the first problems, the count of the rest');
  assert.match(lines.at(-1)!, new RegExp(`^\\.\\.\\. and ${error.problems.length - MAX_PROBLEMS_SHOWN} more problems: fix these first`));
  assertShort(error, 20 * 700);
});

test('a binary file is "not a text file", with the line, whatever its size', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rps-config-'));
  try {
    const binary = join(dir, 'binary.yaml');
    writeFileSync(binary, Buffer.concat([Buffer.from('listen: 127.0.0.1:8000\n'), Buffer.from([0xff, 0xfe, 0x00, 0x80]), Buffer.alloc(3_000_000, 0x41)]));
    const nul = join(dir, 'nul.yaml');
    writeFileSync(nul, `listen: 127.0.0.1:8000\ncommand: [node, server.js]\n\0${'x'.repeat(1000)}`);
    for (const [file, line, what] of [[binary, 2, 'bytes that are not UTF-8'], [nul, 3, 'a NUL byte']] as const) {
      let error: unknown;
      try {
        loadConfig(file, { checkFilesystem: false });
      } catch (caught) {
        error = caught;
      }
      assert.ok(error instanceof ConfigError, String(error));
      assertShort(error);
      assert.equal(error.message, `cannot read config ${file}\n${file}:${line}: not a text file: line ${line} holds ${what}; is this the config? pass -c with the path of your YAML or JSON config (saved as UTF-8)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
