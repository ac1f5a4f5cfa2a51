// The naive baseline, as the classic SO_REUSEPORT articles do it: each process binds the port
// itself with SO_REUSEPORT and, on SIGTERM, calls server.close() and exits when it completes.
// Node 20 has no reusePort listen option, so the socket comes from the project's addon and Node
// adopts the fd. Node 20's close() also closes idle keep-alive connections; busy ones would keep
// the process alive forever under a closed-loop client, hence the deadline (BENCH_DRAIN_MS).
//
// Environment: PORT, HOST, BENCH_VERSION, BENCH_DRAIN_MS. Started with an IPC channel: sends
// 'listening' once the socket accepts, and exits if the channel closes (the benchmark died).
import * as http from 'node:http';
import { listenTcp } from '../../src/native/index.js';
import { exitAtDeadline, helloHandler } from './hello.js';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT);
const drainMs = Number(process.env.BENCH_DRAIN_MS ?? 1000);
const version = process.env.BENCH_VERSION ?? '1';

const server = http.createServer(helloHandler(version, version));
const fd = listenTcp({ host, port, backlog: 511, reusePort: true });
server.listen({ fd }, () => process.send?.('listening'));

process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  exitAtDeadline(drainMs);
});
process.on('disconnect', () => process.exit(0));
