// The request handler of the baseline servers (naive, node:cluster). It answers GET / exactly as
// examples/app/server.js does (same URL parsing, headers and body length), so every strategy
// serves the same work and only the way sockets and reloads are handled differs.
import type * as http from 'node:http';

export function helloHandler(version: string, generation: string): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const body = url.pathname === '/' ? `hello from pid ${process.pid}, version ${version}, generation ${generation}\n` : `not found: ${url.pathname}\n`;
    res.writeHead(url.pathname === '/' ? 200 : 404, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-version': version,
      'x-pid': String(process.pid),
    });
    res.end(body);
  };
}

/** Exits at the drain deadline even if connections remain, as a deploy script's `kill -9` would. */
export function exitAtDeadline(ms: number): void {
  setTimeout(() => process.exit(0), ms).unref();
}
