// Resolves command[0] the way exec would for the worker, so a typo fails `supervisor check` and
// a reload's validation instead of failing every worker at spawn time.
import { accessSync, constants, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { named } from './quote.js';

/** What execvp searches when PATH is unset (glibc's confstr(_CS_PATH)). */
export const FALLBACK_PATH = '/usr/bin:/bin';

export type ExecutableResult = { ok: true; path: string } | { ok: false; message: string };

/**
 * A name with "/" is taken relative to cwd; a bare name is searched in `searchPath`.
 * With `check` false, nothing fails: a bare name not found stays as written.
 */
export function resolveExecutable(name: string, cwd: string, searchPath: string | undefined, check: boolean): ExecutableResult {
  if (name.includes('/')) {
    const path = resolve(cwd, name);
    if (!check) return { ok: true, path };
    const problem = programProblem(path);
    if (problem === undefined) return { ok: true, path };
    const where = path === name ? path : `${path}, from ${name} in ${cwd}`;
    return { ok: false, message: `command ${named(name)} ${problem.replace('{path}', where)}` };
  }

  const pathText = searchPath ?? FALLBACK_PATH;
  let notExecutable: string | undefined;
  for (const dir of pathText.split(':')) {
    // An empty PATH entry means the current directory, which for the worker is cwd.
    const candidate = join(resolve(cwd, dir === '' ? '.' : dir), name);
    const problem = programProblem(candidate);
    if (problem === undefined) return { ok: true, path: candidate };
    if (problem.startsWith('is not executable')) notExecutable ??= candidate;
  }
  if (!check) return { ok: true, path: name };
  if (notExecutable !== undefined) {
    return { ok: false, message: `command ${named(name)} was found at ${notExecutable} but it is not executable: chmod +x ${notExecutable}, or give the path of another program` };
  }
  const which = searchPath === undefined ? `workers get no PATH; searched ${FALLBACK_PATH}` : pathText;
  return { ok: false, message: `command ${named(name)} was not found in PATH (${which}): install it, fix the name, or give an absolute path` };
}

// The message fragment names the fix; "{path}" is filled in by the caller.
function programProblem(path: string): string | undefined {
  let stats;
  try {
    stats = statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'does not exist ({path}): fix the path, or give an absolute path';
    return `cannot be read ({path}: ${code}): check its permissions`;
  }
  if (!stats.isFile()) return `is not a regular file ({path}): name the program itself`;
  try {
    accessSync(path, constants.X_OK);
  } catch {
    return 'is not executable ({path}): chmod +x it, or run it through its interpreter, such as [node, script.js]';
  }
  return undefined;
}
