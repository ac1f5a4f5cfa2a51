import type { Frame } from '../../control/protocol.js';
import { ExitCode } from '../../control/exit-codes.js';
import type { Supervisor } from '../supervisor.js';

// The `events` control command: every lifecycle event as an event frame, until the client hangs
// up (then the subscription ends: no listener outlives its connection) or the supervisor stops
// (its last event is supervisor-state -> stopped; then one result frame). The first frame,
// `subscribed`, tells the client it will miss nothing from here on. Only the bus is subscribed
// to (it has no listener cap), so any number of clients can follow.
export function streamEvents(supervisor: Supervisor, send: (frame: Frame) => void, hungUp: AbortSignal): Promise<void> {
  const stoppedResult: Frame = { type: 'result', ok: true, code: ExitCode.ok, message: 'the supervisor has stopped: no more events' };
  return new Promise((resolve) => {
    if (hungUp.aborted) return resolve();
    if (supervisor.state === 'stopped') {
      send(stoppedResult);
      return resolve();
    }
    const end = () => {
      unsubscribe();
      hungUp.removeEventListener('abort', end);
      resolve();
    };
    const unsubscribe = supervisor.events.subscribe((event) => {
      send({ type: 'event', ...event });
      if (event.event === 'supervisor-state' && event.to === 'stopped') {
        send(stoppedResult);
        end();
      }
    });
    hungUp.addEventListener('abort', end, { once: true });
    send({ type: 'event', event: 'subscribed', time: new Date().toISOString(), pid: process.pid, state: supervisor.state });
  });
}
