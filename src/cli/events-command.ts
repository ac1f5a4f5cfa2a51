import { HungUpError, NoDaemonError, openRequest } from '../control/client.js';
import { ExitCode } from '../control/exit-codes.js';
import { renderLifecycleEvent } from './render.js';

// `supervisor events`: the daemon's lifecycle events, one line each (or one JSON object each with
// --json), until Ctrl-C (exit 0) or the daemon stops (exit 0 after its last event).
export async function runEvents(options: { socket: string; json: boolean }): Promise<number> {
  // A reader that went away (| head) ends the stream quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(ExitCode.ok);
  });
  const call = openRequest(options.socket, { command: 'events' }, (event) => {
    if (options.json) process.stdout.write(`${JSON.stringify(event)}\n`);
    else if (event.event === 'subscribed') process.stderr.write(`${renderLifecycleEvent(event)}; Ctrl-C to stop\n`);
    else process.stdout.write(`${renderLifecycleEvent(event)}\n`);
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
    if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else process.stderr.write(`${result.message}\n`);
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
