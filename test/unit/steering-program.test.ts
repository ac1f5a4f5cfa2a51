import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressWords, buildSteeringProgram, KERNEL_HASH, type SteeringPlan } from '../../src/daemon/sockets/steering-program.js';
import type { BpfInstruction } from '../../src/native/index.js';

// A tiny classic-BPF interpreter for the instructions the steering program uses, so the program's
// meaning is checked here; test/native/steering.test.ts checks the kernel agrees.
interface Packet {
  family: 4 | 6;
  sourcePort: number;
  ipHeaderLength?: number;
  random: number;
  source?: number[]; // the IP source address as 32-bit words; default loopback
}

function run(program: BpfInstruction[], packet: Packet): number {
  let a = 0;
  let x = 0;
  const source = packet.source ?? (packet.family === 4 ? [0x7f000001] : [0, 0, 0, 1]);
  const net = (offset: number) => {
    const ihl = packet.ipHeaderLength ?? 20;
    if (offset === 0) return 0x40 | (ihl / 4);
    if (offset === (packet.family === 4 ? ihl : 40)) return packet.sourcePort;
    throw new Error(`unexpected load at network offset ${offset}`);
  };
  const netWord = (offset: number) => {
    const base = packet.family === 4 ? 12 : 8;
    const index = (offset - base) / 4;
    if (!Number.isInteger(index) || index < 0 || index >= source.length) throw new Error(`unexpected word load at network offset ${offset}`);
    return source[index]!;
  };
  for (let pc = 0; pc < program.length; pc++) {
    const { code, jt, jf, k } = program[pc]!;
    const signed = k | 0;
    switch (code) {
      case 0xb1: x = 4 * (net(signed + 0x100000) & 0xf); break; // ldxb 4*([k]&0xf)
      case 0x48: a = net(x + signed + 0x100000); break; // ldh [x + k]
      case 0x28: a = net(signed + 0x100000); break; // ldh [k]
      case 0x20: a = signed === -0x1000 + 56 ? packet.random : netWord(signed + 0x100000); break; // ld random, or ld [k] (a source address word)
      case 0x94: a = a % k; break; // mod #k
      case 0x05: pc += k; break; // ja +k
      case 0x15: pc += a === k ? jt : jf; break; // jeq #k
      case 0x25: pc += a > k ? jt : jf; break; // jgt #k
      case 0x35: pc += a >= k ? jt : jf; break; // jge #k
      case 0x06: return k >>> 0; // ret #k
      default: throw new Error(`unexpected opcode 0x${code.toString(16)}`);
    }
  }
  throw new Error('program fell off its end');
}

const plan = (slots: number[], probes: SteeringPlan['probes'] = [], family: 4 | 6 = 4): SteeringPlan => ({
  family,
  targets: slots.map((slot) => ({ slot, weight: 1 })),
  probes,
});

test('new connections spread over the ready slots only', () => {
  const program = buildSteeringProgram(plan([1, 3, 4]));
  const chosen = new Set<number>();
  for (let random = 0; random < 30; random++) chosen.add(run(program, { family: 4, sourcePort: 40000, random }));
  assert.deepEqual([...chosen].sort(), [1, 3, 4]);
});

test('one ready slot takes everything; none leaves the choice to the kernel', () => {
  assert.equal(run(buildSteeringProgram(plan([2])), { family: 4, sourcePort: 1, random: 7 }), 2);
  assert.equal(run(buildSteeringProgram(plan([])), { family: 4, sourcePort: 1, random: 7 }), KERNEL_HASH);
});

test('a probe source port reaches its slot, even one that gets no other connection', () => {
  for (const family of [4, 6] as const) {
    const program = buildSteeringProgram(plan([0, 1], [{ sourcePort: 21000, slot: 5 }, { sourcePort: 21001, slot: 6 }], family));
    assert.equal(run(program, { family, sourcePort: 21000, random: 3 }), 5);
    assert.equal(run(program, { family, sourcePort: 21001, random: 3 }), 6);
    for (let random = 0; random < 10; random++) assert.ok([0, 1].includes(run(program, { family, sourcePort: 40000, random })));
  }
});

test('IPv4 options move the TCP header; the source port is still found', () => {
  const program = buildSteeringProgram(plan([0], [{ sourcePort: 22000, slot: 3 }]));
  assert.equal(run(program, { family: 4, sourcePort: 22000, ipHeaderLength: 24, random: 0 }), 3);
});

