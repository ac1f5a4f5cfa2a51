#!/usr/bin/env node
// npm's "install" hook: builds build/Release/reuseport_supervisor.node (the addon),
// build/Release/supervisor-shim (the exec shim) and build/Release/hello-worker (the example worker
// in C) with node-gyp. The supervisor cannot run without the first two, so a missing toolchain is
// named up front instead of surfacing as a node-gyp stack trace.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const TOOLS = ['g++', 'make', 'python3'];
const OUTPUTS = ['build/Release/reuseport_supervisor.node', 'build/Release/supervisor-shim', 'build/Release/hello-worker'];

function onPath(command) {
  return spawnSync('/bin/sh', ['-c', `command -v "$0" >/dev/null`, command]).status === 0;
}

function checkToolchain() {
  const missing = TOOLS.filter((tool) => !onPath(tool));
  if (missing.length === 0) return;
  console.error(
    `build-addon: cannot build the native addon: ${missing.join(', ')} not found on PATH.\n` +
      `  reuseport-supervisor needs a C/C++ toolchain to build its addon and exec shim.\n` +
      `  Fix (Debian/Ubuntu): apt-get install g++ make python3   then run: npm run install`,
  );
  process.exit(1);
}

// npm exports npm_config_node_gyp when it runs a lifecycle script; otherwise use the node-gyp
// bundled with npm (next to this node), then whatever node-gyp is on PATH.
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  const npmRoot = join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm');
  candidates.push(join(npmRoot, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const candidate of candidates) {
    if (candidate && existsSync(candidate)) return [process.execPath, [candidate]];
  }
  if (onPath('node-gyp')) return ['node-gyp', []];
  console.error(
    'build-addon: cannot find node-gyp (not set by npm, not bundled next to node, not on PATH).\n' +
      '  Fix: run the build through npm (npm run install), or: npm install -g node-gyp',
  );
  process.exit(1);
}

// Without a nodedir node-gyp downloads the headers, which fails offline. When npm did not pass
// one (npm_config_nodedir) and this node's own headers are installed next to it (distribution
// packages put them in <prefix>/include/node), use those: they match the running binary exactly.
function localNodedir() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = dirname(dirname(process.execPath));
  try {
    const header = readFileSync(join(prefix, 'include', 'node', 'node_version.h'), 'utf8');
    const part = (name) => header.match(new RegExp(`#define NODE_${name}_VERSION (\\d+)`))?.[1];
    const version = `v${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
    if (version === process.version && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) {
      return [`--nodedir=${prefix}`];
    }
  } catch {
    // no local headers: let node-gyp use its cache or download them
  }
  return [];
}

checkToolchain();
const [command, prefix] = findNodeGyp();
const args = [...prefix, 'rebuild', ...localNodedir()];
const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
if (result.error) {
  console.error(`build-addon: cannot run ${command}: ${result.error.message}`);
  process.exit(1);
}
if (result.status !== 0) {
  console.error(
    `build-addon: node-gyp rebuild failed (exit ${result.status ?? result.signal}); the compiler ` +
      'output above says why. Headers: node-gyp needs the Node headers (nodedir or a download).',
  );
  process.exit(result.status || 1);
}
const missing = OUTPUTS.filter((output) => !existsSync(join(root, output)));
if (missing.length > 0) {
  console.error(`build-addon: node-gyp succeeded but did not produce ${missing.join(', ')}.`);
  process.exit(1);
}
console.log(`build-addon: built ${OUTPUTS.join(' and ')}`);
