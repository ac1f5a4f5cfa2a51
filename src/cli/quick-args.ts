// The common command lines (`status`, `reload --no-wait -c FILE`, `stop --json`, `check -c FILE`)
// read without yargs, which alone costs about as much as the rest of such a call. Anything this
// parser is not sure of (help, a version, an unknown or repeated option, a missing value, a
// positional, `--`) returns null, and yargs reads the line as it always did, errors and all.
import { normalize } from 'node:path';
import { QUICK_COMMANDS, type OptionTable, type QuickCommand } from './options.js';

export type QuickArgs = Record<string, string | boolean | undefined>;

export function parseQuick(argv: readonly string[]): { command: QuickCommand; args: QuickArgs } | null {
  const [command, ...rest] = argv;
  if (command === undefined || !Object.hasOwn(QUICK_COMMANDS, command)) return null;
  const table: OptionTable = QUICK_COMMANDS[command as QuickCommand];
  const byName = new Map<string, string>();
  for (const [name, spec] of Object.entries(table)) {
    byName.set(`--${name}`, name);
    if (spec.alias !== undefined) byName.set(`-${spec.alias}`, name);
  }
  const args: QuickArgs = {};
  for (let index = 0; index < rest.length; index++) {
    const token = rest[index]!;
    const equals = token.startsWith('--') ? token.indexOf('=') : -1;
    const flag = equals > 0 ? token.slice(0, equals) : token;
    const negated = flag.startsWith('--no-') ? byName.get(`--${flag.slice(5)}`) : undefined;
    const name = byName.get(flag) ?? negated;
    if (name === undefined || name in args) return null;
    const spec = table[name]!;
    if (spec.type === 'boolean') {
      if (equals > 0) return null; // --json=false: yargs' reading
      args[name] = negated === undefined;
      continue;
    }
    if (negated !== undefined) return null;
    const value = equals > 0 ? token.slice(equals + 1) : rest[++index];
    if (value === undefined || value === '' || (equals < 0 && value.startsWith('-'))) return null;
    args[name] = spec.normalize ? normalize(value) : value;
  }
  for (const [name, spec] of Object.entries(table)) {
    if (args[name] === undefined && spec.default !== undefined) args[name] = spec.default;
    if (args[name] === undefined && spec.demandOption !== undefined) return null; // yargs says what is missing
  }
  return { command: command as QuickCommand, args };
}
