import net from 'node:net';
import { encodeFrame, LineReader, type EventFrame, type Request, type ResultFrame } from './protocol.js';

export class NoDaemonError extends Error {
  readonly socketPath: string;
  readonly code: string;
  constructor(socketPath: string, code: string) {
    const why = code === 'ENOENT' ? 'no such socket' : code === 'ECONNREFUSED' ? 'nothing listens on it (stale socket)' : code;
    super(`no supervisor answers on ${socketPath} (${why}): start one with 'supervisor run -c FILE', or pass the right -c/--socket`);
    this.name = 'NoDaemonError';
    this.socketPath = socketPath;
    this.code = code;
  }
}

// Sends one request and streams the daemon's events until its result.
export function request(socketPath: string, body: Request, onEvent: (event: EventFrame) => void = () => {}): Promise<ResultFrame> {
  return openRequest(socketPath, body, onEvent).result;
}

export class HungUpError extends Error {
  constructor() {
    super('stopped waiting before the supervisor answered: what was asked goes on in the daemon; follow it with supervisor status or events');
    this.name = 'HungUpError';
  }
}

// Like request(), but the caller may hang up before the result (reload --no-wait/--timeout, the
// end of an `events` stream): hangUp() closes the connection and `result` rejects with HungUpError.
// The daemon carries on with what was asked; only this client stops listening.
export function openRequest(socketPath: string, body: Request, onEvent: (event: EventFrame) => void = () => {}): { result: Promise<ResultFrame>; hangUp: () => void } {
  let hangUp = () => {};
  const result = new Promise<ResultFrame>((resolve, reject) => {
    const socket = net.connect(socketPath);
    let hungUp = false;
    hangUp = () => {
      hungUp = true;
      socket.destroy();
    };
    const reader = new LineReader(Number.MAX_SAFE_INTEGER);
    let answer: ResultFrame | null = null;
    let connected = false;
    socket.setEncoding('utf8');
    socket.once('connect', () => {
      connected = true;
      socket.write(encodeFrame(body));
    });
    socket.on('data', (chunk: string) => {
      for (const line of reader.push(chunk).lines) {
        if (hungUp) return;
        const frame = JSON.parse(line) as EventFrame | ResultFrame;
        if (frame.type === 'result') answer = frame;
        else onEvent(frame);
      }
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (!connected) reject(new NoDaemonError(socketPath, error.code ?? 'error'));
    });
    socket.once('close', () => {
      if (answer) resolve(answer);
      else if (hungUp) reject(new HungUpError());
      else if (connected) reject(new Error(`the supervisor on ${socketPath} closed the connection without a result: see its log`));
    });
  });
  return { result, hangUp: () => hangUp() };
}
