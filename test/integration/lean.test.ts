// Each command loads only what it uses: the common ones none of the daemon's libraries, the
// daemon none it is not configured for. Real processes, with a module-resolution hook that records
// every URL they load.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { DAEMON_NODE_FLAGS, DAEMON_NODE_FLAGS_ENV } from '../../src/cli/daemon-node-flags.js';
import { LIVE_HELP_ENV } from '../../src/cli/help-text.js';
import { cliPath, Daemon, exampleApp, root } from '../helpers/harness.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rps-lean-'));
const hooks = path.join(dir, 'hooks.mjs');
const register = path.join(dir, 'register.mjs');
writeFileSync(hooks, `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (process.env.LOADED_LOG) appendFileSync(process.env.LOADED_LOG, process.pid + ' ' + result.url + '\\n');
  return result;
}
`);
writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);

const HEAVY = ['zod', 'yaml', 'pino', 'prom-client', 'chokidar', 'yargs'] as const;
type Heavy = (typeof HEAVY)[number];

// The CLI is bundled (scripts/bundle.mjs): a loaded chunk stands for the source modules in it,
// as the bundler's own map says. Anything else loaded stands for itself.
const bundled = JSON.parse(readFileSync(path.join(root, 'dist/cli/meta.json'), 'utf8')) as { chunks: Record<string, string[]> };
function sourcesOf(url: string): string[] {
  if (!url.startsWith('file:')) return [url];
  const file = path.relative(root, fileURLToPath(url));
  return bundled.chunks[file] ?? [file];
}

