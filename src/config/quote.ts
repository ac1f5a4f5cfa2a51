// How text the user wrote appears in a message: quoted, and at most a short prefix of it. A
// message names the problem and the fix; a garbage value of megabytes (a binary file passed as
// the config, a paste gone wrong) must not turn into a message line of megabytes.

/** Characters of a value a message quotes before it cuts. */
export const QUOTE_LIMIT = 40;

/** `"text"`, or `"first 40 characters…" (3000000 characters)` for longer text. */
export function quote(text: string, limit = QUOTE_LIMIT): string {
  if (text.length <= limit) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, limit)).slice(0, -1)}…" (${text.length} characters)`;
}

/** Longest line a problem may take; past it the middle is left out, keeping the key and the fix. */
export const LINE_LIMIT = 600;

/** The text whole when short enough, else its start and end with the middle left out. */
export function elide(text: string, limit = LINE_LIMIT): string {
  if (text.length <= limit) return text;
  const head = Math.floor(limit * 0.6);
  const tail = limit - head;
  return `${text.slice(0, head)}…(${text.length - head - tail} characters left out)…${text.slice(-tail)}`;
}

/** A name the way messages set keys and programs off: `'name'`, or its prefix and length when long. */
export function named(text: string, limit = QUOTE_LIMIT): string {
  if (text.length <= limit) return `'${text}'`;
  return `'${text.slice(0, limit)}…' (${text.length} characters)`;
}
