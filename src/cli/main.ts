#!/usr/bin/env node
// The CLI's way in. A common command line (status, reload, stop, check, run) is read by the quick
// parser and runs with only the modules it uses; anything else (--help, run, doctor, an error to
// explain) goes to yargs in commands.ts. Neither path loads the daemon unless it runs it.
import { ExitCode } from '../control/exit-codes.js';
import { printPrerenderedHelp } from './help-text.js';
import { parseQuick } from './quick-args.js';

async function cli(): Promise<void> {
  if (process.argv[2] === 'upgrade-self-test') {
    const { upgradeSelfTest } = await import('./self-test.js');
    return upgradeSelfTest();
  }
  // Beside the bundled CLI (dist/cli/help.json); the help of a tsc-only build comes from yargs.
  if (printPrerenderedHelp(process.argv.slice(2), new URL('./help.json', import.meta.url))) return;
  const quick = parseQuick(process.argv.slice(2));
  if (quick === null) {
    const { main } = await import('./commands.js');
    return main();
  }
  const actions = await import('./actions.js');
  // The quick parser filled every default and required option, as yargs would have.
  const args = quick.args as never;
  switch (quick.command) {
    case 'run':
      return actions.run(args);
    case 'check':
      return actions.check(args);
    case 'reload':
      return actions.reload(args);
    case 'status':
      return actions.status(args);
    case 'stop':
      return actions.stop(args);
  }
}

cli().catch((error: Error) => {
  process.stderr.write(`supervisor: unexpected error: ${error.stack ?? error.message}\n`);
  process.exit(ExitCode.system);
});
