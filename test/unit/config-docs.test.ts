// docs/configuration.md documents every key the config schema accepts: each top-level key under a
// heading of its own, each key of a section in that section's table, and every key in the
// complete example file at its top. The keys come from walking the zod schema itself, so a key
// added to the schema without its documentation fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type * as z from 'zod';
import { configSchema } from '../../src/config/schema.js';
import { root } from '../helpers/harness.js';

// Every key path of an object schema, through the wrappers the config uses (preprocess and
// transform pipes, optional, default).
function keyPaths(schema: z.core.$ZodType, prefix: string[] = []): string[][] {
  const def = schema._zod.def as unknown as { type: string; shape?: Record<string, z.core.$ZodType>; in?: z.core.$ZodType; out?: z.core.$ZodType; innerType?: z.core.$ZodType };
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape!).flatMap(([key, value]) => [[...prefix, key], ...keyPaths(value, [...prefix, key])]);
    case 'pipe':
      return [...keyPaths(def.in!, prefix), ...keyPaths(def.out!, prefix)];
    case 'optional':
    case 'default':
    case 'nullable':
      return keyPaths(def.innerType!, prefix);
    default:
      return [];
  }
}

const doc = readFileSync(path.join(root, 'docs/configuration.md'), 'utf8');
const keys = keyPaths(configSchema);

// The text under the heading that names `name` in backquotes, up to the next heading of its level or above.
function sectionOf(name: string): string {
  const lines = doc.split('\n');
  const start = lines.findIndex((line) => /^#{2,4} /.test(line) && line.includes(`\`${name}\``));
  if (start < 0) return '';
  const level = /^#+/.exec(lines[start]!)![0].length;
  const end = lines.findIndex((line, index) => index > start && new RegExp(`^#{1,${level}} `).test(line));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

test('the schema walk finds the keys (a check of the walk itself)', () => {
  const names = keys.map((key) => key.join('.'));
  for (const known of ['listen', 'ready.kind', 'ready.warmup.requests', 'watch.ignore', 'user', 'group', 'start_concurrency']) assert.ok(names.includes(known), known);
  assert.ok(names.length >= 40, `${names.length} keys`);
});

test('docs/configuration.md documents every key of the schema', () => {
  const missing: string[] = [];
  for (const key of keys) {
    const name = key.join('.');
    const leaf = key.at(-1)!;
    if (key.length === 1) {
      if (!new RegExp(`^### .*\`${leaf}\``, 'm').test(doc)) missing.push(`${name}: no "### \`${leaf}\`" heading`);
    } else if (!sectionOf(key.slice(0, -1).join('.')).includes(`| \`${leaf}\` |`) && !sectionOf(key.slice(0, -1).join('.')).includes(`${leaf}:`)) {
      missing.push(`${name}: not in the section of ${key.slice(0, -1).join('.')}`);
    }
  }
  assert.deepEqual(missing, []);
});

test('the complete file at the top of docs/configuration.md writes every key, commented or not', () => {
  const complete = /A complete file, with every default written out:\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
  assert.ok(complete.length > 0, 'the complete file is there');
  const missing = keys.filter((key) => {
    const leaf = key.at(-1)!;
    const indent = '  '.repeat(key.length - 1);
    // a key of its own line (`  kind: notify`, `# watch:`), or inside a flow mapping of its parent (`warmup: { requests: ... }`)
    return !new RegExp(`^(# )?${indent}(# )?${leaf}:|[{,] ${leaf}:`, 'm').test(complete);
  });
  assert.deepEqual(missing.map((key) => key.join('.')), []);
});
