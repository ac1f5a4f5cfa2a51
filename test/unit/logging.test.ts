import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { LineBudget, MAX_LINE_BYTES, OutputReader } from '../../src/daemon/process/output.js';
import { LineRing, type OutputLine } from '../../src/daemon/process/output-log.js';
import { LogOutput } from '../../src/logging/output.js';
import { prettyLine } from '../../src/logging/pretty.js';

test('line budget: burst lines per window pass, the rest are counted and reported once the window ends', () => {
  let now = 1_000;
  const budget = new LineBudget({ burst: 3, intervalMs: 1_000 }, () => now);
  assert.equal(budget.roll(), 0);
  assert.equal(budget.take(2), 2);
  assert.equal(budget.take(5), 1);
  budget.suppress(10);
  now += 999;
  assert.equal(budget.roll(), 0, 'the window has not ended');
  assert.equal(budget.take(1), 0);
  now += 1;
  assert.equal(budget.roll(), 15, '4 refused by take, 10 counted, 1 more');
  assert.equal(budget.take(3), 3, 'a new window, a new burst');
  assert.equal(budget.suppressedTotal, 15);
  assert.equal(new LineBudget({ burst: 0, intervalMs: 10 }).take(1_000_000), 1_000_000, 'burst 0: no limit');
});

