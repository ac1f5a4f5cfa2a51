// Parsing and validation with the filesystem checks off: each result depends on the text alone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig, type ConfigProblem, type LoadOptions, type SupervisorConfig } from '../../src/config/index.js';

const FILE = '/srv/app/supervisor.yaml';
const MINIMAL = 'listen: 127.0.0.1:8000\ncommand: [node, server.js]\n';
const PURE: LoadOptions = { checkFilesystem: false, env: {}, uid: 1000 };

function parse(text: string, options: LoadOptions = PURE): SupervisorConfig {
  return parseConfig(text, FILE, options);
}

function reject(text: string, options: LoadOptions = PURE): ConfigError {
  try {
    parseConfig(text, FILE, options);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the config to be rejected');
}

/** The one problem reported at `key`, checked for position and message. */
function problemAt(text: string, key: string, line: number | undefined, column: number | undefined, message: RegExp): ConfigProblem {
  const all = reject(text).problems;
  const found = all.filter((problem) => problem.key === key);
  assert.equal(found.length, 1, `expected one problem at ${key}, got: ${JSON.stringify(all, null, 1)}`);
  const problem = found[0]!;
  assert.deepEqual([problem.line, problem.column], [line, column], `position of ${key}`);
  assert.match(problem.message, message);
  return problem;
}

describe('a minimal config', () => {
  const config = parse(MINIMAL);

  it('keeps what was written', () => {
    assert.equal(config.file, FILE);
    assert.deepEqual(config.listen, [{ host: '127.0.0.1', port: 8000, family: 4, text: '127.0.0.1:8000' }]);
    assert.deepEqual(config.command, ['node', 'server.js']);
  });

  it('fills every default', () => {
    assert.equal(config.socket, 'reuseport');
    assert.equal(config.workers, 2);
    assert.equal(config.cwd, '/srv/app');
    assert.deepEqual(config.env, {});
    assert.deepEqual(config.inheritEnv, ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'USER']);
    assert.deepEqual(config.ready, { kind: 'notify', timeoutMs: 10_000, path: '/', intervalMs: 100, delayMs: 1_000, nice: 0, niceRampMs: 5_000, warmup: null });
    assert.deepEqual(config.drain, { signal: 'SIGTERM', timeoutMs: 30_000, spreadMs: 0 });
    assert.deepEqual(config.restart, { backoffMs: 1_000, maxMs: 30_000, crashLoop: 5 });
    assert.equal(config.backlog, 511);
    assert.equal(config.control, '/srv/app/supervisor.sock');
    assert.equal(config.slowStartMs, 0);
    assert.equal(config.startConcurrency, 0, 'a reload starts every new worker at once');
  });

  it('resolves a relative file name to an absolute one', () => {
    const relative = parseConfig(MINIMAL, 'conf/supervisor.yaml', PURE);
    assert.equal(relative.file, `${process.cwd()}/conf/supervisor.yaml`);
    assert.equal(relative.cwd, `${process.cwd()}/conf`);
  });

  it('takes empty sections as all defaults', () => {
    const config = parse(`${MINIMAL}ready:\ndrain:\nrestart:\nenv:\n`);
    assert.equal(config.ready.kind, 'notify');
    assert.equal(config.drain.timeoutMs, 30_000);
    assert.deepEqual(config.env, {});
  });
});

