import { lstatSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

export interface WatchSettings {
  path: string;
  debounceMs: number;
  ignore: string[];
}

// "*.tmp" and "**/.git/**" as regular expressions over the path relative to the watched one.
export function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  // A pattern without a slash matches a name at any depth, as .gitignore does.
  return pattern.includes('/') ? new RegExp(`^${source}$`) : new RegExp(`(^|/)${source}$`);
}

// What identifies the release the watched path stands for: a symlink's target, a file's size and
// time, a directory's latest change. The same fingerprint twice means nothing new to deploy.
function fingerprint(watched: string, changes: number): string {
  try {
    const link = lstatSync(watched);
    const real = realpathSync(watched);
    if (link.isSymbolicLink()) return `link:${real}`;
    const stat = statSync(real);
    if (stat.isFile()) return `file:${stat.size}:${stat.mtimeMs}`;
    return `dir:${real}:${changes}`;
  } catch {
    return 'missing';
  }
}

// Watches a release path and calls onRelease once a change has settled: no event for
// debounceMs, and the path then stands for something new. A symlink replaced atomically, a
// marker file rewritten, or a directory written in place all end in one call per settled change.
export class ReleaseWatcher {
  readonly settings: WatchSettings;
  readonly #onRelease: (target: string) => void;
  readonly #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | null = null;
  #changes = 0;
  #last: string;

  constructor(settings: WatchSettings, onRelease: (target: string) => void) {
    this.settings = settings;
    this.#onRelease = onRelease;
    this.#last = fingerprint(settings.path, 0);
    const base = settings.path;
    // The parent directory, one level deep and without following links, sees the path itself
    // being replaced (mv -T new current); a watch that follows the link would only see its target.
    const parent = watch(path.dirname(base), { ignoreInitial: true, followSymlinks: false, depth: 0 });
    parent.on('all', (_event, changed) => {
      if (changed === base) this.#onChange();
    });
    this.#watchers.push(parent);
    if (!isSymlink(base)) {
      // A directory or a marker file changed in place: its contents are watched too. A release
      // behind a symlink is immutable by convention; only the flip counts there.
      const ignored = settings.ignore.map(globToRegExp);
      const contents = watch(base, {
        ignoreInitial: true,
        ignored: (candidate: string) => candidate !== base && ignored.some((pattern) => pattern.test(path.relative(base, candidate))),
      });
      contents.on('all', () => this.#onChange());
      this.#watchers.push(contents);
    }
    for (const watcher of this.#watchers) {
      watcher.on('error', () => {
        // A directory vanishing during a release swap: the debounce re-reads the path anyway.
      });
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    await Promise.all(this.#watchers.map((watcher) => watcher.close()));
  }

  #onChange(): void {
    this.#changes++;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#settled(), this.settings.debounceMs);
  }

  #settled(): void {
    this.#timer = null;
    const now = fingerprint(this.settings.path, this.#changes);
    if (now === this.#last || now === 'missing') return;
    this.#last = now;
    let target = this.settings.path;
    try {
      target = realpathSync(this.settings.path);
    } catch {
      // reported by the reload itself
    }
    this.#onRelease(target);
  }
}

function isSymlink(file: string): boolean {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}
