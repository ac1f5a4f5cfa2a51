// sd_notify for Node workers. The supervisor reads the sender's pid from SCM_CREDENTIALS, so the
// datagram must come from this process itself: no `systemd-notify` child.
import { notifySend } from '../native/index.js';

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(sleeper, 0, 0, ms);

/** Sends READY=1 on NOTIFY_SOCKET; does nothing when NOTIFY_SOCKET is unset (probe readiness). */
export function notifyReady(env: NodeJS.ProcessEnv = process.env): void {
  notify(env, 'READY=1');
}

// A full queue at the receiver is waited out, as libsystemd's sd_notify (a blocking send) does:
// the kernel queues only net.unix.max_dgram_qlen datagrams per socket (10 by default), and 16
// workers saying READY=1 while the supervisor's event loop spawns their siblings can fill it.
// Measured: 1 start in about 1,600 failed so, rolling its reload back, before this wait.
export const FULL_QUEUE_WAIT_MS = 5000;

/**
 * Sends one sd_notify message (`KEY=value` lines). Throws with the socket named when the send
 * fails: a worker that cannot say READY=1 would otherwise sit until the supervisor's timeout.
 * A receiver whose queue is full is retried in short sleeps for up to FULL_QUEUE_WAIT_MS.
 */
export function notify(env: NodeJS.ProcessEnv, message: string, waitMs = FULL_QUEUE_WAIT_MS): void {
  const socketPath = env.NOTIFY_SOCKET;
  if (!socketPath) return;
  try {
    // The addon loads on first use, so a worker that never notifies runs without it.
    sendWaitingOutFullQueue(socketPath, message, waitMs);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `reuseport-supervisor/worker: cannot send ${JSON.stringify(message)} to NOTIFY_SOCKET=${socketPath}: ${reason}`,
      { cause: error },
    );
  }
}

function sendWaitingOutFullQueue(socketPath: string, message: string, waitMs: number): void {
  const deadline = Date.now() + waitMs;
  for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
    try {
      notifySend(socketPath, message);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'EAGAIN' || Date.now() + pause > deadline) throw error;
      sleep(pause);
    }
  }
}
