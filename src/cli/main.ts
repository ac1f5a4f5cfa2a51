#!/usr/bin/env node
import path from 'node:path';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ConfigError, defaultClientSocket, loadConfig, formatDuration, parseDuration } from '../config/index.js';
import { fdLimitWarning } from '../config/fd-budget.js';
import { request, NoDaemonError } from '../control/client.js';
import type { DaemonStatus, EventFrame, ResultFrame, Command } from '../control/protocol.js';
import { createLogger } from '../log.js';
import { runDaemon, takeActivationFds } from '../daemon/index.js';
import { ExitCode } from '../control/exit-codes.js';
import { renderStatus } from './render.js';
import { runDoctor } from './doctor.js';
import { runReload } from './reload-command.js';
import { runEvents } from './events-command.js';
import { watchStatus } from './status-watch.js';
import { DEFAULT_CONFIG, DEFAULT_UNIT_DIR, runInstallUnit } from './install-unit.js';

interface TargetArgs {
  config?: string;
  socket?: string;
  json?: boolean;
}

const configOption = {
  alias: 'c',
  type: 'string',
  describe: 'config file (YAML or JSON); commands find the daemon through its control: path',
  normalize: true,
} as const;

function withTarget<T>(args: Argv<T>) {
  return args
    .option('config', configOption)
    .option('socket', { type: 'string', describe: 'control socket path (overrides the one in -c)', normalize: true })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON instead of text' });
}

function fail(code: number, message: string): never {
  process.stderr.write(`supervisor: ${message}\n`);
  process.exit(code);
}

function loadOrExit(file: string, checkFilesystem = true) {
  try {
    return loadConfig(path.resolve(file), { checkFilesystem });
  } catch (error) {
    if (error instanceof ConfigError) fail(ExitCode.usage, error.message);
    fail(ExitCode.usage, `cannot load config ${file}: ${(error as Error).message}`);
  }
}

// The daemon's control socket: --socket, else the one the config names, else the default the
// config would get if it sat in the current directory as supervisor.yaml.
function controlPath(args: TargetArgs): string {
  if (args.socket) return path.resolve(args.socket);
  if (args.config) return loadOrExit(args.config, false).control;
  return defaultClientSocket();
}

async function ask(args: TargetArgs, command: Command, onEvent?: (event: EventFrame) => void): Promise<ResultFrame> {
  const socket = controlPath(args);
  try {
    return await request(socket, { command }, onEvent);
  } catch (error) {
    if (error instanceof NoDaemonError) fail(ExitCode.notRunning, error.message);
    fail(ExitCode.system, (error as Error).message);
  }
}

// A --timeout/--interval value: a duration such as 30s or 500ms, at least min.
function durationOption(name: string, text: string, minMs: number): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (error) {
    fail(ExitCode.usage, `--${name}: ${(error as Error).message}`);
  }
  if (ms < minMs) fail(ExitCode.usage, `--${name} ${text} is too short: give at least ${formatDuration(minMs)}`);
  return ms;
}

