// The only module that loads the native addon (native/addon.cc). The addon is syscall-shaped and
// returns -errno; this layer composes the calls, closes what it opened when a step fails, and
// throws SyscallError naming the syscall, the address and the fix.
//
// The addon is loaded on first use, not at import: `supervisor check`, `doctor` and unit tests
// import modules that import this one, and they must work (or explain) without a built addon.
import { existsSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { constants as osConstants, endianness } from 'node:os';
import { join, resolve } from 'node:path';
import { packageRoot } from '../package.js';
import {
  SyscallError,
  errnoName,
  formatTcpAddress,
  notifyBindHint,
  notifySendHint,
  tcpListenHint,
} from './errors.js';

export { SyscallError, errnoName, errnoText, formatTcpAddress } from './errors.js';
export type { SyscallErrorOptions } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Locating and loading the addon.

interface RawAddress {
  host: string;
  port: number;
  family: 4 | 6;
}
interface RawTcpInfo {
  state: number;
  unacked: number;
  sacked: number;
}
interface RawCredentials {
  pid: number;
  uid: number;
  gid: number;
}
interface RawWaitStatus {
  pid: number;
  code: number | null;
  signal: number | null;
}
export interface RawSocketKind {
  domain: 'inet' | 'inet6' | 'unix' | 'other';
  type: 'stream' | 'dgram' | 'other';
  listening: boolean;
}
interface RawNotifyMessage extends RawCredentials {
  text: string;
  truncated: boolean;
}

/** The addon's exports: numbers >= 0 are results, numbers < 0 are -errno. */
interface Addon {
  tcpSocket(family: 4 | 6): number;
  setReusePort(fd: number): number;
  setV6Only(fd: number, on: boolean): number;
  bindTcp(fd: number, host: string, port: number): number;
  listen(fd: number, backlog: number): number;
  getsockname(fd: number): RawAddress | number;
  tcpInfo(fd: number): RawTcpInfo | number;
  attachReuseportCbpf(fd: number, program: Buffer): number;
  detachReuseportBpf(fd: number): number;
  dupCloexec(fd: number): number;
  close(fd: number): number;
  waitpidNoHang(pid: number): RawWaitStatus | null | number;
  setChildSubreaper(on: boolean): number;
  getChildSubreaper(): number;
  notifySend(path: string, message: string): number;
  notifyBind(path: string): number;
  notifyRecv(fd: number): RawNotifyMessage | null | number;
  peerCredentials(fd: number): RawCredentials | number;
  watchReadable(fd: number, callback: (status: number) => void): number;
  unwatch(id: number): number;
  setCloexec(fd: number, on: boolean): number;
  memfdCreate(name: string): number;
  socketKind(fd: number): RawSocketKind | number;
  execve(file: string, argv: string[], env: string[]): number;
}



/** Absolute path of the addon binary. */
export const addonPath: string = join(packageRoot, 'build', 'Release', 'reuseport_supervisor.node');
/** Absolute path of the exec shim every worker starts through (sets LISTEN_PID, PDEATHSIG). */
export const shimPath: string = join(packageRoot, 'build', 'Release', 'supervisor-shim');

const BUILD_FIX = `run 'npm install' (or 'npm run install') in ${packageRoot} with g++, make and python3 installed`;

let loaded: Addon | undefined;

function addon(): Addon {
  if (loaded) return loaded;
  if (!existsSync(addonPath)) {
    throw new Error(`the native addon is not built (${addonPath} is missing): ${BUILD_FIX}`);
  }
  try {
    loaded = createRequire(import.meta.url)(addonPath) as Addon;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `cannot load the native addon ${addonPath}: ${reason}; it may be built for another Node ` +
        `version (this is ${process.version}): ${BUILD_FIX}`,
      { cause: error },
    );
  }
  return loaded;
}

/** For `supervisor doctor`: whether the addon and shim are built and the addon loads. */
export function nativeStatus(): { addonPath: string; shimPath: string; shimBuilt: boolean; error?: string } {
  const status = { addonPath, shimPath, shimBuilt: existsSync(shimPath) };
  try {
    addon();
    return status;
  } catch (error) {
    return { ...status, error: error instanceof Error ? error.message : String(error) };
  }
}

