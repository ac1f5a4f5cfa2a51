// Whether this build's config knows `lossless:` (issue 3 adds it). Asks the real validator, so
// the answer cannot drift from the daemon: `supervisor check` on a config that sets the key.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath, exampleApp } from '../../test/helpers/harness.js';

export function losslessKeySupported(): boolean {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rps-bench-'));
  try {
    const file = path.join(dir, 'supervisor.yaml');
    writeFileSync(file, JSON.stringify({ listen: '127.0.0.1:8000', command: ['node', exampleApp], lossless: 'steer', control: path.join(dir, 's.sock') }));
    const check = spawnSync(process.execPath, [cliPath, 'check', '-c', file], { encoding: 'utf8' });
    if (check.status === 0) return true;
    const output = `${check.stdout}${check.stderr}`;
    if (/lossless/.test(output)) return false;
    throw new Error(`supervisor check failed on the benchmark's probe config (exit ${check.status}): ${output.trim()}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
