// A fleet rollout on one machine: three hosts, each a network namespace with only `lo` and one
// supervisor on 127.0.0.1:8000 (metrics 127.0.0.1:9100); HAProxy in a fourth namespace reaches
// them through its per-server `namespace`; Ansible runs rollout.yml over them one host at a time
// while a load client with no retries sends requests through HAProxy. It rolls a good release,
// then one that cannot start on web2, prints what happened, and tears everything down.
//
//   sudo npm run fleet-demo                 (or: node examples/fleet/demo.mjs [--quick] [--json])
//
// --quick      fewer client loops and one timed reload each way (what the integration test runs)
// --json       also print the report as one JSON line, last
// --lb-keep-alive   render haproxy.cfg without `option http-server-close` (to compare reload times)
// --light      a light load (2 loops, 100 ms apart): HAProxy's pooled connections then sit idle
// --reloads=N  how many timed reloads of web1 each way (default 3, --quick 1)
// Needs root, iproute2 (`ip netns`), haproxy and ansible-core:
//   apt-get install -y --no-install-recommends haproxy ansible-core
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const cli = path.join(repo, 'dist/cli/main.js');
const appServer = path.join(repo, 'examples/app/server.js');
const HOSTS = ['web1', 'web2', 'web3'];
const BROKEN_ON = 'web2';
const LB_URL = 'http://127.0.0.1:8080/';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const light = args.has('--light');
const loops = quick || light ? 2 : 8;
const pauseMs = light ? 100 : 5;
const reloadsArg = process.argv.find((arg) => arg.startsWith('--reloads='));
const timedReloads = reloadsArg ? Number(reloadsArg.slice('--reloads='.length)) : quick ? 1 : 3;
const serverClose = !args.has('--lb-keep-alive');

const prefix = `rsfleet${process.pid}-`;
const work = mkdtempSync(path.join(os.tmpdir(), 'fleet-demo-'));
const namespaces = [];
const children = new Set();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line) => process.stderr.write(`fleet-demo: ${new Date().toISOString().slice(11, 19)} ${line}\n`);

// ---- processes ---------------------------------------------------------------------------------

/** Runs a command to its end (at most timeoutMs, then SIGKILL): {code, stdout, stderr, ms}. */
function run(command, argv, { timeoutMs = 120_000, env } = {}) {
  const began = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => { clearTimeout(timer); children.delete(child); reject(new Error(`cannot run ${command}: ${error.message}`)); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: code ?? (signal ? `killed by ${signal}` : null), stdout, stderr, ms: Date.now() - began });
    });
  });
}

async function mustRun(command, argv, options) {
  const result = await run(command, argv, options);
  if (result.code !== 0) {
    throw new Error(`${command} ${argv.join(' ')} exited ${result.code}: ${(result.stderr || result.stdout).trim().slice(-2000)}`);
  }
  return result;
}

/** A long-running process inside a namespace, its output in logFile. `ip netns exec` execs it: same pid. */
function startIn(ns, argv, logFile, { env = {}, stdoutIsData = false } = {}) {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  if (logFile) {
    const out = createWriteStream(logFile);
    child.stderr.pipe(out);
    if (!stdoutIsData) child.stdout.pipe(out);
  }
  return child;
}

// ---- namespaces and hosts ----------------------------------------------------------------------

async function addNamespace(name) {
  await mustRun('ip', ['netns', 'add', name]);
  namespaces.push(name);
  await mustRun('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
}

/** A release directory and its tarball: the example app, or one that cannot start on BROKEN_ON. */
async function makeRelease(name, broken) {
  const dir = path.join(work, 'build', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'VERSION'), `${name}\n`);
  const start = broken
    ? `if (process.env.FLEET_HOST === ${JSON.stringify(BROKEN_ON)}) {\n` +
      `  console.error('release ${name}: cannot start on ' + process.env.FLEET_HOST + ': its host settings are missing (broken on purpose by the fleet demo)');\n` +
      `  process.exit(1);\n}\n`
    : '';
  writeFileSync(path.join(dir, 'server.js'), `// Release ${name} of the example app.\n${start}await import(${JSON.stringify(appServer)});\n`);
  const artifact = path.join(work, 'build', `${name}.tar.gz`);
  await mustRun('tar', ['-czf', artifact, '-C', dir, '.']);
  return { name, dir, artifact };
}

