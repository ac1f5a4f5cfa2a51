// The config module's public API: the daemon and the CLI import from here only.
export type { SocketMode, LosslessMode, ReadyKind, ListenAddress, SupervisorConfig, LoadOptions, WarmupConfig } from './types.js';
export { ConfigError, formatProblem, type ConfigProblem } from './errors.js';
export { configSource, loadConfig, parseConfig } from './load.js';
export { parseDuration, formatDuration } from './duration.js';
export { parsePercent } from './percent.js';
export { defaultClientSocket, defaultControlPath, MAX_SOCKET_PATH_BYTES } from './control.js';
export { parseListenAddress } from './address.js';
export { RESERVED_ENV, DEFAULT_INHERIT_ENV, DRAIN_SIGNALS, LOSSLESS_MODES } from './schema.js';
export { RESTART_ONLY_KEYS, RESTART_ONLY_REASONS, type RestartOnlyKey } from './restart-only.js';
