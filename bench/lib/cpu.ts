// Machine-wide CPU use over a window, from /proc/stat (not namespaced: it also counts any other
// work on the machine, which is exactly what a reader needs to know when judging throughput).
import { readFileSync } from 'node:fs';

export interface CpuSample {
  busy: number; // clock ticks
  total: number;
}

export function sampleCpu(): CpuSample | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...: idle and iowait are the idle ones.
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** Busy fraction of the whole machine (0..1) between two samples; null when unknown. */
export function busyBetween(a: CpuSample | null, b: CpuSample | null): number | null {
  if (!a || !b || b.total === a.total) return null;
  return Math.round(((b.busy - a.busy) / (b.total - a.total)) * 100) / 100;
}
