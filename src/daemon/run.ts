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
import type { Frame, Request } from '../control/protocol.js';
import { flushLogs } from '../log.js';
import { supervisorVersion } from '../package.js';
import { UpgradeRefused } from './supervisor.js';
import { HANDOVER_FORMAT, handedOverFds, type Handover, type ProgramIdentity } from './upgrade/state.js';
import { setCloseOnExec } from '../native/index.js';
import { execUpgrade, selfTest, upgradeTarget } from './upgrade/exec.js';
import { checkHandedOverFds, isOwnChild } from './upgrade/adopt.js';
import { AdoptedChild } from './process/adopted-child.js';

export interface DaemonOptions {
  activated?: number[]; // listeners from systemd socket activation
  configFile: string;
  config: SupervisorConfig;
  log: Logger;
  workerOutput: { stdout: Logger; stderr: Logger };
  subreaper?: boolean; // PR_SET_CHILD_SUBREAPER: reap orphaned descendants as PID 1 would
  adopted?: Handover; // exec'd by `supervisor upgrade`: take over what the previous program held
  heldSignals?: NodeJS.Signals[]; // signals that arrived before the handlers below were installed
}

// Runs the supervisor in the foreground until it is stopped; resolves with the exit code.
export async function runDaemon({ configFile, config, log, workerOutput, activated = [], subreaper = false, adopted, heldSignals = [] }: DaemonOptions): Promise<number> {
  let supervisor: Supervisor | null = null;
  // sd_notify; a no-op unless NOTIFY_SOCKET is set. After an upgrade the unit is already up.
  const systemd = new SystemdNotifier({ log, alreadyReady: adopted !== undefined });
  const control = new ControlServer(config.control, log, (request, send, hungUp) =>
    answerRequest({ supervisor, stop: () => stop('supervisor stop'), upgrade: (asked, sendFrame) => upgrade('supervisor upgrade', asked, sendFrame) }, request, send, hungUp),
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

  // `supervisor upgrade` / SIGUSR2: self-test the program on disk, hand everything over, exec it.
  // Resolves only when it did not happen (refused, or failed with this program still serving):
  // on success this process is the new program and nothing here runs again.
  let upgrading = false;
  const upgrade = async (trigger: string, request: Pick<Request, 'node'>, send: (frame: Frame) => void = () => {}): Promise<void> => {
    const refuse = (code: ExitCodeValue, message: string) => {
      log.warn({ trigger }, `upgrade not done: ${message}`);
      send({ type: 'result', ok: false, code, message });
    };
    if (supervisor === null || upgrading) return refuse(ExitCode.failed, upgrading ? 'an upgrade is already in progress' : 'the supervisor is still starting: try again');
    upgrading = true;
    const current = supervisor;
    const from: ProgramIdentity = { version: supervisorVersion(), node: process.version };
    const requestedAt = Date.now();
    try {
      const target = upgradeTarget(request.node);
      const handover = (): Handover => {
        const fd = control.fd;
        if (fd === null) throw new UpgradeRefused('the control socket is not listening');
        const metricsFd = sidecars.metricsFd;
        return { format: HANDOVER_FORMAT, from, requestedAt, daemon: current.history, activated, control: { path: control.path, fd }, metrics: metricsFd === null ? null : { fd: metricsFd }, ...current.handover() };
      };
      const env = { ...definedOnly(process.env), ...systemd.environment() };
      const proposed = JSON.stringify(handover()); // refused here when now is not the moment
      log.info({ trigger, node: target.node, script: target.script }, 'upgrade: checking the new program');
      send({ type: 'event', event: 'upgrading', time: new Date().toISOString(), phase: 'checking', node: target.node, script: target.script, upgrades: current.history.upgrades });
      const to = await selfTest(target, proposed, env);
      const change = `${from.version} (node ${from.node}) -> ${to.version} (node ${to.node})`;
      log.info({ trigger, from, to }, `upgrade: exec ${change}`);
      send({ type: 'event', event: 'upgrading', time: new Date().toISOString(), phase: 'exec', from, to, pid: process.pid });
      await flushLogs(1000);
      // From here to the exec nothing yields to the event loop: the state is what holds at the exec
      // (taken again: a worker may have exited, or a reload begun, during the self-test).
      const state = handover();
      systemd.upgrading(change);
      const failure = execUpgrade(target, state, env);
      systemd.resumed(current);
      return refuse(ExitCode.system, `exec ${target.node} failed: ${failure.message}; the running supervisor goes on unchanged`);
    } catch (error) {
      if (error instanceof UpgradeRefused) return refuse(ExitCode.failed, `refused: ${error.message}`);
      return refuse(ExitCode.failed, (error as Error).message);
    } finally {
      upgrading = false;
    }
  };
  const onUpgradeSignal = () => void upgrade('SIGUSR2', {});

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
  process.on('SIGUSR2', onUpgradeSignal);
  process.on('unhandledRejection', onUnhandled);

  try {
    if (adopted) await control.adopt(adopted.control.fd);
    else await control.listen();
  } catch (error) {
    const code = startFailureCode(error);
    log.fatal({ err: error, control: config.control, exitCode: code }, `cannot open the control socket: ${(error as Error).message}; ${restartVerdict(code)}`);
    systemd.failed(`control socket ${config.control}: ${(error as Error).message}`);
    detach();
    return code;
  }
  try {
    if (subreaper) Sidecars.becomeSubreaper(log);
    supervisor = new Supervisor(configFile, config, log, workerOutput, { activated, ...(adopted ? { adopted } : {}) });
    systemd.attach(supervisor);
    supervisor.once('stopped', () => finished());
    if (adopted) await takeOver(supervisor, adopted);
    else supervisor.start();
    startWatching(supervisor.config.watch);
    supervisor.on('reloaded', () => startWatching(supervisor!.config.watch));
    // Taken over: counted and said before the metrics listener's module loads, so `status` shows
    // the upgrade as soon as it answers (the listener's queue holds health checks meanwhile).
    if (adopted) {
      const to: ProgramIdentity = { version: supervisorVersion(), node: process.version };
      const record = { from: adopted.from, to, at: Date.now(), durationMs: Date.now() - adopted.requestedAt };
      supervisor.upgraded(record);
      const change = `${record.from.version} (node ${record.from.node}) -> ${to.version} (node ${to.node})`;
      log.info({ from: record.from, to, durationMs: record.durationMs, workers: supervisor.status().generations.flatMap((gen) => gen.workers.map((worker) => worker.pid)) }, `upgraded: ${change}`);
      systemd.upgraded(supervisor, change);
    }
    await sidecars.start(supervisor, config, log, adopted?.metrics?.fd ?? null);
    for (const signal of heldSignals) process.emit(signal, signal);
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
    process.off('SIGUSR2', onUpgradeSignal);
    process.off('unhandledRejection', onUnhandled);
  }

  // The exec'd program takes over the previous one's sockets and workers, after checking them.
  async function takeOver(target: Supervisor, state: Handover): Promise<void> {
    // For the tests alone: a pause before the take-over, in which a test ends a worker that no
    // program watches (the old one is gone, this one has not adopted it yet).
    const holdMs = Number(process.env.SUPERVISOR_TEST_ADOPT_DELAY_MS ?? 0);
    if (holdMs > 0) {
      log.warn({ holdMs }, `upgrade: holding ${holdMs} ms before taking over (SUPERVISOR_TEST_ADOPT_DELAY_MS, for tests)`);
      await new Promise((resolve) => setTimeout(resolve, holdMs));
    }
    const problems = checkHandedOverFds(state);
    if (problems.length > 0) throw new Error(`the handed-over sockets are not what they should be: ${problems.join('; ')}`);
    // Close-on-exec again, every one: a listener left inheritable would leak into each worker
    // started from now on and keep a retired socket in the port's group, queueing connections
    // that nobody accepts.
    for (const fd of handedOverFds(state)) setCloseOnExec(fd, true);
    target.adopt(state, (slot) => (isOwnChild(slot.pid) ? new AdoptedChild(slot.pid, slot.stdout, slot.stderr) : null));
  }
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}
