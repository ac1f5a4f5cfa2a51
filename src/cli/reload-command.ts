import { HungUpError, NoDaemonError, openRequest } from '../control/client.js';
import type { EventFrame, ReloadResultData, ResultFrame } from '../control/protocol.js';
import { formatDuration } from '../config/duration.js';
import { ExitCode } from '../control/exit-codes.js';
import { isFancyTerminal, ReloadProgressView } from './progress.js';
import { ReloadSoFar } from './reload-so-far.js';

export interface ReloadOptions {
  socket: string;
  json: boolean;
  wait: boolean; // false: --no-wait, exit once the daemon accepted the reload
  timeoutMs: number | null; // --timeout: stop waiting after this long (exit 5); the reload goes on
  canary?: number | null; // --canary: hold the new generation at this share (0..1) of new connections
}

interface Streams {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
}

// `supervisor reload`: asks the daemon, shows progress, and exits with the daemon's verdict:
// 0 promoted (or, with --no-wait, accepted), 1 rolled back or refused, 3 no daemon, 5 still
// reloading when --timeout ran out. When --timeout runs out after the daemon announced the
// rollback (it is stopping the new generation), the verdict is known: 1, with the rollback's
// reason. Ctrl-C stops waiting; it never cancels the reload.
export async function runReload(options: ReloadOptions, streams: Streams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const { json } = options;
  const view = json ? null : new ReloadProgressView(streams.stderr, isFancyTerminal(streams.stderr));
  const started = Date.now();
  const print = (frame: EventFrame | ResultFrame) => streams.stdout.write(`${JSON.stringify(frame)}\n`);
  let stoppedWaiting: { code: number; message: string; ok: boolean; data?: unknown } | null = null;
  const soFar = new ReloadSoFar();
  let accepted = false;
  let timerRanOut = false;
  const follow = 'follow it with supervisor events or status';
  const stopWaiting = (code: number, message: string, ok = false, data?: unknown) => {
    stoppedWaiting = { ok, code, message, ...(data === undefined ? {} : { data }) };
    call.hangUp();
  };
  // --timeout ran out with the daemon's verdict still to come. A rollback already announced is a
  // verdict (the reload cannot be promoted any more): exit 1 with its reason, as on arrival.
  const timedOut = () => {
    const waited = formatDuration(options.timeoutMs!);
    const data = { timedOut: true, doing: soFar.doing, rollingBack: soFar.rollingBack, lastEvent: soFar.lastEvent };
    const rollback = soFar.rollingBack;
    if (rollback) {
      return stopWaiting(
        ExitCode.failed,
        `rolled back: generation ${rollback.generation}: ${rollback.reason} (stopped waiting after ${waited} while the daemon stops generation ${rollback.generation}; the old generation serves: ${follow})`,
        false,
        data,
      );
    }
    stopWaiting(ExitCode.stillRunning, `still reloading after ${waited}: ${soFar.doing}; stopped waiting, the reload goes on in the daemon (${follow})`, false, data);
  };

  const request = { command: 'reload' as const, ...(options.canary ? { canary: options.canary } : {}) };
  const call = openRequest(options.socket, request, (event) => {
    if (json) print(event);
    else view!.event(event);
    soFar.see(event);
    // A canary holds until an operator decides: report it and let the daemon hold it.
    if (event.event === 'canary') return stopWaiting(ExitCode.ok, canaryMessage(event), true);
    if (event.event !== 'accepted') return;
    accepted = true;
    if (!options.wait) stopWaiting(ExitCode.ok, `reload accepted by supervisor pid ${event.pid}${event.queued ? ' (queued after the running one)' : ''}; not waiting for it: ${follow}`, true);
    else if (timerRanOut) timedOut();
  });
  // --timeout: once the daemon has accepted the reload, stop waiting for it. Before that (it
  // answers within milliseconds unless it is stuck) wait at most ACK_GRACE_MS more for the
  // acknowledgement, so exit 5 always means "accepted and still running".
  const ACK_GRACE_MS = 2_000;
  let ackTimer: NodeJS.Timeout | null = null;
  const timer = options.timeoutMs === null ? null : setTimeout(() => {
    timerRanOut = true;
    if (accepted) return timedOut();
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
      const { ok, code, message, data } = stoppedWaiting as { ok: boolean; code: number; message: string; data?: unknown };
      if (json) print({ type: 'result', ok, code, message, ...(data === undefined ? {} : { data }) });
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

function canaryMessage(event: EventFrame): string {
  const share = `${Math.round(Number(event.share) * 1000) / 10}%`;
  return `canary: generation ${event.generation} gets ${share} of new connections, generation ${event.previousGeneration} the rest, for up to ${formatDuration(Number(event.holdMs))} (then ${event.onExpiry}); decide with supervisor promote or supervisor rollback`;
}
