// "Did you mean" for unknown keys: typos (workes), other spellings (inheritEnv, crash-loop).

/** The known key closest to `unknown`, or undefined when none is close enough to be a likely typo. */
export function closestKey(unknown: string, known: readonly string[]): string | undefined {
  const folded = fold(unknown);
  const exact = known.find((key) => fold(key) === folded);
  if (exact !== undefined) return exact;

  const allowed = Math.max(1, Math.floor(Math.max(folded.length, 3) / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const key of known) {
    // The distance is at least the difference in length: a key far longer than any known one
    // (a pasted blob) is no typo, and comparing it letter by letter would take seconds.
    if (Math.abs(folded.length - fold(key).length) > allowed) continue;
    const distance = levenshtein(folded, fold(key));
    if (distance < bestDistance) {
      best = key;
      bestDistance = distance;
    }
  }
  return bestDistance <= allowed ? best : undefined;
}

function fold(key: string): string {
  return key.toLowerCase().replace(/[-_\s]/g, '');
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}
