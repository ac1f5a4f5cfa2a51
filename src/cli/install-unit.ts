// `supervisor install-unit`: writes the systemd units shipped in systemd/ with this machine's
// paths (node, the supervisor's CLI, the config) substituted. It never runs systemctl: it prints
// the commands to run next, so nothing changes on the host behind the operator's back.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, type SupervisorConfig } from '../config/index.js';
import { ExitCode } from '../control/exit-codes.js';
import { DEFAULT_CONFIG, DEFAULT_UNIT_DIR } from './options.js';

export { DEFAULT_CONFIG, DEFAULT_UNIT_DIR };
export const MAIN_UNIT = 'reuseport-supervisor.service';
export const TEMPLATE_UNIT = 'reuseport-supervisor@.service';
export const SOCKET_UNIT = 'reuseport-supervisor.socket';
export const NOTIFY_RELOAD_DROPIN = 'notify-reload.conf';
/** The first systemd release with Type=notify-reload. */
export const NOTIFY_RELOAD_SINCE = 253;

// What the shipped files say, replaced on install.
const SHIPPED_COMMAND = '/usr/bin/supervisor';
const SHIPPED_DOCS = 'file:/usr/lib/node_modules/reuseport-supervisor/docs/operations.md';
const SHIPPED_LISTEN = 'ListenStream=127.0.0.1:8000';
const SHIPPED_BACKLOG = 'Backlog=511';
// PATH that systemd gives services (merged /usr or not); workers look `command[0]` up in it.
const RUNTIME_DIRECTORY = '/run/reuseport-supervisor'; // RuntimeDirectory= of the single unit
const SYSTEMD_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export interface UnitPaths {
  node: string; // absolute path of the node binary
  cli: string; // absolute path of dist/cli/main.js (the bundled CLI)
  packageRoot: string; // holds systemd/, docs/, examples/
}

export interface RenderOptions {
  config: string; // absolute path of the config the single unit runs
  socket: boolean; // also the .socket unit
  notifyReload: boolean; // also the Type=notify-reload drop-ins
  listen?: string[]; // ListenStream= addresses (from the config), else the shipped example
  backlog?: number;
}

export interface UnitFile {
  path: string; // relative to the unit directory
  text: string;
}

