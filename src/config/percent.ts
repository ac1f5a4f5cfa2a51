// Shares of new connections in the config and on the command line ("10%"): no dependency, so the
// CLI can read --canary without loading the config's schema.

/** "10%" or "2.5%" -> 0.1 or 0.025; null for anything else, 0% and 100% and beyond included. */
export function parsePercent(value: unknown): number | null {
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value) : null;
  if (!match) return null;
  const percent = Number(match[1]);
  return percent > 0 && percent < 100 ? percent / 100 : null;
}
