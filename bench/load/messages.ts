// The IPC protocol between the load pool (parent) and its load processes.
import type { RequestRecords } from './records.js';

export interface StartMessage {
  type: 'start';
  host: string;
  port: number;
  newConnection: number; // virtual users opening a connection per request
  keepAlive: number; // virtual users each holding one keep-alive connection
  timeoutMs: number;
  // Fixed rate: each user sends one request every intervalMs (open loop); absent: back to back.
  intervalMs?: number;
}

export type ToLoadProcess = StartMessage | { type: 'stop' };

export type FromLoadProcess =
  | { type: 'ready' }
  | { type: 'records'; records: RequestRecords; cpuMicros: number } // CPU time this process used since 'start'
  | { type: 'error'; message: string };
