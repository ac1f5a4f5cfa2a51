// The YAML side of loading: parse with positions, report syntax errors and duplicate keys, and
// map a key path back to the line and column where the user wrote it.
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node, type YAMLError } from 'yaml';
import { keyPath, type ConfigProblem } from './errors.js';
import { quote } from './quote.js';

export interface Source {
  doc: Document;
  lineCounter: LineCounter;
}

/** `problems` on success are duplicate keys: reported, but the rest of the file is still checked. */
export type ParsedSource = { ok: true; source: Source; value: unknown; problems: ConfigProblem[] } | { ok: false; problems: ConfigProblem[] };

export function parseSource(text: string): ParsedSource {
  const lineCounter = new LineCounter();
  // Duplicate keys are found by duplicateKeys() below, which can name the key and both lines.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const source = { doc, lineCounter };
  if (doc.errors.length > 0) return { ok: false, problems: doc.errors.map((error) => syntaxProblem(source, error)) };

  const problems = duplicateKeys(source, doc.contents, []);
  stringifyScalars(doc);
  try {
    return { ok: true, source, value: doc.toJS({ maxAliasCount: 100 }), problems };
  } catch (error) {
    // Alias bombs and the like: the parser accepted the text but it cannot become plain data.
    return { ok: false, problems: [{ key: '', message: `cannot read the YAML: ${(error as Error).message}` }] };
  }
}

/** Position of the value at `path`, or of its nearest written ancestor below the top level. */
export function locate(source: Source, path: readonly PropertyKey[]): { line?: number; column?: number } {
  for (let depth = path.length; depth > 0; depth--) {
    const node = source.doc.getIn(path.slice(0, depth), true) as Node | undefined;
    if (node?.range) return position(source, node.range[0]);
  }
  return {};
}

/** Position of the top-level value (for a file whose top level is not a mapping). */
export function locateContents(source: Source): { line?: number; column?: number } {
  const range = source.doc.contents?.range;
  return range ? position(source, range[0]) : {};
}

/** Position of the key `key` itself in the mapping at `path` (for unknown keys). */
export function locateKey(source: Source, path: readonly PropertyKey[], key: string): { line?: number; column?: number } {
  const map = path.length === 0 ? source.doc.contents : source.doc.getIn(path, true);
  if (isMap(map)) {
    for (const pair of map.items) {
      if (isScalar(pair.key) && String(pair.key.value) === key && pair.key.range) return position(source, pair.key.range[0]);
    }
  }
  return locate(source, path);
}

/** Whether `path` was written in the file (as opposed to taking a default). */
export function isWritten(source: Source, path: readonly PropertyKey[]): boolean {
  return source.doc.hasIn(path);
}

function position(source: Source, offset: number): { line: number; column: number } {
  const { line, col } = source.lineCounter.linePos(offset);
  return { line, column: col };
}

const SYNTAX_HINTS: Record<string, string> = {
  MULTIPLE_DOCS: 'the file holds more than one YAML document (a second "---"); keep one',
  TAB_AS_INDENT: 'tabs are not allowed as indentation in YAML; indent with spaces',
  BLOCK_AS_IMPLICIT_KEY: 'a mapping cannot start on the same line as its key; put it on the next line, indented',
};

function syntaxProblem(source: Source, error: YAMLError): ConfigProblem {
  const message = SYNTAX_HINTS[error.code] ?? `YAML syntax error: ${shortSyntaxMessage(error.message)}; fix the syntax at this position`;
  return { key: '', ...position(source, error.pos[0]), message };
}

// The parser's first line, with the token it quotes cut to a prefix: in a binary file a token
// runs for kilobytes.
function shortSyntaxMessage(message: string): string {
  const first = message.split('\n')[0]!;
  const token = /^(.*?: )(".*")$/.exec(first);
  if (token) {
    try {
      return `${token[1]}${quote(JSON.parse(token[2]!) as string)}`;
    } catch {
      // not a JSON string after all: the cut below still bounds it
    }
  }
  return first.length > 100 ? `${first.slice(0, 100)}…` : first;
}

function duplicateKeys(source: Source, node: unknown, path: PropertyKey[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (isMap(node)) {
    const seen = new Map<string, number | undefined>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const range = (pair.key as Node | null)?.range;
      const at: { line?: number; column?: number } = range ? position(source, range[0]) : {};
      if (seen.has(key)) {
        const first = seen.get(key);
        problems.push({
          key: keyPath([...path, key]),
          ...at,
          message: `duplicate key${first === undefined ? '' : ` (first written on line ${first})`}: YAML keeps only one; remove the other`,
        });
      } else {
        seen.set(key, at.line);
      }
      problems.push(...duplicateKeys(source, pair.value, [...path, key]));
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => problems.push(...duplicateKeys(source, item, [...path, index])));
  }
  return problems;
}

// Env values and argv items are strings to the worker. A plain `1.10` or `0x1F` would become the
// number 1.1 or 31 and lose how it was written, so these keep the text the user typed instead.
function stringifyScalars(doc: Document): void {
  const keep = (node: unknown): void => {
    if (isScalar(node) && (typeof node.value === 'number' || typeof node.value === 'boolean' || typeof node.value === 'bigint')) {
      node.value = node.source ?? String(node.value);
    }
  };
  const env = doc.get('env', true);
  if (isMap(env)) for (const pair of env.items) keep(pair.value);
  const command = doc.get('command', true);
  if (isSeq(command)) for (const item of command.items) keep(item);
}