// ---------------------------------------------------------------------------------------------
// Result checking.

function isErrno(result: unknown): result is number {
  return typeof result === 'number' && result < 0;
}

function fdDetail(fd: number): string {
  return `fd ${fd}`;
}

// ---------------------------------------------------------------------------------------------
// TCP listeners.

export interface TcpAddress {
  host: string; // "127.0.0.1" or "::1"
  port: number;
}

export interface ListenTcpOptions {
  host: string; // an IP literal; "[::1]" is accepted too
  port: number; // 0 picks a free port (read it back with localAddress)
  backlog: number;
  reusePort: boolean;
}

function checkListenOptions(options: ListenTcpOptions): { host: string; family: 4 | 6 } {
  const host = options.host.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(host.split('%')[0] ?? '');
  if (family !== 4 && family !== 6) {
    throw new TypeError(
      `listenTcp: host '${options.host}' is not an IP address literal: use e.g. 127.0.0.1, 0.0.0.0, ::1 or :: (resolve names first)`,
    );
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new RangeError(`listenTcp: port ${String(options.port)} is not an integer in 0-65535`);
  }
  if (!Number.isInteger(options.backlog) || options.backlog < 1) {
    throw new RangeError(`listenTcp: backlog ${String(options.backlog)} is not a positive integer`);
  }
  return { host, family };
}

/**
 * A listening TCP socket (blocking, CLOEXEC) with SO_REUSEADDR, and SO_REUSEPORT when asked.
 * IPv6 sockets are v6-only so "::" and "0.0.0.0" can be listened on side by side. On any failure
 * the fd is closed and a SyscallError names the step and "host:port".
 */
export function listenTcp(options: ListenTcpOptions): number {
  const { host, family } = checkListenOptions(options);
  const { port } = options;
  const native = addon();
  const address = formatTcpAddress(host, port);
  const fail = (syscall: string, result: number, detail?: string): never => {
    const hint = tcpListenHint(syscall, errnoName(result), { port, family });
    throw new SyscallError(syscall, result, { address, ...(detail ? { detail } : {}), ...(hint ? { hint } : {}) });
  };

  const fd = native.tcpSocket(family);
  if (isErrno(fd)) fail('socket', fd);
  try {
    let result = family === 6 ? native.setV6Only(fd, true) : 0;
    if (isErrno(result)) fail('setsockopt', result, 'IPV6_V6ONLY');
    result = options.reusePort ? native.setReusePort(fd) : 0;
    if (isErrno(result)) fail('setsockopt', result, 'SO_REUSEPORT');
    result = native.bindTcp(fd, host, port);
    if (isErrno(result)) fail('bind', result);
    result = native.listen(fd, options.backlog);
    if (isErrno(result)) fail('listen', result);
    return fd;
  } catch (error) {
    native.close(fd);
    throw error;
  }
}

/** The address a socket is bound to (getsockname). */
export function localAddress(fd: number): TcpAddress {
  const result = addon().getsockname(fd);
  if (isErrno(result)) throw new SyscallError('getsockname', result, { detail: fdDetail(fd) });
  return { host: result.host, port: result.port };
}

/**
 * Accept queue of a listening socket (TCP_INFO): queued connections waiting for accept(), and the
 * backlog. Throws when fd is not a listening TCP socket, where the numbers would mean other things.
 */
export function acceptQueue(fd: number): { queued: number; backlog: number } {
  const result = addon().tcpInfo(fd);
  if (isErrno(result)) throw new SyscallError('getsockopt', result, { detail: `TCP_INFO ${fdDetail(fd)}` });
  const TCP_LISTEN = 10;
  if (result.state !== TCP_LISTEN) {
    throw new Error(`acceptQueue: fd ${fd} is not a listening socket (TCP state ${result.state}); pass a listener's fd`);
  }
  return { queued: result.unacked, backlog: result.sacked };
}

/** One classic BPF instruction (struct sock_filter). */
export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