function finish(result: ResultFrame, json: boolean, text?: string): never {
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else if (result.ok) process.stdout.write(`${text ?? result.message}\n`);
  else process.stderr.write(`supervisor: ${result.message}\n`);
  process.exit(result.code);
}

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('supervisor')
    .usage('$0 <command> [options]\n\nRuns N workers of an app on one SO_REUSEPORT port and rolls them to new versions without failing a request.')
    .command(
      'run',
      'run the supervisor in the foreground (logs JSON lines to stdout)',
      (y) =>
        y
          .option('config', { ...configOption, demandOption: 'pass the config file: supervisor run -c supervisor.yaml' })
          .option('subreaper', { type: 'boolean', default: false, describe: 'become a child subreaper (PR_SET_CHILD_SUBREAPER) and reap orphaned descendants, as PID 1 does' }),
      async (args) => {
        const file = path.resolve(args.config);
        const activated = takeActivationFds();
        const config = loadOrExit(file);
        const log = createLogger(1);
        const code = await runDaemon({
          configFile: file,
          config,
          log,
          workerOutput: { stdout: log, stderr: createLogger(2) },
          activated,
          subreaper: args.subreaper,
        });
        process.exit(code);
      },
    )
    .command(
      'check',
      'validate a config file without running anything (exit 0 valid, 100 invalid)',
      (y) =>
        y
          .option('config', { ...configOption, demandOption: 'pass the config file: supervisor check -c supervisor.yaml' })
          .option('json', { type: 'boolean', default: false, describe: 'print the resolved config as JSON' }),
      (args) => {
        const config = loadOrExit(args.config);
        const fdWarning = fdLimitWarning(config);
        const warnings = fdWarning === null ? [] : [`a reload may run out of file descriptors: ${fdWarning}`];
        if (args.json) {
          process.stdout.write(`${JSON.stringify({ ok: true, config, warnings })}\n`);
        } else {
          for (const warning of warnings) process.stderr.write(`supervisor: warning: ${warning}\n`);
          process.stdout.write(
            `config ${config.file} is valid: ${config.workers} worker(s) of ${config.command.join(' ')} on ` +
              `${config.listen.map((a) => a.text).join(', ')} (socket ${config.socket}, ready ${config.ready.kind} within ` +
              `${formatDuration(config.ready.timeoutMs)}, drain ${config.drain.signal} then SIGKILL after ${formatDuration(config.drain.timeoutMs)}); control ${config.control}\n`,
          );
        }
        process.exit(ExitCode.ok);
      },
    )
    .command(
      'reload',
      'start a new generation, promote it when every worker is ready, drain the old one; exit 0 promoted, 1 rolled back, refused or failed, 5 --timeout ran out',
      (y) =>
        withTarget(y)
          .option('wait', { type: 'boolean', default: true, describe: 'wait for the result; --no-wait exits 0 once the daemon has accepted the reload' })
          .option('timeout', { type: 'string', describe: 'stop waiting after this long (such as 2m) and exit 5; the reload goes on' }),
      async (args) => {
        const timeoutMs = args.timeout === undefined ? null : durationOption('timeout', args.timeout, 1);
        process.exit(await runReload({ socket: controlPath(args), json: args.json, wait: args.wait, timeoutMs }));
      },
    )
    .command(
      'status',
      'show generations and workers (exit 3 when no daemon answers)',
      (y) =>
        withTarget(y)
          .option('watch', { alias: 'w', type: 'boolean', default: false, describe: 'show it again every --interval until Ctrl-C (redrawn in place on a terminal)' })
          .option('interval', { type: 'string', default: '2s', describe: 'how often --watch asks, such as 1s or 500ms' }),
      async (args) => {
        if (args.watch) process.exit(await watchStatus({ socket: controlPath(args), json: args.json, intervalMs: durationOption('interval', args.interval, 100) }));
        const result = await ask(args, 'status');
        if (args.json) finish({ ...result, data: result.data }, true);
        if (!result.ok) finish(result, false);
        process.stdout.write(`${renderStatus(result.data as DaemonStatus)}\n`);
        process.exit(ExitCode.ok);
      },
    )
    .command(
      'events',
      'stream the daemon\'s lifecycle events (worker states, reloads, rollbacks, crash loops) until Ctrl-C',
      (y) => withTarget(y),
      async (args) => process.exit(await runEvents({ socket: controlPath(args), json: args.json })),
    )
    .command(
      'stop',
      'drain every worker and stop the daemon; returns when it has exited',
      (y) => withTarget(y),
      async (args) => finish(await ask(args, 'stop'), args.json),
    )
    .command(
      'doctor',
      'check what this kernel offers for lossless reloads (steering, tcp_migrate_req) and what a config would get',
      (y) =>
        y
          .option('config', { ...configOption, describe: 'config whose socket mode and lossless setting to judge' })
          .option('json', { type: 'boolean', default: false, describe: 'print the findings as JSON' }),
      (args) => process.exit(runDoctor(args.config ? loadOrExit(args.config, false) : null, args.json)),
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
      (args) =>
        process.exit(
          runInstallUnit(
            { dir: args.dir, config: args.config, socket: args.socket, notifyReload: args['notify-reload'], dryRun: args['dry-run'] },
            { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) },
          ),
        ),
    )
    .demandCommand(1, 'name a command: run, check, reload, status, events, stop or doctor (see --help)')
    .strict()
    .help()
    .alias('h', 'help')
    .version()
    .epilogue('Exit codes: 0 ok, 1 refused, rolled back or failed, 3 no daemon, 4 denied, 5 reload still running at --timeout, 100 usage or invalid config, 111 system error. Docs: docs/operations.md')
    .fail((message, error) => {
      if (error) throw error;
      fail(ExitCode.usage, `${message} (see supervisor --help)`);
    })
    .parseAsync();
}

main().catch((error: Error) => fail(ExitCode.system, `unexpected error: ${error.stack ?? error.message}`));
