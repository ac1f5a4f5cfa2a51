import { HungUpError, NoDaemonError, openRequest } from '../control/client.js';
import type { EventFrame, ReloadResultData, ResultFrame } from '../control/protocol.js';
import { formatDuration } from '../config/duration.js';
import { ExitCode } from '../control/exit-codes.js';
import { isFancyTerminal, ReloadProgressView } from './progress.js';

export interface ReloadOptions {
  socket: string;
  json: boolean;
  wait: boolean; // false: --no-wait, exit once the daemon accepted the reload
  timeoutMs: number | null; // --timeout: stop waiting after this long (exit 5); the reload goes on
}

interface Streams {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
}

// `supervisor reload`: asks the daemon, shows progress, and exits with the daemon's verdict:
// 0 promoted (or, with --no-wait, accepted), 1 rolled back or refused, 3 no daemon, 5 still
// reloading when --timeout ran out. Ctrl-C stops waiting; it never cancels the reload.
export async function runReload(options: ReloadOptions, streams: Streams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const { json } = options;
  const view = json ? null : new ReloadProgressView(streams.stderr, isFancyTerminal(streams.stderr));
  const started = Date.now();
  const print = (frame: EventFrame | ResultFrame) => streams.stdout.write(`${JSON.stringify(frame)}\n`);
  let stoppedWaiting: { code: number; message: string; ok: boolean } | null = null;
  let accepted = false;
  let timedOut = false;
  const follow = 'follow it with supervisor events or status';
  const stopWaiting = (code: number, message: string, ok = false) => {
    stoppedWaiting = { ok, code, message };
    call.hangUp();
  };
  const timedOutMessage = () => `still reloading after ${formatDuration(options.timeoutMs!)}: stopped waiting; the reload goes on in the daemon (${follow})`;

  const call = openRequest(options.socket, { command: 'reload' }, (event) => {
    if (json) print(event);
    else view!.event(event);
    if (event.event !== 'accepted') return;
    accepted = true;
    if (!options.wait) stopWaiting(ExitCode.ok, `reload accepted by supervisor pid ${event.pid}${event.queued ? ' (queued after the running one)' : ''}; not waiting for it: ${follow}`, true);
    else if (timedOut) stopWaiting(ExitCode.stillRunning, timedOutMessage());
  });
  // --timeout: once the daemon has accepted the reload, stop waiting for it. Before that (it
  // answers within milliseconds unless it is stuck) wait at most ACK_GRACE_MS more for the
  // acknowledgement, so exit 5 always means "accepted and still running".
  const ACK_GRACE_MS = 2_000;
  let ackTimer: NodeJS.Timeout | null = null;
  const timer = options.timeoutMs === null ? null : setTimeout(() => {
    timedOut = true;
    if (accepted) return stopWaiting(ExitCode.stillRunning, timedOutMessage());
    ackTimer = setTimeout(() => stopWaiting(ExitCode.system, `the supervisor did not acknowledge the reload within ${formatDuration(options.timeoutMs! + ACK_GRACE_MS)}: it may be stuck; see supervisor status and its log`), ACK_GRACE_MS);
  }, options.timeoutMs);
  const onInterrupt = () =>
    stopWaiting(130, accepted ? `interrupted: stopped waiting; the reload goes on in the daemon (${follow})` : 'interrupted before the supervisor acknowledged the reload: see supervisor status');
  process.once('SIGINT', onInterrupt);

  try {
    const result = await call.result;
    view?.finish();
    const data = result.data as ReloadResultData | undefined;
    if (json) {
      print(result);
    } else if (result.ok) {
      streams.stdout.write(`${result.message} (${((Date.now() - started) / 1000).toFixed(1)}s)\n`);
    } else {
      if (data?.lastLines?.length) streams.stderr.write(`last output of the failing worker:\n${data.lastLines.map((line) => `  | ${line}`).join('\n')}\n`);
      streams.stderr.write(`supervisor: ${result.message}\n`);
    }
    return result.code;
  } catch (error) {
    view?.finish();
    if (error instanceof HungUpError && stoppedWaiting !== null) {
      const { ok, code, message } = stoppedWaiting as { ok: boolean; code: number; message: string };
      if (json) print({ type: 'result', ok, code, message });
      else if (ok) streams.stdout.write(`${message}\n`);
      else streams.stderr.write(`supervisor: ${message}\n`);
      return code;
    }
    if (error instanceof NoDaemonError) {
      streams.stderr.write(`supervisor: ${error.message}\n`);
      return ExitCode.notRunning;
    }
    streams.stderr.write(`supervisor: ${(error as Error).message}\n`);
    return ExitCode.system;
  } finally {
    if (timer) clearTimeout(timer);
    if (ackTimer) clearTimeout(ackTimer);
    process.off('SIGINT', onInterrupt);
  }
}
