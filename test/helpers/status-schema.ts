// The `status --json` schema (docs/status-schema.md) as a strict zod schema: a field the daemon
// adds without documenting it, or a type that changes, fails the test that parses with it.
import * as z from 'zod';

const iso = z.string().refine((text) => !Number.isNaN(Date.parse(text)) && text.endsWith('Z'), 'an ISO 8601 UTC time');
const release = z.strictObject({ path: z.string().startsWith('/'), revision: z.string().nullable() });

export const workerStatusSchema = z.strictObject({
  slot: z.number().int().min(1),
  pid: z.number().int().positive().nullable(),
  state: z.enum(['starting', 'ready', 'draining', 'exited', 'backoff']),
  readySince: iso.nullable(),
  uptimeMs: z.number().int().min(0).nullable(),
  restarts: z.number().int().min(0),
  crashLooping: z.boolean(),
  acceptQueue: z.number().int().min(0).nullable(),
  lastExit: z.string().nullable(),
  warming: z.strictObject({
    nice: z.number().int().min(0).max(19).nullable(),
    warmup: z.strictObject({ done: z.number().int().min(0), total: z.number().int().min(1) }).nullable(),
  }).nullable(),
  outputSuppressed: z.number().int().min(0),
});

export const generationStatusSchema = z.strictObject({
  generation: z.number().int().min(1),
  state: z.enum(['starting', 'serving', 'draining', 'retired', 'failed']),
  cwd: z.string().startsWith('/'),
  release,
  command: z.array(z.string()).min(1),
  startedAt: iso,
  workers: z.array(workerStatusSchema),
});

export const reloadSummarySchema = z.strictObject({
  trigger: z.string(),
  release: release.nullable(),
  outcome: z.enum(['promoted', 'rolled-back', 'refused', 'failed']),
  generation: z.number().int().min(1).nullable(),
  reason: z.string().nullable(),
  startedAt: iso,
  durationMs: z.number().int().min(0),
});

export const statusSchema = z.strictObject({
  schema: z.literal(1),
  pid: z.number().int().positive(),
  supervisor: z.strictObject({
    version: z.string().min(1),
    node: z.string().regex(/^v\d+\.\d+\.\d+/),
    startedAt: iso,
    upgrades: z.number().int().min(0),
    lastUpgrade: z.strictObject({ from: z.string(), to: z.string(), at: iso, durationMs: z.number().int().min(0) }).nullable(),
  }),
  state: z.enum(['starting', 'running', 'reloading', 'stopping', 'stopped']),
  config: z.string().startsWith('/'),
  socket: z.enum(['reuseport', 'shared', 'self']),
  listen: z.array(z.string()).min(1),
  lossless: z.strictObject({
    configured: z.enum(['auto', 'steer', 'migrate', 'off']),
    mechanisms: z.array(z.enum(['steer', 'migrate'])),
    migrateReq: z.boolean().nullable(),
    guarantee: z.string(),
    lossless: z.boolean(),
  }),
  sharedAcceptQueue: z.number().int().min(0).nullable(),
  generations: z.array(generationStatusSchema).max(2),
  lastReload: reloadSummarySchema.nullable(),
  eventSubscribers: z.number().int().min(0),
  droppedLogLines: z.number().int().min(0),
  slowStart: z.strictObject({ generation: z.number().int().min(1), from: z.number().int().min(1), share: z.number().gt(0).max(1), remainingMs: z.number().int().min(0) }).nullable(),
  canary: z.strictObject({ generation: z.number().int().min(1), from: z.number().int().min(1), share: z.number().gt(0).lt(1), remainingMs: z.number().int().min(0), onExpiry: z.enum(['rollback', 'promote']) }).nullable(),
  bake: z.strictObject({
    generation: z.number().int().min(1),
    previous: z.number().int().min(1),
    endsAt: z.iso.datetime(),
    remainingMs: z.number().int().min(0),
    previousRssBytes: z.number().int().min(0),
    exits: z.number().int().min(0),
    maxExits: z.number().int().min(0),
  }).nullable(),
  lastRollback: z.strictObject({
    generation: z.number().int().min(1),
    from: z.number().int().min(1),
    reason: z.string(),
    automatic: z.boolean(),
    at: z.iso.datetime(),
    steeredMs: z.number().int().min(0),
    durationMs: z.number().int().min(0).nullable(),
  }).nullable(),
  warming: z.strictObject({
    priority: z.strictObject({ mechanism: z.enum(['autogroup', 'nice', 'none']), reason: z.string(), nice: z.number().int().min(0).max(19), rampMs: z.number().int().min(0) }),
    warmup: z.strictObject({
      requests: z.number().int().min(1),
      paths: z.array(z.string().startsWith('/')).min(1),
      concurrency: z.number().int().min(1),
      timeoutMs: z.number().int().min(1),
      available: z.boolean(),
      reason: z.string().nullable(),
    }).nullable(),
  }),
});

// `status --json` prints the control result: the status object is its `data`.
export const statusResultSchema = z.strictObject({
  type: z.literal('result'),
  ok: z.literal(true),
  code: z.literal(0),
  message: z.literal('status'),
  data: statusSchema,
});

// Every key path in a value ("generations[].workers[].pid"), for checking the docs name them all.
export function keyPaths(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((item) => keyPaths(item, `${prefix}[]`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return [path, ...keyPaths(inner, path)];
  });
}
