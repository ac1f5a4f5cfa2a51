// Runs one benchmark runner script (run-strategy.js, run-throughput.js) as a child process, in
// its own network namespace when it has one, bounded by a time budget, and forwards SIGINT/SIGTERM
// to it so that it can end what it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { inNamespace } from './namespace.js';

export interface Placement {
  where: 'namespace' | 'host';
  migrateReq: number | null;
}

let current: ChildProcess | undefined;
let interrupted = false;

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted = true;
    // The runner ends its own children on SIGTERM.
    if (current && current.exitCode === null) current.kill('SIGTERM');
  });
}

export function wasInterrupted(): boolean {
  return interrupted;
}

/** Writes spec to specPath, runs `node script specPath`, resolves when it exits 0. */
export function runChild(label: string, script: string, specPath: string, spec: Placement, budgetMs: number): Promise<void> {
  writeFileSync(specPath, JSON.stringify(spec));
  const command = [process.execPath, script, specPath];
  const argv = spec.where === 'namespace' ? inNamespace(spec.migrateReq ?? 0, command) : command;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
    current = child;
    let killTimer: NodeJS.Timeout | undefined;
    const budget = setTimeout(() => {
      process.stderr.write(`[${label}] over its ${Math.round(budgetMs / 1000)} s budget: stopping it\n`);
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    }, budgetMs);
    child.once('error', (error) => {
      clearTimeout(budget);
      current = undefined;
      reject(new Error(`cannot start ${argv[0]}: ${error.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(budget);
      clearTimeout(killTimer);
      current = undefined;
      if (code === 0) resolve();
      else reject(new Error(`the ${label} run exited with ${signal ?? `code ${code}`} (its log is above)`));
    });
  });
}