test('weights share new connections in proportion: a warming generation gets its ramp share', () => {
  // Slots 0 and 1 (old generation) at weight 700, slots 2 and 3 (new) at 300: 30% to the new one.
  const weighted: SteeringPlan = { family: 4, probes: [], targets: [{ slot: 0, weight: 700 }, { slot: 1, weight: 700 }, { slot: 2, weight: 300 }, { slot: 3, weight: 300 }] };
  const program = buildSteeringProgram(weighted);
  const counts = [0, 0, 0, 0];
  // Every residue of the modulus once: the exact share each slot gets.
  for (let random = 0; random < 2000; random++) counts[run(program, { family: 4, sourcePort: 40000, random })]! += 1;
  assert.deepEqual(counts, [700, 700, 300, 300]);
});

test('a weight of 0 takes a slot out; equal weights keep the short program', () => {
  const program = buildSteeringProgram({ family: 4, probes: [], targets: [{ slot: 0, weight: 0 }, { slot: 1, weight: 5 }] });
  for (let random = 0; random < 10; random++) assert.equal(run(program, { family: 4, sourcePort: 40000, random }), 1);
  const equal = buildSteeringProgram({ family: 4, probes: [], targets: [{ slot: 0, weight: 9 }, { slot: 1, weight: 9 }] });
  assert.deepEqual(equal[1], { code: 0x94, jt: 0, jf: 0, k: 2 });
});

test('a block of source ports reaches its slot: a warm-up\'s connections', () => {
  for (const family of [4, 6] as const) {
    const program = buildSteeringProgram({ ...plan([0, 1], [{ sourcePort: 21000, slot: 5 }], family), probeBlocks: [{ from: 12000, to: 12031, slot: 3 }, { from: 14000, to: 14007, slot: 4 }] });
    for (const port of [12000, 12017, 12031]) assert.equal(run(program, { family, sourcePort: port, random: 0 }), 3, `port ${port}`);
    assert.equal(run(program, { family, sourcePort: 14007, random: 0 }), 4);
    assert.equal(run(program, { family, sourcePort: 21000, random: 0 }), 5);
    for (const port of [11999, 12032, 13999, 14008]) assert.ok([0, 1].includes(run(program, { family, sourcePort: port, random: port })), `port ${port} is no probe`);
  }
});

test('with a probe source address, a SYN from elsewhere never matches a probe port', () => {
  const v4 = buildSteeringProgram({ ...plan([0, 1], [{ sourcePort: 21000, slot: 5 }]), probeBlocks: [{ from: 12000, to: 12031, slot: 3 }], probeSource: '127.0.0.1' });
  assert.equal(run(v4, { family: 4, sourcePort: 21000, random: 0 }), 5);
  assert.equal(run(v4, { family: 4, sourcePort: 12005, random: 0 }), 3);
  const remote = [0x0a000005];
  assert.equal(run(v4, { family: 4, sourcePort: 21000, random: 0, source: remote }), 0, 'a remote client on a probe port');
  assert.equal(run(v4, { family: 4, sourcePort: 12005, random: 1, source: remote }), 1, 'a remote client on a block port');
  const v6 = buildSteeringProgram({ ...plan([0, 1], [{ sourcePort: 21000, slot: 5 }], 6), probeSource: '::1' });
  assert.equal(run(v6, { family: 6, sourcePort: 21000, random: 0 }), 5);
  for (const source of [[0, 0, 0, 2], [0x20010db8, 0, 0, 1], [0, 0, 0xffff, 0x7f000001]]) {
    assert.equal(run(v6, { family: 6, sourcePort: 21000, random: 0, source }), 0, `from ${source.map((word) => word.toString(16)).join(':')}`);
  }
});

test('address words for the program', () => {
  assert.deepEqual(addressWords('127.0.0.1', 4), [0x7f000001]);
  assert.deepEqual(addressWords('10.1.2.3', 4), [0x0a010203]);
  assert.deepEqual(addressWords('::1', 6), [0, 0, 0, 1]);
  assert.deepEqual(addressWords('2001:db8::8:1', 6), [0x20010db8, 0, 0, 0x00080001]);
  assert.deepEqual(addressWords('::ffff:127.0.0.1', 6), [0, 0, 0xffff, 0x7f000001]);
  assert.equal(addressWords('fe80::1%eth0', 6), null);
  assert.equal(addressWords('300.1.1.1', 4), null);
});
