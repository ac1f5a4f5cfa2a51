// The machine facts a reader needs to judge the numbers.
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface Machine {
  kernel: string;
  cores: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  loadAverageAtStart: number[];
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    kernel: `${os.type()} ${os.release()}`,
    cores: cpus.length,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    loadAverageAtStart: os.loadavg().map((n) => Math.round(n * 100) / 100),
  };
}

/** '<path> (vX.Y.Z)' for the node binary --worker-node chose, null when the workers use node on PATH. */
export function describeWorkerNode(file: string | null): string | null {
  if (!file) return null;
  try {
    return `${file} (${execFileSync(file, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim()})`;
  } catch (error) {
    return `${file} (its --version failed: ${(error as Error).message})`;
  }
}
