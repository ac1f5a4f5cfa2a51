import { closeFd, dupFd, localAddress } from '../../native/index.js';
import type { ListenAddress } from '../../config/index.js';
import { LISTEN_FDS_START } from '../../worker-contract.js';

export class ActivationMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ActivationMismatch';
  }
}

// Listening sockets passed by systemd socket activation (LISTEN_FDS from a .socket unit), as
// close-on-exec copies; the variables are removed so no child mistakes them for its own.
export function takeActivationFds(env: NodeJS.ProcessEnv = process.env): number[] {
  const count = Number(env.LISTEN_FDS ?? 0);
  // As sd_listen_fds(): without LISTEN_PID naming this process the fds are not ours. A stray
  // LISTEN_FDS (inherited from a socket-activated parent) would otherwise make fds 3.. (Node's own
  // event loop descriptors) look like listeners, and closing them aborts the process.
  const forUs = env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) === process.pid;
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  if (!forUs || !Number.isInteger(count) || count <= 0) return [];
  return Array.from({ length: count }, (_, index) => {
    const fd = dupFd(LISTEN_FDS_START + index);
    closeFd(LISTEN_FDS_START + index);
    return fd;
  });
}

// Puts the passed sockets in the order of the config's listen addresses, refusing any mismatch:
// a socket unit and a config that disagree would serve a port nobody configured.
export function matchActivationFds(fds: number[], listen: ListenAddress[]): number[] {
  const byAddress = new Map<string, number>();
  for (const fd of fds) {
    const { host, port } = localAddress(fd);
    byAddress.set(`${host}:${port}`, fd);
  }
  const ordered = listen.map((address) => {
    const fd = byAddress.get(`${address.host}:${address.port}`);
    if (fd === undefined) {
      const passed = [...byAddress.keys()].join(', ') || 'none';
      throw new ActivationMismatch(
        `socket activation passed ${passed}, but the config listens on ${address.text}: make ListenStream= in the .socket unit and listen: in the config name the same addresses`,
      );
    }
    byAddress.delete(`${address.host}:${address.port}`);
    return fd;
  });
  if (byAddress.size > 0) {
    throw new ActivationMismatch(`socket activation passed ${[...byAddress.keys()].join(', ')}, which the config does not listen on: add it to listen: or remove it from the .socket unit`);
  }
  return ordered;
}
