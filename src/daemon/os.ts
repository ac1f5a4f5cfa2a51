import type { SupervisorConfig } from '../config/index.js';
import { NotifySocket, shimPath, type NotifyMessage } from '../native/index.js';
import { realProcessOs, type ProcessOs } from './process/os.js';
import { SocketPlan, type Listeners } from './sockets/plan.js';

// The operating system as the supervisor uses it, in one place: processes (spawn, kill), the
// listening sockets of the port, and the notify socket workers report READY=1 on. The daemon
// runs on realOs; a unit test gives fakes and drives whole reloads with pretend workers.
export interface DaemonOs {
  process: ProcessOs;
  shimPath: string; // what every worker is exec'd through (sets LISTEN_PID, the parent-death signal)
  listeners(config: SupervisorConfig, steering: boolean, activated: number[], onSteeringError: (error: Error) => void): Listeners;
  notifySocket(name: string): NotifyEndpoint;
}

export interface NotifyEndpoint {
  readonly path: string;
  onMessage(listener: (message: NotifyMessage) => void): void;
  onError(listener: (error: Error) => void): void;
  close(): void;
}

export const realOs: DaemonOs = {
  process: realProcessOs,
  shimPath,
  listeners: (config, steering, activated, onSteeringError) => new SocketPlan(config, steering, activated, onSteeringError),
  notifySocket: (name) => NotifySocket.bind(name),
};
