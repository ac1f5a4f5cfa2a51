// The daemon's log as a person reads it on a terminal: one line per event, the time (UTC), the
// level, the message, then the fields as key=value. A worker's own output line is shown as
// `gen G worker N | line`. Machines get the JSON lines (journald, pipes); this only reformats them.

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '\x1b[90m' },
  20: { name: 'DEBUG', color: '\x1b[90m' },
  30: { name: 'INFO ', color: '\x1b[32m' },
  40: { name: 'WARN ', color: '\x1b[33m' },
  50: { name: 'ERROR', color: '\x1b[31m' },
  60: { name: 'FATAL', color: '\x1b[35m' },
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
const QUIET_KEYS = new Set(['level', 'time', 'msg']);

export interface PrettyOptions {
  color: boolean;
}

/** One JSON log line (as pino writes it) as one readable line; a line that is not JSON passes as is. */
export function prettyLine(json: string, { color }: PrettyOptions): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time = typeof record.time === 'string' ? record.time.slice(11, 23) : '';
  const paint = (code: string, text: string) => (color ? `${code}${text}${RESET}` : text);
  const message = typeof record.msg === 'string' ? record.msg : '';
  if (typeof record.stream === 'string' && typeof record.worker === 'number') {
    // A worker's output: the line itself matters, the supervisor's fields only say whose it is.
    return `${paint(DIM, `${time} gen ${String(record.gen)} worker ${record.worker} |`)} ${message}\n`;
  }
  const level = LEVELS[Number(record.level)] ?? { name: String(record.level).padEnd(5), color: '' };
  const fields = Object.entries(record)
    .filter(([key, value]) => !QUIET_KEYS.has(key) && value !== undefined)
    .map(([key, value]) => `${paint(DIM, `${key}=`)}${formatValue(key, value)}`);
  return `${paint(DIM, time)} ${paint(level.color, level.name)} ${message}${fields.length > 0 ? ` ${fields.join(' ')}` : ''}\n`;
}

function formatValue(key: string, value: unknown): string {
  // pino's error serializer: the message is what an operator acts on; the stack is for a report.
  if (key === 'err' && typeof value === 'object' && value !== null && 'message' in value) {
    return JSON.stringify((value as { message: unknown }).message);
  }
  if (typeof value === 'string') return /^[\w.:/@+-]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value);
}