function reader(burst: number, intervalMs = 60_000) {
  const lines: string[] = [];
  const reports: number[] = [];
  const output = new OutputReader({ burst, intervalMs }, { line: (stream, line) => lines.push(`${stream}:${line}`), suppressed: (count) => reports.push(count) });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  output.read(stdout, 'stdout');
  output.read(stderr, 'stderr');
  const end = async () => {
    stdout.end();
    stderr.end();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { lines, reports, output, stdout, stderr, end };
}

test('output reader: lines split across chunks, CRLF, a last line without newline, both streams', async () => {
  const { lines, stdout, stderr, end } = reader(0);
  stdout.write('hel');
  stdout.write('lo\r\nwor');
  stderr.write('oops\n');
  stdout.write('ld\nno newline');
  await end();
  assert.deepEqual(lines, ['stdout:hello', 'stderr:oops', 'stdout:world', 'stdout:no newline']);
});

test('output reader: a line longer than the cap is cut once, its rest skipped', async () => {
  const { lines, stdout, end } = reader(0);
  stdout.write('x'.repeat(MAX_LINE_BYTES + 10));
  stdout.write('y'.repeat(100_000));
  stdout.write('z\nnext\n');
  await end();
  assert.equal(lines.length, 2);
  assert.equal(lines[0], `stdout:${'x'.repeat(MAX_LINE_BYTES)} [line cut at ${MAX_LINE_BYTES} bytes]`);
  assert.equal(lines[1], 'stdout:next');
});

test('output reader: past the burst lines are counted, not delivered; the count is reported when the output ends', async () => {
  const { lines, reports, output, stdout, stderr, end } = reader(3);
  stdout.write('a\nb\n');
  stderr.write('c\nd\ne\n');
  stdout.write(Buffer.from('y\n'.repeat(1000)));
  await end();
  assert.deepEqual(lines, ['stdout:a', 'stdout:b', 'stderr:c']);
  assert.deepEqual(reports, [1002]);
  assert.equal(output.budget.suppressedTotal, 1002);
});

test('output reader: the suppressed count is reported when the window ends, without more output', async () => {
  const { lines, reports, stdout, end } = reader(1, 50);
  stdout.write('a\nb\nc\n');
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.deepEqual(reports, [2]);
  stdout.write('d\n');
  await end();
  assert.deepEqual(lines, ['stdout:a', 'stdout:d']);
  assert.deepEqual(reports, [2], 'nothing more to report');
});

const entry = (gen: number, worker: number, line: string): OutputLine => ({ time: '2026-01-01T00:00:00.000Z', gen, worker, pid: 100 + worker, stream: 'stdout', line });

test('line ring: bounded in lines and in bytes, oldest out first; last() filters by generation and worker', () => {
  const ring = new LineRing(5, 1_000);
  for (let i = 1; i <= 8; i++) ring.push(entry(1 + (i % 2), 1 + (i % 3), `line ${i}`));
  assert.equal(ring.size, 5);
  assert.deepEqual(ring.last(10).map((e) => e.line), ['line 4', 'line 5', 'line 6', 'line 7', 'line 8']);
  assert.deepEqual(ring.last(2).map((e) => e.line), ['line 7', 'line 8']);
  assert.deepEqual(ring.last(10, { gen: 1 }).map((e) => e.line), ['line 4', 'line 6', 'line 8']);
  assert.deepEqual(ring.last(10, { gen: 2, worker: 3 }).map((e) => e.line), ['line 5']);
  ring.push(entry(1, 1, 'x'.repeat(990)));
  assert.ok(ring.bytes <= 1_000, `${ring.bytes} bytes`);
  assert.deepEqual(ring.last(10).map((e) => e.line.slice(0, 6)), ['line 8', 'xxxxxx']);
  const big = new LineRing(10, 100);
  big.push(entry(1, 1, 'y'.repeat(500)));
  assert.equal(big.size, 1, 'a line larger than the byte bound stays until the next one');
  for (let i = 0; i < 10_000; i++) big.push(entry(1, 1, 'z'));
  assert.equal(big.size, 10);
});

test('pretty lines: time, level, message, fields; a worker line as gen/worker | line; not JSON passes as is', () => {
  const json = JSON.stringify({ level: 40, time: '2026-12-07T15:30:12.345Z', gen: 2, worker: 1, from: 'starting', to: 'ready', reason: 'two words', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n  at x' }, msg: 'worker state' });
  assert.equal(prettyLine(json, { color: false }), '15:30:12.345 WARN  worker state gen=2 worker=1 from=starting to=ready reason="two words" err="boom"\n');
  const output = JSON.stringify({ level: 30, time: '2026-12-07T15:30:12.345Z', gen: 3, worker: 2, pid: 77, stream: 'stdout', msg: 'GET / 200' });
  assert.equal(prettyLine(output, { color: false }), '15:30:12.345 gen 3 worker 2 | GET / 200\n');
  assert.equal(prettyLine('not json', { color: false }), 'not json\n');
  assert.match(prettyLine(json, { color: true }), /\x1b\[33mWARN /);
});

test('log output: a pipe is written through a description of its own; when its reader stalls, lines are dropped, counted, and reported once it drains', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rps-logout-'));
  const fifo = path.join(dir, 'out');
  execFileSync('mkfifo', [fifo]);
  const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeEnd = openSync(fifo, constants.O_WRONLY);
  const output = new LogOutput(writeEnd, { limit: 64 * 1024 });
  try {
    assert.equal(output.mode, 'async');
    const reports: number[] = [];
    output.onDrained((dropped) => {
      reports.push(dropped);
      output.write(`dropped ${dropped}\n`);
    });
    const line = `${'x'.repeat(99)}\n`;
    for (let i = 0; i < 3_000; i++) output.write(line); // 300 kB: the pipe (64 kB) and the queue fill
    assert.ok(output.droppedTotal > 0, 'some lines were dropped');
    assert.ok(output.pendingBytes <= 64 * 1024 + line.length, `${output.pendingBytes} bytes wait`);
    const dropped = output.droppedTotal;
    let text = '';
    const buffer = Buffer.alloc(65536);
    for (let round = 0; round < 200 && !text.includes('dropped '); round++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      for (;;) {
        let got = 0;
        try {
          got = readSync(readEnd, buffer);
        } catch {
          break; // EAGAIN: empty for now
        }
        if (got === 0) break;
        text += buffer.toString('latin1', 0, got);
      }
    }
    assert.deepEqual(reports, [dropped]);
    assert.ok(text.endsWith(`dropped ${dropped}\n`), text.slice(-40));
    assert.equal(text.split('\n').length - 2 + dropped, 3_000, 'every line was either read or counted as dropped');
  } finally {
    output.close();
    closeSync(writeEnd);
    closeSync(readEnd);
    rmSync(dir, { recursive: true, force: true });
  }
});
