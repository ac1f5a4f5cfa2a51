import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | null = null;

/** This package's version (package.json), as `supervisor --version` and `status` show it. */
export function supervisorVersion(): string {
  if (cached !== null) return cached;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === 'reuseport-supervisor' && typeof manifest.version === 'string') return (cached = manifest.version);
    } catch {
      // no (readable) package.json here: keep walking
    }
    if (dirname(dir) === dir) return (cached = 'unknown');
  }
}
