// A real systemd as PID 1, booted in namespaces of its own (pid, mount, uts, ipc, net, cgroup) on a
// tmpfs root: the host's /usr read-only, /etc and /var as overlays on tmpfs, a private /dev, /proc
// and /sys read-only (its own /proc/sys/net), a cgroup2 hierarchy rooted in a cgroup of the test's
// own, and the paths a test needs (the package, its node_modules) bound read-only at the same path.
// Nothing is mounted in the host's mount namespace and nothing is written under the host's /etc,
// /run or /proc/sys; what stays on the host (one cgroup directory, one empty directory under /tmp)
// is removed by shutdown().
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { shimPath } from '../../src/native/index.js';
import { sleep } from './harness.js';

export const MIN_SYSTEMD = 252;
const SYSTEMD = '/lib/systemd/systemd';
// glibc's SIGRTMIN is 34: SIGRTMIN+4 asks systemd to power off, which in a container means exit.
const SIGRTMIN_PLUS_4 = 38;

// Runs as PID 1 of the new pid namespace, in the new mount namespace (util-linux unshare makes its
// propagation private, and the script says so again before the first mount). `mount -n`: libmount
// would otherwise record the mounts in /run/mount, which at that moment is the host's /run.
const INNER = String.raw`
R="$1"; CG="$2"; shift 2
echo 0 > "$CG/cgroup.procs"
exec unshare --cgroup sh -euc '
R="$1"; shift
mount --make-rprivate /
mount -n -t tmpfs -o mode=755 rps-root "$R"
cd "$R"
mkdir -p usr etc var dev proc sys run tmp .ov
ln -s usr/bin bin; ln -s usr/sbin sbin; ln -s usr/lib lib
if [ -e /usr/lib64 ]; then ln -s usr/lib64 lib64; fi
mount -n --bind /usr usr; mount -n -o remount,bind,ro usr
mount -n -t tmpfs -o mode=700 rps-overlays .ov
mkdir .ov/etc .ov/etc.work .ov/var .ov/var.work
mount -n -t overlay -o lowerdir=/etc,upperdir=.ov/etc,workdir=.ov/etc.work rps-etc etc
mount -n -t overlay -o lowerdir=/var,upperdir=.ov/var,workdir=.ov/var.work rps-var var
# Units the host enabled would start inside: an empty unit directory, and no console to get on.
mount -n -t tmpfs -o mode=755 rps-units etc/systemd/system
ln -s /dev/null etc/systemd/system/console-getty.service
rm -f etc/machine-id; tr -d - < /proc/sys/kernel/random/uuid > etc/machine-id
mount -n -t tmpfs -o mode=755 rps-dev dev
mknod -m 666 dev/null c 1 3; mknod -m 666 dev/zero c 1 5; mknod -m 666 dev/full c 1 7
mknod -m 666 dev/random c 1 8; mknod -m 666 dev/urandom c 1 9; mknod -m 666 dev/tty c 5 0
mkdir dev/pts dev/shm
mount -n -t devpts -o newinstance,ptmxmode=0666,mode=620 rps-devpts dev/pts; ln -s pts/ptmx dev/ptmx
mount -n -t tmpfs -o mode=1777 rps-shm dev/shm
touch dev/console; mount -n --bind dev/null dev/console
mount -n -t proc proc proc
mount -n --bind proc/sys proc/sys; mount -n --bind proc/sys/net proc/sys/net; mount -n -o remount,bind,ro proc/sys
mount -n -t sysfs -o ro sysfs sys
mount -n -t cgroup2 cgroup2 sys/fs/cgroup
mount -n -t tmpfs -o mode=755 rps-run run
mount -n -t tmpfs -o mode=1777 rps-tmp tmp
for p in "$@"; do mkdir -p ".$p"; mount -n --bind "$p" ".$p"; mount -n -o remount,bind,ro ".$p"; done
mkdir .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot; rmdir /.oldroot
exec setpriv --bounding-set=-sys_module,-sys_rawio,-sys_time,-sys_boot,-sys_pacct,-mac_admin,-mac_override,-syslog,-wake_alarm,-block_suspend,-audit_control \
  env -i container=reuseport-supervisor-test PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin ${SYSTEMD} --unit=multi-user.target
' sh "$R" "$@"
`;

