import { ExitCode, type ExitCodeValue } from '../../control/exit-codes.js';
import { ActivationMismatch } from '../sockets/activation.js';
import { LosslessUnavailable } from '../sockets/lossless.js';

// Errors whose cause stays until someone changes the config, the unit or the host: a permission
// (a port below 1024 without CAP_NET_BIND_SERVICE, a control path the user may not create, a
// read-only filesystem) or a path that cannot be one. EADDRINUSE, EADDRNOTAVAIL (an address not up
// yet at boot), EMFILE and the like may pass by themselves.
const PERMANENT_ERRNOS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'ENAMETOOLONG']);

/**
 * The exit code for an error that stopped the daemon from starting. It decides whether systemd's
 * Restart=on-failure tries again: ExitCode.unfit is in RestartPreventExitStatus=, ExitCode.system
 * is not. Retrying an error that cannot pass by itself keeps a socket-activated port's clients
 * waiting in its queue forever.
 */
export function startFailureCode(error: unknown): ExitCodeValue {
  if (error instanceof ActivationMismatch || error instanceof LosslessUnavailable) return ExitCode.unfit;
  // The errno may sit on a wrapper's cause (the control socket's and metrics' errors add the fix).
  for (let cause: unknown = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return PERMANENT_ERRNOS.has(code) ? ExitCode.unfit : ExitCode.system;
  }
  return ExitCode.system;
}

/** What systemd's Restart=on-failure will make of the code, for the log line. */
export function restartVerdict(code: ExitCodeValue): string {
  return code === ExitCode.unfit
    ? `exit ${code}: starting again would fail the same way (the unit's RestartPreventExitStatus= stops systemd retrying); fix the cause and start it`
    : `exit ${code}: this may pass by itself (systemd's Restart=on-failure retries)`;
}
