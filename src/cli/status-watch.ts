import { NoDaemonError, request } from '../control/client.js';
import type { DaemonStatus } from '../control/protocol.js';
import { ExitCode } from '../control/exit-codes.js';
import { isFancyTerminal } from './progress.js';
import { renderStatus } from './render.js';

// `supervisor status --watch`: the status again every interval. On a terminal the screen is
// redrawn in place (like watch(1)); elsewhere each snapshot is printed after the last, text
// separated by a header line, or one JSON object per line with --json. A daemon that does not
// answer is shown and asked again. Ctrl-C (or SIGTERM) ends it with exit 0.
export async function watchStatus(options: { socket: string; json: boolean; intervalMs: number }): Promise<number> {
  const out = process.stdout;
  const fancy = !options.json && isFancyTerminal(out);
  let stopped = false;
  let wake: () => void = () => {};
  const stop = () => {
    stopped = true;
    wake();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  out.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(ExitCode.ok);
  });
  if (fancy) out.write('\x1b[?25l\x1b[2J'); // hide the cursor, clear the screen
  try {
    while (!stopped) {
      const now = new Date();
      let body: string;
      let json: string;
      try {
        const result = await request(options.socket, { command: 'status' });
        body = result.ok ? renderStatus(result.data as DaemonStatus, now.getTime()) : `supervisor: ${result.message}`;
        json = JSON.stringify(result);
      } catch (error) {
        const message = error instanceof NoDaemonError ? error.message : `cannot ask the supervisor: ${(error as Error).message}`;
        body = `supervisor: ${message} (asking again every ${options.intervalMs / 1000}s)`;
        json = JSON.stringify({ type: 'result', ok: false, code: error instanceof NoDaemonError ? ExitCode.notRunning : ExitCode.system, message });
      }
      if (stopped) break;
      const header = `every ${options.intervalMs / 1000}s: supervisor status (${options.socket})  ${now.toISOString()}`;
      if (options.json) out.write(`${json}\n`);
      else if (fancy) out.write(`\x1b[H${[header, '', ...body.split('\n')].map((line) => `${line}\x1b[K`).join('\n')}\n\x1b[J`);
      else out.write(`--- ${header}\n${body}\n\n`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    if (fancy) out.write('\x1b[?25h\n'); // cursor back
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return ExitCode.ok;
}
