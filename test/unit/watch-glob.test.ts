import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globToRegExp } from '../../src/daemon/ops/watch.js';

test('a pattern without a slash matches a name at any depth', () => {
  const tmp = globToRegExp('*.tmp');
  assert.ok(tmp.test('a.tmp'));
  assert.ok(tmp.test('deep/dir/a.tmp'));
  assert.ok(!tmp.test('a.tmpx'));
  assert.ok(!tmp.test('a.js'));
});

test('** crosses directories, * and ? stay within one', () => {
  assert.ok(globToRegExp('**/.git/**').test('x/.git/objects/ab'));
  assert.ok(globToRegExp('logs/*.log').test('logs/a.log'));
  assert.ok(!globToRegExp('logs/*.log').test('logs/old/a.log'));
  assert.ok(globToRegExp('v?.txt').test('v1.txt'));
  assert.ok(!globToRegExp('v?.txt').test('v10.txt'));
});

test('regular expression characters in a pattern are literal', () => {
  assert.ok(globToRegExp('a+b(1).txt').test('a+b(1).txt'));
  assert.ok(!globToRegExp('a.b').test('axb'));
});
