import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';

export interface Release {
  path: string; // the resolved real path the generation runs from
  revision: string | null; // REVISION or VERSION file content, when the release has one
}

const MARKERS = ['REVISION', 'VERSION'];
const MAX_REVISION_CHARS = 200;

// What a generation runs: cwd resolved at its start (so a later symlink flip does not move it)
// and the release's own revision marker.
export function describeRelease(cwd: string): Release {
  const real = realpathSync(cwd);
  for (const marker of MARKERS) {
    try {
      const text = readFileSync(path.join(real, marker), 'utf8').trim().slice(0, MAX_REVISION_CHARS);
      if (text) return { path: real, revision: text };
    } catch {
      // no such marker
    }
  }
  return { path: real, revision: null };
}
