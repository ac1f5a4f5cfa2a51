import { readFileSync } from 'node:fs';
import { attachReuseportProgram, closeFd, listenTcp } from '../../native/index.js';
import type { LosslessMode, SocketMode } from '../../config/index.js';
import { buildSteeringProgram } from './steering-program.js';

export type Mechanism = 'steer' | 'migrate' | 'shared-socket' | 'none';

export interface LosslessReport {
  configured: LosslessMode;
  socket: SocketMode;
  mechanisms: Mechanism[];
  migrateReq: boolean | null; // null: unknown (no such sysctl on this kernel)
  steeringAttaches: boolean | null; // null: not applicable
  lossless: boolean; // the verdict: some mechanism keeps reloads from resetting queued connections
  guarantee: string; // the verdict said for an operator, with the fix when it is false
}

export function readMigrateReq(): boolean | null {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim() === '1';
  } catch {
    return null;
  }
}

// Tries the real thing on a throwaway listener: attaching a steering program needs no privilege
// but a kernel >= 4.5 with SO_ATTACH_REUSEPORT_CBPF.
export function probeSteering(): { ok: boolean; error?: string } {
  let fd = -1;
  try {
    fd = listenTcp({ host: '127.0.0.1', port: 0, backlog: 1, reusePort: true });
    // Every kind of instruction the daemon's programs use: probe routing, random, weighted choice.
    const targets = [{ slot: 0, weight: 1 }, { slot: 0, weight: 2 }];
    attachReuseportProgram(fd, buildSteeringProgram({ family: 4, targets, probes: [{ sourcePort: 1, slot: 0 }] }));
    return { ok: true };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  } finally {
    if (fd >= 0) closeFd(fd);
  }
}

export class LosslessUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LosslessUnavailable';
  }
}

// Decides which mechanisms keep reloads lossless for this socket mode and kernel, and refuses a
// mode the config demands but the kernel cannot give. Never changes a sysctl.
export function resolveLossless(configured: LosslessMode, socket: SocketMode, migrateReq = readMigrateReq(), steering = probeSteering): LosslessReport {
  const mechanisms: Mechanism[] = [];
  let steeringAttaches: boolean | null = null;
  if (socket === 'shared') mechanisms.push('shared-socket');
  if (socket === 'reuseport' && (configured === 'auto' || configured === 'steer')) {
    const probe = steering();
    steeringAttaches = probe.ok;
    if (probe.ok) mechanisms.push('steer');
    else if (configured === 'steer') {
      throw new LosslessUnavailable(`lossless: steer cannot work here: attaching a reuseport BPF program failed (${probe.error}); use lossless: migrate with net.ipv4.tcp_migrate_req=1, or socket: shared`);
    }
  }
  if (migrateReq && socket !== 'shared' && configured !== 'off') mechanisms.push('migrate');
  if (configured === 'migrate' && !migrateReq) {
    throw new LosslessUnavailable(
      'lossless: migrate needs net.ipv4.tcp_migrate_req=1 (Linux >= 5.14), and it is off or missing here; the supervisor never changes a sysctl itself: ' +
        'set it (sysctl -w net.ipv4.tcp_migrate_req=1, or a file in /etc/sysctl.d), or use lossless: auto to steer instead',
    );
  }
  return { configured, socket, mechanisms, migrateReq, steeringAttaches, lossless: mechanisms.length > 0, guarantee: guarantee(socket, mechanisms) };
}

function guarantee(socket: SocketMode, mechanisms: Mechanism[]): string {
  if (mechanisms.includes('shared-socket')) return 'lossless: one listening socket serves every generation, no accept queue is ever closed';
  if (mechanisms.includes('steer')) {
    return `lossless: new connections are steered to ready workers only, old listeners close with empty queues${mechanisms.includes('migrate') ? ' (tcp_migrate_req=1 as a second line)' : ''}`;
  }
  if (mechanisms.includes('migrate')) return 'lossless: tcp_migrate_req=1 moves a closing listener\'s queue to another listener';
  return socket === 'self'
    ? 'NOT lossless: in self mode, closing an old worker\'s listener resets the connections in its queue; set net.ipv4.tcp_migrate_req=1'
    : 'NOT lossless: lossless is off; closing an old listener resets the connections in its queue';
}
