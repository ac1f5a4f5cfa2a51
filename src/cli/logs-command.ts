import { HungUpError, NoDaemonError, openRequest } from '../control/client.js';
import { ExitCode } from '../control/exit-codes.js';
import type { EventFrame, LogsQuery } from '../control/protocol.js';

export interface LogsOptions extends LogsQuery {
  socket: string;
  json: boolean;
}

// One output line as text: the time it was read (UTC), whose it is, then the line itself.
export function renderOutputLine(event: EventFrame): string {
  const time = typeof event.time === 'string' ? event.time.slice(11, 23) : '';
  const stream = event.stream === 'stderr' ? ' stderr' : '';
  return `${time} gen ${String(event.gen)} worker ${String(event.worker)}${stream} | ${String(event.line)}`;
}

// `supervisor logs`: the workers' recent output kept by the daemon, one line each (one JSON object
// each with --json); with follow, then every new line until Ctrl-C (exit 0) or the daemon stops.
export async function runLogs(options: LogsOptions): Promise<number> {
  const { socket, json, ...query } = options;
  // A reader that went away (| head) ends the stream quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(ExitCode.ok);
  });
  const call = openRequest(socket, { command: 'logs', ...query }, (event) => {
    if (json) process.stdout.write(`${JSON.stringify(event)}\n`);
    else if (event.event === 'output') process.stdout.write(`${renderOutputLine(event)}\n`);
    else if (event.event === 'following') process.stderr.write(`following the output of supervisor pid ${String(event.pid)}; Ctrl-C to stop\n`);
  });
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    call.hangUp();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await call.result;
    if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else if (!result.ok || query.follow) process.stderr.write(`${result.ok ? '' : 'supervisor: '}${result.message}\n`);
    return result.code;
  } catch (error) {
    if (error instanceof HungUpError && interrupted) return ExitCode.ok;
    if (error instanceof NoDaemonError) {
      process.stderr.write(`supervisor: ${error.message}\n`);
      return ExitCode.notRunning;
    }
    process.stderr.write(`supervisor: ${(error as Error).message}\n`);
    return ExitCode.system;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
