// sd_notify for Node workers. The supervisor reads the sender's pid from SCM_CREDENTIALS, so the
// datagram must come from this process itself: no `systemd-notify` child.
import { notifySend } from '../native/index.js';

/** Sends READY=1 on NOTIFY_SOCKET; does nothing when NOTIFY_SOCKET is unset (probe readiness). */
export function notifyReady(env: NodeJS.ProcessEnv = process.env): void {
  notify(env, 'READY=1');
}

/**
 * Sends one sd_notify message (`KEY=value` lines). Throws with the socket named when the send
 * fails: a worker that cannot say READY=1 would otherwise sit until the supervisor's timeout.
 */
export function notify(env: NodeJS.ProcessEnv, message: string): void {
  const socketPath = env.NOTIFY_SOCKET;
  if (!socketPath) return;
  try {
    // The addon loads on first use, so a worker that never notifies runs without it.
    notifySend(socketPath, message);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `reuseport-supervisor/worker: cannot send ${JSON.stringify(message)} to NOTIFY_SOCKET=${socketPath}: ${reason}`,
      { cause: error },
    );
  }
}
