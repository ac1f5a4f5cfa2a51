// Runs a real daemon under load across several reloads and prints one JSON report line.
// The reload-under-load test runs it directly (shared mode) or inside `unshare -n` (reuseport
// mode with net.ipv4.tcp_migrate_req=1 set in that namespace only).
//
//   reload-scenario.js SOCKET RELOADS WORKERS LOSSLESS APP   (APP: node, or c for the C example worker)
import { Daemon, exampleApp, helloWorker } from './harness.js';
import { LoadClient } from './load.js';

const socket = process.argv[2] ?? 'shared';
const reloads = Number(process.argv[3] ?? 5);
const workers = Number(process.argv[4] ?? 2);
const lossless = process.argv[5] ?? 'auto';
const app = process.argv[6] ?? 'node';

function config(version: number) {
  return {
    socket,
    ...(socket === 'reuseport' ? { lossless } : {}),
    workers,
    command: app === 'c' ? [helloWorker] : ['node', exampleApp],
    env: { APP_VERSION: String(version) },
    ready: { kind: 'notify', timeout: '10s' },
    // The C worker also gets a spread, so its per-connection close moments are exercised too.
    drain: { signal: 'SIGTERM', timeout: '10s', ...(app === 'c' ? { spread: '300ms' } : {}) },
  };
}

const daemon = await Daemon.start({ config: config(1) });
const clients = [
  new LoadClient({ port: daemon.port, mode: 'new-connection', concurrency: 16 }),
  new LoadClient({ port: daemon.port, mode: 'keep-alive', concurrency: 8 }),
];
const outcomes: string[] = [];
try {
  for (const client of clients) client.start();
  await new Promise((resolve) => setTimeout(resolve, 500));
  for (let i = 0; i < reloads; i++) {
    daemon.writeConfig(config(i + 2));
    const result = await daemon.cli('reload', '--json');
    const last = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as { message?: string };
    outcomes.push(result.exitCode === 0 ? 'promoted' : `exit ${result.exitCode}: ${last.message ?? result.stderr}`);
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
} finally {
  const reports = await Promise.all(clients.map((client) => client.stop()));
  await daemon.stop();
  const summary = reports.map(({ mode, ok, failed, failures }) => ({ mode, ok, failed, failures }));
  process.stdout.write(`${JSON.stringify({ socket, reloads: outcomes, load: summary })}\n`);
}
