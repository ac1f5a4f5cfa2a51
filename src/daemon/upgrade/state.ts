// What `supervisor upgrade` hands from the running program to the one it execs: a description of
// everything the daemon holds (JSON, in a memfd the next program inherits) and the fds it names,
// inherited across the exec. The format has a number; a program that cannot read it refuses in
// its self-test, before anything is handed over, and the old program keeps running.
import type { GenerationHandover } from '../generation/generation.js';
import type { SocketsState } from '../sockets/plan.js';
import type { ReloadResultData } from '../../control/protocol.js';

export const HANDOVER_FORMAT = 1;

export { HANDOVER_FD_ENV } from '../../upgrade-env.js';

export interface ProgramIdentity {
  version: string; // the package's version
  node: string; // process.version
}

export interface UpgradeRecord {
  from: ProgramIdentity;
  to: ProgramIdentity;
  at: number; // ms since the epoch, when the exec'd program took over
  durationMs: number; // from the request to the take-over
}

export interface Handover {
  format: typeof HANDOVER_FORMAT;
  from: ProgramIdentity;
  requestedAt: number; // ms since the epoch
  daemon: { startedAt: number; upgrades: number; lastUpgrade: UpgradeRecord | null };
  configFile: string;
  configText: string; // the text of the config in force, parsed again by the next program
  activated: number[]; // socket-activation listeners (shared by every worker)
  sockets: SocketsState;
  notify: { path: string; fd: number };
  control: { path: string; fd: number };
  metrics: { fd: number } | null; // the /metrics and /healthz listener, kept so balancers see no gap
  nextGenerationId: number;
  lastReload: ReloadResultData | null;
  serving: GenerationHandover;
}

export class HandoverUnreadable extends Error {
  constructor(problem: string) {
    super(`the handed-over state cannot be read: ${problem}`);
    this.name = 'HandoverUnreadable';
  }
}

/** Every fd the state names, for clearing close-on-exec before the exec (and setting it back after a failed one). */
export function handedOverFds(state: Handover): number[] {
  const fds = [
    ...state.activated,
    ...(state.sockets.shared ?? []),
    ...state.sockets.groups.flatMap((group) => group.members.map((member) => member.fd)),
    state.notify.fd,
    state.control.fd,
    ...(state.metrics ? [state.metrics.fd] : []),
    ...state.serving.slots.flatMap((slot) => [...slot.listenFds, ...(slot.stdout === null ? [] : [slot.stdout]), ...(slot.stderr === null ? [] : [slot.stderr])]),
  ];
  return [...new Set(fds)];
}

// Checks the shape the next program relies on; throws HandoverUnreadable naming the first problem.
export function parseHandover(text: string): Handover {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new HandoverUnreadable(`not JSON (${(error as Error).message})`);
  }
  const state = value as Partial<Handover> | null;
  if (typeof state !== 'object' || state === null) throw new HandoverUnreadable('not an object');
  if (state.format !== HANDOVER_FORMAT) {
    throw new HandoverUnreadable(`format ${String(state.format)}, this program reads format ${HANDOVER_FORMAT}: upgrade by restarting the daemon instead`);
  }
  const need = (ok: boolean, what: string) => {
    if (!ok) throw new HandoverUnreadable(`${what} is missing or malformed`);
  };
  const isFd = (fd: unknown) => Number.isInteger(fd) && (fd as number) >= 0;
  need(typeof state.configFile === 'string' && typeof state.configText === 'string', 'the config');
  need(Array.isArray(state.activated) && state.activated.every(isFd), 'activated');
  need(typeof state.sockets === 'object' && state.sockets !== null && Array.isArray(state.sockets.groups), 'sockets');
  need(state.sockets!.shared === null || (Array.isArray(state.sockets!.shared) && state.sockets!.shared.every(isFd)), 'sockets.shared');
  need(state.sockets!.groups.every((group) => Array.isArray(group.members) && group.members.every((member) => isFd(member.fd))), 'sockets.groups');
  need(isFd(state.notify?.fd) && typeof state.notify?.path === 'string', 'notify');
  need(isFd(state.control?.fd) && typeof state.control?.path === 'string', 'control');
  need(state.metrics === null || isFd(state.metrics?.fd), 'metrics');
  need(Number.isInteger(state.nextGenerationId), 'nextGenerationId');
  need(typeof state.daemon === 'object' && state.daemon !== null && Number.isFinite(state.daemon.startedAt), 'daemon');
  const serving = state.serving;
  need(typeof serving === 'object' && serving !== null && Number.isInteger(serving.id) && Array.isArray(serving.slots), 'serving');
  for (const slot of serving!.slots) {
    need(Number.isInteger(slot.pid) && slot.pid > 0 && Number.isInteger(slot.index) && Array.isArray(slot.listenFds) && slot.listenFds.every(isFd), `worker ${String(slot.index)}`);
  }
  return state as Handover;
}
