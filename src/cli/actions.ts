// What the commands that talk to the daemon, and check, do once their arguments are read: one
// implementation, whether yargs or the quick parser read them. Only light modules load here; the
// config's validation (zod, yaml) loads when a command reads a config, never for --socket alone.
import path from 'node:path';
import { request, NoDaemonError } from '../control/client.js';
import type { Command, DaemonStatus, EventFrame, ResultFrame } from '../control/protocol.js';
import { ExitCode } from '../control/exit-codes.js';
import { defaultClientSocket } from '../config/control.js';
import { formatDuration, parseDuration } from '../config/duration.js';
import { parsePercent } from '../config/percent.js';
import type { SupervisorConfig } from '../config/index.js';
import { HANDOVER_FD_ENV } from '../upgrade-env.js';

const HELD_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2'];

export interface TargetArgs {
  config?: string | undefined;
  socket?: string | undefined;
  json?: boolean | undefined;
}

export function fail(code: number, message: string): never {
  process.stderr.write(`supervisor: ${message}\n`);
  process.exit(code);
}

export async function loadOrExit(file: string, checkFilesystem = true): Promise<SupervisorConfig> {
  const { ConfigError, loadConfig } = await import('../config/index.js');
  try {
    return loadConfig(path.resolve(file), { checkFilesystem });
  } catch (error) {
    if (error instanceof ConfigError) fail(ExitCode.usage, error.message);
    fail(ExitCode.usage, `cannot load config ${file}: ${(error as Error).message}`);
  }
}

// The daemon's control socket: --socket, else the one the config names, else the default the
// config would get if it sat in the current directory as supervisor.yaml.
export async function controlPath(args: TargetArgs): Promise<string> {
  if (args.socket) return path.resolve(args.socket);
  if (args.config) return (await loadOrExit(args.config, false)).control;
  return defaultClientSocket();
}

export async function ask(args: TargetArgs, command: Command, onEvent?: (event: EventFrame) => void): Promise<ResultFrame> {
  const socket = await controlPath(args);
  try {
    return await request(socket, { command }, onEvent);
  } catch (error) {
    if (error instanceof NoDaemonError) fail(ExitCode.notRunning, error.message);
    fail(ExitCode.system, (error as Error).message);
  }
}

// A --timeout/--interval value: a duration such as 30s or 500ms, at least min.
export function durationOption(name: string, text: string, minMs: number): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (error) {
    fail(ExitCode.usage, `--${name}: ${(error as Error).message}`);
  }
  if (ms < minMs) fail(ExitCode.usage, `--${name} ${text} is too short: give at least ${formatDuration(minMs)}`);
  return ms;
}

export function finish(result: ResultFrame, json: boolean, text?: string): never {
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else if (result.ok) process.stdout.write(`${text ?? result.message}\n`);
  else process.stderr.write(`supervisor: ${result.message}\n`);
  process.exit(result.code);
}

