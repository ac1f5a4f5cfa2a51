// Reads and validates a config in a short-lived child process (`supervisor check --json`), for the
// daemon: the validation (zod and yaml) is about a third of a bare daemon's memory, and a daemon
// needs it only for the moment it reads its config, at start and at each reload. Loaded in the
// daemon it would stay for its whole life; in a child it is gone when the answer is in.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './errors.js';
import type { SupervisorConfig } from './types.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const USAGE = 100; // ExitCode.usage: an invalid config

/** What the check printed for an invalid config, as a ConfigError whose message is that text. */
export class ConfigRejected extends ConfigError {
  constructor(file: string, text: string) {
    super(file, [], { headline: text });
  }
}

export function readConfigApart(file: string): Promise<SupervisorConfig> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, 'check', '--json', '-c', file], { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      const said = stderr.replace(/^supervisor: /, '').trim();
      if (error === null) {
        try {
          resolve((JSON.parse(stdout) as { config: SupervisorConfig }).config);
        } catch (parseError) {
          reject(new Error(`cannot read config ${file}: the check's answer is not JSON (${(parseError as Error).message}); run supervisor check -c ${file} to see it`));
        }
      } else if (error.code === USAGE) {
        reject(new ConfigRejected(file, said));
      } else {
        const how = typeof error.code === 'number' ? `exited with code ${error.code}` : `failed (${error.code ?? error.signal ?? error.message})`;
        reject(new Error(`cannot read config ${file}: supervisor check ${how}${said ? `: ${said}` : ''}; run supervisor check -c ${file} to see why`, { cause: error }));
      }
    });
  });
}