function which(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** The cgroup v2 directory this process is in, on the host (null: no cgroup2 hierarchy mounted). */
export function ownCgroup2(): string | null {
  const mount = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .find((fields) => fields[fields.indexOf('-') + 1] === 'cgroup2');
  if (!mount) return null;
  const entry = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((line) => line.startsWith('0::'));
  if (!entry) return null;
  return path.join(mount[4]!, entry.slice(3));
}

/** Why a systemd cannot be booted here (the test's skip reason), or null. */
export function pid1Problem(binds: string[]): string | null {
  if (process.getuid?.() !== 0) return 'needs root: namespaces, mounts and a cgroup of its own';
  for (const tool of ['unshare', 'nsenter', 'setpriv', 'pivot_root', 'mount']) {
    if (!which(tool)) return `${tool} is not installed (util-linux)`;
  }
  if (!existsSync(shimPath)) return `${shimPath} is not built (npm install builds it)`;
  const version = Number(/^systemd (\d+)/.exec(spawnSync(SYSTEMD, ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? 0);
  if (version === 0) return `no systemd at ${SYSTEMD}: apt-get install systemd`;
  if (version < MIN_SYSTEMD) return `systemd ${version} is older than ${MIN_SYSTEMD}`;
  let init = '';
  try {
    init = readFileSync('/proc/1/comm', 'utf8').trim();
  } catch {
    // no /proc/1: not a host systemd either
  }
  if (init === 'systemd') return 'the host runs systemd as PID 1: a second one would live in its cgroup tree; run this test in a container or VM without systemd';
  for (const bind of binds) {
    if (!existsSync(bind)) return `${bind} does not exist`;
    // The units run with PrivateTmp=yes: a supervisor installed under /tmp is invisible to its service.
    if (/^\/(var\/)?tmp\//.test(bind)) return `${bind} is under ${bind.startsWith('/var/') ? '/var/tmp' : '/tmp'}, which the units hide (PrivateTmp=yes): run this test from a checkout elsewhere`;
  }
  if (!process.execPath.startsWith('/usr/')) return `node (${process.execPath}) is not under /usr, the only part of the host's system the container gets`;
  const cgroup = ownCgroup2();
  if (cgroup === null) return 'no cgroup v2 hierarchy is mounted: systemd needs one delegated to it';
  const probe = path.join(cgroup, `rps-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
  } catch (error) {
    return `cannot create a cgroup under ${cgroup} (${(error as NodeJS.ErrnoException).code}): no cgroup v2 delegation possible`;
  }
  const ns = spawnSync('unshare', ['--pid', '--mount', '--uts', '--ipc', '--net', '--cgroup', '--fork', 'true'], { encoding: 'utf8' });
  if (ns.status !== 0) return `unshare cannot create namespaces here: ${ns.stderr.trim() || `exit ${ns.status}`}`;
  return null;
}

export interface ExecResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

export class SystemdPid1 {
  readonly cgroup: string; // on the host
  readonly rootDir: string; // the mount point of the container's root, an empty directory on the host
  readonly launcher: ChildProcess;
  readonly output: string[] = [];
  pid = 0; // systemd, as the host sees it
  bootMs = 0;
  readonly #exited: Promise<void>;

  private constructor(cgroup: string, rootDir: string, binds: string[]) {
    this.cgroup = cgroup;
    this.rootDir = rootDir;
    // Through the exec shim: its parent-death signal ends unshare with the test process, and
    // --kill-child takes the namespace's PID 1 (and with it every process inside) along.
    this.launcher = spawn(
      shimPath,
      ['unshare', '--pid', '--mount', '--uts', '--ipc', '--net', '--fork', '--kill-child=SIGKILL', 'sh', '-euc', INNER, 'rps-pid1', rootDir, cgroup, ...binds],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    for (const stream of [this.launcher.stdout!, this.launcher.stderr!]) stream.setEncoding('utf8').on('data', (chunk: string) => this.output.push(chunk));
    this.#exited = new Promise((resolve) => this.launcher.once('exit', () => resolve()));
  }

  /** Boots systemd and waits until `systemctl is-system-running` says running. */
  static async boot(binds: string[], timeoutMs = 60_000): Promise<SystemdPid1> {
    const parent = ownCgroup2();
    if (parent === null) throw new Error('no cgroup v2 hierarchy');
    removeStale(parent);
    removeStale(os.tmpdir());
    const cgroup = path.join(parent, `rps-pid1-${process.pid}-${Date.now().toString(36)}`);
    mkdirSync(cgroup);
    let rootDir: string;
    try {
      rootDir = mkdtempSync(path.join(os.tmpdir(), `rps-pid1-${process.pid}-`));
    } catch (error) {
      rmdirSync(cgroup);
      throw error;
    }
    const box = new SystemdPid1(cgroup, rootDir, binds);
    const started = Date.now();
    try {
      box.pid = await box.#waitFor('systemd to be PID 1 of the namespace', () => box.#systemdPid(), timeoutMs);
      // systemctl fails to connect until systemd has made its private socket, and says "offline"
      // when it reaches none yet (seen once in CI, 2 s into a boot that passed on the next try).
      const running = await box.#waitFor('systemd to answer systemctl', async () => {
        const answer = await box.exec(['systemctl', 'is-system-running', '--wait'], timeoutMs);
        return /Failed to connect to bus/.test(answer.stderr) || answer.stdout.trim() === 'offline' ? false : answer;
      }, timeoutMs);
      if (running.stdout.trim() !== 'running') {
        const failed = await box.exec(['systemctl', '--failed', '--no-pager']);
        throw new Error(`systemd booted ${running.stdout.trim() || `badly (${running.stderr.trim()})`}:\n${failed.stdout}`);
      }
    } catch (error) {
      await box.shutdown();
      throw new Error(`booting systemd failed: ${(error as Error).message}\n${box.output.join('')}`, { cause: error });
    }
    box.bootMs = Date.now() - started;
    return box;
  }

  /** Runs a command in every namespace of the container, with its root and working directory. */
  async exec(args: string[], timeoutMs = 60_000): Promise<ExecResult> {
    const run = await execa('nsenter', ['-t', String(this.pid), '-a', ...args], { reject: false, timeout: timeoutMs, env: { SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' } });
    return { exitCode: run.exitCode, stdout: String(run.stdout), stderr: String(run.stderr) };
  }

  /** Starts a command in the container's network namespace only (the host's files, the container's 127.0.0.1). */
  spawnInNetwork(args: string[]): ChildProcess {
    return spawn(shimPath, ['nsenter', '-t', String(this.pid), '-n', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /**
   * Powers systemd off (SIGRTMIN+4), SIGKILL when it takes longer than 15 s, then removes the
   * cgroups it made and the root's mount point. Throws, after doing all it can, when something
   * of the container is left on the host.
   */
  async shutdown(): Promise<void> {
    const problems: string[] = [];
    const gone = () => this.launcher.exitCode !== null || this.launcher.signalCode !== null;
    if (!gone()) {
      if (this.pid > 0) signal(this.pid, SIGRTMIN_PLUS_4);
      await within(this.#exited, 15_000);
      if (!gone()) {
        if (this.pid > 0) signal(this.pid, 'SIGKILL');
        signal(this.launcher.pid!, 'SIGKILL');
        await within(this.#exited, 5_000);
        if (!gone()) problems.push(`unshare (pid ${this.launcher.pid}) did not exit after SIGKILL`);
      }
    }
    try {
      await this.#waitFor(`cgroup ${this.cgroup} to empty`, () => !existsSync(this.cgroup) || readFileSync(path.join(this.cgroup, 'cgroup.events'), 'utf8').includes('populated 0'), 10_000);
      removeCgroupTree(this.cgroup);
    } catch (error) {
      problems.push(`cgroup ${this.cgroup}: ${(error as Error).message}`);
    }
    try {
      rmdirSync(this.rootDir);
    } catch (error) {
      problems.push(`${this.rootDir}: ${(error as Error).message}`);
    }
    if (problems.length > 0) throw new Error(`the container left things on the host: ${problems.join('; ')}`);
  }

  // The namespace's PID 1 once it has exec'd systemd: the one child of unshare.
  #systemdPid(): number | false {
    if (this.launcher.exitCode !== null || this.launcher.signalCode !== null) throw new Error(`unshare exited (${this.launcher.exitCode ?? this.launcher.signalCode})`);
    let children: string;
    try {
      children = readFileSync(`/proc/${this.launcher.pid}/task/${this.launcher.pid}/children`, 'utf8').trim();
    } catch {
      return false;
    }
    const pid = Number(children.split(' ')[0]);
    if (!pid) return false;
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd' ? pid : false;
    } catch {
      return false;
    }
  }

  async #waitFor<T>(what: string, probe: () => T | false | Promise<T | false>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== false) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(50);
    }
  }
}

// Waits for `promise` at most `ms`, leaving no timer behind.
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function signal(pid: number, sig: NodeJS.Signals | number): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

// A cgroup directory can go only once its children have: depth first.
function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(path.join(dir, entry.name));
  }
  rmdirSync(dir);
}

// What a run that was SIGKILLed itself (a runner's timeout) could not remove: its empty cgroup
// directory and root mount point, named after its pid. Everything else of it died with it.
function removeStale(parent: string): void {
  for (const name of readdirSync(parent)) {
    const owner = /^rps-pid1-(\d+)-/.exec(name)?.[1];
    if (owner === undefined || Number(owner) === process.pid || existsSync(`/proc/${owner}`)) continue;
    const dir = path.join(parent, name);
    try {
      if (existsSync(path.join(dir, 'cgroup.events')) && !readFileSync(path.join(dir, 'cgroup.events'), 'utf8').includes('populated 0')) continue;
      if (existsSync(path.join(dir, 'cgroup.events'))) removeCgroupTree(dir);
      else rmdirSync(dir); // only when empty
    } catch {
      // not ours to force: left as it is
    }
  }
}
