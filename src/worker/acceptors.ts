// Extra accept handles on one listening socket.
//
// Node's event loop (libuv >= 1.45) accepts at most one connection per loop iteration and relies on
// the socket staying readable to be called again. Under keep-alive load an iteration serves every
// keep-alive request that arrived meanwhile, so it can last many milliseconds, most of all in a
// worker that just started and still runs cold code; new connections then leave the accept queue
// one per iteration and wait behind all of that (measured: p50 over 200 ms for new connections
// while keep-alive requests took 8 ms). Each extra handle here watches a duplicate of the same
// socket and accepts one more connection per iteration, handing it to the one http.Server, so its
// tracking, drain and handler apply to every connection alike.
import type * as http from 'node:http';
import * as net from 'node:net';
import { closeFd, dupFd } from '../native/index.js';

const extraAcceptors = new WeakMap<net.Server, net.Server[]>();

/** The extra handles feeding `server`: the drain closes them with it. */
export function acceptorsOf(server: net.Server): net.Server[] {
  return extraAcceptors.get(server) ?? [];
}

/** Adds `count` handles on duplicates of `fd` (which `server` already listens on). */
export async function addAcceptors(server: http.Server, fd: number, count: number): Promise<void> {
  const added: net.Server[] = [];
  extraAcceptors.set(server, added);
  for (let i = 0; i < count; i++) {
    const copy = dupFd(fd);
    const acceptor = net.createServer();
    acceptor.on('connection', (socket: net.Socket) => server.emit('connection', socket));
    try {
      await new Promise<void>((resolve, reject) => {
        acceptor.once('error', reject);
        acceptor.listen({ fd: copy }, () => {
          acceptor.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      closeFd(copy);
      throw error;
    }
    // As for the server itself: an accept error (EMFILE, ...) is the application's to handle.
    acceptor.on('error', (error: Error) => server.emit('error', error));
    added.push(acceptor);
  }
}
