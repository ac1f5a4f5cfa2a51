import { isatty } from 'node:tty';
import { pino, type Logger } from 'pino';
import { LogOutput } from './logging/output.js';
import { prettyLine } from './logging/pretty.js';

export type { Logger };

/** json: one JSON object per line (journald, pipes); pretty: one readable line per event (a terminal). */
export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

export interface LoggerOptions {
  level?: string;
  format?: LogFormat; // default: pretty on a terminal, json otherwise
}

// One output per fd, shared by every logger that writes there, so the bound on what waits for a
// stalled reader holds for the fd as a whole.
const outputs = new Map<number, LogOutput>();

// A line is written at once while its reader keeps up (journald and test harnesses read lines as
// they happen, and a crash must not lose the line that explains it); a stalled reader makes lines
// wait, up to a bound, and then be dropped and counted, never block the daemon (logging/output.ts).
export function createLogger(fd: 1 | 2 = 1, { level = process.env.SUPERVISOR_LOG_LEVEL ?? 'info', format }: LoggerOptions = {}): Logger {
  const fresh = !outputs.has(fd);
  const output = outputs.get(fd) ?? new LogOutput(fd);
  outputs.set(fd, output);
  const tty = isatty(fd);
  const pretty = (format ?? (tty ? 'pretty' : 'json')) === 'pretty';
  const color = tty && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb';
  const destination = pretty ? { write: (line: string) => output.write(prettyLine(line, { color })) } : output;
  const logger = pino(
    // No base pid: worker lines carry the worker's pid in `pid`, and two `pid` keys would clash.
    { level, base: null, timestamp: pino.stdTimeFunctions.isoTime },
    destination,
  );
  if (fresh) output.onDrained((droppedLines) => logger.warn({ droppedLines, fd }, 'log lines dropped: the reader of this output stalled and the buffer was full'));
  return logger;
}

/** Log lines dropped so far, on every output, because their reader did not keep up. */
export function droppedLogLines(): number {
  let total = 0;
  for (const output of outputs.values()) total += output.droppedTotal;
  return total;
}

/** Before the process exits: give lines still waiting for their reader up to timeoutMs to go out. */
export async function flushLogs(timeoutMs: number): Promise<void> {
  await Promise.all([...outputs.values()].map((output) => output.flush(timeoutMs)));
}
