// Each command loads only what it uses: the common ones none of the daemon's libraries, the
// daemon none it is not configured for. Real processes, with a module-resolution hook that records
// every URL they load.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { cliPath, Daemon, exampleApp } from '../helpers/harness.js';

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

// The packages and whether any daemon module was loaded, by every process or by one pid.
function packagesIn(log: string, pid?: number): { packages: Set<string>; daemon: boolean } {
  const rows = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((row) => row.split(' ', 2) as [string, string]);
  const urls = rows.filter(([of]) => pid === undefined || Number(of) === pid).map(([, url]) => url);
  const packages = new Set(urls.flatMap((url) => [.../\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.slice(1) ?? []]));
  return { packages, daemon: urls.some((url) => url.includes('/dist/src/daemon/')) };
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
    { args: ['--help'], exit: 0, uses: ['yargs'] },
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
  try {
    daemon.writeConfig({ workers: 1, command: ['node', exampleApp], env: { V: '2' } });
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
  } finally {
    await daemon.stop();
  }
  // NODE_OPTIONS reaches the children too (the workers): only the daemon's own pid counts.
  const { packages } = packagesIn(log, daemon.pid);
  assert.ok(packages.has('pino'), 'the hook saw the daemon');
  for (const name of ['prom-client', 'chokidar', 'yargs'] as const) assert.equal(packages.has(name), false, `the daemon loads ${name}`);
});
