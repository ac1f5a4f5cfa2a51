import type { Frame, LogsQuery } from '../../control/protocol.js';
import { ExitCode } from '../../control/exit-codes.js';
import { matches, type OutputLine } from '../process/output-log.js';
import type { Supervisor } from '../supervisor.js';

export const DEFAULT_LOGS_LINES = 100;

// The `logs` control command: the workers' most recent output lines from the daemon's ring, each
// as an `output` event frame, oldest first; then, with follow, a `following` frame and every new
// line as it is read, until the client hangs up or the supervisor stops (then one result frame).
// A follower that stops reading is cut off by the server like any other (1 MiB unsent).
export function streamOutput(supervisor: Supervisor, query: LogsQuery, send: (frame: Frame) => void, hungUp: AbortSignal): Promise<void> {
  const filter = { gen: query.generation, worker: query.worker };
  const frame = (line: OutputLine): Frame => ({ type: 'event', event: 'output', ...line });
  const recent = supervisor.output.ring.last(query.lines ?? DEFAULT_LOGS_LINES, filter);
  for (const line of recent) send(frame(line));
  const shown = `${recent.length} line(s)`;
  if (!query.follow) {
    send({ type: 'result', ok: true, code: ExitCode.ok, message: shown });
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    if (hungUp.aborted) return resolve();
    const stoppedResult: Frame = { type: 'result', ok: true, code: ExitCode.ok, message: 'the supervisor has stopped: no more output' };
    if (supervisor.state === 'stopped') {
      send(stoppedResult);
      return resolve();
    }
    const unfollow = supervisor.output.follow((line) => {
      if (matches(line, filter)) send(frame(line));
    });
    const onStopped = () => {
      send(stoppedResult);
      end();
    };
    const end = () => {
      unfollow();
      supervisor.off('stopped', onStopped);
      hungUp.removeEventListener('abort', end);
      resolve();
    };
    supervisor.once('stopped', onStopped);
    hungUp.addEventListener('abort', end, { once: true });
    send({ type: 'event', event: 'following', time: new Date().toISOString(), pid: process.pid, shown: recent.length });
  });
}
