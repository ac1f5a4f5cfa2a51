// The daemon reads its config in a child process (`supervisor check --json`): the answer is the
// config loadConfig gives in-process, and a refusal carries the same message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { readConfigApart } from '../../src/config/read-apart.js';
import { exampleApp } from '../helpers/harness.js';

test('read apart: the same config as in-process, the same message for a bad one', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rps-apart-'));
  try {
    const good = path.join(dir, 'good.yaml');
    writeFileSync(good, `listen: 127.0.0.1:8000\ncommand: [node, ${exampleApp}]\nworkers: 3\nready: { kind: http, timeout: 5s }\n`);
    assert.deepEqual(await readConfigApart(good), JSON.parse(JSON.stringify(loadConfig(good))));

    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, `listen: 127.0.0.1:8000\ncommand: [node, ${exampleApp}]\nworkes: 3\n`);
    let inProcess = '';
    try {
      loadConfig(bad);
    } catch (error) {
      inProcess = (error as Error).message;
    }
    await assert.rejects(readConfigApart(bad), (error: Error) => error instanceof ConfigError && error.message === inProcess);
    await assert.rejects(readConfigApart(path.join(dir, 'missing.yaml')), (error: Error) => error instanceof ConfigError && /cannot read config .*ENOENT: no such file/s.test(error.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
