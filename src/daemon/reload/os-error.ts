// An error from the operating system during a reload, turned into the end of the reload's reason:
// the system call, the errno name, what it means here and the fix, with the numbers the config
// needs. Without it an EMFILE surfaced as whatever JavaScript tripped over next.
import { describeFdBudget, fdBudget, fdLimitFix, openFileLimit } from '../../config/fd-budget.js';
import type { SupervisorConfig } from '../../config/index.js';

type OsError = Error & { code: string; syscall?: string };

/** The first errno-carrying error in the chain: the error, a worker's start error, the causes. */
export function findOsError(error: unknown): OsError | null {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current instanceof Error && !seen.has(current)) {
    seen.add(current);
    const { code } = current as { code?: unknown };
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return current as OsError;
    const startError = (current as { startError?: unknown }).startError;
    if (startError instanceof Error) {
      current = startError;
      continue;
    }
    current = current.cause;
  }
  return null;
}

/**
 * `message` with the OS error it carries spelled out: "<message>: spawn failed with EMFILE: <fix>"
 * (the call left out when the message names it already); the message alone for other errors.
 */
export function withOsError(message: string, error: unknown, config: SupervisorConfig, limit = openFileLimit()): string {
  const found = findOsError(error);
  if (found === null) return message;
  const call = `${found.syscall?.split(' ')[0] ?? 'a system call'} failed with ${found.code}`;
  const fix = osErrorFix(found.code, config, limit);
  if (fix === null) return message.includes(found.code) ? message : `${message}: ${call}`;
  // A SyscallError's general hint ("(EMFILE); raise the limit") gives way to the one with numbers.
  const named = message.replace(new RegExp(`(\\(${found.code}\\)); .*$`, 's'), '$1');
  return named.includes(found.code) ? `${named}: ${fix}` : `${named}: ${call}: ${fix}`;
}

function osErrorFix(code: string, config: SupervisorConfig, limit: { soft: number } | null): string | null {
  switch (code) {
    case 'EMFILE': {
      const budget = fdBudget(config);
      const has = limit === null ? 'the supervisor ran out of file descriptors' : `the supervisor may open ${limit.soft} files (RLIMIT_NOFILE)`;
      // Enough for the config by our count: something else holds the descriptors.
      if (limit !== null && limit.soft >= budget.total) {
        return `${has}, more than the about ${budget.total} this config needs across a reload: something else holds them (a leak in the supervisor, or a sidecar): count them in /proc/${process.pid}/fd and report it`;
      }
      return `${has}, and this config needs about ${budget.total} across a reload (${describeFdBudget(config, budget)}); ${fdLimitFix(budget.total)}`;
    }
    case 'ENFILE':
      return 'the whole system is out of file descriptors: raise fs.file-max (sysctl), or find what holds them (lsof)';
    case 'EAGAIN':
      return 'no process could be created: the limit on processes is reached (LimitNPROC=, or TasksMax= and the cgroup\'s pids.max): raise it in the unit';
    case 'ENOMEM':
      return 'out of memory: free some, or lower workers:';
    default:
      return null;
  }
}
