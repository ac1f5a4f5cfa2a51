import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'reuseport-supervisor';

// This package's own package.json, found by walking up from this file, so it is found from dist/src
// (compiled), src (run from source) or a nested install alike: where the addon is built, and the
// version `status` and `supervisor upgrade` report.
function findManifest(start: string): { root: string; version: string } {
  for (let dir = start; ; dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === PACKAGE_NAME) return { root: dir, version: typeof manifest.version === 'string' ? manifest.version : 'unknown' };
    } catch {
      // no (readable) package.json here: keep walking
    }
    if (dirname(dir) === dir) break;
  }
  return { root: resolve(start, '..', '..'), version: 'unknown' }; // dist/src -> package root
}

const manifest = findManifest(dirname(fileURLToPath(import.meta.url)));

/** The package's root directory (where package.json and build/ are). */
export const packageRoot: string = manifest.root;

/** This package's version (package.json), as `supervisor --version` and `status` show it. */
export function supervisorVersion(): string {
  return manifest.version;
}
