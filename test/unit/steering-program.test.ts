import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSteeringProgram, KERNEL_HASH, type SteeringPlan } from '../../src/daemon/sockets/steering-program.js';
import type { BpfInstruction } from '../../src/native/index.js';

// A tiny classic-BPF interpreter for the instructions the steering program uses, so the program's
// meaning is checked here; test/native/steering.test.ts checks the kernel agrees.
function run(program: BpfInstruction[], packet: { family: 4 | 6; sourcePort: number; ipHeaderLength?: number; random: number }): number {
  let a = 0;
  let x = 0;
  const net = (offset: number) => {
    const ihl = packet.ipHeaderLength ?? 20;
    if (offset === 0) return 0x40 | (ihl / 4);
    if (offset === (packet.family === 4 ? ihl : 40)) return packet.sourcePort;
    throw new Error(`unexpected load at network offset ${offset}`);
  };
  for (let pc = 0; pc < program.length; pc++) {
    const { code, jt, jf, k } = program[pc]!;
    const signed = k | 0;
    switch (code) {
      case 0xb1: x = 4 * (net(signed + 0x100000) & 0xf); break; // ldxb 4*([k]&0xf)
      case 0x48: a = net(x + signed + 0x100000); break; // ldh [x + k]
      case 0x28: a = net(signed + 0x100000); break; // ldh [k]
      case 0x20: a = packet.random; break; // ld random
      case 0x94: a = a % k; break; // mod #k
      case 0x15: pc += a === k ? jt : jf; break; // jeq #k
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