const hostDir = (host) => path.join(work, host);
const hostConfig = (host) => path.join(hostDir(host), 'supervisor.yaml');
const supervisorCli = (host, argv, options) => run('ip', ['netns', 'exec', prefix + host, process.execPath, cli, ...argv, '-c', hostConfig(host)], options);

async function startHost(host, first) {
  await addNamespace(prefix + host);
  const releases = path.join(hostDir(host), 'app', 'releases');
  mkdirSync(releases, { recursive: true });
  cpSync(first.dir, path.join(releases, first.name), { recursive: true });
  symlinkSync(path.join(releases, first.name), path.join(hostDir(host), 'app', 'current'));
  cpSync(path.join(here, 'supervisor.yaml'), hostConfig(host));
  return startIn(prefix + host, [process.execPath, cli, 'run', '-c', hostConfig(host)], path.join(hostDir(host), 'supervisor.log'), { env: { FLEET_HOST: host } });
}

async function status(host) {
  // Generous: on a busy machine the CLI's own start takes seconds.
  const result = await supervisorCli(host, ['status', '--json'], { timeoutMs: 60_000 });
  try {
    return JSON.parse(result.stdout).data;
  } catch {
    return null;
  }
}

async function mustStatus(host) {
  const data = await status(host);
  if (!data) throw new Error(`supervisor status on ${host} gave no answer: see ${hostDir(host)}/supervisor.log`);
  return data;
}

async function waitFor(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(250);
  }
  throw new Error(`${what} did not happen within ${timeoutMs / 1000} s: see the logs under ${work} (kept)`);
}

// ---- load client -------------------------------------------------------------------------------

function startClient(ns, url, logFile) {
  const child = startIn(ns, [process.execPath, path.join(here, 'load-client.mjs'), url, String(loops), String(pauseMs)], logFile, { stdoutIsData: true });
  const pending = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => pending.shift()?.(JSON.parse(line)));
  const ask = (command) => new Promise((resolve, reject) => {
    pending.push(resolve);
    child.stdin.write(`${command}\n`);
    setTimeout(() => reject(new Error(`the load client did not answer '${command}' within 30 s`)), 30_000).unref();
  });
  return { child, mark: (label) => ask(`mark ${label}`), stop: () => ask('stop') };
}

const failedBetween = (from, to) => to.failed - from.failed;
const okBetween = (from, to) => to.ok - from.ok;

// ---- steps ---------------------------------------------------------------------------------------

function ansible(playbook, extraVars) {
  const argv = ['-i', path.join(here, 'inventory'), path.join(here, playbook)];
  for (const [key, value] of Object.entries({ fleet_dir: work, netns_prefix: prefix, ...extraVars })) argv.push('-e', `${key}=${value}`);
  return run('ansible-playbook', argv, {
    timeoutMs: 300_000,
    env: {
      ANSIBLE_LOCAL_TEMP: path.join(work, 'ansible-tmp'),
      ANSIBLE_REMOTE_TEMP: path.join(work, 'ansible-tmp'),
      ANSIBLE_RETRY_FILES_ENABLED: 'false',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_DEPRECATION_WARNINGS: 'false',
    },
  });
}

/** Each host after a rollout that began at `since`: the reload's verdict and time, or untouched. */
async function hostStates(since) {
  const states = {};
  for (const host of HOSTS) {
    const data = await mustStatus(host);
    const last = data?.lastReload;
    const serving = data?.generations?.find((g) => g.state === 'serving');
    const touched = last && Date.parse(last.startedAt) >= since;
    states[host] = {
      verdict: touched ? last.outcome : 'untouched',
      reloadMs: touched ? last.durationMs : null,
      serves: serving?.release?.revision ?? null,
      reason: touched ? last.reason : null,
    };
  }
  return states;
}

/** `count` reloads of one host, one after another: each one's duration as the supervisor measured it. */
async function timedReloads_(host, count) {
  const durations = [];
  for (let i = 0; i < count; i += 1) {
    await sleep(1500); // the clients' connections settle on the current generation
    const result = await supervisorCli(host, ['reload', '--json'], { timeoutMs: 60_000 });
    if (result.code !== 0) throw new Error(`reload of ${host} exited ${result.code}: ${result.stdout.trim().split('\n').pop()}`);
    durations.push((await mustStatus(host)).lastReload.durationMs);
  }
  return durations;
}

