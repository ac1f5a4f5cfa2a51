import path from 'node:path';
import { NoDaemonError, request } from '../control/client.js';
import type { DaemonStatus, EventFrame, ResultFrame } from '../control/protocol.js';
import { ExitCode } from '../control/exit-codes.js';
import { formatDuration } from '../config/duration.js';

export interface UpgradeOptions {
  socket: string;
  json: boolean;
  node: string | null; // --node: the node binary the new program runs on
  timeoutMs: number; // how long to wait for the exec'd program to answer
}

interface Streams {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const POLL_MS = 50;

interface ExecEvent {
  from: { version: string; node: string };
  to: { version: string; node: string };
  pid: number;
}

// `supervisor upgrade`: the daemon self-tests the program on disk and execs it in place. A
// result frame means it did not happen (refused, the self-test failed, the exec failed; the old
// program serves on): exit 1, or 111 for an exec the system refused. After the exec the
// connection closes; this waits for the new program to answer `status` with the upgrade counted,
// and exits 0, or 1 when no answer came within --timeout.
export async function runUpgrade(options: UpgradeOptions, streams: Streams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const started = Date.now();
  let upgradesBefore: number | null = null;
  let exec: ExecEvent | null = null;
  const say = (text: string) => {
    if (!options.json) streams.stderr.write(`${text}\n`);
  };
  const onEvent = (event: EventFrame) => {
    if (event.event !== 'upgrading') return;
    const fields = event as EventFrame & Record<string, unknown>;
    if (fields.phase === 'checking') {
      upgradesBefore = typeof fields.upgrades === 'number' ? fields.upgrades : 0;
      say(`upgrade: checking the new program (${String(fields.node)} ${String(fields.script)})`);
    } else if (fields.phase === 'exec') {
      exec = { from: fields.from as ExecEvent['from'], to: fields.to as ExecEvent['to'], pid: fields.pid as number };
      say(`upgrade: self-test passed; exec ${describe(exec.from)} -> ${describe(exec.to)} in pid ${exec.pid}`);
    }
  };
  let answer: ResultFrame | null = null;
  try {
    answer = await request(options.socket, { command: 'upgrade', ...(options.node ? { node: path.resolve(options.node) } : {}) }, onEvent);
  } catch (error) {
    if (error instanceof NoDaemonError) return done(ExitCode.notRunning, false, error.message);
    if (exec === null) return done(ExitCode.system, false, (error as Error).message);
  }
  if (answer !== null) return done(answer.code, answer.ok, answer.message, answer.data);
  const execed: ExecEvent = exec!;

  // The exec happened: the same pid answers again once the new program has taken over.
  const deadline = started + options.timeoutMs;
  while (Date.now() < deadline) {
    const status = await statusOrNull(options.socket);
    const supervisor = status?.supervisor;
    if (status && status.pid === execed.pid && supervisor && supervisor.upgrades > (upgradesBefore ?? 0)) {
      const answeredAfterMs = Date.now() - started;
      const workers = status.generations.flatMap((gen) => gen.workers.map((worker) => ({ generation: gen.generation, slot: worker.slot, pid: worker.pid, state: worker.state })));
      const message =
        `upgraded: ${supervisor.lastUpgrade?.from ?? describe(execed.from)} -> ${supervisor.lastUpgrade?.to ?? describe(execed.to)}; ` +
        `supervisor pid ${status.pid} unchanged, ${workers.length} worker(s) kept (${workers.map((worker) => worker.pid).join(', ')}); ` +
        `taken over ${supervisor.lastUpgrade?.durationMs ?? '?'} ms after the request, answering after ${answeredAfterMs} ms`;
      return done(ExitCode.ok, true, message, { pid: status.pid, from: execed.from, to: execed.to, upgrade: supervisor.lastUpgrade, answeredAfterMs, workers });
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return done(ExitCode.failed, false, `the supervisor exec'd the new program (pid ${execed.pid}) but it did not answer within ${formatDuration(options.timeoutMs)}: see its log (journalctl -u, or its stdout)`);

  function done(code: number, ok: boolean, message: string, data?: unknown): number {
    if (options.json) streams.stdout.write(`${JSON.stringify({ type: 'result', ok, code, message, ...(data === undefined ? {} : { data }) })}\n`);
    else if (ok) streams.stdout.write(`${message}\n`);
    else streams.stderr.write(`supervisor: ${message}\n`);
    return code;
  }
}

function describe(who: { version: string; node: string }): string {
  return `${who.version} (node ${who.node})`;
}

async function statusOrNull(socket: string): Promise<DaemonStatus | null> {
  try {
    const result = await request(socket, { command: 'status' });
    return result.ok ? (result.data as DaemonStatus) : null;
  } catch {
    return null; // between the exec and the take-over nothing answers, or the answer is cut
  }
}
