import http from 'node:http';

export type ConnectionMode = 'new-connection' | 'keep-alive';

export interface LoadOptions {
  port: number;
  host?: string;
  mode: ConnectionMode;
  concurrency: number;
  path?: string;
  requestTimeoutMs?: number;
}

export interface LoadReport {
  mode: ConnectionMode;
  ok: number;
  failed: number;
  failures: Record<string, number>; // by error code or HTTP status
  latenciesMs: number[];
}

// A closed-loop load client with no retries: every request that does not come back 2xx counts as
// failed, by cause. stop() ends the loops after their current request.
export class LoadClient {
  readonly report: LoadReport;
  readonly #options: Required<LoadOptions>;
  readonly #agent: http.Agent | false;
  #running = false;
  #loops: Promise<void>[] = [];

  constructor(options: LoadOptions) {
    this.#options = { host: '127.0.0.1', path: '/', requestTimeoutMs: 10_000, ...options };
    this.report = { mode: options.mode, ok: 0, failed: 0, failures: {}, latenciesMs: [] };
    this.#agent = options.mode === 'keep-alive' ? new http.Agent({ keepAlive: true, maxSockets: options.concurrency }) : false;
  }

  start(): void {
    this.#running = true;
    this.#loops = Array.from({ length: this.#options.concurrency }, () => this.#loop());
  }

  async stop(): Promise<LoadReport> {
    this.#running = false;
    await Promise.all(this.#loops);
    if (this.#agent) this.#agent.destroy();
    return this.report;
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      const started = performance.now();
      const outcome = await this.#once();
      if (outcome === 'ok') {
        this.report.ok++;
        this.report.latenciesMs.push(performance.now() - started);
      } else {
        this.report.failed++;
        this.report.failures[outcome] = (this.report.failures[outcome] ?? 0) + 1;
      }
    }
  }

  #once(): Promise<string> {
    const { host, port, path, requestTimeoutMs, mode } = this.#options;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (outcome: string) => {
        if (!settled) {
          settled = true;
          resolve(outcome);
        }
      };
      const request = http.request(
        { host, port, path, agent: this.#agent, timeout: requestTimeoutMs, headers: mode === 'new-connection' ? { connection: 'close' } : {} },
        (response) => {
          response.resume();
          response.on('end', () => settle(response.statusCode! >= 200 && response.statusCode! < 300 ? 'ok' : `HTTP ${response.statusCode}`));
          response.on('error', (error: NodeJS.ErrnoException) => settle(error.code ?? error.message));
        },
      );
      request.on('timeout', () => request.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      request.on('error', (error: NodeJS.ErrnoException) => settle(error.code ?? error.message));
      request.end();
    });
  }
}

/** Both kinds of client at once (a new connection per request, and keep-alive), started. */
export function startMixedLoad(port: number, concurrency = 4): LoadClient[] {
  const clients = [new LoadClient({ port, mode: 'new-connection', concurrency }), new LoadClient({ port, mode: 'keep-alive', concurrency })];
  for (const client of clients) client.start();
  return clients;
}

/** Stops every client after its current request; their reports. */
export function stopLoad(clients: LoadClient[]): Promise<LoadReport[]> {
  return Promise.all(clients.map((client) => client.stop()));
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
