// The in-process warm-up's own client against real servers on 127.0.0.1: Node's HTTP server in
// each way it frames an answer, and a raw TCP server for the answers Node's server never sends.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { WarmupConnections } from '../../src/worker/warmup-client.js';

const servers: net.Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

// A TCP server that answers every request it reads (up to its blank line) with `answer`.
async function rawServer(answer: string, closeAfter = false): Promise<number> {
  return listen(
    net.createServer((socket) => {
      let seen = '';
      socket.on('data', (data) => {
        seen += data.toString('latin1');
        while (seen.includes('\r\n\r\n')) {
          seen = seen.slice(seen.indexOf('\r\n\r\n') + 4);
          if (closeAfter) socket.end(answer);
          else socket.write(answer);
        }
      });
      socket.on('error', () => {});
    }),
  );
}

describe('the in-process warm-up client', () => {
  test('keep-alive GETs reuse one connection; new ones open one each; the request says who it is', async () => {
    const sockets = new Set<net.Socket>();
    const agents = new Set<string>();
    const port = await listen(
      http.createServer((req, res) => {
        sockets.add(req.socket);
        agents.add(`${req.headers['user-agent']} ${req.headers.host} ${req.url}`);
        res.end('hello');
      }),
    );
    const client = new WarmupConnections(port, 'test-agent');
    for (let i = 0; i < 5; i++) assert.equal(await client.get('/a', 'keep-alive'), 200);
    assert.equal(sockets.size, 1);
    for (let i = 0; i < 3; i++) assert.equal(await client.get('/a', 'new'), 200);
    assert.equal(sockets.size, 4);
    assert.deepEqual([...agents], [`test-agent 127.0.0.1:${port} /a`]);
    client.close();
  });

  test('reads the status and the end of chunked, sized, empty and streamed answers', async () => {
    const port = await listen(
      http.createServer((req, res) => {
        if (req.url === '/chunked') {
          res.writeHead(201);
          res.write('a'.repeat(70_000)); // more than one read, and chunk sizes in hex
          setImmediate(() => res.end('tail'));
        } else if (req.url === '/empty') {
          res.writeHead(204).end();
        } else if (req.url === '/missing') {
          res.writeHead(404, { 'content-length': '9' }).end('not found');
        } else {
          res.end('x'.repeat(100_000));
        }
      }),
    );
    const client = new WarmupConnections(port, 'test-agent');
    // The same kept connection throughout: a misread end would garble the next answer.
    for (const [path, status] of [['/chunked', 201], ['/empty', 204], ['/missing', 404], ['/big', 200], ['/chunked', 201]] as const) {
      assert.equal(await client.get(path, 'keep-alive'), status, path);
    }
    client.close();
  });

  test('chunked answers with extensions and trailers, after an interim 103', async () => {
    const port = await rawServer('HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n');
    const client = new WarmupConnections(port, 'test-agent');
    assert.equal(await client.get('/', 'keep-alive'), 200);
    assert.equal(await client.get('/', 'keep-alive'), 200);
    client.close();
  });

  test('an answer that ends with the connection, and a server that says Connection: close', async () => {
    const streamed = await rawServer('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nno length', true);
    const client = new WarmupConnections(streamed, 'test-agent');
    assert.equal(await client.get('/', 'keep-alive'), 200);
    assert.equal(await client.get('/', 'keep-alive'), 200); // a new connection, since the last one ended
    client.close();
    const closing = await listen(
      http.createServer((_req, res) => {
        res.setHeader('connection', 'close');
        res.end('bye');
      }),
    );
    const second = new WarmupConnections(closing, 'test-agent');
    for (let i = 0; i < 3; i++) assert.equal(await second.get('/', 'keep-alive'), 200);
    second.close();
  });

  test('no whole answer rejects: a reset, a refused connection, garbage', async () => {
    const resetting = await listen(net.createServer((socket) => socket.on('data', () => socket.resetAndDestroy())));
    await assert.rejects(new WarmupConnections(resetting, 'test-agent').get('/', 'new'), (error: NodeJS.ErrnoException) => error.code === 'ECONNRESET');
    const garbage = await rawServer('SSH-2.0-OpenSSH\r\n\r\n');
    await assert.rejects(new WarmupConnections(garbage, 'test-agent').get('/', 'new'), /the answer is not HTTP\/1\.x/);
    const badLength = await rawServer('HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n');
    await assert.rejects(new WarmupConnections(badLength, 'test-agent').get('/', 'new'), /Content-Length is not a number/);
    const closed = await listen(net.createServer());
    servers.pop()!.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await assert.rejects(new WarmupConnections(closed, 'test-agent').get('/', 'new'), (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED');
  });
});
