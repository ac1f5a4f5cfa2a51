// The exec'd program's half of `supervisor upgrade`: read the state the previous program left in
// the memfd, and check what it names before taking it over: every worker still this process's
// child, every fd the kind of socket it should be.
import { closeSync, fstatSync, readSync } from 'node:fs';
import { socketKind, type RawSocketKind } from '../../native/index.js';
import { readStat } from '../process/proc.js';
import { HANDOVER_FD_ENV, parseHandover, type Handover } from './state.js';

/** The state an upgrade handed over, or null when this program was not exec'd by one. */
export function takeHandover(env: NodeJS.ProcessEnv = process.env): Handover | null {
  const text = env[HANDOVER_FD_ENV];
  if (text === undefined) return null;
  delete env[HANDOVER_FD_ENV]; // workers and later upgrades must not see it
  const fd = Number(text);
  if (!Number.isInteger(fd) || fd < 0) throw new Error(`${HANDOVER_FD_ENV}=${text.slice(0, 20)} is not a file descriptor: only supervisor upgrade sets it; unset it and start the daemon again`);
  try {
    const size = fstatSync(fd).size;
    const bytes = Buffer.alloc(size);
    let read = 0;
    while (read < size) {
      const n = readSync(fd, bytes, read, size - read, read);
      if (n === 0) break;
      read += n;
    }
    return parseHandover(bytes.subarray(0, read).toString('utf8'));
  } finally {
    closeSync(fd);
  }
}

/** Whether pid is a child of this process (alive, or a zombie waiting to be reaped). */
export function isOwnChild(pid: number): boolean {
  return readStat(pid)?.ppid === process.pid;
}

// The fds the state names, checked for the kind each must be. Returns the problems found (empty:
// all good); the daemon cannot go on with a listener that is not one.
export function checkHandedOverFds(state: Handover): string[] {
  const problems: string[] = [];
  const expect = (fd: number, what: string, ok: (kind: RawSocketKind) => boolean) => {
    try {
      const kind = socketKind(fd);
      if (!ok(kind)) problems.push(`${what} (fd ${fd}) is a ${kind.domain} ${kind.type} socket${kind.listening ? ' (listening)' : ''}`);
    } catch (error) {
      problems.push(`${what} (fd ${fd}): ${(error as Error).message}`);
    }
  };
  const tcpListener = (kind: RawSocketKind) => (kind.domain === 'inet' || kind.domain === 'inet6') && kind.type === 'stream' && kind.listening;
  for (const fd of [...state.activated, ...(state.sockets.shared ?? [])]) expect(fd, 'a shared listener', tcpListener);
  for (const group of state.sockets.groups) for (const member of group.members) expect(member.fd, 'a reuseport listener', tcpListener);
  expect(state.notify.fd, 'the notify socket', (kind) => kind.domain === 'unix' && kind.type === 'dgram');
  expect(state.control.fd, 'the control socket', (kind) => kind.domain === 'unix' && kind.type === 'stream' && kind.listening);
  if (state.metrics) expect(state.metrics.fd, 'the metrics listener', tcpListener);
  for (const slot of state.serving.slots) {
    for (const [name, fd] of [['stdout', slot.stdout], ['stderr', slot.stderr]] as const) {
      if (fd !== null) expect(fd, `worker ${slot.index}'s ${name} pipe`, (kind) => kind.domain === 'unix' && kind.type === 'stream' && !kind.listening);
    }
  }
  return problems;
}
