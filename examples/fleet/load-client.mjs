// A load client with no retries: every request that does not come back 200 counts as failed.
//   node load-client.mjs URL [LOOPS] [PAUSE_MS]
// LOOPS request loops run at once, one request at a time each: the odd ones on one keep-alive
// connection, the even ones on a new connection per request. Commands on stdin, answers on stdout
// as one JSON line each:
//   mark LABEL   the counts so far: {label, ok, failed, failures: {cause: n}, versions: {v: n}}
//   stop         the same with label "stop", then exit once the requests in flight are done
import http from 'node:http';
import readline from 'node:readline';

const [url, loopsText = '8', pauseText = '5'] = process.argv.slice(2);
if (!url) {
  console.error('load-client: no URL given: run it as `node load-client.mjs http://127.0.0.1:8080/ [LOOPS]`.');
  process.exit(2);
}
const loops = Number(loopsText);
const REQUEST_TIMEOUT_MS = 15_000;
// Between one loop's requests: 5 ms gives some 100-150 req/s per loop on loopback, not a CPU hog;
// 100 ms a light load, where a balancer's pooled connections sit idle between requests.
const PAUSE_MS = Number(pauseText);

const counts = { ok: 0, failed: 0, failures: {}, versions: {} };
let stopping = false;

function fail(cause) {
  counts.failed += 1;
  counts.failures[cause] = (counts.failures[cause] ?? 0) + 1;
}

function requestOnce(agent) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) {
          counts.ok += 1;
          const version = String(res.headers['x-version'] ?? '?');
          counts.versions[version] = (counts.versions[version] ?? 0) + 1;
        } else fail(`HTTP ${res.statusCode}`);
        resolve();
      });
      res.on('error', (error) => { fail(error.code ?? error.message); resolve(); });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (error) => { fail(error.code ?? error.message); resolve(); });
  });
}

async function loop(keepAlive) {
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
  while (!stopping) {
    await requestOnce(agent);
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
  }
  if (agent) agent.destroy();
}

const running = Array.from({ length: loops }, (_, i) => loop(i % 2 === 0));
const report = (label) => process.stdout.write(JSON.stringify({ label, ...counts }) + '\n');

readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  const [command, ...rest] = line.trim().split(' ');
  if (command === 'mark') report(rest.join(' '));
  if (command === 'stop') {
    stopping = true;
    await Promise.all(running);
    report('stop');
    process.exit(0);
  }
});