describe('a full config', () => {
  const text = `
listen: ["127.0.0.1:8000", "[::1]:8000"]
socket: shared
workers: 4
command: [node, --max-old-space-size=512, server.js, --port, 8000]
cwd: ./app
env: { NODE_ENV: production, APP_VERSION: 1.10, DEBUG: false, HEX: 0x1F }
inherit_env: [PATH, LANG]
ready:
  kind: http
  timeout: 1.5s
  path: /healthz?deep=1
  interval: 250ms
drain:
  signal: TERM
  timeout: 2m
restart:
  backoff: 500ms
  max: 1m
  crash_loop: 10
backlog: 1024
control: /tmp/app.sock
`;
  const config = parse(text);

  it('reads every key', () => {
    assert.deepEqual(config.listen.map((address) => address.text), ['127.0.0.1:8000', '[::1]:8000']);
    assert.equal(config.listen[1]!.family, 6);
    assert.equal(config.listen[1]!.host, '::1');
    assert.equal(config.socket, 'shared');
    assert.equal(config.workers, 4);
    assert.equal(config.cwd, '/srv/app/app');
    assert.deepEqual(config.inheritEnv, ['PATH', 'LANG']);
    assert.deepEqual(config.ready, { kind: 'http', timeoutMs: 1_500, path: '/healthz?deep=1', intervalMs: 250, delayMs: 1_000, nice: 0, niceRampMs: 750, warmup: null });
    assert.deepEqual(config.restart, { backoffMs: 500, maxMs: 60_000, crashLoop: 10 });
    assert.equal(config.backlog, 1024);
    assert.equal(config.control, '/tmp/app.sock');
  });

  it('normalizes a short signal name', () => {
    assert.deepEqual(config.drain, { signal: 'SIGTERM', timeoutMs: 120_000, spreadMs: 0 });
    assert.equal(parse(`${MINIMAL}drain: { signal: sigusr2 }`).drain.signal, 'SIGUSR2');
  });

  it('keeps numbers and booleans in env and argv as they were written', () => {
    assert.deepEqual(config.env, { NODE_ENV: 'production', APP_VERSION: '1.10', DEBUG: 'false', HEX: '0x1F' });
    assert.deepEqual(config.command, ['node', '--max-old-space-size=512', 'server.js', '--port', '8000']);
  });

  it('leaves a bare program name unresolved when the filesystem is not checked', () => {
    assert.equal(parse('listen: 127.0.0.1:1\ncommand: [surely-not-a-program-xyz]').executable, 'surely-not-a-program-xyz');
    assert.equal(parse('listen: 127.0.0.1:1\ncommand: [./bin/app]').executable, '/srv/app/bin/app');
  });
});

describe('JSON', () => {
  it('is accepted, since JSON is YAML', () => {
    const config = parse('{"listen": ["0.0.0.0:80"], "command": ["node", "server.js"], "workers": 3, "ready": {"timeout": "5s"}, "env": {"V": 1.50}}');
    assert.equal(config.listen[0]!.text, '0.0.0.0:80');
    assert.equal(config.workers, 3);
    assert.equal(config.ready.timeoutMs, 5_000);
    assert.deepEqual(config.env, { V: '1.50' });
  });

  it('reports problems with JSON positions', () => {
    problemAt('{\n  "listen": "127.0.0.1:8000",\n  "command": ["node"],\n  "workers": "four"\n}', 'workers', 4, 14, /expected a whole number from 1 to 256, got "four"/);
  });
});

describe('the error', () => {
  it('has a headline and one "file:line:col: key: message" line per problem', () => {
    const error = reject('listen: 127.0.0.1:8000\ncommand: [node]\nworkers: 0\nsocket: nope\n');
    const lines = error.message.split('\n');
    assert.equal(lines[0], `invalid config ${FILE}: 2 problems`);
    assert.equal(lines[1], `${FILE}:3:10: workers: 0 is out of range: write a whole number from 1 to 256`);
    assert.equal(lines[2], `${FILE}:4:9: socket: expected one of reuseport, shared, self, got "nope"`);
    assert.equal(error.file, FILE);
    assert.equal(error.name, 'ConfigError');
  });

  it('reports every problem at once, in file order', () => {
    const error = reject('workers: 999\nlisten: localhost:80\ncommand: node server.js\nready: { timeout: 10 }\nrestart: { backoff: 10s, max: 1s }\nbogus: 1\n');
    assert.deepEqual(error.problems.map((problem) => [problem.key, problem.line]), [
      ['workers', 1],
      ['listen', 2],
      ['command', 3],
      ['ready.timeout', 4],
      ['restart.max', 5],
      ['bogus', 6],
    ]);
    assert.match(error.message, /^invalid config .*: 6 problems\n/);
  });

  it('carries the value as written', () => {
    assert.equal(problemAt(`${MINIMAL}workers: 300`, 'workers', 3, 10, /out of range/).value, 300);
  });

  it('leaves out the position of a key that is missing', () => {
    const problem = problemAt('listen: 127.0.0.1:8000\n', 'command', undefined, undefined, /is required: .*command: \[node, server.js\]/);
    assert.ok(reject('listen: 127.0.0.1:8000\n').message.includes(`\n${FILE}: command: is required`));
    assert.equal(problem.value, undefined);
  });

  it('asks for listen when it is missing', () => {
    problemAt('command: [node]\n', 'listen', undefined, undefined, /is required: write listen: 127.0.0.1:8000/);
  });
});

