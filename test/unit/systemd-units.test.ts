import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode, PERMANENT_EXIT_CODES } from '../../src/control/exit-codes.js';
import { renderUnits, runInstallUnit, unitWord, type UnitPaths } from '../../src/cli/install-unit.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const paths: UnitPaths = { node: '/opt/node 20/bin/node', cli: '/srv/rps/dist/cli/main.js', packageRoot: root };

// [Section] -> key -> values (a key may repeat), comments dropped.
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const equals = line.indexOf('=');
    assert.ok(current && equals > 0, `not a unit line: ${line}`);
    const key = line.slice(0, equals);
    current.set(key, [...(current.get(key) ?? []), line.slice(equals + 1)]);
  }
  return sections;
}

const seconds = (value: string) => {
  const match = /^(\d+)(s|min)$/.exec(value);
  assert.ok(match, `duration ${value}`);
  return Number(match[1]) * (match[2] === 'min' ? 60 : 1);
};

test('unitWord escapes specifiers and variables and quotes what needs it', () => {
  assert.equal(unitWord('/usr/bin/node'), '/usr/bin/node');
  assert.equal(unitWord('/opt/node 20/bin/node'), '"/opt/node 20/bin/node"');
  assert.equal(unitWord('/srv/100%/$HOME'), '/srv/100%%/$$HOME');
  assert.equal(unitWord('/a "b"'), '"/a \\"b\\""');
});

test('the service unit: Type=notify, reload that waits and fails on rollback, mixed kill, restart but not on a bad config', () => {
  const [service] = renderUnits({ config: '/etc/app/supervisor.yaml', socket: false, notifyReload: false }, paths);
  assert.equal(service!.path, 'reuseport-supervisor.service');
  const unit = parseUnit(service!.text).get('Service')!;
  const one = (key: string) => {
    const values = unit.get(key);
    assert.equal(values?.length, 1, `${key}: ${JSON.stringify(values)}`);
    return values![0]!;
  };
  assert.equal(one('Type'), 'notify');
  assert.equal(one('NotifyAccess'), 'main');
  assert.equal(one('ExecStart'), '"/opt/node 20/bin/node" /srv/rps/dist/cli/main.js run -c /etc/app/supervisor.yaml');
  assert.equal(one('ExecReload'), '"/opt/node 20/bin/node" /srv/rps/dist/cli/main.js reload -c /etc/app/supervisor.yaml');
  assert.equal(one('KillMode'), 'mixed');
  assert.equal(one('Restart'), 'on-failure');
  // Exactly the codes that mean "starting again fails the same way", and never a temporary one.
  assert.deepEqual(one('RestartPreventExitStatus').split(' ').map(Number), [...PERMANENT_EXIT_CODES]);
  assert.ok(!PERMANENT_EXIT_CODES.includes(ExitCode.system));
  assert.equal(one('RuntimeDirectory'), 'reuseport-supervisor');
  // The default drain (30 s) plus up to 10 s waiting for accept queues fits in the stop timeout.
  assert.ok(seconds(one('TimeoutStopSec')) > 30 + 10);
  assert.ok(seconds(one('WatchdogSec')) >= 10);
  // node outside systemd's PATH: the workers' PATH gets its directory.
  assert.equal(one('Environment'), '"PATH=/opt/node 20/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"');
  assert.ok(!service!.text.includes('/usr/bin/supervisor'), 'every shipped command path is replaced');
  const caps = one('CapabilityBoundingSet').split(' ').sort();
  assert.deepEqual(caps, ['CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETGID', 'CAP_SETUID']);
  assert.equal(unit.get('MemoryDenyWriteExecute'), undefined, 'it would break the JIT of node workers');
});

test('node in systemd\'s PATH: no Environment=PATH line', () => {
  const [service] = renderUnits({ config: '/etc/app.yaml', socket: false, notifyReload: false }, { ...paths, node: '/usr/bin/node' });
  assert.equal(parseUnit(service!.text).get('Service')!.get('Environment'), undefined);
});

