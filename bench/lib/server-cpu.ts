// CPU time of the servers under test, per generation, sampled from /proc while the load runs: what
// a new generation costs while it is young, against what the same work costs once it is warm.
//
// A server is any process in this network namespace (each strategy has its own) whose environment
// carries APP_VERSION, the version the benchmark gives each generation; the load client and the
// supervisor do not have it. Each pid is classified once, so a sample reads /proc/<pid>/stat of the
// servers alone, plus the /proc listing to find new ones.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface CpuTrace {
  intervalMs: number;
  /** Per sample: epoch ms, and each version's CPU (ms) used since the previous sample. */
  samples: { at: number; msByVersion: Record<string, number> }[];
  /** When each version's first process was seen (epoch ms): its generation's birth, to within a sample. */
  firstSeen: Record<string, number>;
}

const TICK_MS = 10; // USER_HZ is 100 on every Linux the bench targets (sysconf(_SC_CLK_TCK))

function ownNetNamespace(): string | null {
  try {
    return readlinkSync('/proc/self/ns/net');
  } catch {
    return null;
  }
}

function cpuTicks(pid: string): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is 3rd overall; utime and stime are the 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null; // exited
  }
}

function serverVersion(pid: string, namespace: string | null): string | null {
  try {
    if (namespace && readlinkSync(`/proc/${pid}/ns/net`) !== namespace) return null;
    const environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
    const entry = environ.split('\0').find((e) => e.startsWith('APP_VERSION='));
    return entry ? entry.slice('APP_VERSION='.length) : null;
  } catch {
    return null; // exited, or not ours to read
  }
}

export class ServerCpuSampler {
  readonly #intervalMs: number;
  readonly #namespace = ownNetNamespace();
  readonly #versionOf = new Map<string, string | null>(); // pid -> version (null: not a server)
  readonly #lastTicks = new Map<string, number>();
  readonly #trace: CpuTrace;
  #timer: NodeJS.Timeout | undefined;

  constructor(intervalMs = 100) {
    this.#intervalMs = intervalMs;
    this.#trace = { intervalMs, samples: [], firstSeen: {} };
  }

  start(): void {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), this.#intervalMs);
    this.#timer.unref(); // never what keeps a failed run alive
  }

  stop(): CpuTrace {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#sample();
    return this.#trace;
  }

  #sample(): void {
    const at = Date.now();
    const msByVersion: Record<string, number> = {};
    let pids: string[];
    try {
      pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
    } catch {
      return; // no /proc: the trace stays empty and the report says so
    }
    for (const pid of pids) {
      if (!this.#versionOf.has(pid)) this.#versionOf.set(pid, serverVersion(pid, this.#namespace));
      const version = this.#versionOf.get(pid);
      if (!version) continue;
      const ticks = cpuTicks(pid);
      if (ticks === null) continue;
      this.#trace.firstSeen[version] ??= at;
      // A pid seen for the first time brings all its CPU so far: start-up counts.
      const used = ticks - (this.#lastTicks.get(pid) ?? 0);
      this.#lastTicks.set(pid, ticks);
      msByVersion[version] = (msByVersion[version] ?? 0) + used * TICK_MS;
    }
    this.#trace.samples.push({ at, msByVersion });
  }
}