describe('YAML itself', () => {
  it('reports a syntax error at its line and column', () => {
    const error = reject('listen: 127.0.0.1:8000\ncommand: [node, server.js\nworkers: 2\n');
    assert.equal(error.problems.length, 1);
    const [problem] = error.problems;
    assert.equal(problem!.key, '');
    assert.equal(problem!.line, 3);
    assert.equal(problem!.column, 1);
    assert.match(problem!.message, /YAML syntax error/);
    assert.ok(error.message.includes(`${FILE}:3:1: YAML syntax error`));
  });

  it('explains tabs used as indentation', () => {
    const [problem] = reject('listen: 127.0.0.1:8000\ncommand: [node]\nready:\n\tkind: tcp\n').problems;
    assert.equal(problem!.line, 4);
    assert.match(problem!.message, /indent with spaces/);
  });

  it('refuses a second document', () => {
    assert.match(reject(`${MINIMAL}---\nworkers: 3\n`).problems[0]!.message, /more than one YAML document/);
  });

  it('reports a duplicate key with both lines, and still checks the rest', () => {
    const error = reject('listen: 127.0.0.1:8000\nworkers: 2\ncommand: [node]\nworkers: 3\nsocket: nope\n');
    const duplicate = error.problems.find((problem) => problem.key === 'workers')!;
    assert.deepEqual([duplicate.line, duplicate.column], [4, 1]);
    assert.match(duplicate.message, /duplicate key \(first written on line 2\)/);
    assert.ok(error.problems.some((problem) => problem.key === 'socket'));
  });

  it('reports a duplicate key inside a section by its path', () => {
    problemAt(`${MINIMAL}ready:\n  timeout: 1s\n  timeout: 2s\n`, 'ready.timeout', 5, 3, /duplicate key/);
  });

  it('rejects an empty file with what to write', () => {
    for (const text of ['', '\n', '# only a comment\n']) {
      const [problem] = reject(text).problems;
      assert.match(problem!.message, /no settings: write at least listen: .* and command: /);
    }
  });

  it('rejects a top level that is not a mapping', () => {
    const [list] = reject('- listen: 127.0.0.1:8000\n').problems;
    assert.match(list!.message, /top level must be a mapping .*found a list/);
    assert.equal(list!.line, 1);
    assert.match(reject('just words').problems[0]!.message, /found the value "just words"/);
  });
});

describe('unknown keys', () => {
  it('suggests the closest known key, pointing at the key', () => {
    problemAt(`${MINIMAL}workes: 3\n`, 'workes', 3, 1, /unknown key 'workes': did you mean 'workers'\?/);
  });

  it('suggests for other spellings of a key', () => {
    problemAt(`${MINIMAL}inheritEnv: [PATH]\n`, 'inheritEnv', 3, 1, /did you mean 'inherit_env'\?/);
    problemAt(`${MINIMAL}restart:\n  crash-loop: 3\n`, 'restart.crash-loop', 4, 3, /unknown key 'crash-loop' in restart: did you mean 'crash_loop'\?/);
  });

  it('lists the known keys when nothing is close', () => {
    problemAt(`${MINIMAL}drain:\n  zzzzzz: 1\n`, 'drain.zzzzzz', 4, 3, /known keys are signal, timeout, spread$/);
  });

  it('says where a key at the wrong level belongs', () => {
    problemAt(`${MINIMAL}ready:\n  workers: 3\n`, 'ready.workers', 4, 3, /'workers' belongs at the top level/);
    problemAt(`${MINIMAL}timeout: 3s\n`, 'timeout', 3, 1, /'timeout' belongs under ready: or under ready.warmup: or under drain:/);
  });
});

