import type { Logger } from '../log.js';
import type { SupervisorConfig } from '../config/index.js';
import { fdLimitWarning } from '../config/fd-budget.js';
import { Supervisor } from './supervisor.js';
import { ControlServer } from '../control/server.js';
import { ExitCode, type ExitCodeValue } from '../control/exit-codes.js';
import type { ReleaseWatcher } from './ops/watch.js';
import { SystemdNotifier } from './ops/systemd.js';
import { answerRequest } from './ops/control-commands.js';
import { Sidecars } from './ops/sidecars.js';
import { restartVerdict, startFailureCode } from './ops/start-failure.js';

export interface DaemonOptions {
  activated?: number[]; // listeners from systemd socket activation
  configFile: string;
  config: SupervisorConfig;
  log: Logger;
  workerOutput: { stdout: Logger; stderr: Logger };
  subreaper?: boolean; // PR_SET_CHILD_SUBREAPER: reap orphaned descendants as PID 1 would
}

// Runs the supervisor in the foreground until it is stopped; resolves with the exit code.
export async function runDaemon({ configFile, config, log, workerOutput, activated = [], subreaper = false }: DaemonOptions): Promise<number> {
  let supervisor: Supervisor | null = null;
  const systemd = new SystemdNotifier({ log }); // sd_notify; a no-op unless NOTIFY_SOCKET is set
  const control = new ControlServer(config.control, log, (request, send, hungUp) =>
    answerRequest({ supervisor, stop: () => stop('supervisor stop') }, request, send, hungUp),
  );
  const sidecars = new Sidecars(); // metrics/health endpoint, orphan reaper
  let exitCode: ExitCodeValue = ExitCode.ok;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));

  const stop = async (why: string) => {
    if (supervisor === null) return;
    stopping = true;
    log.info({ trigger: why }, 'stop requested');
    await watcher?.close();
    watcher = null;
    await supervisor.stop();
  };

  // A release watcher per watch: setting; a reload that changes the setting replaces it. The
  // watcher's module (chokidar) loads only once a config asks for it.
  let watcher: ReleaseWatcher | null = null;
  let watching: SupervisorConfig['watch'] = null; // the settings asked for last
  let stopping = false;
  const startWatching = (settings: SupervisorConfig['watch']) => {
    if (JSON.stringify(watching) === JSON.stringify(settings)) return;
    watching = settings;
    void watcher?.close().catch((error: Error) => log.warn({ err: error }, `closing the release watcher failed: ${error.message}`));
    watcher = null;
    if (settings === null || supervisor === null || stopping) return;
    const current = supervisor;
    import('./ops/watch.js').then(({ ReleaseWatcher }) => {
      if (watching !== settings || stopping) return; // replaced, or stopping, while it loaded
      watcher = new ReleaseWatcher(settings, (target) => {
        const run = current.reload(`watch ${settings.path} -> ${target}`);
        void run.result; // logged by the supervisor
      });
      log.info({ watch: settings.path, debounceMs: settings.debounceMs }, 'watching for new releases');
    }, (error: Error) => log.error({ err: error }, `cannot load the release watcher: ${error.message}; reloads still work by SIGHUP or supervisor reload`));
  };

  const onHangup = () => {
    if (supervisor === null) return;
    const run = supervisor.reload('SIGHUP');
    void run.result; // logged by the supervisor
  };
  const onTerminate = (signal: NodeJS.Signals) => {
    void stop(signal)
      .catch((error: Error) => log.error({ err: error }, `stopping failed: ${error.message}; exiting anyway`))
      .then(finished);
  };
  // The last line of defence: a promise nobody handled is a bug, but ending the daemon for it would
  // end every worker with it (their parent-death signal). Log it and keep serving.
  const onUnhandled = (reason: unknown) => {
    log.error({ err: reason }, `unhandled promise rejection, the supervisor keeps running (a bug: please report it): ${reason instanceof Error ? reason.message : String(reason)}`);
  };
  process.on('SIGHUP', onHangup);
  process.on('SIGTERM', onTerminate);
  process.on('SIGINT', onTerminate);
  process.on('unhandledRejection', onUnhandled);

  try {
    await control.listen();
  } catch (error) {
    const code = startFailureCode(error);
    log.fatal({ err: error, control: config.control, exitCode: code }, `cannot open the control socket: ${(error as Error).message}; ${restartVerdict(code)}`);
    systemd.failed(`control socket ${config.control}: ${(error as Error).message}`);
    detach();
    return code;
  }
  try {
    if (subreaper) Sidecars.becomeSubreaper(log);
    supervisor = new Supervisor(configFile, config, log, workerOutput, { activated });
    systemd.attach(supervisor);
    supervisor.once('stopped', () => finished());
    supervisor.start();
    startWatching(supervisor.config.watch);
    supervisor.on('reloaded', () => startWatching(supervisor!.config.watch));
    await sidecars.start(supervisor, config, log);
    log.info({ supervisorPid: process.pid, control: config.control, listen: config.listen.map((a) => a.text), socket: config.socket, workers: config.workers }, 'supervisor running');
    // The limit under systemd is the unit's, not the shell's that ran supervisor check: say it here too.
    const fdWarning = fdLimitWarning(config);
    if (fdWarning !== null) log.warn(`a reload may run out of file descriptors: ${fdWarning}`);
  } catch (error) {
    exitCode = startFailureCode(error);
    log.fatal({ err: error, exitCode }, `cannot start: ${(error as Error).message}; ${restartVerdict(exitCode)}`);
    if (supervisor) await supervisor.stop();
    systemd.failed((error as Error).message);
    finished();
  }

  await done;
  await sidecars.close();
  await control.close();
  systemd.close();
  detach();
  log.info({ exitCode }, 'supervisor exited');
  return exitCode;

  function detach() {
    process.off('SIGHUP', onHangup);
    process.off('SIGTERM', onTerminate);
    process.off('SIGINT', onTerminate);
    process.off('unhandledRejection', onUnhandled);
  }
}
