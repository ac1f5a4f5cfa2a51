// Puts an http.Server on each socket the plan names. Inherited fds are already listening (or at
// least bound); server.listen({ fd }) adopts them. They need no FD_CLOEXEC from us: Node marks
// inherited fds close-on-exec at startup (measured on 20.20; the integration test checks it), so
// children the app spawns cannot keep the socket in the reuseport group. Node 20 has no reusePort
// option, so `self` mode binds through the addon and hands Node the fd the same way.
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { addressText, type ListenPlan } from '../worker-contract.js';
import { closeFd, listenTcp } from '../native/index.js';

/** One socket to serve on, described for error messages. */
export interface ListenTarget {
  describe: string;
  /** Resolves to the listening fd, or null where Node made the socket (standalone). */
  listen(server: http.Server): Promise<number | null>;
}

export function listenTargets(plan: ListenPlan): ListenTarget[] {
  switch (plan.mode) {
    case 'inherited':
      return plan.fds.map((fd, i) => ({
        describe: `inherited fd ${fd} (${plan.names[i]}, LISTEN_FDS=${plan.fds.length})`,
        listen: (server) => listenOn(server, { fd }).then(() => fd),
      }));
    case 'self':
      return [
        {
          describe: `${addressText(plan)} with SO_REUSEPORT (self mode: PORT and HOST set, no LISTEN_FDS)`,
          listen: (server) => {
            // Throws naming the syscall and the fix (EADDRINUSE without SO_REUSEPORT elsewhere, EACCES below 1024, ...).
            const fd = listenTcp({ host: plan.host, port: plan.port, backlog: 511, reusePort: true });
            return listenOn(server, { fd }).then(
              () => fd,
              (error: unknown) => {
                closeFd(fd);
                throw error;
              },
            );
          },
        },
      ];
    case 'standalone':
      return [
        {
          describe: `${addressText(plan)} (standalone: no supervisor environment)`,
          listen: (server) => listenOn(server, { host: plan.host, port: plan.port }).then(() => null),
        },
      ];
  }
}

/** `127.0.0.1:8000`, `[::1]:8000`. */
export function serverAddress(server: http.Server): string {
  const address = server.address();
  if (address === null) return 'not listening';
  if (typeof address === 'string') return address;
  return addressText({ host: (address as AddressInfo).address, port: (address as AddressInfo).port });
}

function listenOn(server: http.Server, options: { fd: number } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // For an fd Node calls listen(2) again with backlog 511: harmless on a socket that already
    // listens, but it replaces the backlog the supervisor chose (which the worker cannot know).
    server.listen(options);
  });
}