describe('types and ranges', () => {
  it('rejects a count out of range or not whole', () => {
    problemAt(`${MINIMAL}workers: 0`, 'workers', 3, 10, /0 is out of range: write a whole number from 1 to 256/);
    problemAt(`${MINIMAL}workers: 257`, 'workers', 3, 10, /257 is out of range/);
    problemAt(`${MINIMAL}workers: -1`, 'workers', 3, 10, /-1 is out of range/);
    problemAt(`${MINIMAL}workers: 1.5`, 'workers', 3, 10, /expected a whole number from 1 to 256, got 1.5/);
    problemAt(`${MINIMAL}backlog: 70000`, 'backlog', 3, 10, /from 1 to 65535/);
    problemAt(`${MINIMAL}restart: { crash_loop: 0 }`, 'restart.crash_loop', 3, 24, /from 1 to 1000/);
    problemAt(`${MINIMAL}start_concurrency: -1`, 'start_concurrency', 3, 20, /-1 is out of range: write a whole number from 0 to 256/);
    assert.equal(parse(`${MINIMAL}start_concurrency: 1`).startConcurrency, 1);
  });

  it('bake: off by default; `bake: 60s` is short for its window; sizes with a unit; each problem named', () => {
    assert.deepEqual(parse(MINIMAL).bake, { windowMs: 0, maxRssBytes: 0, maxExits: 0, parkSignal: null });
    assert.deepEqual(parse(`${MINIMAL}bake: 60s`).bake, { windowMs: 60_000, maxRssBytes: 0, maxExits: 0, parkSignal: null });
    assert.deepEqual(parse(`${MINIMAL}bake: { window: 5m, max_rss: 1.5GB, max_exits: 2, park_signal: usr2 }`).bake, { windowMs: 300_000, maxRssBytes: 1.5 * 1024 ** 3, maxExits: 2, parkSignal: 'SIGUSR2' });
    problemAt(`${MINIMAL}drain: { signal: SIGUSR2 }\nbake: { window: 1m, park_signal: SIGUSR2 }`, 'bake.park_signal', 4, 34, /is drain.signal too \(SIGUSR2\): a baking worker must stay up/);
    assert.equal(parse(`${MINIMAL}bake: { window: 1m, max_rss: 512MB }`).bake.maxRssBytes, 512 * 1024 ** 2);
    problemAt(`${MINIMAL}bake: { window: 1m, max_rss: 512 }`, 'bake.max_rss', 3, 30, /expected a size such as 512MB or 2GB, or 0, got "?512"?: write a number with a unit/);
    problemAt(`${MINIMAL}bake: { window: 2d }`, 'bake.window', 3, 17, /unknown unit "d"/);
    problemAt(`${MINIMAL}bake: { windw: 1m }`, 'bake.windw', 3, 9, /window/);
  });

  it('tells to drop the quotes around a number', () => {
    problemAt(`${MINIMAL}workers: "4"`, 'workers', 3, 10, /got "4": write it without quotes/);
  });

  it('rejects a key written with no value, naming the default', () => {
    problemAt(`${MINIMAL}workers:\n`, 'workers', 3, 9, /has no value: write a whole number from 1 to 256, or remove the key to use the default \(2\)/);
    problemAt(`${MINIMAL}inherit_env:\n`, 'inherit_env', 3, 13, /\[\] to inherit nothing/);
  });

  it('rejects an unknown socket mode or readiness kind', () => {
    problemAt(`${MINIMAL}socket: REUSEPORT`, 'socket', 3, 9, /one of reuseport, shared, self/);
    problemAt(`${MINIMAL}ready: { kind: systemd }`, 'ready.kind', 3, 16, /one of notify, http, tcp, delay, got "systemd"/);
  });

  it('rejects a section that is not a mapping', () => {
    problemAt(`${MINIMAL}drain: SIGTERM`, 'drain', 3, 8, /expected a mapping with signal:, timeout:, spread: .*got "SIGTERM"/);
  });

  it('rejects an unknown drain signal', () => {
    problemAt(`${MINIMAL}drain: { signal: SIGKILL }`, 'drain.signal', 3, 18, /one of SIGTERM, SIGINT/);
    problemAt(`${MINIMAL}drain: { signal: 15 }`, 'drain.signal', 3, 18, /got 15/);
  });

  it('rejects an http path without a leading slash or with spaces', () => {
    problemAt(`${MINIMAL}ready: { kind: http, path: healthz }`, 'ready.path', 3, 28, /starting with "\/"/);
    problemAt(`${MINIMAL}ready: { kind: http, path: "/a b" }`, 'ready.path', 3, 28, /percent-encode/);
  });
});