function encodeProgram(program: readonly BpfInstruction[]): Buffer {
  const buffer = Buffer.alloc(program.length * 8);
  const little = endianness() === 'LE';
  program.forEach((insn, i) => {
    const at = i * 8;
    if (little) buffer.writeUInt16LE(insn.code, at);
    else buffer.writeUInt16BE(insn.code, at);
    buffer.writeUInt8(insn.jt, at + 2);
    buffer.writeUInt8(insn.jf, at + 3);
    if (little) buffer.writeUInt32LE(insn.k >>> 0, at + 4);
    else buffer.writeUInt32BE(insn.k >>> 0, at + 4);
  });
  return buffer;
}

/**
 * Attaches a classic BPF program to the reuseport group of fd (SO_ATTACH_REUSEPORT_CBPF): its
 * return value is the index of the group socket that gets the new connection. The program belongs
 * to the group and survives the close of fd; attach again after each membership change.
 */
export function attachReuseportProgram(fd: number, program: readonly BpfInstruction[]): void {
  if (program.length === 0 || program.length > 4096) {
    throw new RangeError(`attachReuseportProgram: a program has 1-4096 instructions, got ${program.length}`);
  }
  const result = addon().attachReuseportCbpf(fd, encodeProgram(program));
  if (isErrno(result)) {
    const hint =
      errnoName(result) === 'EINVAL'
        ? 'the kernel rejected the program (bad instruction or jump) or fd has no SO_REUSEPORT'
        : undefined;
    throw new SyscallError('setsockopt', result, {
      detail: `SO_ATTACH_REUSEPORT_CBPF ${fdDetail(fd)}`,
      ...(hint ? { hint } : {}),
    });
  }
}

/** Removes the group's program: the kernel's hash spreads connections again. */
export function detachReuseportProgram(fd: number): void {
  const result = addon().detachReuseportBpf(fd);
  if (isErrno(result)) {
    throw new SyscallError('setsockopt', result, { detail: `SO_DETACH_REUSEPORT_BPF ${fdDetail(fd)}` });
  }
}

// ---------------------------------------------------------------------------------------------
// Plain fds and processes.

/** A close-on-exec duplicate (>= 3) of fd: the socket lives until every copy is closed. */
export function dupFd(fd: number): number {
  const result = addon().dupCloexec(fd);
  if (isErrno(result)) throw new SyscallError('fcntl', result, { detail: `F_DUPFD_CLOEXEC ${fdDetail(fd)}` });
  return result;
}

/** Closes fd; throws SyscallError (EBADF when it was not open). */
export function closeFd(fd: number): void {
  const result = addon().close(fd);
  if (isErrno(result)) throw new SyscallError('close', result, { detail: fdDetail(fd) });
}

/** Whether fd closes on exec (fcntl F_SETFD); throws SyscallError (EBADF: not open). */
export function setCloseOnExec(fd: number, on: boolean): void {
  const result = addon().setCloexec(fd, on);
  if (isErrno(result)) throw new SyscallError('fcntl', result, { detail: `F_SETFD ${on ? 'FD_CLOEXEC' : '0'} ${fdDetail(fd)}` });
}

/** An anonymous in-memory file (memfd_create) that survives exec; throws SyscallError. */
export function memfdCreate(name: string): number {
  const result = addon().memfdCreate(name);
  if (isErrno(result)) throw new SyscallError('memfd_create', result, { detail: name });
  return result;
}

/** The kind of socket fd is; throws SyscallError (ENOTSOCK: not a socket, EBADF: not open). */
export function socketKind(fd: number): RawSocketKind {
  const result = addon().socketKind(fd);
  if (isErrno(result)) throw new SyscallError('getsockopt', result, { detail: `SO_DOMAIN/SO_TYPE ${fdDetail(fd)}` });
  return result;
}

/**
 * Replaces this process's program (execve): same pid, same children, every fd without
 * FD_CLOEXEC inherited. Returns only on failure, with the SyscallError; the process goes on.
 */
export function execProgram(file: string, argv: string[], env: Record<string, string>): SyscallError {
  const result = addon().execve(file, argv, Object.entries(env).map(([name, value]) => `${name}=${value}`));
  return new SyscallError('execve', result, { detail: file });
}

export interface ReapedChild {
  pid: number;
  code: number | null; // exit code, when it exited
  signal: NodeJS.Signals | number | null; // the signal that killed it (its name when known)
}