/** Escapes a value for a unit file: specifiers (%) and variables ($), quoted when needed. */
export function unitWord(value: string): string {
  const escaped = value.replaceAll('%', '%%').replaceAll('$', '$$$$');
  if (!/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

function shellWord(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

function substitute(text: string, from: string, to: string, file: string): string {
  if (!text.includes(from)) throw new Error(`${file}: expected '${from}' in the shipped unit; is the package complete?`);
  return text.replaceAll(from, to);
}

// The shipped service with real paths: ExecStart=/ExecReload= run node on the CLI (no dependency
// on PATH or the shebang), the config path, the docs link, and PATH for the workers when node
// lives outside systemd's default PATH (nvm, /opt).
function renderService(text: string, file: string, paths: UnitPaths, config: string | null): string {
  const command = `${unitWord(paths.node)} ${unitWord(paths.cli)}`;
  let out = substitute(text, `ExecStart=${SHIPPED_COMMAND} `, `ExecStart=${command} `, file);
  out = substitute(out, `ExecReload=${SHIPPED_COMMAND} `, `ExecReload=${command} `, file);
  if (config !== null) out = substitute(out, DEFAULT_CONFIG, unitWord(config), file);
  out = substitute(out, SHIPPED_DOCS, `file:${encodeURI(path.join(paths.packageRoot, 'docs', 'operations.md')).replaceAll('%', '%%')}`, file);
  const nodeDir = path.dirname(paths.node);
  if (!SYSTEMD_PATH.includes(nodeDir)) {
    const line = `Environment=${unitWord(`PATH=${[nodeDir, ...SYSTEMD_PATH].join(':')}`)}`;
    out = out.replace(/^ExecStart=/m, `# node is not in systemd's default PATH; workers find it here.\n${line}\nExecStart=`);
  }
  return out;
}

function renderSocket(text: string, options: RenderOptions, paths: UnitPaths): string {
  let out = substitute(text, SHIPPED_DOCS, `file:${encodeURI(path.join(paths.packageRoot, 'docs', 'operations.md')).replaceAll('%', '%%')}`, SOCKET_UNIT);
  if (options.listen && options.listen.length > 0) {
    out = substitute(out, SHIPPED_LISTEN, options.listen.map((address) => `ListenStream=${address}`).join('\n'), SOCKET_UNIT);
  }
  if (options.backlog !== undefined) out = substitute(out, SHIPPED_BACKLOG, `Backlog=${options.backlog}`, SOCKET_UNIT);
  return out;
}

/** The unit files to write, relative to the unit directory. */
export function renderUnits(options: RenderOptions, paths: UnitPaths): UnitFile[] {
  const shipped = (name: string) => readFileSync(path.join(paths.packageRoot, 'systemd', name), 'utf8');
  const files: UnitFile[] = [
    { path: MAIN_UNIT, text: renderService(shipped(MAIN_UNIT), MAIN_UNIT, paths, options.config) },
    { path: TEMPLATE_UNIT, text: renderService(shipped(TEMPLATE_UNIT), TEMPLATE_UNIT, paths, null) },
  ];
  if (options.socket) files.push({ path: SOCKET_UNIT, text: renderSocket(shipped(SOCKET_UNIT), options, paths) });
  if (options.notifyReload) {
    const dropIn = shipped(NOTIFY_RELOAD_DROPIN);
    files.push({ path: `${MAIN_UNIT}.d/${NOTIFY_RELOAD_DROPIN}`, text: dropIn });
    files.push({ path: `${TEMPLATE_UNIT}.d/${NOTIFY_RELOAD_DROPIN}`, text: dropIn });
  }
  return files;
}

/** This installation's paths: the node running now, and the CLI and package this module is in. */
export function currentPaths(): UnitPaths {
  const here = path.dirname(fileURLToPath(import.meta.url));
  let packageRoot = here;
  while (!existsSync(path.join(packageRoot, 'systemd', MAIN_UNIT))) {
    const parent = path.dirname(packageRoot);
    if (parent === packageRoot) throw new Error(`cannot find systemd/${MAIN_UNIT} above ${here}: is the package complete?`);
    packageRoot = parent;
  }
  return { node: realpathSync(process.execPath), cli: realpathSync(path.join(here, 'main.js')), packageRoot: realpathSync(packageRoot) };
}

/** The systemd version on this machine (from systemd-analyze), or null when unknown. */
export function systemdVersion(): number | null {
  const run = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  const match = /^systemd (\d+)/m.exec(run.stdout ?? '');
  return match ? Number(match[1]) : null;
}

export interface InstallUnitArgs {
  dir: string;
  dryRun: boolean;
  config: string;
  socket: boolean;
  notifyReload: boolean;
}

export interface InstallUnitIo {
  out: (text: string) => void;
  err: (text: string) => void;
  paths?: UnitPaths;
  systemdVersion?: () => number | null;
}

// The config as the unit's supervisor will see it: root, with RuntimeDirectory= set.
function readConfig(file: string): SupervisorConfig | null {
  if (!existsSync(file)) return null;
  return loadConfig(file, { checkFilesystem: false, uid: 0, env: { ...process.env, RUNTIME_DIRECTORY } });
}

/** Runs the command; returns the exit code. */
export function runInstallUnit(args: InstallUnitArgs, io: InstallUnitIo): number {
  const dir = path.resolve(args.dir);
  const configFile = path.resolve(args.config);
  const notes: string[] = [];

  if (args.notifyReload) {
    const version = (io.systemdVersion ?? systemdVersion)();
    if (version !== null && version < NOTIFY_RELOAD_SINCE) {
      io.err(
        `supervisor: --notify-reload needs systemd >= ${NOTIFY_RELOAD_SINCE} (Type=notify-reload); this machine has ${version} ` +
          `(Debian 12 ships 252): leave the option out, the shipped Type=notify unit reloads through ExecReload=\n`,
      );
      return ExitCode.usage;
    }
    if (version === null) notes.push(`could not tell the systemd version: the notify-reload drop-in needs systemd >= ${NOTIFY_RELOAD_SINCE}`);
  }

  let config: SupervisorConfig | null;
  try {
    config = readConfig(configFile);
  } catch (error) {
    const message = error instanceof ConfigError ? error.message : `cannot load config ${configFile}: ${(error as Error).message}`;
    io.err(`supervisor: ${message}\n`);
    return ExitCode.usage;
  }
  if (config === null) {
    notes.push(`${configFile} does not exist yet: create it before starting the unit (examples/supervisor.yaml is a start; leave control: unset)`);
    if (args.socket) notes.push(`${SOCKET_UNIT} listens on the example 127.0.0.1:8000: make ListenStream= equal listen: in the config`);
  } else if (path.dirname(config.control) !== RUNTIME_DIRECTORY) {
    notes.push(
      `the config's control socket is ${config.control}: under the unit (ProtectSystem=strict) only /run/reuseport-supervisor ` +
        `is writable; leave control: unset so it goes there and 'supervisor reload' finds it`,
    );
  }

  let files: UnitFile[];
  let paths: UnitPaths;
  try {
    paths = io.paths ?? currentPaths();
    files = renderUnits(
      {
        config: configFile,
        socket: args.socket,
        notifyReload: args.notifyReload,
        ...(config ? { listen: config.listen.map((address) => address.text), backlog: config.backlog } : {}),
      },
      paths,
    );
  } catch (error) {
    io.err(`supervisor: ${(error as Error).message}\n`);
    return ExitCode.system;
  }

  if (args.dryRun) {
    for (const file of files) io.out(`# ${path.join(dir, file.path)}\n${file.text}\n`);
  } else {
    try {
      for (const file of files) {
        const target = path.join(dir, file.path);
        mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
        const before = existsSync(target) ? readFileSync(target, 'utf8') : null;
        writeFileSync(target, file.text, { mode: 0o644 });
        io.out(`${before === null ? 'wrote' : before === file.text ? 'unchanged' : 'updated'} ${target}\n`);
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const fix = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? ': run as root, or pass --dir DIR' : '';
      io.err(`supervisor: cannot write the units to ${dir}: ${(error as Error).message}${fix}\n`);
      return ExitCode.system;
    }
  }

  const next = [
    ...(dir === DEFAULT_UNIT_DIR ? [] : [`# systemd does not read ${dir}: copy the files to ${DEFAULT_UNIT_DIR} (or link them with systemctl link)`]),
    'systemctl daemon-reload',
    `${shellWord(paths.node)} ${shellWord(paths.cli)} check -c ${shellWord(configFile)}`,
    ...(args.socket ? [`systemctl enable --now ${SOCKET_UNIT}`] : []),
    `systemctl enable --now ${MAIN_UNIT}     # or one per app: reuseport-supervisor@APP.service with /etc/reuseport-supervisor/APP.yaml`,
    `systemctl reload ${MAIN_UNIT}           # a new generation; fails when it rolled back`,
    `journalctl -u ${MAIN_UNIT} -f -o cat`,
    `systemd-analyze security ${MAIN_UNIT}`,
  ];
  const print = args.dryRun ? io.err : io.out;
  for (const note of notes) print(`note: ${note}\n`);
  print(`next (install-unit never runs systemctl itself):\n${next.map((line) => `  ${line}`).join('\n')}\n`);
  return ExitCode.ok;
}
