// Checks against the machine the config will run on. They can be turned off (checkFilesystem:
// false) to validate a config for another machine.
import { statSync } from 'node:fs';
import { dirname } from 'node:path';

const ROOT_CONTROL_DIR = '/run/reuseport-supervisor';
import type { PathProblem } from './errors.js';
import { resolveExecutable } from './executable.js';

export interface FilesystemInputs {
  /** absolute cwd, and whether the file set it (else it is the config file's directory) */
  cwd?: { path: string; written: boolean };
  command?: string[];
  /** the PATH workers will get, or undefined when they get none */
  searchPath: string | undefined;
  control?: { path: string; written: boolean };
}

export interface FilesystemResult {
  problems: PathProblem[];
  executable?: string;
}

export function checkFilesystem(inputs: FilesystemInputs, check: boolean): FilesystemResult {
  const problems: PathProblem[] = [];
  let cwdUsable = true;

  if (inputs.cwd !== undefined && check) {
    const problem = directoryProblem(inputs.cwd.path);
    if (problem !== undefined) {
      cwdUsable = false;
      const what = inputs.cwd.written ? 'working directory' : "working directory (the config file's directory, by default)";
      problems.push({ path: ['cwd'], message: `${what} ${inputs.cwd.path} ${problem}: create it, or set cwd: to the app's directory` });
    }
  }

  let executable: string | undefined;
  const program = inputs.command?.[0];
  // A relative program in a missing cwd is already reported as the cwd problem.
  if (program !== undefined && inputs.cwd !== undefined && (cwdUsable || program.startsWith('/') || !program.includes('/'))) {
    const result = resolveExecutable(program, inputs.cwd.path, inputs.searchPath, check);
    if (result.ok) executable = result.path;
    else problems.push({ path: ['command', 0], value: program, message: result.message });
  }

  if (inputs.control !== undefined && check) {
    const dir = dirname(inputs.control.path);
    // The daemon creates root's default directory itself when /run exists, as systemd would.
    const createdByDaemon = !inputs.control.written && dir === ROOT_CONTROL_DIR && directoryProblem(dirname(dir)) === undefined;
    const problem = createdByDaemon ? undefined : directoryProblem(dir);
    if (problem !== undefined) {
      const what = inputs.control.written ? 'the control socket' : 'the default control socket';
      // Under systemd, RuntimeDirectory= creates the directory and sets $RUNTIME_DIRECTORY.
      const systemd = inputs.control.written ? '' : ' (under systemd, RuntimeDirectory=reuseport-supervisor creates one)';
      problems.push({ path: ['control'], message: `directory ${dir} for ${what} ${problem}: create it${systemd} or set control: to a writable path` });
    }
  }

  return { problems, executable };
}

function directoryProblem(path: string): string | undefined {
  try {
    if (!statSync(path).isDirectory()) return 'is not a directory';
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'does not exist';
    return `cannot be read (${code})`;
  }
}