/**
 * waitpid(pid, WNOHANG) for one pid (never -1, which would steal the exit statuses of the children
 * Node itself spawned): the exit when pid had exited and is now reaped, null while it runs.
 * Throws SyscallError (ECHILD: pid is not a child of this process).
 */
export function waitpidNoHang(pid: number): ReapedChild | null {
  if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`waitpidNoHang: pid ${String(pid)} is not a positive integer`);
  const result = addon().waitpidNoHang(pid);
  if (result === null) return null;
  if (isErrno(result)) {
    const hint = errnoName(result) === 'ECHILD' ? 'not a child of this process (or already reaped)' : undefined;
    throw new SyscallError('waitpid', result, { detail: `pid ${pid}`, ...(hint ? { hint } : {}) });
  }
  const name = result.signal === null ? null : signalName(result.signal);
  return { pid: result.pid, code: result.code, signal: name };
}

function signalName(signal: number): NodeJS.Signals | number {
  const entry = Object.entries(osConstants.signals).find(([, number]) => number === signal);
  return entry ? (entry[0] as NodeJS.Signals) : signal;
}

/** prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are reparented to this process. */
export function setChildSubreaper(on: boolean): void {
  const result = addon().setChildSubreaper(on);
  if (isErrno(result)) throw new SyscallError('prctl', result, { detail: 'PR_SET_CHILD_SUBREAPER' });
}

/** prctl(PR_GET_CHILD_SUBREAPER): whether this process is a child subreaper. */
export function isChildSubreaper(): boolean {
  const result = addon().getChildSubreaper();
  if (isErrno(result)) throw new SyscallError('prctl', result, { detail: 'PR_GET_CHILD_SUBREAPER' });
  return result === 1;
}

/** The pid/uid/gid of the process at the other end of a unix stream socket (SO_PEERCRED). */
export function peerCredentials(fd: number): { pid: number; uid: number; gid: number } {
  const result = addon().peerCredentials(fd);
  if (isErrno(result)) throw new SyscallError('getsockopt', result, { detail: `SO_PEERCRED ${fdDetail(fd)}` });
  return { pid: result.pid, uid: result.uid, gid: result.gid };
}

// ---------------------------------------------------------------------------------------------
// sd_notify.

function checkSocketPath(fn: string, path: unknown): asserts path is string {
  if (typeof path !== 'string' || path.length === 0) {
    throw new TypeError(`${fn}: the socket path must be a non-empty string ('@name' or a file path), got ${JSON.stringify(path)}`);
  }
}

/**
 * Sends one sd_notify datagram ("READY=1", "STATUS=...") to socketPath ('@name' is abstract), the
 * way sd_notify() does. Never blocks: a receiver whose queue is full gives EAGAIN.
 */
export function notifySend(socketPath: string, message: string): void {
  checkSocketPath('notifySend', socketPath);
  if (typeof message !== 'string') throw new TypeError('notifySend: the message must be a string');
  const result = addon().notifySend(socketPath, message);
  if (isErrno(result)) {
    const hint = notifySendHint(errnoName(result));
    throw new SyscallError('sendto', result, { address: socketPath, ...(hint ? { hint } : {}) });
  }
}

export interface NotifyMessage {
  pid: number; // the sender, from SCM_CREDENTIALS (kernel-checked, valid even if it exited)
  uid: number;
  gid: number;
  text: string;
  fields: Record<string, string>; // the KEY=VALUE lines; a repeated key keeps its last value
}

/** Parses sd_notify text: newline-separated KEY=VALUE assignments; other lines are ignored. */
export function parseNotifyFields(text: string): Record<string, string> {
  const entries: Array<[string, string]> = [];
  for (const line of text.split('\n')) {
    const equals = line.indexOf('=');
    if (equals > 0) entries.push([line.slice(0, equals), line.slice(equals + 1)]);
  }
  return Object.fromEntries(entries); // own properties even for a key like "__proto__"
}

// At most this many datagrams per wake-up, so a flood of messages cannot starve the event loop;
// the poll is level-triggered and calls back again for the rest.
const MAX_MESSAGES_PER_WAKE = 64;

/**
 * A bound sd_notify receiving socket (unix datagram, SO_PASSCRED): each message arrives with the
 * sender's pid, which is how a READY=1 is matched to its worker. While someone listens, the socket
 * keeps the event loop alive; close() releases it.
 */