// The packages and whether any daemon module was loaded, by every process or by one pid.
function packagesIn(log: string, pid?: number): { packages: Set<string>; daemon: boolean } {
  const rows = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((row) => row.split(' ', 2) as [string, string]);
  const sources = rows.filter(([of]) => pid === undefined || Number(of) === pid).flatMap(([, url]) => sourcesOf(url));
  const packages = new Set(sources.flatMap((source) => [...(/(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(source)?.slice(1) ?? [])]));
  return { packages, daemon: sources.some((source) => source.includes('dist/src/daemon/')) };
}

async function loadedBy(args: string[], name: string): Promise<{ packages: Set<string>; daemon: boolean; exitCode: number | undefined }> {
  const log = path.join(dir, `${name}.log`);
  writeFileSync(log, '');
  const result = await execa(process.execPath, ['--import', register, cliPath, ...args], { reject: false, env: { LOADED_LOG: log } });
  return { ...packagesIn(log), exitCode: result.exitCode };
}

after(() => rmSync(dir, { recursive: true, force: true }));

test('status, reload, stop, check and --help load only what they use, and nothing of the daemon', async () => {
  const config = path.join(dir, 'supervisor.yaml');
  writeFileSync(config, `listen: 127.0.0.1:1\ncontrol: ${dir}/s.sock\ncommand: [node, ${exampleApp}]\n`);
  const nobody = path.join(dir, 'nobody.sock');
  const cases: { args: string[]; exit: number; uses: Heavy[] }[] = [
    { args: ['status', '--socket', nobody], exit: 3, uses: [] },
    { args: ['reload', '--socket', nobody], exit: 3, uses: [] },
    { args: ['stop', '--json', '--socket', nobody], exit: 3, uses: [] },
    { args: ['check', '-c', config], exit: 0, uses: ['zod', 'yaml'] },
    { args: ['--help'], exit: 0, uses: [] }, // rendered by yargs at build time (dist/cli/help.json)
    { args: ['reload', '--help'], exit: 0, uses: [] },
    { args: ['status', '--bogus'], exit: 100, uses: ['yargs'] }, // an error to explain: yargs says it
  ];
  for (const [index, item] of cases.entries()) {
    const loaded = await loadedBy(item.args, `cli-${index}`);
    const what = item.args.join(' ');
    assert.equal(loaded.exitCode, item.exit, what);
    assert.equal(loaded.daemon, false, `${what} loads the daemon`);
    for (const name of HEAVY) assert.equal(loaded.packages.has(name), item.uses.includes(name), `${what} ${item.uses.includes(name) ? 'does not load' : 'loads'} ${name}`);
  }
});

test('the daemon loads no yargs, and metrics and watch only when configured', async () => {
  const log = path.join(dir, 'daemon.log');
  writeFileSync(log, '');
  const daemon = await Daemon.start({ config: { workers: 1, command: ['node', exampleApp] }, launcher: [], env: { LOADED_LOG: log, NODE_OPTIONS: `--import ${register}` } });
  let daemonCmdline: string[] = [];
  try {
    daemonCmdline = readFileSync(`/proc/${daemon.pid}/cmdline`, 'utf8').split('\0');
    daemon.writeConfig({ workers: 1, command: ['node', exampleApp], env: { V: '2' } });
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
  } finally {
    await daemon.stop();
  }
  // The daemon exec'd itself once, in place, with its own Node options.
  const cmdline = daemonCmdline;
  for (const flag of DAEMON_NODE_FLAGS) assert.ok(cmdline.includes(flag), `the daemon runs without ${flag}: ${cmdline.join(' ')}`);
  // NODE_OPTIONS reaches the children too (the workers): only the daemon's own pid counts.
  const { packages } = packagesIn(log, daemon.pid);
  assert.ok(packages.has('pino'), 'the hook saw the daemon');
  for (const name of ['prom-client', 'chokidar', 'yargs'] as const) assert.equal(packages.has(name), false, `the daemon loads ${name}`);
});

test('the prerendered --help of every command is the text yargs renders', async () => {
  const texts = JSON.parse(readFileSync(path.join(root, 'dist/cli/help.json'), 'utf8')) as Record<string, string>;
  assert.ok(['', 'run', 'check', 'reload', 'status', 'stop'].every((key) => key in texts), `help.json lacks a command: ${Object.keys(texts).join(', ')}`);
  for (const key of Object.keys(texts)) {
    const args = key === '' ? ['--help'] : [key, '--help'];
    const fast = await execa(process.execPath, [cliPath, ...args], { reject: false });
    const live = await execa(process.execPath, [cliPath, ...args], { reject: false, env: { [LIVE_HELP_ENV]: '1' } });
    assert.equal(live.exitCode, 0, `supervisor ${args.join(' ')} (yargs): ${live.stderr}`);
    assert.equal(fast.exitCode, 0, `supervisor ${args.join(' ')}: ${fast.stderr}`);
    assert.equal(fast.stdout, live.stdout, `supervisor ${args.join(' ')}: the prerendered help differs from yargs'; run npm run build`);
  }
});

test('the daemon runs with the Node options its environment asks for, and none added when that is empty', async () => {
  for (const [asked, expected] of [['', []], ['--max-semi-space-size=2', ['--max-semi-space-size=2']]] as const) {
    const daemon = await Daemon.start({ config: { workers: 1, command: ['node', exampleApp] }, env: { [DAEMON_NODE_FLAGS_ENV]: asked } });
    try {
      const cmdline = readFileSync(`/proc/${daemon.pid}/cmdline`, 'utf8').split('\0');
      const options = cmdline.slice(1, cmdline.indexOf(cliPath));
      for (const flag of expected) assert.ok(options.includes(flag), `${DAEMON_NODE_FLAGS_ENV}=${asked}: ${cmdline.join(' ')}`);
      for (const flag of DAEMON_NODE_FLAGS) if (!(expected as readonly string[]).includes(flag)) assert.ok(!options.includes(flag), `${DAEMON_NODE_FLAGS_ENV}=${asked} added ${flag}: ${cmdline.join(' ')}`);
      const status = await daemon.cli('status', '--json');
      assert.equal(status.exitCode, 0, status.stderr);
    } finally {
      await daemon.stop();
    }
  }
});
