import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { acceptQueue, closeFd, listenTcp, localAddress } from '../../src/native/index.js';
import { ReuseportGroup, type Member } from '../../src/daemon/sockets/steering.js';

function connectMany(port: number, count: number, localPort?: number): Promise<net.Socket[]> {
  return Promise.all(
    Array.from({ length: count }, () =>
      new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect({ host: '127.0.0.1', port, ...(localPort ? { localAddress: '127.0.0.1', localPort } : {}) });
        socket.once('connect', () => resolve(socket));
        socket.once('error', reject);
      }),
    ),
  );
}

async function settledQueues(members: Member[], expectedTotal: number): Promise<number[]> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const queues = members.map((member) => (member.closed ? 0 : acceptQueue(member.fd).queued));
    if (queues.reduce((a, b) => a + b, 0) >= expectedTotal || Date.now() > deadline) return queues;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function groupOf(count: number) {
  const first = listenTcp({ host: '127.0.0.1', port: 0, backlog: 1024, reusePort: true });
  const port = localAddress(first).port;
  const group = new ReuseportGroup({ host: '127.0.0.1', port, family: 4, text: `127.0.0.1:${port}` }, true);
  const members = [group.join(first)];
  for (let i = 1; i < count; i++) members.push(group.join(listenTcp({ host: '127.0.0.1', port, backlog: 1024, reusePort: true })));
  return { port, group, members };
}

test('a steered-out listener receives none of 300 new connections', async () => {
  const { port, group, members } = groupOf(3);
  const clients: net.Socket[] = [];
  try {
    members[0]!.routable = true;
    members[1]!.routable = true;
    group.commit();
    clients.push(...(await connectMany(port, 300)));
    const queues = await settledQueues(members, 300);
    assert.equal(queues[2], 0, `steered-out listener got ${queues[2]} connections`);
    assert.equal(queues[0]! + queues[1]!, 300);
    assert.ok(queues[0]! > 50 && queues[1]! > 50, `spread over both ready listeners: ${queues}`);
  } finally {
    for (const client of clients) client.destroy();
    for (const member of members) if (!member.closed) closeFd(member.fd);
  }
});

test('after a listener leaves, the slot table follows the kernel: the moved socket stays steered out', async () => {
  const { port, group, members } = groupOf(3);
  const [a, b, c] = members as [Member, Member, Member];
  const clients: net.Socket[] = [];
  try {
    a.routable = true;
    b.routable = true;
    group.commit();
    // a leaves: c (the last slot) moves into slot 0. Only b may get connections now.
    group.leave(a);
    assert.equal(group.slotOf(c), 0);
    assert.equal(group.slotOf(b), 1);
    clients.push(...(await connectMany(port, 200)));
    const queues = await settledQueues([b, c], 200);
    assert.deepEqual(queues, [200, 0]);
  } finally {
    for (const client of clients) client.destroy();
    for (const member of members) if (!member.closed) closeFd(member.fd);
  }
});

// One worker per generation: [old, new]. The program attached just before the old socket closes
// must hold for both orders, and there is no slot that means the same socket in both. It used to
// leave the choice to the kernel's hash, which put about half the SYNs of that moment in the queue
// about to be closed (each one reset). Connecting right after that attach, before the close, shows
// where such SYNs go.
test('while the one old listener leaves a group of two, no connection reaches it', async () => {
  const { port, group, members } = groupOf(2);
  const [old, serving] = members as [Member, Member];
  const clients: net.Socket[] = [];
  try {
    serving.routable = true;
    group.commit();
    group.commit(group.slotOf(old)); // the program leave() attaches before its close
    clients.push(...(await connectMany(port, 200)));
    assert.deepEqual(await settledQueues([old, serving], 200), [0, 200]);
    group.leave(old);
    assert.equal(group.slotOf(serving), 0);
    clients.push(...(await connectMany(port, 100)));
    assert.deepEqual(await settledQueues([serving], 300), [300]);
  } finally {
    for (const client of clients) client.destroy();
    for (const member of members) if (!member.closed) closeFd(member.fd);
  }
});

test('a probe from a chosen source port reaches the one steered-out listener under test', async () => {
  const { port, group, members } = groupOf(2);
  const [ready, candidate] = members as [Member, Member];
  const clients: net.Socket[] = [];
  try {
    ready.routable = true;
    group.commit();
    for (let i = 0; i < 20; i++) {
      const sourcePort = 21000 + Math.floor(Math.random() * 10000);
      group.addProbe(sourcePort, candidate);
      try {
        clients.push(...(await connectMany(port, 1, sourcePort)));
      } catch {
        // The port was taken by something else: try another.
      } finally {
        group.removeProbe(sourcePort);
      }
    }
    clients.push(...(await connectMany(port, 50)));
    const queues = await settledQueues([ready, candidate], clients.length);
    assert.equal(queues[1], clients.length - 50, 'every probe reached the candidate');
    assert.equal(queues[0], 50, 'every ordinary connection reached the ready listener');
  } finally {
    for (const client of clients) client.destroy();
    for (const member of members) if (!member.closed) closeFd(member.fd);
  }
});

function connectFrom(port: number, localAddress: string, localPort: number): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress, localPort });
    socket.once('connect', () => resolve(socket));
    socket.once('error', () => resolve(null)); // the port is taken by something else
  });
}

test('a block of source ports reaches the listener under test, from the probe address only', async () => {
  const { port, group, members } = groupOf(2);
  const [ready, candidate] = members as [Member, Member];
  const clients: net.Socket[] = [];
  try {
    ready.routable = true;
    group.commit();
    const from = 12_000 + 32 * Math.floor(Math.random() * 200);
    group.addProbeBlock(from, from + 31, candidate);
    let fromBlock = 0;
    for (let offset = 0; offset < 30; offset++) {
      const socket = await connectFrom(port, '127.0.0.1', from + offset);
      if (socket) clients.push(socket), fromBlock++;
    }
    // 127.0.0.2 is loopback too, but not the address probes connect from: as a remote client
    // whose source port happens to be in the block, it must reach a ready listener.
    let fromElsewhere = 0;
    for (let offset = 0; offset < 10; offset++) {
      const socket = await connectFrom(port, '127.0.0.2', from + offset);
      if (socket) clients.push(socket), fromElsewhere++;
    }
    clients.push(...(await connectMany(port, 30)));
    assert.ok(fromBlock >= 26 && fromElsewhere >= 8, `connected ${fromBlock} from the block, ${fromElsewhere} from elsewhere`);
    const queues = await settledQueues([ready, candidate], clients.length);
    assert.equal(queues[1], fromBlock, 'every connection from the block reached the candidate');
    assert.equal(queues[0], fromElsewhere + 30, 'the others reached the ready listener');
    group.removeProbeBlock(from);
    const after = await connectFrom(port, '127.0.0.1', from + 31);
    assert.ok(after, `port ${from + 31} is free`);
    clients.push(after);
    const final = await settledQueues([ready, candidate], clients.length);
    assert.equal(final[1], fromBlock, 'once removed, the block routes nothing more to the candidate');
  } finally {
    for (const client of clients) client.destroy();
    for (const member of members) if (!member.closed) closeFd(member.fd);
  }
});
