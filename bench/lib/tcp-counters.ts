// The kernel's TCP counters of the current network namespace (/proc/net/netstat and
// /proc/net/snmp are per namespace), so a run can say whether connections were dropped before any
// process saw them: a full accept queue (ListenOverflows), a SYN retransmitted because the first
// was dropped (TCPSynRetrans), a reset sent (OutRsts).
import { readFileSync } from 'node:fs';

/** The counters a reload can move, in the order the report prints them. */
export const WATCHED_COUNTERS = [
  'ListenOverflows',
  'ListenDrops',
  'TCPReqQFullDrop',
  'SyncookiesSent',
  'TCPSynRetrans',
  'TCPTimeouts',
  'TCPAbortOnClose',
  'TCPAbortOnData',
  'OutRsts',
  'AttemptFails',
  'EstabResets',
] as const;
export type CounterName = (typeof WATCHED_COUNTERS)[number];
export type CounterSample = Record<CounterName, number>;

// Each file holds pairs of lines: "Prefix: name name ..." then "Prefix: value value ...".
function parsePairs(text: string, into: Map<string, number>): void {
  const lines = text.trim().split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]!.split(/\s+/).slice(1);
    const values = lines[i + 1]!.split(/\s+/).slice(1);
    names.forEach((name, k) => into.set(name, Number(values[k])));
  }
}

/** null where /proc/net cannot be read (not Linux, or a restricted /proc). */
export function sampleTcpCounters(): CounterSample | null {
  const all = new Map<string, number>();
  try {
    parsePairs(readFileSync('/proc/net/netstat', 'utf8'), all);
    parsePairs(readFileSync('/proc/net/snmp', 'utf8'), all);
  } catch {
    return null;
  }
  const sample = {} as CounterSample;
  for (const name of WATCHED_COUNTERS) sample[name] = all.get(name) ?? 0;
  return sample;
}

export function counterDelta(before: CounterSample | null, after: CounterSample | null): CounterSample | null {
  if (!before || !after) return null;
  const delta = {} as CounterSample;
  for (const name of WATCHED_COUNTERS) delta[name] = after[name] - before[name];
  return delta;
}
