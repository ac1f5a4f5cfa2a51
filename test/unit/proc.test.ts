// The /proc reader: stat lines whose command name holds spaces and parentheses, and the real
// /proc of this test process (its threads, a child it spawned, a socket it listens on).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
import { groupListensOn } from '../../src/daemon/process/listen-owner.js';
import { childPids, listeningInodes, parseStat, processIds, readStat, socketInodes, taskIds } from '../../src/daemon/process/proc.js';

// Beyond any pid_max (at most 2^22): no such process.
const NO_SUCH_PID = 2 ** 30;

describe('parseStat', () => {
  test('fields after the command name, which ends at the last ")"', () => {
    const tail = '0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 5000 1000 200';
    assert.deepEqual(parseStat(`4711 (node) S 4700 4711 4700 ${tail}\n`), { pid: 4711, comm: 'node', state: 'S', ppid: 4700, pgid: 4711 });
    assert.deepEqual(parseStat(`42 (a b) Z 7 (c) R 1 1 ${tail}`), { pid: 42, comm: 'a b) Z 7 (c', state: 'R', ppid: 1, pgid: 1 });
    assert.deepEqual(parseStat(`9 ()) ) D 2 3 ${tail}`), { pid: 9, comm: ')) ', state: 'D', ppid: 2, pgid: 3 });
  });

  test('null for text that is not a stat line', () => {
    for (const text of ['', 'node', '4711 node S 1 1', '4711 (node)', '4711 (node) S x 1', 'pid (node) S 1 1']) {
      assert.equal(parseStat(text), null, JSON.stringify(text));
    }
  });
});

describe('the real /proc', () => {
  test('this process: its stat, its threads, its place in the pid list', () => {
    const stat = readStat(process.pid);
    assert.ok(stat);
    assert.deepEqual([stat.pid, stat.ppid], [process.pid, process.ppid]);
    assert.match(stat.state, /^[RS]$/);
    const tasks = taskIds(process.pid);
    assert.ok(tasks !== null && tasks.includes(process.pid), 'the main thread has the process id');
    assert.ok(tasks.length > 1, "Node runs more than one thread (libuv's pool, V8's workers)");
    assert.ok(processIds().includes(process.pid));
  });

  test('a process that is gone reads as nothing', () => {
    assert.equal(readStat(NO_SUCH_PID), null);
    assert.equal(taskIds(NO_SUCH_PID), null);
    assert.deepEqual(childPids(NO_SUCH_PID), []);
    assert.deepEqual(socketInodes(NO_SUCH_PID), []);
  });

  test('a spawned child is among the children, with this process as its parent', async () => {
    const child = spawn('sleep', ['10'], { stdio: 'ignore' });
    try {
      await once(child, 'spawn');
      assert.ok(childPids(process.pid).includes(child.pid!));
      assert.equal(readStat(child.pid!)?.ppid, process.pid);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });

  test('a listening socket of this process is found by port, IPv4 and IPv6', async () => {
    for (const host of ['127.0.0.1', '::1']) {
      const server = net.createServer();
      server.listen(0, host);
      await once(server, 'listening');
      try {
        const { port } = server.address() as net.AddressInfo;
        const listening = listeningInodes(port);
        assert.ok(socketInodes(process.pid).some((inode) => listening.has(inode)), 'its inode is among this process\'s sockets');
      } finally {
        server.close();
      }
    }
  });

  test('self mode readiness: a listener held by this process group is found by group and port, and gone once closed', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    const pgid = readStat(process.pid)!.pgid;
    try {
      assert.equal(groupListensOn(pgid, port), true);
      assert.equal(groupListensOn(NO_SUCH_PID, port), false, 'another process group');
    } finally {
      server.close();
    }
    await once(server, 'close');
    assert.equal(groupListensOn(pgid, port), false, 'closed');
  });
});
