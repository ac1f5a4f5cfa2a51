// The example app the quick start runs under the supervisor. Change VERSION, run
// `supervisor reload`, and watch responses move from one version to the next without an error.
//
//   GET /            -> hello from pid <pid>, version <version>, generation <gen>
//   GET /?delay=MS   -> the same, after MS milliseconds (max 60000): a request in flight during a reload
//   GET /healthz     -> ok (for `readiness: http` probes)
//
// Before it says READY=1 it warms up: 2,000 requests to its own handler through a private loopback
// server, so V8 has compiled the handler and Node's HTTP code before a client waits on them
// (APP_WARMUP_REQUESTS: another number; 0: none). See docs/worker-contract.md, "Warm-up".
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveHttp } from 'reuseport-supervisor/worker';

const MAX_DELAY_MS = 60_000;
const WARMUP_REQUESTS = Number(process.env.APP_WARMUP_REQUESTS ?? 2000);
const version = readVersion();
const generation = process.env.SUPERVISOR_GENERATION ?? 'none';

// Read once at start: a running worker keeps its version; a reload starts workers that read the new one.
function readVersion() {
  if (process.env.APP_VERSION) return process.env.APP_VERSION;
  // ./VERSION in the working directory first, then the one shipped next to this file.
  for (const file of [join(process.cwd(), 'VERSION'), join(dirname(fileURLToPath(import.meta.url)), 'VERSION')]) {
    try {
      const text = readFileSync(file, 'utf8').trim();
      if (text) return text;
    } catch {
      // not there: try the next place
    }
  }
  return 'dev';
}

function send(res, status, body) {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-version': version,
    'x-pid': String(process.pid),
  });
  res.end(body);
}

function handler(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/healthz') return send(res, 200, 'ok\n');
  if (url.pathname !== '/') return send(res, 404, `not found: ${url.pathname}\n`);

  const hello = `hello from pid ${process.pid}, version ${version}, generation ${generation}\n`;
  const delayText = url.searchParams.get('delay');
  if (delayText === null) return send(res, 200, hello);
  const delay = Number(delayText);
  if (!Number.isInteger(delay) || delay < 0 || delay > MAX_DELAY_MS) {
    return send(res, 400, `delay must be an integer number of milliseconds, 0..${MAX_DELAY_MS}; got ${JSON.stringify(delayText)}\n`);
  }
  const timer = setTimeout(() => send(res, 200, hello), delay);
  // A client that gives up should not keep the worker's drain waiting.
  res.once('close', () => clearTimeout(timer));
}

const worker = await serveHttp(handler, {
  // Stops after 5 s on a busy machine (warmup.timeoutMs) and serves less warm, well within ready.timeout.
  ...(WARMUP_REQUESTS > 0 ? { warmup: { requests: WARMUP_REQUESTS } } : {}),
  onDrain: () => console.log(`example app: pid ${process.pid} version ${version} draining`),
});
console.log(
  `example app: pid ${process.pid} version ${version} generation ${generation} ` +
    `worker ${process.env.SUPERVISOR_WORKER ?? 'none'} listening on ${worker.addresses.join(', ')} (${worker.mode})`,
);
