import { readFileSync } from 'node:fs';

// Source-port blocks for warm-up connections. They come from 10000-19999: below the single-port
// readiness probes (20000-31999) and below the kernel's usual ephemeral range (32768-60999), so
// neither a probe nor a local client's connection is routed by mistake; blocks overlapping the
// ephemeral range this machine really uses are skipped. The steering program also checks the
// source address, so remote clients never match.
const REGION_FROM = 10_000;
const REGION_TO = 19_999;

export interface PortBlock {
  from: number;
  to: number; // inclusive
}

/**
 * A block of `size` ports (aligned to its size) that overlaps none of `taken` and not the
 * ephemeral range, picked at random so two supervisors on one machine rarely pick the same one;
 * null when none is free.
 */
export function choosePortBlock(size: number, taken: PortBlock[], ephemeral: PortBlock | null, random: () => number = Math.random): PortBlock | null {
  const candidates: PortBlock[] = [];
  for (let from = REGION_FROM; from + size - 1 <= REGION_TO; from += size) {
    const block = { from, to: from + size - 1 };
    if (taken.some((other) => overlaps(block, other)) || (ephemeral && overlaps(block, ephemeral))) continue;
    candidates.push(block);
  }
  if (candidates.length === 0) return null;
  return candidates[Math.floor(random() * candidates.length)]!;
}

function overlaps(a: PortBlock, b: PortBlock): boolean {
  return a.from <= b.to && b.from <= a.to;
}

/** net.ipv4.ip_local_port_range (it applies to IPv6 too), or null when unreadable. */
export function ephemeralPortRange(): PortBlock | null {
  try {
    const [from, to] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return Number.isInteger(from) && Number.isInteger(to) ? { from: from!, to: to! } : null;
  } catch {
    return null;
  }
}