describe('durations in the config', () => {
  it('rejects a bare number with the fix', () => {
    problemAt(`${MINIMAL}ready:\n  timeout: 10\n`, 'ready.timeout', 4, 12, /bare number has no unit: write a unit: 10s or 10ms/);
  });

  it('accepts zero as a number', () => {
    assert.equal(parse(`${MINIMAL}drain: { timeout: 0 }`).drain.timeoutMs, 0);
    assert.equal(parse(`${MINIMAL}drain: { timeout: 0s }`).drain.timeoutMs, 0);
  });

  it('rejects negative durations', () => {
    problemAt(`${MINIMAL}drain:\n  timeout: -5s\n`, 'drain.timeout', 4, 12, /cannot be negative/);
    problemAt(`${MINIMAL}drain:\n  timeout: -5\n`, 'drain.timeout', 4, 12, /-5 is negative/);
  });

  it('rejects durations out of range, naming the range', () => {
    problemAt(`${MINIMAL}ready: { timeout: 50ms }`, 'ready.timeout', 3, 19, /50ms is too short: write a duration from 100ms to 1h/);
    problemAt(`${MINIMAL}ready: { timeout: 2h }`, 'ready.timeout', 3, 19, /2h is too long/);
    problemAt(`${MINIMAL}ready: { kind: tcp, interval: 1m }`, 'ready.interval', 3, 31, /from 10ms to 10s/);
    problemAt(`${MINIMAL}restart: { backoff: 1ms }`, 'restart.backoff', 3, 21, /too short: write a duration from 10ms to 1h/);
  });

  it('rejects a unit it does not know', () => {
    problemAt(`${MINIMAL}drain: { timeout: 1d }`, 'drain.timeout', 3, 19, /unknown unit "d"/);
  });
});

describe('rules that relate two keys', () => {
  it('rejects drain.spread as long as drain.timeout, naming both', () => {
    problemAt(`${MINIMAL}drain:\n  timeout: 2s\n  spread: 2s\n`, 'drain.spread', 5, 11, /drain\.spread \(2s\) must be shorter than drain\.timeout \(2s\)/);
    problemAt(`${MINIMAL}drain: { spread: 1m }`, 'drain.spread', 3, 18, /shorter than drain\.timeout \(30s, the default\)/);
  });

  it('rejects restart.max below restart.backoff, naming both', () => {
    problemAt(`${MINIMAL}restart:\n  backoff: 10s\n  max: 5s\n`, 'restart.max', 5, 8, /restart\.max \(5s\) is less than restart\.backoff \(10s\)/);
  });

  it('points at backoff when max is the default', () => {
    problemAt(`${MINIMAL}restart:\n  backoff: 1m\n`, 'restart.backoff', 4, 12, /restart\.max \(30s, the default\) is less than restart\.backoff \(1m\)/);
  });

  it('still checks max against backoff when another key of the section is bad', () => {
    const keys = reject(`${MINIMAL}restart: { backoff: 10s, max: 5s, crash_loop: 0 }`).problems.map((problem) => problem.key);
    assert.deepEqual(keys.sort(), ['restart.crash_loop', 'restart.max']);
  });

  it('rejects keys that the readiness kind does not read', () => {
    problemAt(`${MINIMAL}ready:\n  kind: tcp\n  path: /x\n`, 'ready.path', 5, 3, /applies only to kind: http \(kind is tcp\)/);
    problemAt(`${MINIMAL}ready:\n  interval: 1s\n`, 'ready.interval', 4, 3, /applies only to kind: http or kind: tcp \(kind is notify, the default\)/);
    problemAt(`${MINIMAL}ready:\n  kind: http\n  delay: 1s\n`, 'ready.delay', 5, 3, /applies only to kind: delay/);
  });

  it('rejects a delay that outlasts the ready timeout', () => {
    problemAt(`${MINIMAL}ready:\n  kind: delay\n  delay: 20s\n`, 'ready.delay', 5, 10, /ready\.delay \(20s\) must be shorter than ready\.timeout \(10s\)/);
    assert.equal(parse(`${MINIMAL}ready: { kind: delay, delay: 2s }`).ready.delayMs, 2_000);
  });
});

