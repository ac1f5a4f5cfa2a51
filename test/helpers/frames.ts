// Generated control-socket frames for the protocol fuzz tests (unit and live): valid requests,
// JSON of every wrong shape, random text and bytes, partial frames without a newline, oversized
// lines. A frame is the exact bytes a client writes before it stops sending.
import fc from 'fast-check';
import { COMMANDS, MAX_FRAME_BYTES } from '../../src/control/protocol.js';

export type FrameKind = 'valid' | 'wrong-json' | 'text' | 'binary' | 'partial' | 'oversized';

export interface GeneratedFrame {
  kind: FrameKind;
  bytes: Buffer;
}

const line = (text: string) => Buffer.from(`${text}\n`, 'utf8');

const validFrame = fc
  .record({
    command: fc.constantFrom('status', 'ping'), // answered at once, changing nothing
    extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  })
  .map(({ command, extra }) => ({ kind: 'valid' as const, bytes: line(JSON.stringify({ ...extra, command })) }));

// JSON that is not a request: other types, unknown or mistyped commands, nested objects.
const wrongJson = fc
  .oneof(
    fc.jsonValue({ maxDepth: 3 }).filter((value) => typeof value !== 'object' || value === null || Array.isArray(value) || !('command' in value)),
    fc.record({ command: fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 })) }),
    fc.record({ command: fc.constantFrom(...COMMANDS).map((command) => command.toUpperCase()) }),
  )
  .filter((value) => !(typeof value === 'object' && value !== null && !Array.isArray(value) && (COMMANDS as readonly unknown[]).includes((value as { command?: unknown }).command)))
  .map((value) => ({ kind: 'wrong-json' as const, bytes: line(JSON.stringify(value) ?? 'null') }));

// Any text, including control characters, lone surrogates and embedded newlines, ending in one.
const text = fc
  .string({ unit: 'binary', maxLength: 200 })
  .filter((value) => value.trim() !== '')
  .map((value) => ({ kind: 'text' as const, bytes: line(value) }));

// Arbitrary bytes (invalid UTF-8, NULs), with a newline at the end.
const binary = fc
  .uint8Array({ minLength: 1, maxLength: 300 })
  .map((bytes) => ({ kind: 'binary' as const, bytes: Buffer.concat([Buffer.from(bytes), Buffer.from('\n')]) }));

// The start of a request with no newline: the client stops sending (or hangs up) mid-frame.
const partial = fc
  .oneof(fc.constant('{"command":"status"}'), fc.string({ maxLength: 100 }))
  .chain((value) => fc.nat({ max: value.length }).map((cut) => value.slice(0, cut).replace(/\n/g, '')))
  .map((value) => ({ kind: 'partial' as const, bytes: Buffer.from(value, 'utf8') }));

// Longer than the frame limit, with or without a newline at the end.
const oversized = fc
  .record({ extra: fc.nat({ max: 4096 }), newline: fc.boolean(), fill: fc.constantFrom('x', '{', '\u00e9', ' ') })
  .map(({ extra, newline, fill }) => ({
    kind: 'oversized' as const,
    bytes: Buffer.from(`${fill.repeat(MAX_FRAME_BYTES + 1 + extra)}${newline ? '\n' : ''}`, 'utf8'),
  }));

export const frameArbitrary: fc.Arbitrary<GeneratedFrame> = fc.oneof(
  { arbitrary: validFrame, weight: 2 },
  { arbitrary: wrongJson, weight: 3 },
  { arbitrary: text, weight: 3 },
  { arbitrary: binary, weight: 3 },
  { arbitrary: partial, weight: 2 },
  { arbitrary: oversized, weight: 1 },
);

/** A frame cut into chunks at arbitrary byte offsets, as a slow or fragmenting client sends it. */
export const chunkedFrame = frameArbitrary.chain((frame) =>
  fc
    .uniqueArray(fc.nat({ max: Math.max(0, frame.bytes.length - 1) }), { maxLength: 6 })
    .map((cuts) => {
      const offsets = [0, ...cuts.filter((cut) => cut > 0).sort((a, b) => a - b), frame.bytes.length];
      const chunks = offsets.slice(0, -1).map((start, i) => frame.bytes.subarray(start, offsets[i + 1]));
      return { frame, chunks };
    }),
);
