// The keys a reload may not change: applying a new value needs a restart of the supervisor, so a
// reload whose config changes one is refused, touching nothing. The docs quote this list
// (test/unit/restart-only.test.ts holds them to it).
import type { SupervisorConfig } from './types.js';

/** Each restart-only key, with why a reload cannot apply it. */
export const RESTART_ONLY_REASONS = {
  listen: 'each address\'s listening setup (its reuseport group, or the shared or systemd-passed socket) is made at start, for the addresses then configured',
  socket: 'the serving generation\'s listeners were made for the mode in force; a generation in another mode could not share the port with them',
  lossless: 'the mechanism (steering or not) is chosen with the port\'s reuseport groups at start, and the serving workers\' sockets depend on it',
  control: 'the control socket is bound at start; moving it would strand the clients that know its path, the one asking for this reload among them',
  backlog: 'an accept queue\'s length is fixed when its listener is made; shared and systemd-passed listeners live as long as the supervisor',
  metrics: 'the metrics listener starts once, beside the supervisor',
} as const satisfies Partial<Record<keyof SupervisorConfig, string>>;

export type RestartOnlyKey = keyof typeof RESTART_ONLY_REASONS;

export const RESTART_ONLY_KEYS = Object.keys(RESTART_ONLY_REASONS) as readonly RestartOnlyKey[];