async function main() {
  for (const [command, argv] of [['ip', ['netns', 'list']], ['haproxy', ['-v']], ['ansible-playbook', ['--version']]]) {
    const result = await run(command, argv).catch((error) => ({ code: error.message }));
    if (result.code !== 0) throw new Error(`${command} is missing or fails (${result.code}): apt-get install -y --no-install-recommends haproxy ansible-core iproute2`);
  }
  if (process.getuid() !== 0) throw new Error('network namespaces need root: run it as root (sudo npm run fleet-demo)');
  log(`work directory ${work}, namespaces ${prefix}{${HOSTS.join(',')},lb}`);

  const release1 = await makeRelease('1', false);
  const release2 = await makeRelease('2', false);
  const release3 = await makeRelease('3', true);
  const supervisors = [];
  for (const host of HOSTS) supervisors.push(await startHost(host, release1));
  await waitFor('three supervisors running', async () => {
    for (const host of HOSTS) if ((await status(host))?.state !== 'running') return false;
    return true;
  }, 60_000);
  log('three hosts serve release 1');

  // The same reload without a load balancer: the client talks to web1's port directly.
  const direct = startClient(prefix + 'web1', 'http://127.0.0.1:8000/', path.join(work, 'client-direct.log'));
  const directStart = await direct.mark('start');
  const directMs = await timedReloads_('web1', timedReloads);
  const directEnd = await direct.stop();
  log(`web1 reloads without HAProxy: ${directMs.join(', ')} ms`);

  await addNamespace(prefix + 'lb');
  const haproxyCfg = path.join(work, 'haproxy.cfg');
  const rendered = await ansible('haproxy.yml', { haproxy_cfg: haproxyCfg, haproxy_server_close: serverClose });
  if (rendered.code !== 0) throw new Error(`haproxy.yml failed (exit ${rendered.code}): ${rendered.stdout.trim().slice(-2000)}`);
  await mustRun('haproxy', ['-c', '-q', '-f', haproxyCfg]);
  startIn(prefix + 'lb', ['haproxy', '-db', '-f', haproxyCfg], path.join(work, 'haproxy.log'));
  // The load client counts every request it sends, so it starts only once HAProxy answers 200 on its
  // port: before that a request is refused (not listening yet) or answered 503 (no host checked up
  // yet), and would count as failed on a busy machine where HAProxy starts slowly.
  const answers = `require('http').get(${JSON.stringify(LB_URL)}, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).setTimeout(2000, () => process.exit(1))`;
  await waitFor('HAProxy answering 200 on its port', async () => (await run('ip', ['netns', 'exec', prefix + 'lb', process.execPath, '-e', answers], { timeoutMs: 5000 })).code === 0, 30_000);
  const lb = startClient(prefix + 'lb', LB_URL, path.join(work, 'client-lb.log'));
  let probed = null;
  await waitFor('HAProxy answering for all three hosts', async () => {
    probed = await lb.mark('probe');
    return probed.ok > 60 && probed.failed === 0;
  }, 30_000).catch((error) => {
    throw new Error(`${error.message}; the load client's counts through HAProxy so far: ${JSON.stringify(probed)}`);
  });
  const before = await lb.mark('before');
  if (before.failed > 0) throw new Error(`requests failed through HAProxy before any rollout: ${JSON.stringify(before.failures)}: see ${work}/haproxy.log`);

  let since = Date.now();
  const good = await ansible('rollout.yml', { release: '2', artifact: release2.artifact });
  const afterGood = await lb.mark('good');
  const goodHosts = await hostStates(since);

  since = Date.now();
  const broken = await ansible('rollout.yml', { release: '3', artifact: release3.artifact });
  const afterBroken = await lb.mark('broken');
  const brokenHosts = await hostStates(since);

  const lbMs = await timedReloads_('web1', timedReloads);
  const afterTimed = await lb.mark('timed');
  const end = await lb.stop();
  log(`web1 reloads behind HAProxy: ${lbMs.join(', ')} ms`);

  return {
    prefix,
    haproxyServerClose: serverClose,
    good: { exitCode: good.code, ms: good.ms, ok: okBetween(before, afterGood), failed: failedBetween(before, afterGood), failures: afterGood.failures, hosts: goodHosts },
    broken: { exitCode: broken.code, ms: broken.ms, ok: okBetween(afterGood, afterBroken), failed: failedBetween(afterGood, afterBroken), hosts: brokenHosts },
    reloadMs: {
      direct: directMs, directOk: okBetween(directStart, directEnd), directFailed: failedBetween(directStart, directEnd),
      behindHaproxy: lbMs, behindOk: okBetween(afterBroken, afterTimed), behindFailed: failedBetween(afterBroken, afterTimed),
    },
    total: { ok: end.ok, failed: end.failed, failures: end.failures, versions: end.versions },
    ansibleTail: broken.stdout.trim().split('\n').slice(-12).join('\n'),
    supervisors: supervisors.map((child) => child.pid),
  };
}

