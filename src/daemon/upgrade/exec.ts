// The running program's half of `supervisor upgrade`: find the program to become, prove it can
// start and read the state (a self-test in a child process, while this one keeps serving), then
// exec it in place: same pid, so the workers stay this process's children, keep their
// parent-death signal, and systemd's MAINPID does not change.
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { execProgram, memfdCreate, setCloseOnExec } from '../../native/index.js';
import { ownChildren } from '../process/own-children.js';
import { HANDOVER_FD_ENV, handedOverFds, type Handover, type ProgramIdentity } from './state.js';

/** The hidden command the self-test runs: `supervisor upgrade-self-test`, the state on stdin. */
export const SELF_TEST_COMMAND = 'upgrade-self-test';
export const SELF_TEST_TIMEOUT_MS = 30_000;

export interface UpgradeTarget {
  node: string; // the node binary
  execArgv: string[]; // node's own options, as this program was started with
  script: string; // the supervisor's entry point, as this program was started with
  args: string[]; // `run -c ...`, as this program was started with
}

// What `supervisor` and `node` are on disk now: the same paths this program was started from
// (a package upgrade replaces the files behind them), or another node binary when asked.
export function upgradeTarget(node: string | undefined): UpgradeTarget {
  return { node: node ?? process.execPath, execArgv: [...process.execArgv], script: process.argv[1]!, args: process.argv.slice(2) };
}

export class SelfTestFailed extends Error {
  constructor(target: UpgradeTarget, why: string) {
    super(`the new program (${target.node} ${target.script}) failed its self-test: ${why}; the running supervisor goes on unchanged: fix the install (or pass --node) and try again`);
    this.name = 'SelfTestFailed';
  }
}

/**
 * Runs the new program with the state on its stdin: it loads every module and the addon, reads the
 * state and parses the config with its own code, and prints what it is. Rejects with
 * SelfTestFailed (it could not start, could not read the state, said so, or took too long).
 */
export function selfTest(target: UpgradeTarget, state: string, env: NodeJS.ProcessEnv, timeoutMs = SELF_TEST_TIMEOUT_MS): Promise<ProgramIdentity> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(target.node, [...target.execArgv, target.script, SELF_TEST_COMMAND], { stdio: ['pipe', 'pipe', 'pipe'], env });
    } catch (error) {
      reject(new SelfTestFailed(target, `cannot start it (${(error as Error).message})`));
      return;
    }
    ownChildren.add(child.pid); // libuv reaps it; the orphan reaper must not
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout = (stdout + chunk).slice(-65536)));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4096)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdin.on('error', () => {}); // a program that exits at once closes its stdin: its exit says why
    child.stdin.end(state);
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      ownChildren.delete(child.pid);
      reject(new SelfTestFailed(target, `cannot start it (${error.code ?? error.message})`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      ownChildren.delete(child.pid);
      const said = lastLine(stderr);
      if (signal === 'SIGKILL') return reject(new SelfTestFailed(target, `no answer within ${timeoutMs} ms`));
      if (code !== 0) return reject(new SelfTestFailed(target, `it exited with ${code ?? signal}${said ? `: ${said}` : ''}`));
      try {
        const identity = JSON.parse(lastLine(stdout)) as Partial<ProgramIdentity>;
        if (typeof identity.version !== 'string' || typeof identity.node !== 'string') throw new Error('no version');
        resolve({ version: identity.version, node: identity.node });
      } catch {
        reject(new SelfTestFailed(target, `it did not say what it is (stdout: ${JSON.stringify(lastLine(stdout).slice(0, 200))})`));
      }
    });
  });
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1)?.trim() ?? '';
}

/**
 * Execs the new program with every fd the state names inherited and the state in a memfd. Returns
 * only when execve failed: then every fd is close-on-exec again and the caller goes on serving.
 */
export function execUpgrade(target: UpgradeTarget, state: Handover, env: Record<string, string>): Error {
  let memfd: number;
  try {
    memfd = memfdCreate('supervisor-upgrade-state');
    writeSync(memfd, JSON.stringify(state));
  } catch (error) {
    return error as Error;
  }
  // Node opens the process with FD_CLOEXEC on its own stdin, stdout and stderr: without clearing
  // it the new program would start with them closed (and log to /dev/null, not the journal).
  const fds = [0, 1, 2, ...handedOverFds(state)];
  const cleared: number[] = [];
  try {
    for (const fd of fds) {
      setCloseOnExec(fd, false);
      cleared.push(fd);
    }
  } catch (error) {
    restore(cleared, memfd);
    return error as Error;
  }
  const failure = execProgram(target.node, [target.node, ...target.execArgv, target.script, ...target.args], { ...env, [HANDOVER_FD_ENV]: String(memfd) });
  restore(cleared, memfd);
  return failure;
}

function restore(fds: number[], memfd: number): void {
  for (const fd of fds) {
    try {
      setCloseOnExec(fd, true);
    } catch {
      // closed meanwhile: nothing to keep from the next exec
    }
  }
  closeSync(memfd);
}