// The daemon in the foreground until it stops; exits with its code.
export async function run(args: { config: string; subreaper: boolean; 'log-format'?: string | undefined }): Promise<never> {
  const { execWithDaemonFlags, DAEMON_NODE_FLAGS, DAEMON_NODE_FLAGS_ENV } = await import('./daemon-node-flags.js');
  const exec = execWithDaemonFlags(); // returns only when no exec was needed, or it failed
  // Exec'd by `supervisor upgrade`: the workers already run, so a SIGTERM or SIGHUP that arrives
  // while this program loads is held and handled once the daemon is up, not the default death.
  const held: NodeJS.Signals[] = [];
  const hold = (signal: NodeJS.Signals) => held.push(signal);
  const upgraded = process.env[HANDOVER_FD_ENV] !== undefined;
  if (upgraded) for (const signal of HELD_SIGNALS) process.on(signal, hold);
  const { createLogger, flushLogs, LOG_FORMATS } = await import('../log.js');
  const format = args['log-format'];
  if (format !== undefined && !(LOG_FORMATS as readonly string[]).includes(format)) {
    fail(ExitCode.usage, `--log-format ${format}: write one of ${LOG_FORMATS.join(', ')}`);
  }
  const { runDaemon, takeActivationFds, takeHandover } = await import('../daemon/index.js');
  const options = format === undefined ? {} : { format: format as (typeof LOG_FORMATS)[number] };
  const log = createLogger(1, options);
  if (exec !== null) {
    log.warn({ err: exec.failed }, `running with Node's default options: re-executing node with the daemon's own (${DAEMON_NODE_FLAGS.join(' ')}) failed: ${exec.failed.message}; the daemon works without them, it only uses more memory: pass them to node yourself, or set ${DAEMON_NODE_FLAGS_ENV}= to skip this step`);
  }
  let adopted;
  try {
    adopted = upgraded ? takeHandover() : null;
  } catch (error) {
    log.fatal({ err: error }, `upgrade: ${(error as Error).message}`);
    await flushLogs(1000);
    process.exit(ExitCode.system);
  }
  const file = adopted ? adopted.configFile : path.resolve(args.config);
  const activated = adopted ? adopted.activated : takeActivationFds();
  // After an upgrade, the config in force (its text, handed over), not the file as it is now.
  let config: SupervisorConfig;
  try {
    config = adopted ? (await import('../config/index.js')).parseConfig(adopted.configText, adopted.configFile) : await loadOrExit(file);
  } catch (error) {
    // The self-test parsed the same text a moment ago: only a change on disk since (the cwd
    // removed) gets here, and the workers cannot be kept without a config.
    log.fatal({ err: error }, `upgrade: the handed-over config no longer parses: ${(error as Error).message}`);
    await flushLogs(1000);
    process.exit(ExitCode.system);
  }
  for (const signal of HELD_SIGNALS) process.off(signal, hold);
  const code = await runDaemon({
    configFile: file,
    config,
    log,
    workerOutput: { stdout: log, stderr: createLogger(2, options) },
    activated,
    subreaper: args.subreaper,
    ...(adopted ? { adopted, heldSignals: held } : {}),
  });
  await flushLogs(1000); // lines a slow reader has not taken yet; a stalled one loses them
  process.exit(code);
}

export async function check(args: { config: string; json: boolean }): Promise<never> {
  const config = await loadOrExit(args.config);
  const { fdLimitWarning } = await import('../config/fd-budget.js');
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
}

export async function reload(args: TargetArgs & { wait: boolean; timeout?: string | undefined; canary?: string | undefined }): Promise<never> {
  const timeoutMs = args.timeout === undefined ? null : durationOption('timeout', args.timeout, 1);
  const canary = args.canary === undefined ? null : parsePercent(args.canary);
  if (canary === null && args.canary !== undefined) fail(ExitCode.usage, `--canary ${args.canary}: write a percentage above 0% and below 100%, such as 10%`);
  const { runReload } = await import('./reload-command.js');
  process.exit(await runReload({ socket: await controlPath(args), json: args.json ?? false, wait: args.wait, timeoutMs, canary }));
}

// supervisor promote / rollback: one request, its verdict as the exit code.
export async function decide(args: TargetArgs, command: 'promote' | 'rollback'): Promise<never> {
  finish(await ask(args, command), args.json ?? false);
}

export async function status(args: TargetArgs & { watch: boolean; interval: string }): Promise<never> {
  if (args.watch) {
    const intervalMs = durationOption('interval', args.interval, 100);
    const { watchStatus } = await import('./status-watch.js');
    process.exit(await watchStatus({ socket: await controlPath(args), json: args.json ?? false, intervalMs }));
  }
  const result = await ask(args, 'status');
  if (args.json) finish({ ...result, data: result.data }, true);
  if (!result.ok) finish(result, false);
  const { renderStatus } = await import('./render.js');
  process.stdout.write(`${renderStatus(result.data as DaemonStatus)}\n`);
  process.exit(ExitCode.ok);
}

export async function stop(args: TargetArgs): Promise<never> {
  finish(await ask(args, 'stop'), args.json ?? false);
}

export async function upgrade(args: TargetArgs & { node?: string | undefined; timeout: string }): Promise<never> {
  const timeoutMs = durationOption('timeout', args.timeout, 1000);
  const { runUpgrade } = await import('./upgrade-command.js');
  process.exit(await runUpgrade({ socket: await controlPath(args), json: args.json ?? false, node: args.node ?? null, timeoutMs }));
}
