// A node:cluster worker for the cluster baseline: listens on PORT through the primary (default
// scheduling: the primary accepts and hands connections round-robin). worker.disconnect() in the
// primary closes this server; the primary kills the worker at the drain deadline.
import * as http from 'node:http';
import { helloHandler } from './hello.js';

const version = process.env.BENCH_VERSION ?? '1';
http.createServer(helloHandler(version, version)).listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