// ---- report and teardown -------------------------------------------------------------------------

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function printTable(report) {
  const line = (cells) => console.log(cells.map((cell, i) => String(cell).padEnd(i === 0 ? 30 : 16)).join(''));
  console.log('');
  line(['rollout', 'play exit', 'play time', 'requests', 'failed']);
  line(['good (release 2)', report.good.exitCode, `${(report.good.ms / 1000).toFixed(1)} s`, report.good.ok + report.good.failed, report.good.failed]);
  line(['broken on web2 (release 3)', report.broken.exitCode, `${(report.broken.ms / 1000).toFixed(1)} s`, report.broken.ok + report.broken.failed, report.broken.failed]);
  console.log('');
  line(['host', 'good verdict', 'reload', 'broken verdict', 'reload', 'serves now']);
  for (const host of HOSTS) {
    const g = report.good.hosts[host];
    const b = report.broken.hosts[host];
    const ms = (value) => (value === null ? '-' : `${(value / 1000).toFixed(2)} s`);
    line([host, g.verdict, ms(g.reloadMs), b.verdict, ms(b.reloadMs), `release ${b.serves}`]);
  }
  console.log('');
  const r = report.reloadMs;
  line(['web1 reload', 'durations', '', 'median', 'failed']);
  line(['  without HAProxy', r.direct.join(' '), '', `${median(r.direct)} ms`, `${r.directFailed}/${r.directOk + r.directFailed}`]);
  line([`  behind HAProxy${report.haproxyServerClose ? '' : ' (keep-alive)'}`, r.behindHaproxy.join(' '), '', `${median(r.behindHaproxy)} ms`, `${r.behindFailed}/${r.behindOk + r.behindFailed}`]);
  console.log('');
  console.log(`all requests through HAProxy: ${report.total.ok + report.total.failed}, failed ${report.total.failed}` +
    (report.total.failed ? ` (${JSON.stringify(report.total.failures)})` : '') + `; versions seen ${JSON.stringify(report.total.versions)}`);
}

let tornDown = false;
async function teardown(keepWork) {
  if (tornDown) return;
  tornDown = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  // The supervisors stop gracefully (stop_grace 3 s, then a drain); anything left in a namespace of
  // ours after that is ours too, and is killed by pid.
  const deadline = Date.now() + 20_000;
  while ([...children].some((child) => child.exitCode === null && child.signalCode === null) && Date.now() < deadline) await sleep(200);
  for (const ns of namespaces) {
    const pids = (await run('ip', ['netns', 'pids', ns])).stdout.split('\n').filter(Boolean).map(Number);
    for (const pid of pids) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
  for (const ns of namespaces) await run('ip', ['netns', 'del', ns]);
  const left = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]).filter((name) => namespaces.includes(name));
  if (left.length) log(`could not delete the namespaces ${left.join(', ')}: delete them with ip netns del`);
  if (!keepWork) rmSync(work, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => { log(`${signal}: tearing down`); teardown(true).finally(() => process.exit(130)); });
}

try {
  const report = await main();
  await teardown(false);
  printTable(report);
  if (args.has('--json')) console.log(JSON.stringify(report));
} catch (error) {
  log(`failed: ${error.message}`);
  await teardown(true);
  log(`logs kept in ${work}`);
  process.exitCode = 1;
}
