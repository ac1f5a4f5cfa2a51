// The checks that look at the machine: cwd, the program, the control socket's directory, and
// reading the file itself. Each test works in its own temporary directory.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, defaultControlPath, loadConfig, parseConfig, type LoadOptions } from '../../src/config/index.js';

let dir: string;
let file: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'config-fs-'));
  file = join(dir, 'supervisor.yaml');
  mkdirSync(join(dir, 'app'));
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'tool'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(dir, 'bin', 'tool'), 0o755);
  writeFileSync(join(dir, 'bin', 'data'), 'not a program\n');
  chmodSync(join(dir, 'bin', 'data'), 0o644);
  writeFileSync(join(dir, 'plain-file'), '');
});

after(() => rmSync(dir, { recursive: true, force: true }));

const options = (extra: LoadOptions = {}): LoadOptions => ({ env: { PATH: '/usr/bin:/bin' }, uid: 1000, ...extra });

function parse(text: string, extra?: LoadOptions) {
  return parseConfig(text, file, options(extra));
}

function reject(text: string, extra?: LoadOptions): ConfigError {
  try {
    parse(text, extra);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the config to be rejected');
}

describe('the program', () => {
  it('resolves a path with "/" against cwd', () => {
    assert.equal(parse('listen: 127.0.0.1:8000\ncommand: [./bin/tool, --flag]\n').executable, join(dir, 'bin', 'tool'));
    assert.equal(parse('listen: 127.0.0.1:8000\ncwd: bin\ncommand: [./tool]\n').executable, join(dir, 'bin', 'tool'));
  });

  it('searches the PATH set in the config env', () => {
    const config = parse(`listen: 127.0.0.1:8000\ncommand: [tool]\nenv: { PATH: "${join(dir, 'bin')}" }\n`);
    assert.equal(config.executable, join(dir, 'bin', 'tool'));
  });

  it('still uses env.PATH when another env key is refused', () => {
    const error = reject(`listen: 127.0.0.1:8000\ncommand: [tool]\nenv: { PORT: 80, PATH: "${join(dir, 'bin')}" }\n`);
    assert.deepEqual(error.problems.map((problem) => problem.key), ['env.PORT']);
  });

  it("searches the supervisor's PATH when workers inherit it", () => {
    const config = parse('listen: 127.0.0.1:8000\ncommand: [tool]\n', { env: { PATH: `/nonexistent:${join(dir, 'bin')}` } });
    assert.equal(config.executable, join(dir, 'bin', 'tool'));
  });

  it("does not search the supervisor's PATH when workers do not inherit it", () => {
    const error = reject('listen: 127.0.0.1:8000\ncommand: [tool]\ninherit_env: [HOME]\n', { env: { PATH: join(dir, 'bin') } });
    assert.match(error.problems[0]!.message, /not found in PATH \(workers get no PATH; searched \/usr\/bin:\/bin\)/);
  });

  it('reports a program not in PATH, at command[0], with the fix', () => {
    const error = reject('listen: 127.0.0.1:8000\ncommand: [nodee, server.js]\n');
    assert.equal(error.problems.length, 1);
    assert.deepEqual(error.problems[0], {
      key: 'command[0]',
      line: 2,
      column: 11,
      value: 'nodee',
      message: "command 'nodee' was not found in PATH (/usr/bin:/bin): install it, fix the name, or give an absolute path",
    });
  });

  it('reports a missing program given by path', () => {
    const error = reject('listen: 127.0.0.1:8000\ncommand:\n  - ./bin/missing\n');
    assert.equal(error.problems[0]!.key, 'command[0]');
    assert.equal(error.problems[0]!.line, 3);
    assert.match(error.problems[0]!.message, /command '\.\/bin\/missing' does not exist \(.*bin\/missing, from \.\/bin\/missing in .*\)/);
  });

  it('reports a file that is not executable, with chmod as the fix', () => {
    assert.match(reject('listen: 127.0.0.1:8000\ncommand: [./bin/data]\n').problems[0]!.message, /is not executable .*chmod \+x/);
    const inPath = reject('listen: 127.0.0.1:8000\ncommand: [data]\n', { env: { PATH: join(dir, 'bin') } });
    assert.match(inPath.problems[0]!.message, /command 'data' was found at .*bin\/data but it is not executable: chmod \+x/);
  });

  it('reports a directory given as the program', () => {
    assert.match(reject('listen: 127.0.0.1:8000\ncommand: [./app]\n').problems[0]!.message, /is not a regular file/);
  });

  it('skips the program check when the filesystem is not checked', () => {
    const config = parse('listen: 127.0.0.1:8000\ncommand: [./bin/missing]\n', { checkFilesystem: false });
    assert.equal(config.executable, join(dir, 'bin', 'missing'));
  });
});

describe('cwd', () => {
  it('is absolute and not resolved through symlinks', () => {
    assert.equal(parse('listen: 127.0.0.1:8000\ncommand: [/bin/sh]\ncwd: ./app/../app\n').cwd, join(dir, 'app'));
  });

  it('must exist', () => {
    const error = reject('listen: 127.0.0.1:8000\ncommand: [./bin/tool]\ncwd: ./missing\n');
    // The program is relative to the missing cwd: one problem, not two.
    assert.equal(error.problems.length, 1);
    const [problem] = error.problems;
    assert.deepEqual([problem!.key, problem!.line, problem!.column], ['cwd', 3, 6]);
    assert.match(problem!.message, /working directory .*missing does not exist: create it, or set cwd: to the app's directory/);
  });

  it('must be a directory', () => {
    assert.match(reject('listen: 127.0.0.1:8000\ncommand: [/bin/sh]\ncwd: plain-file\n').problems[0]!.message, /is not a directory/);
  });

  it('is not checked when the filesystem is not checked', () => {
    assert.equal(parse('listen: 127.0.0.1:8000\ncommand: [/bin/sh]\ncwd: /nowhere\n', { checkFilesystem: false }).cwd, '/nowhere');
  });
});

describe('the control socket', () => {
  it("needs its directory to exist", () => {
    const error = reject('listen: 127.0.0.1:8000\ncommand: [/bin/sh]\ncontrol: ./run/s.sock\n');
    const [problem] = error.problems;
    assert.deepEqual([problem!.key, problem!.line, problem!.column], ['control', 3, 10]);
    assert.match(problem!.message, /directory .*\/run for the control socket does not exist: create it or set control: to a writable path/);
  });

  it('checks the directory of the default path, and says where the default came from', () => {
    const error = reject('listen: 127.0.0.1:8000\ncommand: [/bin/sh]\n', { env: { PATH: '/bin', RUNTIME_DIRECTORY: join(dir, 'nope') } });
    const [problem] = error.problems;
    assert.equal(problem!.key, 'control');
    assert.equal(problem!.line, undefined);
    assert.match(problem!.message, /for the default control socket does not exist: create it \(under systemd, RuntimeDirectory=/);
  });

  it('defaults beside the config file', () => {
    assert.equal(parse('listen: 127.0.0.1:8000\ncommand: [/bin/sh]\n').control, join(dir, 'supervisor.sock'));
  });
});

describe('defaultControlPath', () => {
  it('uses $RUNTIME_DIRECTORY first', () => {
    assert.equal(defaultControlPath('/etc/app/s.yaml', { RUNTIME_DIRECTORY: '/run/app' }, 0), '/run/app/supervisor.sock');
    assert.equal(defaultControlPath('/etc/app/s.yaml', { RUNTIME_DIRECTORY: '/run/app' }, 1000), '/run/app/supervisor.sock');
  });

  it('takes the first of several runtime directories', () => {
    assert.equal(defaultControlPath('/etc/app/s.yaml', { RUNTIME_DIRECTORY: '/run/a:/run/b' }, 1000), '/run/a/supervisor.sock');
  });

  it('uses /run/reuseport-supervisor for root', () => {
    assert.equal(defaultControlPath('/etc/app/s.yaml', {}, 0), '/run/reuseport-supervisor/supervisor.sock');
    assert.equal(defaultControlPath('/etc/app/s.yaml', { RUNTIME_DIRECTORY: '' }, 0), '/run/reuseport-supervisor/supervisor.sock');
  });

  it('uses the directory of the config file otherwise', () => {
    assert.equal(defaultControlPath('/home/me/app/s.yaml', {}, 1000), '/home/me/app/supervisor.sock');
    assert.equal(defaultControlPath('s.yaml', {}, 1000), join(process.cwd(), 'supervisor.sock'));
  });

  it('is what parseConfig uses when control is not set', () => {
    const text = 'listen: 127.0.0.1:8000\ncommand: [node]\n';
    const pure = { checkFilesystem: false };
    assert.equal(parseConfig(text, '/etc/app/s.yaml', { ...pure, env: {}, uid: 0 }).control, '/run/reuseport-supervisor/supervisor.sock');
    assert.equal(parseConfig(text, '/etc/app/s.yaml', { ...pure, env: { RUNTIME_DIRECTORY: '/run/x' }, uid: 0 }).control, '/run/x/supervisor.sock');
    assert.equal(parseConfig(text, '/etc/app/s.yaml', { ...pure, env: {}, uid: 1000 }).control, '/etc/app/supervisor.sock');
  });
});

describe('several problems at once', () => {
  it('reports schema and filesystem problems together', () => {
    const error = reject('listen: 127.0.0.1:0\ncommand: [/no/such/program]\ncwd: /no/such/dir\ncontrol: /no/such/dir/s.sock\nworkers: 0\n');
    assert.deepEqual(error.problems.map((problem) => problem.key), ['listen', 'command[0]', 'cwd', 'control', 'workers']);
  });
});

describe('loadConfig', () => {
  it('reads and validates a file', () => {
    const path = join(dir, 'ok.yaml');
    writeFileSync(path, 'listen: 127.0.0.1:8000\ncommand: [./bin/tool]\n');
    const config = loadConfig(path, options());
    assert.equal(config.file, path);
    assert.equal(config.executable, join(dir, 'bin', 'tool'));
  });

  it('names the file and the errno code when the file is missing', () => {
    const path = join(dir, 'missing.yaml');
    assert.throws(() => loadConfig(path, options()), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.file, path);
      assert.equal(error.message, `cannot read config ${path}\n${path}: ENOENT: no such file: pass -c with the path of your config`);
      return true;
    });
  });

  it('says when the path is a directory', () => {
    assert.throws(() => loadConfig(dir, options()), /EISDIR: is a directory: pass -c with the path of the config file itself/);
  });

  it('puts the file name on every problem line', () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'listen: 127.0.0.1:8000\ncommand: [./bin/tool]\nworkers: many\n');
    assert.throws(() => loadConfig(path, options()), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.message.split('\n')[1], `${path}:3:10: workers: expected a whole number from 1 to 256, got "many"`);
      return true;
    });
  });
});

describe('examples/supervisor.yaml', () => {
  it('is a valid config for the bundled app', () => {
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
    const path = join(root, 'examples', 'supervisor.yaml');
    const config = loadConfig(path, { env: { PATH: dirname(process.execPath) }, uid: 1000 });
    assert.deepEqual(config.listen.map((address) => address.text), ['127.0.0.1:8000']);
    assert.equal(config.socket, 'reuseport');
    assert.equal(config.workers, 2);
    assert.deepEqual(config.command, ['node', 'server.js']);
    assert.equal(config.executable, process.execPath);
    assert.equal(config.cwd, join(root, 'examples', 'app'));
    assert.deepEqual(config.env, { NODE_ENV: 'production' });
    assert.deepEqual(config.ready, { kind: 'notify', timeoutMs: 10_000, path: '/', intervalMs: 100, delayMs: 1_000, nice: 19, niceRampMs: 5_000, warmup: null });
    assert.deepEqual(config.drain, { signal: 'SIGTERM', timeoutMs: 30_000, spreadMs: 1_000 });
    assert.equal(config.slowStartMs, 1_000);
    assert.equal(config.control, join(root, 'examples', 'supervisor.sock'));
  });
});