test('the template: one app per instance, its config and runtime directory named by the instance', () => {
  const units = renderUnits({ config: '/etc/app.yaml', socket: false, notifyReload: false }, paths);
  const template = units.find((file) => file.path === 'reuseport-supervisor@.service')!;
  const unit = parseUnit(template.text).get('Service')!;
  assert.deepEqual(unit.get('ExecStart'), ['"/opt/node 20/bin/node" /srv/rps/dist/cli/main.js run -c /etc/reuseport-supervisor/%i.yaml']);
  assert.deepEqual(unit.get('ExecReload'), ['"/opt/node 20/bin/node" /srv/rps/dist/cli/main.js reload -c /etc/reuseport-supervisor/%i.yaml']);
  assert.deepEqual(unit.get('RuntimeDirectory'), ['reuseport-supervisor/%i']);
  // Everything else as in the single unit.
  const single = parseUnit(units[0]!.text).get('Service')!;
  for (const [key, values] of single) {
    if (['ExecStart', 'ExecReload', 'RuntimeDirectory'].includes(key)) continue;
    assert.deepEqual(unit.get(key), values, key);
  }
});

test('the socket unit listens where the config does; the notify-reload drop-in clears ExecReload=', () => {
  const units = renderUnits({ config: '/etc/app.yaml', socket: true, notifyReload: true, listen: ['127.0.0.1:80', '[::1]:80'], backlog: 1024 }, paths);
  assert.deepEqual(units.map((file) => file.path), [
    'reuseport-supervisor.service',
    'reuseport-supervisor@.service',
    'reuseport-supervisor.socket',
    'reuseport-supervisor.service.d/notify-reload.conf',
    'reuseport-supervisor@.service.d/notify-reload.conf',
  ]);
  const socket = parseUnit(units[2]!.text).get('Socket')!;
  assert.deepEqual(socket.get('ListenStream'), ['127.0.0.1:80', '[::1]:80']);
  assert.deepEqual(socket.get('Backlog'), ['1024']);
  assert.deepEqual(socket.get('Service'), ['reuseport-supervisor.service']);
  // A service that cannot start is not started by queued connections forever.
  assert.deepEqual([socket.get('TriggerLimitIntervalSec'), socket.get('TriggerLimitBurst')], [['60s'], ['5']]);
  const dropIn = parseUnit(units[3]!.text).get('Service')!;
  assert.deepEqual(dropIn.get('Type'), ['notify-reload']);
  assert.deepEqual(dropIn.get('ReloadSignal'), ['SIGHUP']);
  assert.deepEqual(dropIn.get('ExecReload'), [''], 'else systemd would signal and run supervisor reload: two reloads');
});

test('install-unit: --dry-run writes nothing; --notify-reload is refused on systemd < 253; a bad config is exit 100', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rps-units-'));
  try {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (text: string) => out.push(text), err: (text: string) => err.push(text), paths };
    const args = { dir: path.join(dir, 'units'), dryRun: true, config: path.join(dir, 'missing.yaml'), socket: false, notifyReload: false };
    assert.equal(runInstallUnit(args, io), 0);
    assert.match(out.join(''), /^# .*\/units\/reuseport-supervisor\.service\n/);
    assert.match(err.join(''), /missing\.yaml does not exist yet/);
    assert.match(err.join(''), /never runs systemctl itself/);
    assert.throws(() => readFileSync(path.join(dir, 'units', 'reuseport-supervisor.service')), /ENOENT/);

    err.length = 0;
    assert.equal(runInstallUnit({ ...args, notifyReload: true }, { ...io, systemdVersion: () => 252 }), ExitCode.usage);
    assert.match(err.join(''), /needs systemd >= 253.*has 252/);
    assert.equal(runInstallUnit({ ...args, notifyReload: true }, { ...io, systemdVersion: () => 254 }), 0);

    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'listen: localhost:80\n');
    err.length = 0;
    assert.equal(runInstallUnit({ ...args, config: bad }, io), ExitCode.usage);
    assert.match(err.join(''), /invalid config/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
