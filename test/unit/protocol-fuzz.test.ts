// Property tests of the control protocol's parsing, as the server runs it: bytes -> UTF-8 decoder
// -> LineReader -> parseRequest on the first line. 10,000 generated frames, each cut into chunks
// at random offsets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StringDecoder } from 'node:string_decoder';
import fc from 'fast-check';
import { COMMANDS, LineReader, LOGS_FIELDS, MAX_FRAME_BYTES, parseRequest } from '../../src/control/protocol.js';
import { chunkedFrame } from '../helpers/frames.js';

function serverView(chunks: Buffer[]): { lines: string[]; overflow: boolean } {
  const decoder = new StringDecoder('utf8');
  const reader = new LineReader();
  const lines: string[] = [];
  for (const chunk of chunks) {
    const result = reader.push(decoder.write(chunk));
    lines.push(...result.lines);
    if (result.overflow) return { lines, overflow: true };
  }
  return { lines, overflow: false };
}

test('10,000 generated frames: parsing never throws, and only a known command is accepted', () => {
  const seen = new Map<string, number>();
  fc.assert(
    fc.property(chunkedFrame, ({ frame, chunks }) => {
      seen.set(frame.kind, (seen.get(frame.kind) ?? 0) + 1);
      const whole = serverView([frame.bytes]);
      const pieces = serverView(chunks);
      // However the bytes arrive, the server sees the same thing.
      assert.deepEqual(pieces, whole);
      const first = whole.lines[0];
      switch (frame.kind) {
        case 'oversized':
          assert.equal(whole.overflow, true, 'an oversized frame is refused as too long');
          return;
        case 'partial':
          assert.deepEqual(whole, { lines: [], overflow: false }, 'a frame without a newline is not acted on');
          return;
        default:
          assert.equal(whole.overflow, false);
      }
      if (first === undefined) return; // blank lines only: the server keeps waiting (and times out)
      assert.ok(first.length <= MAX_FRAME_BYTES);
      const parsed = parseRequest(first);
      if (frame.kind === 'valid') {
        // logs also takes its own fields (worker, lines...), and refuses a bad value of one.
        const logs = first.includes('"command":"logs"');
        if (!logs) assert.equal(parsed.ok, true);
        if (parsed.ok) {
          assert.ok(COMMANDS.includes(parsed.request.command));
          const allowed = parsed.request.command === 'logs' ? ['command', ...LOGS_FIELDS] : ['command'];
          assert.ok(Object.keys(parsed.request).every((key) => allowed.includes(key)), 'unknown fields are dropped');
        } else {
          assert.match(parsed.message, /^logs: /);
        }
      } else {
        assert.equal(parsed.ok, false, `accepted ${JSON.stringify(first)}`);
        assert.ok(!parsed.ok && parsed.message.length > 0 && parsed.message.length < 300);
      }
    }),
    { numRuns: 10_000 },
  );
  for (const kind of ['valid', 'wrong-json', 'text', 'binary', 'partial', 'oversized']) {
    assert.ok((seen.get(kind) ?? 0) >= 200, `only ${seen.get(kind) ?? 0} frames of kind ${kind}`);
  }
});

test('parseRequest on any string never throws and accepts exactly the known commands', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.json()), (text) => {
      const parsed = parseRequest(text);
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        value = undefined;
      }
      const command = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { command?: unknown }).command : undefined;
      const known = typeof command === 'string' && (COMMANDS as readonly string[]).includes(command);
      // A known command is accepted, but for a logs request whose own fields are bad (named).
      if (parsed.ok || command !== 'logs') assert.equal(parsed.ok, known);
      else assert.match(parsed.message, /^logs: /);
    }),
    { numRuns: 2_000 },
  );
});

test('LineReader keeps at most one frame limit of buffered text, however the input is cut', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'grapheme-ascii', maxLength: 40 }), { maxLength: 30 }), fc.integer({ min: 1, max: 50 }), (chunks, limit) => {
      const reader = new LineReader(limit);
      for (const chunk of chunks) {
        const { lines, overflow } = reader.push(chunk);
        for (const line of lines) assert.ok(line.length <= limit);
        if (overflow) return;
      }
    }),
    { numRuns: 2_000 },
  );
});
