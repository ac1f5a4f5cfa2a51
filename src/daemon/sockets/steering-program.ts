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
const BPF_JA = 0x00;
const BPF_JEQ = 0x10;
const BPF_JGT = 0x20;
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
  // Connections from a block of source ports (from..to, inclusive) go to one slot: a warm-up's.
  probeBlocks?: { from: number; to: number; slot: number }[];
  // The address probes connect from (probeSourceHost): a SYN from any other address skips the
  // probe matches, so a remote client whose source port happens to be a probe's is never routed
  // to a worker under test. Absent: the port alone decides.
  probeSource?: string;
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
  const blocks = plan.probeBlocks ?? [];
  if (plan.probes.length > 0 || blocks.length > 0) {
    const matches: BpfInstruction[] = [];
    // The TCP source port is readable only through the network-header base: the data pointer is
    // already past the TCP header. IPv4 skips a variable header (BPF_MSH); IPv6 a fixed 40 bytes.
    if (plan.family === 4) {
      matches.push(insn(BPF_LDX | BPF_B | BPF_MSH, SKF_NET_OFF), insn(BPF_LD | BPF_H | BPF_IND, SKF_NET_OFF));
    } else {
      matches.push(insn(BPF_LD | BPF_H | BPF_ABS, SKF_NET_OFF + 40));
    }
    for (const probe of plan.probes) matches.push(...returnIfEqual(probe.sourcePort, probe.slot));
    // "if from <= A <= to return slot": jge false skips the jgt and the ret; jgt true skips the ret.
    for (const block of blocks) matches.push(insn(BPF_JMP | BPF_JGE | BPF_K, block.from, 0, 2), insn(BPF_JMP | BPF_JGT | BPF_K, block.to, 1, 0), ret(block.slot));
    const words = plan.probeSource === undefined ? null : addressWords(plan.probeSource, plan.family);
    if (words) program.push(...skipUnlessSourceIs(words, plan.family, matches.length));
    program.push(...matches);
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

// The source address of the IP header, a 32-bit word at a time (IPv4 at offset 12, IPv6 at 8):
// any word that differs jumps over the next `skip` instructions (the probe matches). The far
// jump is a BPF_JA, whose 32-bit offset has no 255-instruction limit.
function skipUnlessSourceIs(words: number[], family: 4 | 6, skip: number): BpfInstruction[] {
  const base = family === 4 ? 12 : 8;
  const out: BpfInstruction[] = [];
  words.forEach((word, index) => {
    const last = index === words.length - 1;
    const toJump = 2 * (words.length - index - 1); // instructions between this jeq and the ja
    out.push(insn(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + base + 4 * index), insn(BPF_JMP | BPF_JEQ | BPF_K, word, last ? 1 : 0, toJump));
  });
  out.push(insn(BPF_JMP | BPF_JA, skip));
  return out;
}

// "127.0.0.1" -> [0x7f000001]; "::1" -> [0, 0, 0, 1]. null when the text is not such an address
// (a zone id, say): then the program matches probes by port alone.
export function addressWords(host: string, family: 4 | 6): number[] | null {
  if (family === 4) {
    const parts = host.split('.').map(Number);
    if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255)) return null;
    return [((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0];
  }
  let canonical: string;
  try {
    canonical = new URL(`http://[${host}]/`).hostname.slice(1, -1); // pure hex groups, "::" at most once
  } catch {
    return null;
  }
  const [head, tail] = canonical.includes('::') ? canonical.split('::') as [string, string] : [canonical, null];
  const left = head === '' ? [] : head.split(':');
  const right = tail === null || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right].map((group) => parseInt(group, 16));
  if (groups.length !== 8 || groups.some((group) => !Number.isInteger(group) || group < 0 || group > 0xffff)) return null;
  return [0, 2, 4, 6].map((i) => ((groups[i]! << 16) | groups[i + 1]!) >>> 0);
}
