import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from '../../src/config/index.js';

describe('parseDuration', () => {
  it('reads each unit', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1h'), 3_600_000);
  });

  it('reads decimals and compound durations', () => {
    assert.equal(parseDuration('1.5s'), 1_500);
    assert.equal(parseDuration('0.25s'), 250);
    assert.equal(parseDuration('.5s'), 500);
    assert.equal(parseDuration('1.1s'), 1_100);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('1h0m5s'), 3_605_000);
  });

  it('accepts zero with or without a unit', () => {
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('0s'), 0);
    assert.equal(parseDuration('0ms'), 0);
  });

  it('trims surrounding whitespace', () => {
    assert.equal(parseDuration(' 10s '), 10_000);
  });

  it('rejects a bare number with the fix', () => {
    assert.throws(() => parseDuration('10'), /bare number.*write a unit: 10s or 500ms/);
  });

  it('rejects an unknown unit, naming it', () => {
    assert.throws(() => parseDuration('10x'), /unknown unit "x"; use ms, s, m or h/);
    assert.throws(() => parseDuration('3d'), /unknown unit "d"/);
  });

  it('rejects negatives, empties and garbage', () => {
    assert.throws(() => parseDuration('-1s'), /cannot be negative/);
    assert.throws(() => parseDuration(''), /write a unit/);
    assert.throws(() => parseDuration('fast'), /expected a number and a unit/);
    assert.throws(() => parseDuration('10 s'), /"10" has no unit/);
    assert.throws(() => parseDuration('1s5'), /"5" has no unit/);
  });

  it('rejects fractions of a millisecond', () => {
    assert.throws(() => parseDuration('1.5ms'), /whole milliseconds/);
    assert.throws(() => parseDuration('1.0001s'), /whole milliseconds/);
  });

  it('rejects non-strings', () => {
    assert.throws(() => parseDuration(10 as unknown as string), /write a string with a unit/);
  });
});

describe('formatDuration', () => {
  it('uses the largest exact unit', () => {
    assert.equal(formatDuration(250), '250ms');
    assert.equal(formatDuration(1_000), '1s');
    assert.equal(formatDuration(1_500), '1.5s');
    assert.equal(formatDuration(1_001), '1.001s');
    assert.equal(formatDuration(90_000), '90s');
    assert.equal(formatDuration(120_000), '2m');
    assert.equal(formatDuration(3_600_000), '1h');
    assert.equal(formatDuration(5_400_000), '90m');
    assert.equal(formatDuration(0), '0ms');
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [0, 1, 10, 99, 250, 999, 1_000, 1_001, 1_500, 12_345, 59_999, 60_000, 90_000, 3_599_999, 3_600_000, 7_200_000, 86_400_000]) {
      assert.equal(parseDuration(formatDuration(ms)), ms, `${ms} -> ${formatDuration(ms)}`);
    }
  });

  it('round-trips text in canonical form', () => {
    for (const text of ['250ms', '1.5s', '10s', '2m', '1h']) assert.equal(formatDuration(parseDuration(text)), text);
  });
});
