// The whole CLI as yargs reads it: every command, --help, --version, and the errors for a command
// line it cannot take. main.ts comes here for anything the quick parser left; each command loads
// what it runs only once chosen, so --help loads yargs and nothing of the daemon.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ExitCode } from '../control/exit-codes.js';
import { check, decide, fail, loadOrExit, controlPath, reload, run, status, stop, upgrade } from './actions.js';
import { checkOptions, configOption, runOptions, DEFAULT_CONFIG, DEFAULT_UNIT_DIR, reloadOptions, statusOptions, stopOptions, targetOptions, upgradeOptions } from './options.js';

export async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('supervisor')
    .usage('$0 <command> [options]\n\nRuns N workers of an app on one SO_REUSEPORT port and rolls them to new versions without failing a request.')
    .command(
      'run',
      'run the supervisor in the foreground (logs to stdout: readable lines on a terminal, JSON lines otherwise)',
      (y) => y.options(runOptions),
      (args) => run(args),
    )
    .command('check', 'validate a config file without running anything (exit 0 valid, 100 invalid)', (y) => y.options(checkOptions), (args) => check(args))
    .command(
      'reload',
      'start a new generation, promote it when every worker is ready, drain the old one; exit 0 promoted, 1 rolled back, refused or failed, 5 --timeout ran out',
      (y) => y.options(reloadOptions),
      (args) => reload(args),
    )
    .command('status', 'show generations and workers (exit 3 when no daemon answers)', (y) => y.options(statusOptions), (args) => status(args))
    .command(
      'events',
      'stream the daemon\'s lifecycle events (worker states, reloads, rollbacks, crash loops) until Ctrl-C',
      (y) => y.options(targetOptions),
      async (args) => {
        const { runEvents } = await import('./events-command.js');
        process.exit(await runEvents({ socket: await controlPath(args), json: args.json }));
      },
    )
    .command(
      'promote',
      'let a holding canary (reload --canary, canary:) go on to every new connection, then bake or drain the old generation as configured; returns with the reload\'s result. Exit 1: no canary holds',
      (y) => y.options(targetOptions),
      (args) => decide(args, 'promote'),
    )
    .command(
      'rollback',
      'bring the previous generation back: at once during a bake window (bake:), or by stopping a reload that is still starting, holding a canary or shifting; returns when the rolled-back generation has drained. Exit 1: nothing to roll back to',
      (y) => y.options(targetOptions),
      (args) => decide(args, 'rollback'),
    )
    .command(
      'logs',
      'show the workers\' recent output kept by the daemon (the last 2000 lines or 1 MiB); -f: then follow it until Ctrl-C',
      (y) =>
        y
          .options(targetOptions)
          .option('worker', { alias: 'w', type: 'number', describe: 'only this worker slot (1..workers)' })
          .option('generation', { alias: 'g', type: 'number', describe: 'only this generation' })
          .option('lines', { alias: 'n', type: 'number', default: 100, describe: 'how many recent lines to show first (0: none)' })
          .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'then print new lines as they come, until Ctrl-C' }),
      async (args) => {
        const { runLogs } = await import('./logs-command.js');
        const query = { worker: args.worker, generation: args.generation, lines: args.lines, follow: args.follow };
        process.exit(await runLogs({ socket: await controlPath(args), json: args.json, ...query }));
      },
    )
    .command(
      'upgrade',
      'replace the daemon\'s own program (a new package version, a new Node) in place, same pid, without touching its workers; refused during a reload, canary or bake. Exit 0 upgraded; 1 refused, the new program failed its self-test, or it did not answer within --timeout; 111 the exec failed (refused or failed, the old daemon serves on); 3 no daemon',
      (y) => y.options(upgradeOptions),
      (args) => upgrade(args),
    )
    .command('stop', 'drain every worker and stop the daemon; returns when it has exited', (y) => y.options(stopOptions), (args) => stop(args))
    .command(
      'doctor',
      'check what this kernel offers for lossless reloads (steering, tcp_migrate_req) and what a config would get',
      (y) =>
        y
          .option('config', { ...configOption, describe: 'config whose socket mode and lossless setting to judge' })
          .option('json', { type: 'boolean', default: false, describe: 'print the findings as JSON' }),
      async (args) => {
        const { runDoctor } = await import('./doctor.js');
        process.exit(runDoctor(args.config ? await loadOrExit(args.config, false) : null, args.json));
      },
    )
    .command(
      'install-unit',
      'write the systemd units (Type=notify service, per-app template, optional .socket) with this machine\'s paths; never runs systemctl',
      (y) =>
        y
          .option('dir', { type: 'string', default: DEFAULT_UNIT_DIR, describe: 'directory to write the units to', normalize: true })
          .option('config', { ...configOption, default: DEFAULT_CONFIG, describe: 'config file the single unit runs (the template uses /etc/reuseport-supervisor/APP.yaml)' })
          .option('socket', { type: 'boolean', default: false, describe: 'also write reuseport-supervisor.socket (socket activation), listening on the config\'s listen:' })
          .option('notify-reload', { type: 'boolean', default: false, describe: 'also write the Type=notify-reload drop-ins (systemd >= 253)' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'print the units instead of writing them' }),
      async (args) => {
        const { runInstallUnit } = await import('./install-unit.js');
        process.exit(
          runInstallUnit(
            { dir: args.dir, config: args.config, socket: args.socket, notifyReload: args['notify-reload'], dryRun: args['dry-run'] },
            { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) },
          ),
        );
      },
    )
    .demandCommand(1, 'name a command: run, check, reload, status, events, logs, promote, rollback, upgrade, stop or doctor (see --help)')
    .strict()
    .help()
    .alias('h', 'help')
    .version()
    .epilogue('Exit codes: 0 ok, 1 refused, rolled back or failed, 3 no daemon, 4 denied, 5 reload still running at --timeout, 100 usage or invalid config, 101 a valid config this host or unit cannot run (not retried by the units), 111 system error that may pass. Docs: docs/operations.md')
    .fail((message, error) => {
      if (error) throw error;
      fail(ExitCode.usage, `${message} (see supervisor --help)`);
    })
    .parseAsync();
}
