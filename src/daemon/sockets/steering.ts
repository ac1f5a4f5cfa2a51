import { attachReuseportProgram, closeFd } from '../../native/index.js';
import type { ListenAddress } from '../../config/index.js';
import { buildSteeringProgram } from './steering-program.js';

/** The address targeted probes connect from (and to): loopback for a wildcard listener. */
export function probeSourceHost(address: ListenAddress): string {
  if (address.host === '0.0.0.0') return '127.0.0.1';
  if (address.host === '::') return '::1';
  return address.host;
}

/** A routable member's share of new connections when nothing is shifting: weights are relative. */
export const FULL_WEIGHT = 1000;

export interface Member {
  readonly fd: number; // the supervisor's copy of the listener
  routable: boolean;
  weight: number; // relative to the other routable members: FULL_WEIGHT, or a share's per-socket weight while generations split new connections (shareWeights)
  closed: boolean;
}

// One port's SO_REUSEPORT group as the kernel sees it: sockets in join order, and when socket i
// leaves, the last one moves into slot i. The supervisor makes every socket of the group, so it
// can keep this order itself, and re-attaches the steering program after every change.
export class ReuseportGroup {
  readonly address: ListenAddress;
  readonly #members: Member[] = [];
  readonly #probes = new Map<number, Member>();
  readonly #blocks = new Map<number, { to: number; member: Member }>(); // by first port
  readonly #steering: boolean;
  readonly #onAttachError: (error: Error) => void;

  constructor(address: ListenAddress, steering: boolean, onAttachError: (error: Error) => void = () => {}) {
    this.address = address;
    this.#steering = steering;
    this.#onAttachError = onAttachError;
  }

  get steering(): boolean {
    return this.#steering;
  }

  // The socket has just called listen(): it joined at the end of the group.
  join(fd: number): Member {
    const member: Member = { fd, routable: false, weight: FULL_WEIGHT, closed: false };
    this.#members.push(member);
    this.commit();
    return member;
  }

  /** The members in slot order, as an upgrade hands them over. */
  snapshot(): { fd: number; routable: boolean; weight: number }[] {
    return this.#members.map(({ fd, routable, weight }) => ({ fd, routable, weight }));
  }

  // The members the program before an upgrade left, in slot order; one attach makes the program
  // this one computes the one in force (the same as before, unless a probe was under way).
  adopt(members: { fd: number; routable: boolean; weight: number }[]): void {
    for (const { fd, routable, weight } of members) this.#members.push({ fd, routable, weight, closed: false });
    this.commit();
  }

  memberOf(fd: number): Member | undefined {
    return this.#members.find((member) => member.fd === fd);
  }

  slotOf(member: Member): number {
    return this.#members.indexOf(member);
  }

  addProbe(sourcePort: number, member: Member): void {
    this.#probes.set(sourcePort, member);
    this.commit();
  }

  removeProbe(sourcePort: number): void {
    if (this.#probes.delete(sourcePort)) this.commit();
  }

  // A block of source ports routed to one member: the connections of a warm-up, in one attach
  // (attaching costs about 0.14 ms of CPU here; a warm-up of 1,000 connections would spend that
  // twice per connection with one probe port each).
  addProbeBlock(from: number, to: number, member: Member): void {
    this.#blocks.set(from, { to, member });
    this.commit();
  }

  removeProbeBlock(from: number): void {
    if (this.#blocks.delete(from)) this.commit();
  }

  /** The port blocks routed now, for choosing one that overlaps none. */
  probeBlocks(): { from: number; to: number }[] {
    return [...this.#blocks].map(([from, { to }]) => ({ from, to }));
  }

  // Takes the socket out of the group. First a program that is right both before the close and
  // after it (when the last socket moves into the leaving one's slot), then the close, then the
  // program for the new order.
  leave(member: Member): void {
    const slot = this.#members.indexOf(member);
    if (slot === -1 || member.closed) return;
    const last = this.#members.length - 1;
    member.routable = false;
    for (const [port, target] of this.#probes) if (target === member) this.#probes.delete(port);
    for (const [from, block] of this.#blocks) if (block.member === member) this.#blocks.delete(from);
    this.commit(slot);
    closeFd(member.fd);
    member.closed = true;
    this.#members[slot] = this.#members[last]!;
    this.#members.pop();
    this.commit();
  }

  // Attaches the program for the current membership (through any open member: the program
  // belongs to the group, not to that socket). `leaving`: the slot about to close; see
  // #targetsWhileLeaving.
  commit(leaving?: number): void {
    if (!this.#steering) return;
    const last = this.#members.length - 1;
    // Slots whose socket is the same before and after the leaving one closes.
    const stable = (slot: number) => leaving === undefined || (slot !== leaving && slot !== last);
    const via = this.#members.find((member, slot) => !member.closed && stable(slot)) ?? this.#members.find((member) => !member.closed);
    if (!via) return;
    const targets = leaving === undefined ? this.#targets(stable) : this.#targetsWhileLeaving(leaving, stable);
    const probes = [...this.#probes].flatMap(([sourcePort, member]) => {
      const slot = this.#members.indexOf(member);
      return slot === -1 || !stable(slot) ? [] : [{ sourcePort, slot }];
    });
    const probeBlocks = [...this.#blocks].flatMap(([from, { to, member }]) => {
      const slot = this.#members.indexOf(member);
      return slot === -1 || !stable(slot) ? [] : [{ from, to, slot }];
    });
    const probeSource = probeSourceHost(this.address);
    try {
      attachReuseportProgram(via.fd, buildSteeringProgram({ family: this.address.family, targets, probes, probeBlocks, probeSource }));
    } catch (error) {
      // The previous program stays attached; a caller on a worker's exit path must not throw.
      this.#onAttachError(error as Error);
    }
  }

  #targets(include: (slot: number) => boolean): { slot: number; weight: number }[] {
    return this.#members.flatMap((member, slot) => (member.routable && include(slot) ? [{ slot, weight: member.weight }] : []));
  }

  // Between the attach and the close, and between the close and the next attach, the program
  // must not send a SYN to the leaving socket: a connection queued there is reset by the close.
  // The stable slots are safe in both. Without a routable one among them (one worker per
  // generation: [leaving, serving]) the last slot is used: before the close it holds that serving
  // socket, after it the index is past the group's end and the kernel hashes over the sockets
  // that remain, the leaving one no longer among them. No target at all would leave the choice to
  // the kernel's hash at once, over the leaving socket too.
  #targetsWhileLeaving(leaving: number, stable: (slot: number) => boolean): { slot: number; weight: number }[] {
    const targets = this.#targets(stable);
    const last = this.#members.length - 1;
    const moving = this.#members[last]!;
    if (targets.length === 0 && leaving !== last && moving.routable) return [{ slot: last, weight: moving.weight }];
    return targets;
  }
}
