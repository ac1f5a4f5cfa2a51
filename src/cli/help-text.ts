// `supervisor --help` and `supervisor COMMAND --help` without loading yargs: the build renders
// each with yargs itself (scripts/bundle.mjs writes help.json beside the bundled CLI) and this
// prints it. yargs wraps help at 80 columns on a pipe and on any terminal at least that wide, so
// the text is the same; a narrower terminal, a missing file or anything else goes to yargs.
import { readFileSync } from 'node:fs';

/** Set (to anything) to make yargs render help live, as the build does to write the file. */
export const LIVE_HELP_ENV = 'SUPERVISOR_HELP_LIVE';
const HELP_FLAGS = new Set(['--help', '-h']);

/** The key of the prerendered help for this command line ('' for the top level), or null. */
export function helpKey(argv: readonly string[]): string | null {
  if (argv.length === 1 && HELP_FLAGS.has(argv[0]!)) return '';
  if (argv.length === 2 && HELP_FLAGS.has(argv[1]!) && /^[a-z][a-z-]*$/.test(argv[0]!)) return argv[0]!;
  return null;
}

/** Prints the prerendered help for this command line and returns true, or returns false. */
export function printPrerenderedHelp(argv: readonly string[], file: URL): boolean {
  const key = helpKey(argv);
  if (key === null || process.env[LIVE_HELP_ENV] !== undefined) return false;
  if (process.stdout.isTTY && (process.stdout.columns ?? 0) < 80) return false;
  let texts: Record<string, string>;
  try {
    texts = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  } catch {
    return false; // not built (running from tsc's output): yargs renders it
  }
  const text = texts[key];
  if (typeof text !== 'string') return false;
  process.stdout.write(text);
  return true;
}
