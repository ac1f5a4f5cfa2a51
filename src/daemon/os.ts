import type { SupervisorConfig } from '../config/index.js';
import { NotifySocket, shimPath, type NotifyMessage } from '../native/index.js';
import { realClock, type Clock } from './clock.js';
import { realProcessOs, type ProcessOs } from './process/os.js';
import { SocketPlan, type Listeners } from './sockets/plan.js';

// The operating system as the supervisor uses it, in one place: processes (spawn, kill), the
// listening sockets of the port, the notify socket workers report READY=1 on, and the clock every
// deadline runs on. The daemon runs on realOs; a unit test gives fakes and drives whole reloads
// with pretend workers in virtual time.
export interface DaemonOs {
  process: ProcessOs;
  clock: Clock;
  shimPath: string; // what every worker is exec'd through (sets LISTEN_PID, the parent-death signal)
  listeners(config: SupervisorConfig, steering: boolean, activated: number[], onSteeringError: (error: Error) => void): Listeners;
  notifySocket(name: string): NotifyEndpoint;
  adoptNotifySocket(path: string, fd: number): NotifyEndpoint & { readonly fd: number }; // after an upgrade's exec
}

export interface NotifyEndpoint {
  readonly path: string;
  readonly fd?: number; // what an upgrade hands over
  onMessage(listener: (message: NotifyMessage) => void): void;
  onError(listener: (error: Error) => void): void;
  close(): void;
}

export const realOs: DaemonOs = {
  process: realProcessOs,
  clock: realClock,
  shimPath,
  listeners: (config, steering, activated, onSteeringError) => new SocketPlan(config, steering, activated, onSteeringError, realClock),
  notifySocket: (name) => NotifySocket.bind(name),
  adoptNotifySocket: (path, fd) => NotifySocket.adopt(path, fd),
};