export class NotifySocket {
  readonly path: string;
  readonly #fd: number;
  #watch: number | undefined;
  #closed = false;
  readonly #listeners: Array<(message: NotifyMessage) => void> = [];
  readonly #errorListeners: Array<(error: SyscallError) => void> = [];
  #failure: SyscallError | null = null;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** Binds '@name' (abstract) or a file path (made absolute, so children can use it anywhere). */
  static bind(path: string): NotifySocket {
    checkSocketPath('NotifySocket.bind', path);
    const target = path.startsWith('@') ? path : resolve(path);
    const fd = addon().notifyBind(target);
    if (isErrno(fd)) {
      const hint = notifyBindHint(errnoName(fd), target);
      throw new SyscallError('bind', fd, { address: target, ...(hint ? { hint } : {}) });
    }
    return new NotifySocket(target, fd);
  }

  /**
   * Takes over a bound notify socket this process inherited across exec (supervisor upgrade):
   * workers started before the exec keep sending to the same name.
   */
  static adopt(path: string, fd: number): NotifySocket {
    const kind = socketKind(fd);
    if (kind.domain !== 'unix' || kind.type !== 'dgram') {
      throw new Error(`NotifySocket.adopt: fd ${fd} is a ${kind.domain} ${kind.type} socket, not the unix datagram socket bound to ${path}`);
    }
    setCloseOnExec(fd, true);
    return new NotifySocket(path, fd);
  }

  /** The socket's fd (for diagnostics; do not close it, call close()). */
  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The recvmsg failure that stopped this socket receiving, or null while it receives. */
  get failure(): SyscallError | null {
    return this.#failure;
  }

  /** Calls listener for every datagram; the first listener starts watching the socket. */
  onMessage(listener: (message: NotifyMessage) => void): void {
    if (this.#closed) throw new Error(`NotifySocket ${this.path}: onMessage after close()`);
    this.#listeners.push(listener);
    if (this.#watch === undefined) this.#startWatching();
  }

  /**
   * Receives a failed recvmsg (after which the socket stops watching). Without an error listener
   * the error is kept in `failure` and emitted as a process warning, never thrown: it would be
   * thrown from the event loop, and end the process that owns the socket.
   */
  onError(listener: (error: SyscallError) => void): void {
    this.#errorListeners.push(listener);
  }

  /** Stops watching, closes the fd and removes a filesystem socket. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopWatching();
    addon().close(this.#fd);
    if (!this.path.startsWith('@')) removeSocketFile(this.path);
  }

  #startWatching(): void {
    const id = addon().watchReadable(this.#fd, () => this.#drain());
    if (isErrno(id)) {
      throw new SyscallError('epoll_ctl', id, { detail: `(watch) ${fdDetail(this.#fd)}`, address: this.path });
    }
    this.#watch = id;
  }

  #stopWatching(): void {
    if (this.#watch === undefined) return;
    addon().unwatch(this.#watch);
    this.#watch = undefined;
  }

  #drain(): void {
    const native = addon();
    for (let i = 0; i < MAX_MESSAGES_PER_WAKE && !this.#closed; i++) {
      const raw = native.notifyRecv(this.#fd);
      if (raw === null) return;
      if (isErrno(raw)) return this.#fail(raw);
      const message: NotifyMessage = {
        pid: raw.pid,
        uid: raw.uid,
        gid: raw.gid,
        text: raw.text,
        fields: parseNotifyFields(raw.text),
      };
      for (const listener of [...this.#listeners]) listener(message);
    }
  }

  #fail(result: number): void {
    // Stop first: the poll is level-triggered and would call back forever on a persistent error.
    this.#stopWatching();
    const error = new SyscallError('recvmsg', result, {
      address: this.path,
      hint: 'the notify socket stopped receiving: close it and bind a new one',
    });
    this.#failure = error;
    if (this.#errorListeners.length === 0) process.emitWarning(error);
    for (const listener of [...this.#errorListeners]) listener(error);
  }
}

function removeSocketFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(
      `NotifySocket: cannot remove ${path} (${(error as NodeJS.ErrnoException).code}): remove it by hand, or the next bind fails with EADDRINUSE`,
      { cause: error },
    );
  }
}
