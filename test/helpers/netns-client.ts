// An HTTP client to run inside another network namespace (`nsenter -n node netns-client.js ...`),
// where a test's own process cannot reach 127.0.0.1. Prints one JSON line on stdout.
//   get PORT [PATH]      one GET: {status, version, body} or {error}
//   sequential PORT      one request at a time, each on a new connection, no retries, until SIGTERM:
//                        {ok, failed, failures: {cause: n}, versions: {version: n}}
import http from 'node:http';

export interface Answer {
  status?: number;
  version?: string;
  body?: string;
  error?: string;
}

export interface SequentialReport {
  ok: number;
  failed: number;
  failures: Record<string, number>;
  versions: Record<string, number>;
}

function getOnce(port: number, urlPath: string): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, version: String(res.headers['x-version'] ?? ''), body }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
  });
}

async function sequential(port: number): Promise<SequentialReport> {
  const report: SequentialReport = { ok: 0, failed: 0, failures: {}, versions: {} };
  let running = true;
  process.once('SIGTERM', () => (running = false));
  process.stdout.write('started\n');
  while (running) {
    const answer = await getOnce(port, '/');
    if (answer.status !== undefined && answer.status >= 200 && answer.status < 300) {
      report.ok++;
      report.versions[answer.version!] = (report.versions[answer.version!] ?? 0) + 1;
    } else {
      report.failed++;
      const cause = answer.error ?? `HTTP ${answer.status}`;
      report.failures[cause] = (report.failures[cause] ?? 0) + 1;
    }
  }
  return report;
}

const [mode, port, urlPath] = process.argv.slice(2);
if (mode === 'get') process.stdout.write(`${JSON.stringify(await getOnce(Number(port), urlPath ?? '/'))}\n`);
else if (mode === 'sequential') process.stdout.write(`${JSON.stringify(await sequential(Number(port)))}\n`);
else if (mode !== undefined) {
  process.stderr.write(`netns-client: unknown mode ${mode}: get PORT [PATH] or sequential PORT\n`);
  process.exitCode = 100;
}
