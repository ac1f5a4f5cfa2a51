// Bundles the CLI and the daemon (tsc's output in dist/src) into dist/cli: one module per set of
// commands that load it, split where the code dynamically imports, dependencies included. Node
// reads, parses and keeps one file per chunk instead of hundreds of modules, which halves what a
// `check` or `--help` costs to start and what the daemon keeps in memory (docs/benchmarks.md,
// "Weight"). dist/cli/meta.json maps every chunk to the source modules in it (the lean test reads it).
// The worker helper (reuseport-supervisor/worker) stays unbundled: apps import it.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const outdir = path.join(root, 'dist/cli');
rmSync(outdir, { recursive: true, force: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: { main: 'dist/src/cli/main.js' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  outExtension: { '.js': '.js' },
  chunkNames: 'chunk-[hash]',
  // Whitespace and syntax only: names stay as written, so stack traces and class names in
  // messages read as in the source.
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
  // The dependencies written as CommonJS (yaml, pino, prom-client) call require() for Node's own
  // modules; an ES module has no require of its own.
  banner: { js: 'import { createRequire as __supervisorRequire } from "node:module"; const require = __supervisorRequire(import.meta.url);' },
});

// A chunk's inputs by its path from the package root ("dist/cli/chunk-X.js" -> ["node_modules/zod/...", ...]).
const chunks = Object.fromEntries(Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith('.js')).map(([file, output]) => [file, Object.keys(output.inputs)]));
writeFileSync(path.join(outdir, 'meta.json'), `${JSON.stringify({ chunks }, null, 1)}\n`);

// Every --help text, rendered by yargs itself (src/cli/help-text.ts prints them without it).
const cli = path.join(outdir, 'main.js');
const render = (args) => {
  const run = spawnSync(process.execPath, [cli, ...args, '--help'], { encoding: 'utf8', env: { ...process.env, SUPERVISOR_HELP_LIVE: '1' } });
  if (run.status !== 0) throw new Error(`supervisor ${[...args, '--help'].join(' ')} exited with ${run.status}: ${run.stderr}`);
  return run.stdout;
};
const top = render([]);
const commands = [...top.matchAll(/^ {2}supervisor ([a-z][a-z-]*)/gm)].map((match) => match[1]);
if (commands.length === 0) throw new Error(`no commands found in supervisor --help:\n${top}`);
const help = { '': top, ...Object.fromEntries(commands.map((command) => [command, render([command])])) };
writeFileSync(path.join(outdir, 'help.json'), `${JSON.stringify(help, null, 1)}\n`);
