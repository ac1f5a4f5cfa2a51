// What the daemon reads from /proc, in one place: the formats of stat, the task and children
// lists, fd links and the TCP tables are known here only. A process can exit between any two
// reads, so a reader answers null or nothing for a process that is gone; that is not an error.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** The fields of /proc/PID/stat the daemon uses. */
export interface ProcStat {
  pid: number;
  /** The command name, at most 15 bytes; it may hold spaces and parentheses. */
  comm: string;
  /** One letter: R running, S sleeping, D disk wait, Z zombie, T stopped, ... */
  state: string;
  ppid: number;
  /** The process group. */
  pgid: number;
}

/**
 * Parses the text of /proc/PID/stat: "pid (comm) state ppid pgrp ...". The comm field may hold
 * spaces and parentheses of its own, so it ends at the last ')'. Null when the text is not a stat line.
 */
export function parseStat(text: string): ProcStat | null {
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const [state, ppid, pgid] = text.slice(close + 2).split(' ');
  const numbers = [Number(text.slice(0, open)), Number(ppid), Number(pgid)];
  if (!state || !numbers.every(Number.isInteger)) return null;
  return { pid: numbers[0]!, comm: text.slice(open + 2, close), state, ppid: numbers[1]!, pgid: numbers[2]! };
}

/** /proc/PID/stat, or null when the process is gone. */
export function readStat(pid: number): ProcStat | null {
  const text = readOrNull(`/proc/${pid}/stat`);
  return text === null ? null : parseStat(text);
}

/** Resident memory from /proc/PID/status (VmRSS), in bytes; null when the process is gone. */
export function readRssBytes(pid: number): number | null {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readOrNull(`/proc/${pid}/status`) ?? '')?.[1];
  return kib === undefined ? null : Number(kib) * 1024;
}

/** Every pid in /proc (none where there is no /proc). */
export function processIds(): number[] {
  return numericEntries('/proc') ?? [];
}

/** The thread ids of pid (its own pid among them), or null when the process is gone. */
export function taskIds(pid: number): number[] | null {
  return numericEntries(`/proc/${pid}/task`);
}

/**
 * The children of pid: /proc/PID/task/TID/children of every thread (an orphan is reparented to
 * one of the reaper's threads, not always the main one), or, on kernels built without
 * CONFIG_PROC_CHILDREN, every process whose ppid is pid.
 */
export function childPids(pid: number): number[] {
  const found = new Set<number>();
  let listed = false;
  for (const task of taskIds(pid) ?? []) {
    const text = readOrNull(`/proc/${pid}/task/${task}/children`);
    if (text === null) continue;
    listed = true;
    for (const word of text.split(/\s+/)) if (/^\d+$/.test(word)) found.add(Number(word));
  }
  if (listed) return [...found];
  return processIds().filter((candidate) => readStat(candidate)?.ppid === pid);
}

/** The inodes of the sockets pid holds open (the `socket:[N]` links in /proc/PID/fd). */
export function socketInodes(pid: number): string[] {
  const inodes: string[] = [];
  for (const fd of numericEntries(`/proc/${pid}/fd`) ?? []) {
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // the fd closed while we looked
    }
    const match = /^socket:\[(\d+)\]$/.exec(link);
    if (match) inodes.push(match[1]!);
  }
  return inodes;
}

const TCP_LISTEN = '0A';

/** The inodes of the TCP sockets in LISTEN state on port, IPv4 and IPv6 (/proc/net/tcp, tcp6). */
export function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of (readOrNull(table) ?? '').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      if (fields.length < 10 || fields[3] !== TCP_LISTEN) continue;
      if (fields[1]!.endsWith(`:${hexPort}`)) inodes.add(fields[9]!);
    }
  }
  return inodes;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

// The numeric names in a /proc directory, or null when it cannot be listed (the process is gone).
function numericEntries(dir: string): number[] | null {
  try {
    return readdirSync(dir).filter((name) => /^\d+$/.test(name)).map(Number);
  } catch {
    return null;
  }
}
