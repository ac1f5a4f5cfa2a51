import { pino, type Logger } from 'pino';

export type { Logger };

// Synchronous writes: journald and test harnesses read lines as they happen, and a crash must not
// lose the line that explains it.
export function createLogger(fd: 1 | 2 = 1, level = process.env.SUPERVISOR_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    // No base pid: worker lines carry the worker's pid in `pid`, and two `pid` keys would clash.
    { level, base: null, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ fd, sync: true }),
  );
}
