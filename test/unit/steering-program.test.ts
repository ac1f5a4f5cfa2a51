import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSteeringProgram, KERNEL_HASH, type SteeringPlan } from '../../src/daemon/steering-program.js';
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
      case 0x06: return k >>> 0; // ret #k
      default: throw new Error(`unexpected opcode 0x${code.toString(16)}`);
    }
  }
  throw new Error('program fell off its end');
}

const plan = (targets: number[], probes: SteeringPlan['probes'] = [], family: 4 | 6 = 4): SteeringPlan => ({ family, targets, probes });

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
