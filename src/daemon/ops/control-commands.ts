import type { Frame, Request } from '../../control/protocol.js';
import { ExitCode } from '../../control/exit-codes.js';
import type { ReloadResult } from '../reload/queue.js';
import type { Supervisor } from '../supervisor.js';
import { streamEvents } from './event-stream.js';
import { streamOutput } from './output-stream.js';

export interface CommandTarget {
  supervisor: Supervisor | null; // null while the daemon is still starting
  stop(): Promise<void>;
  // Sends `upgrading` events, and a result only when the upgrade did not happen (on success the
  // process execs the new program and this connection closes).
  upgrade(request: Request, send: (frame: Frame) => void): Promise<void>;
}

// Answers one control request: event frames while it runs, then exactly one result frame whose
// code is the CLI's exit code.
export async function answerRequest({ supervisor, stop, upgrade }: CommandTarget, request: Request, send: (frame: Frame) => void, hungUp: AbortSignal): Promise<void> {
  if (supervisor === null) {
    send({ type: 'result', ok: false, code: ExitCode.failed, message: 'the supervisor is still starting: try again' });
    return;
  }
  switch (request.command) {
    case 'ping':
      send({ type: 'result', ok: true, code: ExitCode.ok, message: 'pong', data: { pid: process.pid } });
      return;
    case 'status':
      send({ type: 'result', ok: true, code: ExitCode.ok, message: 'status', data: supervisor.status() });
      return;
    case 'reload': {
      // `accepted`: the reload will run (now or right after the running one) even if this client
      // hangs up (reload --no-wait); a refusal comes straight back as the result instead.
      const queued = supervisor.state === 'reloading';
      const accepting = (supervisor.state === 'running' || queued) && supervisor.status().canary == null;
      const run = supervisor.reload(request.canary ? `supervisor reload --canary ${Math.round(request.canary * 1000) / 10}%` : 'supervisor reload', request.canary ?? null);
      if (accepting) send({ type: 'event', event: 'accepted', time: new Date().toISOString(), pid: process.pid, queued });
      const forward = (progress: { event: string }) => send({ type: 'event', time: new Date().toISOString(), ...progress });
      run.on('progress', forward);
      const result = await run.result;
      run.off('progress', forward);
      send(reloadResultFrame(result));
      return;
    }
    case 'promote': {
      const result = await supervisor.promoteCanary('supervisor promote');
      if (result === null) send({ type: 'result', ok: false, code: ExitCode.failed, message: 'nothing to promote: no canary holds (start one with supervisor reload --canary 10%, or canary: in the config)' });
      else send(reloadResultFrame(result));
      return;
    }
    case 'rollback': {
      const rolled = await supervisor.rollback('supervisor rollback');
      send(rollbackResultFrame(rolled));
      return;
    }
    case 'events':
      await streamEvents(supervisor, send, hungUp);
      return;
    case 'logs':
      await streamOutput(supervisor, request, send, hungUp);
      return;
    case 'upgrade':
      await upgrade(request, send);
      return;
    case 'stop':
      await stop();
      send({ type: 'result', ok: true, code: ExitCode.ok, message: 'stopped: every worker has exited' });
      return;
  }
}

export function reloadResultFrame(result: ReloadResult): Frame {
  const promoted = result.outcome === 'promoted';
  const said = { promoted: 'promoted', refused: 'refused', 'rolled-back': 'rolled back', failed: 'reload failed' } as const;
  const message = promoted ? `promoted: generation ${result.generation} serves${result.reason ? ` (${result.reason})` : ''}` : `${said[result.outcome]}: ${result.reason}`;
  return { type: 'result', ok: promoted, code: promoted ? ExitCode.ok : ExitCode.failed, message, data: result };
}

export function rollbackResultFrame(rolled: Awaited<ReturnType<Supervisor['rollback']>>): Frame {
  if (rolled === null) {
    const message = 'nothing to roll back to: no bake window is open and no reload is under way, so the previous generation is gone; deploy the previous release and reload (set bake: in the config to keep the previous generation warm after each promotion)';
    return { type: 'result', ok: false, code: ExitCode.failed, message };
  }
  if (rolled.kind === 'reload') {
    const { result } = rolled;
    const ok = result.outcome === 'rolled-back';
    const message = ok ? `rolled back: the reload to generation ${result.generation} was stopped; the previous generation serves (${result.reason})` : `rollback came too late: reload ${result.outcome}: ${result.reason}`;
    return { type: 'result', ok, code: ok ? ExitCode.ok : ExitCode.failed, message, data: result };
  }
  const { result } = rolled;
  const killed = result.killed > 0 ? `, ${result.killed} worker(s) killed at drain.timeout` : '';
  const message = `rolled back: generation ${result.generation} serves again (new connections reached it ${result.steeredMs} ms after the request); generation ${result.from} drained in ${result.durationMs} ms${killed}`;
  return { type: 'result', ok: true, code: ExitCode.ok, message, data: result };
}
