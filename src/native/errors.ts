// Turns the addon's -errno results into errors that say which syscall failed, on what, why, and
// what to do about it. Kept apart from index.ts so it can be used (and tested) without the addon.
import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';

// errno -> name. When two names share a number (EAGAIN/EWOULDBLOCK, ENOTSUP/EOPNOTSUPP) the first
// one Node lists wins, which is also the name libuv gives Node's own errors.
const ERRNO_NAMES: ReadonlyMap<number, string> = (() => {
  const names = new Map<number, string>();
  for (const [name, value] of Object.entries(constants.errno)) {
    if (!names.has(value)) names.set(value, name);
  }
  return names;
})();

/** The symbolic name of an errno, e.g. 98 (or -98) -> "EADDRINUSE". */
export function errnoName(errno: number): string {
  const value = Math.abs(errno);
  return ERRNO_NAMES.get(value) ?? getSystemErrorMap().get(-value)?.[0] ?? `ERRNO_${value}`;
}

/** A short strerror-like text, e.g. 98 -> "address already in use". */
export function errnoText(errno: number): string {
  const value = Math.abs(errno);
  return getSystemErrorMap().get(-value)?.[1] ?? `error number ${value}`;
}

// Fixes that hold whatever the syscall; callers pass a more specific hint when they know better.
const GENERIC_HINTS: Readonly<Record<string, string>> = {
  EMFILE: 'the process ran out of file descriptors: raise the limit (ulimit -n, LimitNOFILE=)',
  ENFILE: 'the system ran out of file descriptors: raise fs.file-max or close some',
  EBADF: 'the fd is not open: it was closed already or never valid',
  ENOTSOCK: 'the fd is not a socket',
};

export interface SyscallErrorOptions {
  /** What was addressed: "127.0.0.1:8080", "[::1]:80", a socket path or "@name". */
  address?: string;
  /** Extra words after the syscall, e.g. "SO_REUSEPORT" or "fd 7". */
  detail?: string;
  /** The fix, when one is obvious; defaults to a generic hint for the errno, if any. */
  hint?: string;
  cause?: unknown;
}

/**
 * A failed system call. errno is the positive C value (98), code its name ("EADDRINUSE").
 * Message: "<syscall> [detail] [address] failed: <text> (<CODE>)[; <fix>]".
 */
export class SyscallError extends Error {
  readonly syscall: string;
  readonly errno: number;
  readonly code: string;
  readonly address?: string;

  constructor(syscall: string, errno: number, options: SyscallErrorOptions = {}) {
    const value = Math.abs(errno);
    const code = errnoName(value);
    const target = [options.detail, options.address].filter(Boolean).join(' ');
    const hint = options.hint ?? GENERIC_HINTS[code];
    const message =
      `${syscall}${target ? ` ${target}` : ''} failed: ${errnoText(value)} (${code})` +
      (hint ? `; ${hint}` : '');
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SyscallError';
    this.syscall = syscall;
    this.errno = value;
    this.code = code;
    if (options.address !== undefined) this.address = options.address;
  }
}

/** "127.0.0.1:80" or "[::1]:80". */
export function formatTcpAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The fix for a failed step of creating a TCP listener, when there is an obvious one. */
export function tcpListenHint(
  syscall: string,
  code: string,
  context: { port: number; family: 4 | 6 },
): string | undefined {
  if (code === 'EADDRINUSE') {
    return "another process holds the port without SO_REUSEPORT, or another user's reuseport group: stop it or pick another port";
  }
  if (code === 'EACCES' && syscall === 'bind' && context.port > 0 && context.port < 1024) {
    return 'ports below 1024 need root or CAP_NET_BIND_SERVICE';
  }
  if (code === 'EADDRNOTAVAIL') {
    return context.family === 6
      ? 'the address is not on this host (is IPv6 disabled? see net.ipv6.conf.all.disable_ipv6): listen on an address the host has, or an IPv4 one'
      : 'the address is not on this host: listen on an address the host has, or 0.0.0.0';
  }
  if (code === 'EAFNOSUPPORT' && context.family === 6) return 'IPv6 is not available on this host';
  if (code === 'ENODEV') return 'the IPv6 scope (the part after %) names no interface on this host';
  return undefined;
}

/** The fix for a failed sd_notify send, from the sender's side. */
export function notifySendHint(code: string): string | undefined {
  switch (code) {
    case 'ENOENT':
      return 'no socket at this path: is the receiver running, and is NOTIFY_SOCKET current?';
    case 'ECONNREFUSED':
      return 'nothing is bound to this socket: the receiver exited, or NOTIFY_SOCKET is stale';
    case 'EAGAIN':
      return "the receiver's queue is full: it is not reading its notify socket";
    case 'EACCES':
    case 'EPERM':
      return "no permission to write to the socket: it belongs to another user; fix the socket's mode or run both as one user";
    case 'ENAMETOOLONG':
      return "unix socket paths are limited to 107 bytes: use a shorter path or an abstract '@name'";
    case 'EINVAL':
      return "the socket path is empty or contains a NUL byte";
    default:
      return undefined;
  }
}

/** The fix for a failed bind of the notify socket. */
export function notifyBindHint(code: string, path: string): string | undefined {
  const abstract = path.startsWith('@');
  if (code === 'EADDRINUSE') {
    return abstract
      ? 'another process holds this abstract name (another supervisor?): stop it or pick another name'
      : 'a file exists at this path (a stale socket from an earlier run, or another supervisor): stop that supervisor or remove the file';
  }
  if (code === 'EACCES') return 'no permission to create a file in that directory: pick a writable runtime directory';
  if (code === 'ENOENT') return 'the directory does not exist: create it first';
  return notifySendHint(code);
}
