// The machine facts a reader needs to judge the numbers.
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
