import type { DaemonStatus } from '../../control/protocol.js';

// What the health endpoint answers a load balancer, from the daemon's status:
//   200 serving   the supervisor runs (or reloads) and the serving generation has a ready worker
//   503 starting  no worker is ready yet (start-up, or every worker of the serving generation died)
//   503 draining  the supervisor is stopping: take this host out before its workers drain
// A reload is not a reason to leave the pool: old workers serve until the new ones are ready.
export interface HealthVerdict {
  status: 200 | 503;
  state: 'serving' | 'starting' | 'draining';
  readyWorkers: number;
}

export function healthOf(status: DaemonStatus): HealthVerdict {
  const serving = status.generations.find((gen) => gen.state === 'serving');
  const readyWorkers = serving ? serving.workers.filter((worker) => worker.state === 'ready').length : 0;
  if (status.state === 'stopping' || status.state === 'stopped') return { status: 503, state: 'draining', readyWorkers };
  if (status.state === 'starting' || readyWorkers === 0) return { status: 503, state: 'starting', readyWorkers };
  return { status: 200, state: 'serving', readyWorkers };
}
