// What asked for one reload: every trigger it took in, counted by kind in the order each kind
// first arrived. A storm of 100 SIGHUPs is one reload and reads `SIGHUP x100`, not the word a
// hundred times over (and holds one map entry, not a hundred strings).
export class Triggers {
  readonly #counts = new Map<string, number>();

  constructor(first: string) {
    this.add(first);
  }

  add(trigger: string): void {
    this.#counts.set(trigger, (this.#counts.get(trigger) ?? 0) + 1);
  }

  /** every trigger taken in, coalesced ones included */
  get total(): number {
    let total = 0;
    for (const count of this.#counts.values()) total += count;
    return total;
  }

  /** [trigger, how many times] in order of first arrival */
  counts(): [string, number][] {
    return [...this.#counts];
  }

  /** `SIGHUP`, `SIGHUP x100`, `supervisor reload x2, SIGHUP x3`: what logs, events and status show */
  toString(): string {
    return describeTriggers(this.#counts);
  }
}

export function describeTriggers(counts: Iterable<[string, number]>): string {
  return [...counts].map(([trigger, count]) => (count === 1 ? trigger : `${trigger} x${count}`)).join(', ');
}
