import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineReader, parseRequest } from '../../src/control/protocol.js';

test('parseRequest accepts known commands and names the problem otherwise', () => {
  assert.deepEqual(parseRequest('{"command":"status"}'), { ok: true, request: { command: 'status' } });
  const bad = parseRequest('{"command":"explode"}');
  assert.equal(bad.ok, false);
  assert.match(!bad.ok ? bad.message : '', /unknown command "explode": expected one of status, reload, rollback, promote, stop, ping/);
  assert.match((parseRequest('nope') as { message: string }).message, /not valid JSON/);
  assert.match((parseRequest('[1]') as { message: string }).message, /must be a JSON object/);
});

test('LineReader splits lines across chunks and refuses overlong frames', () => {
  const reader = new LineReader(10);
  assert.deepEqual(reader.push('{"a"'), { lines: [], overflow: false });
  assert.deepEqual(reader.push(':1}\n\n{"b":2}\n'), { lines: ['{"a":1}', '{"b":2}'], overflow: false });
  assert.equal(reader.push('x'.repeat(11)).overflow, true);
});

test('parseRequest takes the logs fields, and names a bad one', () => {
  assert.deepEqual(parseRequest('{"command":"logs","worker":2,"generation":3,"lines":0,"follow":true,"other":1}'), { ok: true, request: { command: 'logs', worker: 2, generation: 3, lines: 0, follow: true } });
  assert.deepEqual(parseRequest('{"command":"status","worker":2}'), { ok: true, request: { command: 'status' } });
  for (const [field, value] of [['worker', 0], ['worker', 1.5], ['generation', '2'], ['lines', -1], ['lines', 1e9], ['follow', 'yes']] as const) {
    const parsed = parseRequest(JSON.stringify({ command: 'logs', [field]: value }));
    assert.ok(!parsed.ok && parsed.message.startsWith(`logs: ${field} must be`), `${field}: ${JSON.stringify(value)}`);
  }
});
