import type { BpfInstruction } from '../../native/index.js';

// Classic BPF opcodes (linux/filter.h) and the ancillary offsets the steering program reads.
const BPF_LD = 0x00;
const BPF_LDX = 0x01;
const BPF_ALU = 0x04;
const BPF_JMP = 0x05;
const BPF_RET = 0x06;
const BPF_W = 0x00;
const BPF_H = 0x08;
const BPF_B = 0x10;
const BPF_ABS = 0x20;
const BPF_IND = 0x40;
const BPF_MSH = 0xa0;
const BPF_MOD = 0x90;
const BPF_JEQ = 0x10;
const BPF_JGE = 0x30;
const BPF_K = 0x00;
const SKF_AD_OFF = -0x1000;
const SKF_AD_RANDOM = 56;
const SKF_NET_OFF = -0x100000;

// An index the group cannot have: the kernel falls back to its own hash over every socket.
export const KERNEL_HASH = 0xffffffff;

/** A slot (kernel join order) that may receive new connections, and its share relative to the others. */
export interface SteeringTarget {
  slot: number;
  weight: number; // a positive integer
}

export interface SteeringPlan {
  family: 4 | 6;
  targets: SteeringTarget[];
  // Connections from these TCP source ports go to one chosen slot: targeted readiness probes.
  probes: { sourcePort: number; slot: number }[];
}

const insn = (code: number, k: number, jt = 0, jf = 0): BpfInstruction => ({ code, jt, jf, k });
const ret = (k: number) => insn(BPF_RET | BPF_K, k);
// "if A == value return slot, else fall through": jt=0 runs the next instruction, jf=1 skips it.
const returnIfEqual = (value: number, slot: number) => [insn(BPF_JMP | BPF_JEQ | BPF_K, value, 0, 1), ret(slot)];

// The program returns the slot that gets a new connection: a probe's chosen slot when the SYN
// comes from a probe's source port, else a random one of the targets, each chosen in proportion to
// its weight. With no targets it leaves the choice to the kernel (start-up, when no worker is
// ready yet).
export function buildSteeringProgram(plan: SteeringPlan): BpfInstruction[] {
  const program: BpfInstruction[] = [];
  if (plan.probes.length > 0) {
    // The TCP source port is readable only through the network-header base: the data pointer is
    // already past the TCP header. IPv4 skips a variable header (BPF_MSH); IPv6 a fixed 40 bytes.
    if (plan.family === 4) {
      program.push(insn(BPF_LDX | BPF_B | BPF_MSH, SKF_NET_OFF), insn(BPF_LD | BPF_H | BPF_IND, SKF_NET_OFF));
    } else {
      program.push(insn(BPF_LD | BPF_H | BPF_ABS, SKF_NET_OFF + 40));
    }
    for (const probe of plan.probes) program.push(...returnIfEqual(probe.sourcePort, probe.slot));
  }
  const targets = plan.targets.filter((target) => target.weight > 0);
  if (targets.length === 0) return [...program, ret(KERNEL_HASH)];
  if (targets.length === 1) return [...program, ret(targets[0]!.slot)];
  const equal = targets.every((target) => target.weight === targets[0]!.weight);
  const total = equal ? targets.length : targets.reduce((sum, target) => sum + target.weight, 0);
  program.push(insn(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_RANDOM), insn(BPF_ALU | BPF_MOD | BPF_K, total));
  let bound = 0;
  for (const [index, target] of targets.slice(0, -1).entries()) {
    if (equal) {
      program.push(...returnIfEqual(index, target.slot));
    } else {
      // A in [bound, bound + weight) picks this slot: "if A >= bound + weight, try the next".
      bound += target.weight;
      program.push(insn(BPF_JMP | BPF_JGE | BPF_K, bound, 1, 0), ret(target.slot));
    }
  }
  program.push(ret(targets.at(-1)!.slot));
  return program;
}
