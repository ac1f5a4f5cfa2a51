// The Node options the daemon runs with, whatever started it (npm start, systemd, a shell): `run`
// execs itself once, in place (same pid, so systemd's MAINPID and a parent's child stay right),
// when one of them is missing. The daemon is a small, long-lived event loop: V8's defaults are
// tuned for throughput and cost it memory it never uses (docs/benchmarks.md, "Weight").
import { execProgram, setCloseOnExec } from '../native/index.js';
import { LISTEN_FDS_START } from '../worker-contract.js';

/**
 * - `--max-semi-space-size=1`: the young generation's halves stay at 1 MB instead of growing to
 *   16 MB after a burst of worker output; the daemon keeps little per event.
 * - `--heap-growing-percent=20`: after a full GC the old generation may grow 20% before the next
 *   one, instead of up to 4x. The daemon's live heap is about 8-10 MB with 16 workers; with V8's
 *   defaults the garbage between full GCs took its RSS from 57 to 105 MB over 100 reloads (84 MB
 *   with the small young generation alone), with these two options to 70 MB. A full GC of a heap
 *   this size takes milliseconds.
 *
 * Not `--no-opt` (4 MB less of the node binary's code in RSS, pages every node worker shares
 * anyway): without the optimizing compiler, counting a flooding worker's suppressed lines cost the
 * daemon 36% of a core where the output limit allows 20% (test/integration/logging.test.ts).
 */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=1', '--heap-growing-percent=20'] as const;

/** Set to an empty string (or any list of node options) to run the daemon with those instead. */
export const DAEMON_NODE_FLAGS_ENV = 'SUPERVISOR_NODE_FLAGS';

/**
 * The flags to add to `execArgv`: those the environment (or the default list) asks for and neither
 * the command line nor NODE_OPTIONS sets already (an operator's own value wins).
 */
export function missingFlags(execArgv: readonly string[], fromEnv: string | undefined, nodeOptions = ''): string[] {
  const wanted = fromEnv === undefined ? [...DAEMON_NODE_FLAGS] : fromEnv.split(/\s+/).filter(Boolean);
  const name = (flag: string) => flag.split('=', 1)[0]!.replace(/_/g, '-');
  const present = new Set([...execArgv, ...nodeOptions.split(/\s+/).filter(Boolean)].map(name));
  return wanted.filter((flag) => !present.has(name(flag)));
}

/**
 * Execs this program again with the daemon's flags added, when any is missing. Returns only when
 * no exec was needed, or when it failed (the daemon then runs with Node's defaults, and says why).
 */
export function execWithDaemonFlags(): { failed: Error } | null {
  const add = missingFlags(process.execArgv, process.env[DAEMON_NODE_FLAGS_ENV], process.env.NODE_OPTIONS);
  if (add.length === 0) return null;
  // Node marks its own stdin, stdout and stderr close-on-exec, and the sockets systemd passed
  // (LISTEN_FDS) were gone after the exec too (the socket-activation tests caught it): without this
  // the program after the exec would log to nothing and find other descriptors where its listeners were.
  for (const fd of [0, 1, 2, ...activationFds(process.env)]) {
    try {
      setCloseOnExec(fd, false);
    } catch {
      // not open: nothing to pass on
    }
  }
  const argv = [process.execPath, ...process.execArgv, ...add, process.argv[1]!, ...process.argv.slice(2)];
  const failed = execProgram(process.execPath, argv, process.env as Record<string, string>);
  return { failed };
}

// The fds systemd passed this process, as sd_listen_fds(3) reads them (and as the daemon will,
// in takeActivationFds): only when LISTEN_PID names this process.
function activationFds(env: NodeJS.ProcessEnv): number[] {
  const count = Number(env.LISTEN_FDS ?? 0);
  if (Number(env.LISTEN_PID) !== process.pid || !Number.isInteger(count) || count <= 0) return [];
  return Array.from({ length: count }, (_, index) => LISTEN_FDS_START + index);
}