describe('command', () => {
  it('rejects a plain string, suggesting the list', () => {
    problemAt('listen: 127.0.0.1:8000\ncommand: node server.js --port 80\n', 'command', 2, 10, /write an argv list such as \[node, server\.js, --port, 80\]; no shell is used/);
  });

  it('suggests sh -c for a string using shell features', () => {
    problemAt('listen: 127.0.0.1:8000\ncommand: "node a.js | tee log"\n', 'command', 2, 10, /such as \[node, server\.js\].*\[sh, -c/);
  });

  it('rejects an empty list, an empty argument and a non-text argument', () => {
    problemAt('listen: 127.0.0.1:8000\ncommand: []\n', 'command', 2, 10, /list is empty/);
    problemAt('listen: 127.0.0.1:8000\ncommand: [node, ""]\n', 'command[1]', 2, 17, /cannot be empty/);
    problemAt('listen: 127.0.0.1:8000\ncommand: [node, { a: 1 }]\n', 'command[1]', 2, 17, /expected a string, got a mapping/);
    problemAt('listen: 127.0.0.1:8000\ncommand: [node, ~]\n', 'command[1]', 2, 17, /expected a string, got nothing/);
  });
});

describe('env and inherit_env', () => {
  it('refuses keys the supervisor sets', () => {
    problemAt(`${MINIMAL}env:\n  LISTEN_FDS: 3\n`, 'env.LISTEN_FDS', 4, 3, /set by the supervisor for every worker.*remove it/);
    problemAt(`${MINIMAL}env:\n  PORT: 80\n`, 'env.PORT', 4, 3, /set by the supervisor/);
    problemAt(`${MINIMAL}inherit_env: [PATH, NOTIFY_SOCKET]\n`, 'inherit_env[1]', 3, 21, /set by the supervisor/);
  });

  it('refuses names that are not variable names', () => {
    problemAt(`${MINIMAL}env:\n  1ABC: x\n`, 'env["1ABC"]', 4, 3, /not a valid environment variable name/);
    problemAt(`${MINIMAL}env:\n  A-B: x\n`, 'env.A-B', 4, 3, /not a valid environment variable name/);
  });

  it('refuses values that are not scalars, and empty values', () => {
    problemAt(`${MINIMAL}env:\n  A: [1]\n`, 'env.A', 4, 6, /expected a string, number or boolean, got a list/);
    problemAt(`${MINIMAL}env:\n  A:\n`, 'env.A', 4, 5, /write "" for an empty value/);
    assert.deepEqual(parse(`${MINIMAL}env: { A: "" }`).env, { A: '' });
  });

  it('rejects env that is not a mapping', () => {
    problemAt(`${MINIMAL}env: [A=1]\n`, 'env', 3, 6, /expected a mapping of NAME: value/);
  });

  it('accepts an empty inherit list and drops repeats', () => {
    assert.deepEqual(parse(`${MINIMAL}inherit_env: []`).inheritEnv, []);
    assert.deepEqual(parse(`${MINIMAL}inherit_env: [PATH, PATH, TZ]`).inheritEnv, ['PATH', 'TZ']);
  });
});

describe('listen', () => {
  const at = (value: string, key: string, column: number, message: RegExp) =>
    problemAt(`command: [node]\nlisten: ${value}\n`, key, 2, column, message);

  it('accepts IPv4, IPv6 and a list', () => {
    assert.deepEqual(parse('listen: "[::]:8000"\ncommand: [node]').listen, [{ host: '::', port: 8000, family: 6, text: '[::]:8000' }]);
    assert.deepEqual(parse('listen: ["0.0.0.0:80", "[::1]:443"]\ncommand: [node]').listen.map((a) => a.text), ['0.0.0.0:80', '[::1]:443']);
  });

  it('rejects an address without a port', () => {
    at('127.0.0.1', 'listen', 9, /has no port: write 127\.0\.0\.1:port/);
    at('"127.0.0.1:"', 'listen', 9, /has no port/);
    at('"[::1]"', 'listen', 9, /has no port/);
  });

  it('rejects a port alone, with the addresses to write', () => {
    at('8000', 'listen', 9, /write 127\.0\.0\.1:8000 or 0\.0\.0\.0:8000/);
    at('":8000"', 'listen', 9, /has no host: write 0\.0\.0\.0:8000/);
  });

  it('rejects ports out of range', () => {
    at('127.0.0.1:0', 'listen', 9, /port 0 .* out of range: write a port from 1 to 65535/);
    at('127.0.0.1:70000', 'listen', 9, /port 70000 .* out of range/);
    at('127.0.0.1:http', 'listen', 9, /port "http" .* is not a number/);
  });

  it('rejects localhost with the fix', () => {
    at('localhost:80', 'listen', 9, /write 127\.0\.0\.1:80 or \[::1\]:80/);
  });

  it('rejects host names', () => {
    at('example.com:80', 'listen', 9, /not an IP address/);
  });

  it('rejects IPv6 without brackets, showing the bracketed form', () => {
    at('"::1:8000"', 'listen', 9, /without brackets.*such as \[::1\]:8000/);
    at('"::1"', 'listen', 9, /such as \[::1\]:8000/);
    at('"[127.0.0.1]:80"', 'listen', 9, /brackets are for IPv6/);
  });

  it('rejects a duplicate address, also when spelled differently', () => {
    problemAt('command: [node]\nlisten:\n  - 127.0.0.1:8000\n  - "[::1]:9000"\n  - "[0:0::1]:9000"\n', 'listen[2]', 5, 5, /\[::1\]:9000 is listed twice \(also listen\[1\]\): remove one/);
  });

  it('reports each bad item of a list at its own position', () => {
    const error = reject('command: [node]\nlisten: [127.0.0.1:0, 1.2.3.4:80, localhost:1]\n');
    assert.deepEqual(error.problems.map((problem) => [problem.key, problem.line, problem.column]), [
      ['listen[0]', 2, 10],
      ['listen[2]', 2, 35],
    ]);
  });

  it('rejects a number in the list, with the addresses to write', () => {
    problemAt('command: [node]\nlisten: [8000]\n', 'listen[0]', 2, 10, /got 8000: write 127\.0\.0\.1:8000 or 0\.0\.0\.0:8000/);
  });

  it('rejects an empty list', () => {
    at('[]', 'listen', 9, /at least one address/);
  });
});

describe('control', () => {
  it('resolves a relative path against the config file', () => {
    assert.equal(parse(`${MINIMAL}control: run/s.sock`).control, '/srv/app/run/s.sock');
  });

  it('rejects a path longer than a unix socket address allows, with the fix', () => {
    const long = `/tmp/${'d'.repeat(100)}/s.sock`;
    problemAt(`${MINIMAL}control: ${long}\n`, 'control', 3, 10, /is 112 bytes, over the 107-byte limit .*set control: to a shorter path/);
  });

  it('accepts exactly 107 bytes', () => {
    const path = `/tmp/${'x'.repeat(102)}`;
    assert.equal(Buffer.byteLength(path), 107);
    assert.equal(parse(`${MINIMAL}control: ${path}`).control, path);
  });

  it('checks the default path too', () => {
    const deep = `/srv/${'d'.repeat(100)}/supervisor.yaml`;
    const error = (() => {
      try {
        parseConfig(MINIMAL, deep, PURE);
      } catch (error) {
        return error as ConfigError;
      }
      return assert.fail('expected a ConfigError');
    })();
    assert.equal(error.problems.length, 1);
    assert.equal(error.problems[0]!.key, 'control');
    assert.match(error.problems[0]!.message, /the default control socket path .* over the 107-byte limit/);
  });
});

describe('ready: warming priority and warm-up', () => {
  it('ready.warmup: absent is none, empty is every default, keys as written', () => {
    assert.equal(parse(MINIMAL).ready.warmup, null);
    assert.deepEqual(parse(`${MINIMAL}ready:\n  warmup:\n`).ready.warmup, { requests: 1000, paths: ['/'], concurrency: 4, timeoutMs: 5000 });
    assert.equal(parse(`${MINIMAL}ready:\n  timeout: 4s\n  warmup:\n`).ready.warmup?.timeoutMs, 2000, 'half of ready.timeout');
    assert.deepEqual(parse(`${MINIMAL}ready:\n  warmup: { requests: 200, paths: [/, /api/items?limit=5], concurrency: 2, timeout: 2s }\n`).ready.warmup, {
      requests: 200,
      paths: ['/', '/api/items?limit=5'],
      concurrency: 2,
      timeoutMs: 2000,
    });
    assert.deepEqual(parse(`${MINIMAL}ready:\n  warmup: { paths: /healthz }\n`).ready.warmup?.paths, ['/healthz'], 'one path without a list');
  });

  it('ready.warmup: bad values and unknown keys point at themselves', () => {
    problemAt(`${MINIMAL}ready:\n  warmup:\n    requests: 0\n`, 'ready.warmup.requests', 5, 15, /0 is out of range: write a whole number from 1 to 1000000/);
    problemAt(`${MINIMAL}ready:\n  warmup:\n    paths: [/, api]\n`, 'ready.warmup.paths[1]', 5, 16, /expected a path starting with "\/", such as \/healthz, got "api"/);
    problemAt(`${MINIMAL}ready:\n  warmup:\n    paths: []\n`, 'ready.warmup.paths', 5, 12, /a list of 1 to 100 paths/);
    problemAt(`${MINIMAL}ready:\n  warmup:\n    concurency: 3\n`, 'ready.warmup.concurency', 5, 5, /unknown key 'concurency' in ready.warmup: did you mean 'concurrency'\?/);
    problemAt(`${MINIMAL}ready:\n  warmup: 100\n`, 'ready.warmup', 4, 11, /expected a mapping with requests:, paths:, concurrency:, timeout:/);
    problemAt(`${MINIMAL}ready:\n  warmup: { timeout: 10s }\n`, 'ready.warmup.timeout', 4, 22, /must be shorter than ready.timeout \(10s, the default\): both count from the worker's start/);
  });

  it('ready.warmup needs the steering route to the one new worker', () => {
    problemAt(`${MINIMAL}socket: shared\nready:\n  warmup:\n`, 'ready.warmup', 5, 3, /needs socket: reuseport with steering \(socket is shared\).*serveHttp\(handler, \{ warmup \}\)/);
    problemAt(`${MINIMAL}socket: self\nready: { warmup: {} }\n`, 'ready.warmup', 4, 10, /socket is self/);
    problemAt(`${MINIMAL}lossless: migrate\nready:\n  warmup:\n`, 'ready.warmup', 5, 3, /needs steering \(lossless is migrate\)/);
    assert.ok(parse(`${MINIMAL}lossless: steer\nready:\n  warmup:\n`).ready.warmup);
  });

  it('ready.nice_ramp: a duration, default half of ready.timeout; only with nice, and shorter than the timeout', () => {
    assert.equal(parse(`${MINIMAL}ready: { nice: 19, nice_ramp: 2s }\n`).ready.niceRampMs, 2000);
    assert.equal(parse(`${MINIMAL}ready: { nice: 19, timeout: 6s }\n`).ready.niceRampMs, 3000);
    problemAt(`${MINIMAL}ready:\n  nice_ramp: 2s\n`, 'ready.nice_ramp', 4, 3, /applies only when ready.nice is above 0 \(it is 0, the default\)/);
    problemAt(`${MINIMAL}ready:\n  nice: 19\n  nice_ramp: 10s\n`, 'ready.nice_ramp', 5, 14, /must be shorter than ready.timeout \(10s, the default\)/);
    problemAt(`${MINIMAL}ready:\n  nice: 19\n  nice_ramp: 3\n`, 'ready.nice_ramp', 5, 14, /a bare number has no unit/);
  });
});
