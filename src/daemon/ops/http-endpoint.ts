import http from 'node:http';
import type { Logger } from '../../log.js';
import type { ListenAddress } from '../../config/index.js';
import type { DaemonStatus } from '../../control/protocol.js';
import { healthOf } from './health.js';
import type { SupervisorMetrics } from './metrics.js';
import { setCloseOnExec } from '../../native/index.js';

// The supervisor's own HTTP listener (config `metrics:`), never in the workers' data path:
//   GET /metrics   Prometheus text format
//   GET /healthz   200 "serving" | 503 "starting" | 503 "draining": for load balancers and
//                  Kubernetes readiness probes
//   GET /livez     200 while the daemon's event loop answers: for liveness probes (stays 200 while
//                  draining, so a probe never kills a supervisor that is stopping on purpose)
export class HttpEndpoint {
  readonly #server: http.Server;
  readonly #address: ListenAddress;
  readonly #log: Logger;

  constructor(address: ListenAddress, source: { status(): DaemonStatus }, metrics: SupervisorMetrics, log: Logger) {
    this.#address = address;
    this.#log = log;
    this.#server = http.createServer((req, res) => {
      void this.#answer(req, res, source, metrics).catch((error: Error) => {
        log.error({ err: error, path: req.url }, 'metrics endpoint failed to answer');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`internal error: ${error.message}\n`);
      });
    });
    this.#server.keepAliveTimeout = 5_000;
    this.#server.requestTimeout = 10_000;
    // An 'error' with no listener is thrown from the event loop and would end the daemon. Node
    // reports a failed accept() this way; libuv keeps the socket listening after it. (Errors of
    // one client's connection go to http's own 'clientError' handling.)
    this.#server.on('error', (error: NodeJS.ErrnoException) => {
      if (!this.#server.listening) return; // listen() rejects with it
      log.error(
        { err: error, metrics: address.text },
        `metrics ${address.text}: ${error.syscall ?? 'a call'} failed (${error.code ?? error.message}); it keeps listening. ` +
          'If this repeats, the supervisor is out of file descriptors: raise its limit (LimitNOFILE= in the unit, ulimit -n)',
      );
    });
  }

  /** The listening socket's fd (what an upgrade hands over), or null when not listening. */
  get fd(): number | null {
    const fd = (this.#server as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
    return typeof fd === 'number' && fd >= 0 ? fd : null;
  }

  // Binds the address; rejects with the listen error (EADDRINUSE, EACCES) named with the address.
  // inherited: the listener the program before an upgrade held, so health checks see no gap.
  listen(inherited: number | null = null): Promise<void> {
    if (inherited !== null) setCloseOnExec(inherited, true);
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        reject(new Error(`metrics ${this.#address.text}: cannot listen (${error.code ?? error.message}): choose a free port for metrics:, or remove it`, { cause: error }));
      };
      this.#server.once('error', onError);
      const where = inherited === null ? { host: this.#address.host, port: this.#address.port, exclusive: true } : { fd: inherited };
      this.#server.listen(where, () => {
        this.#server.off('error', onError);
        this.#log.info({ metrics: this.#address.text }, 'metrics and health endpoint listening (/metrics, /healthz, /livez)');
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #answer(req: http.IncomingMessage, res: http.ServerResponse, source: { status(): DaemonStatus }, metrics: SupervisorMetrics): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const text = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return text(405, 'use GET or HEAD\n');
    }
    switch (path) {
      case '/metrics':
        return text(200, await metrics.text(), metrics.contentType);
      case '/healthz': {
        const verdict = healthOf(source.status());
        return text(verdict.status, `${verdict.state}\n`);
      }
      case '/livez':
        return text(200, 'alive\n');
      default:
        return text(404, 'not found: GET /metrics, /healthz or /livez\n');
    }
  }
}
