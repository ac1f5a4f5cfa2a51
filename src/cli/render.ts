import type { ConnectionEventName, DaemonStatus, EventFrame, LifecycleEventName, ReloadPhase } from '../control/protocol.js';

function ago(iso: string | null, now: number): string {
  if (!iso) return '-';
  return `${formatSeconds(now - Date.parse(iso))} ago`;
}

export function formatSeconds(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

const share = (fraction: unknown) => `${Math.round(Number(fraction) * 1000) / 10}%`;

export function renderStatus(status: DaemonStatus, now = Date.now()): string {
  const lines = [
    `supervisor pid ${status.pid}: ${status.state}; socket mode ${status.socket} on ${status.listen.join(', ')}`,
    `config ${status.config}`,
    ...programLine(status, now),
    `lossless: ${status.lossless.mechanisms.length > 0 ? status.lossless.mechanisms.join(' + ') : 'none'} (${status.lossless.guarantee})`,
  ];
  // A daemon older than the warming fields sends none (schema 1 only adds fields).
  if (status.warming) lines.push(renderWarming(status.warming));
  if (status.sharedAcceptQueue !== null) lines.push(`shared listener accept queue: ${status.sharedAcceptQueue}`);
  if (status.droppedLogLines > 0) lines.push(`log: ${status.droppedLogLines} line(s) dropped because the reader of the daemon's output did not keep up`);
  if (status.slowStart) {
    const { generation, from, share, remainingMs } = status.slowStart;
    lines.push(`slow start: generation ${generation} gets ${Math.round(share * 100)}% of new connections, generation ${from} the rest; ${formatSeconds(remainingMs)} left`);
  }
  if (status.canary) {
    const { generation, from, share: held, remainingMs, onExpiry } = status.canary;
    lines.push(`canary: generation ${generation} gets ${share(held)} of new connections, generation ${from} the rest; ${formatSeconds(remainingMs)} left before ${onExpiry}; supervisor promote or supervisor rollback`);
  }
  if (status.bake) {
    const { generation, previous, remainingMs, previousRssBytes, exits } = status.bake;
    lines.push(`bake: generation ${generation} serves; generation ${previous} kept warm for a rollback (${Math.round(previousRssBytes / 1024 ** 2)} MB) for ${formatSeconds(remainingMs)} more; ${exits} worker exit(s) so far; supervisor rollback brings it back`);
  }
  if (status.lastRollback) {
    const { generation, from, reason, at } = status.lastRollback;
    lines.push(`last rollback: ${at}: generation ${from} -> ${generation}: ${reason}`);
  }
  const rows = [['GEN', 'GEN STATE', 'WORKER', 'PID', 'STATE', 'UPTIME', 'READY SINCE', 'RESTARTS', 'QUEUE', 'NOTE']];
  for (const gen of status.generations) {
    for (const worker of gen.workers) {
      const suppressed = worker.outputSuppressed > 0 ? `${worker.outputSuppressed} output lines suppressed` : '';
      const state = worker.crashLooping ? `CRASH LOOP (last: ${worker.lastExit ?? '?'})` : worker.state === 'backoff' ? `restarting (last: ${worker.lastExit ?? '?'})` : worker.warming ? warmingNote(worker.warming) : '';
      const note = [state, suppressed].filter(Boolean).join('; ');
      rows.push([
        String(gen.generation),
        gen.state,
        String(worker.slot),
        worker.pid === null ? '-' : String(worker.pid),
        worker.state,
        worker.uptimeMs === null ? '-' : formatSeconds(worker.uptimeMs),
        ago(worker.readySince, now),
        String(worker.restarts),
        worker.acceptQueue === null ? '-' : String(worker.acceptQueue),
        note,
      ]);
    }
  }
  lines.push('', table(rows), '');
  for (const gen of status.generations) {
    lines.push(`generation ${gen.generation} (${gen.state}) runs ${gen.release.path}${gen.release.revision ? ` revision ${gen.release.revision}` : ''}`);
  }
  const last = status.lastReload;
  lines.push('');
  if (last) {
    const reason = last.reason ? `: ${last.reason}` : '';
    const release = last.release ? ` of ${last.release.path}${last.release.revision ? ` (revision ${last.release.revision})` : ''}` : '';
    lines.push(`last reload${release}: ${last.outcome}${last.generation !== null ? ` (generation ${last.generation})` : ''} in ${formatSeconds(last.durationMs)}, ${ago(last.startedAt, now)}, trigger ${last.trigger}${reason}`);
  } else {
    lines.push('last reload: none since start');
  }
  return lines.join('\n');
}

function renderWarming(warming: DaemonStatus['warming']): string {
  const { priority, warmup } = warming;
  const lowered = priority.mechanism === 'none' ? `normal priority (${priority.reason})` : `${priority.mechanism} nice ${priority.nice} -> 0 over ${formatSeconds(priority.rampMs)} (${priority.reason})`;
  const warm = warmup === null ? 'no supervisor warm-up' : warmup.available ? `warm-up ${warmup.requests} requests, ${warmup.concurrency} at a time, on ${warmup.paths.join(' ')}` : `warm-up NOT AVAILABLE: ${warmup.reason}`;
  return `warming: ${warm}; starting workers at ${lowered}`;
}

function warmingNote(warming: NonNullable<DaemonStatus['generations'][number]['workers'][number]['warming']>): string {
  const parts = [warming.nice === null ? null : `nice ${warming.nice}`, warming.warmup ? `warm-up ${warming.warmup.done}/${warming.warmup.total}` : null];
  return parts.filter((part) => part !== null).join(', ');
}

export function renderReloadEvent(event: EventFrame): string {
  switch (event.event as ReloadPhase | ConnectionEventName) {
    case 'accepted':
      return event.queued ? `reload queued by supervisor pid ${event.pid}: it starts when the running reload ends` : `reload accepted by supervisor pid ${event.pid}`;
    case 'starting':
      return `starting generation ${event.generation}: ${event.workers} worker(s) in ${event.cwd}`;
    case 'worker-ready':
      return `  ready ${event.ready}/${event.total}: worker ${event.slot} (pid ${event.pid})`;
    case 'rolling-back':
      return `rolling back generation ${event.generation}: ${event.reason}`;
    case 'promoted':
      if (typeof event.canaryShare === 'number' && event.canaryShare > 0) return `generation ${event.generation} serves ${share(event.canaryShare)} of new connections (canary); generation ${event.drainingGeneration} the rest`;
      return typeof event.slowStartMs === 'number' && event.slowStartMs > 0
        ? `generation ${event.generation} serves; slow start: generation ${event.drainingGeneration} hands new connections over within ${event.slowStartMs} ms, then drains (${event.drainWorkers} worker(s))`
        : `generation ${event.generation} serves; draining generation ${event.drainingGeneration} (${event.drainWorkers} worker(s))`;
    case 'shifted':
      return `generation ${event.generation} takes every new connection; draining generation ${event.drainingGeneration}`;
    case 'drained':
      return `  drained ${event.done}/${event.total}`;
    case 'canary':
      return `canary: generation ${event.generation} holds ${share(event.share)} of new connections for up to ${formatSeconds(Number(event.holdMs))} (then ${event.onExpiry}): supervisor promote or supervisor rollback`;
    case 'canary-promoted':
      return `canary promoted: ${event.reason}`;
    default:
      return `${event.event} ${JSON.stringify(event)}`;
  }
}

// One line per lifecycle event for `supervisor events`: the time, who (gen/worker/pid), what.
export function renderLifecycleEvent(event: EventFrame): string {
  // reload-phase events carry the fields of `reload --json` (generation, slot, pid), said in the text.
  const own = !['subscribed', 'orphan-reaped', 'reload-phase'].includes(event.event);
  const who = [
    own && event.gen !== undefined ? `gen ${event.gen}` : null,
    own && event.worker !== undefined ? `worker ${event.worker}` : null,
    own && event.pid !== undefined ? `pid ${event.pid}` : null,
  ].filter((part) => part !== null).join(' ');
  const prefix = `${event.time}${who ? ` ${who}` : ''}`;
  const exit = () => (event.signal ? `killed by ${event.signal}` : `exited with code ${event.code}`);
  switch (event.event as LifecycleEventName | ConnectionEventName) {
    case 'subscribed':
      return `${prefix} following events of supervisor pid ${event.pid} (${event.state})`;
    case 'supervisor-state':
      return `${prefix} supervisor ${event.from} -> ${event.to}`;
    case 'generation-state':
      return `${prefix}: generation ${event.from} -> ${event.to}`;
    case 'worker-started':
      return `${prefix}: started${typeof event.restart === 'number' && event.restart > 0 ? ` (restart ${event.restart})` : ''}`;
    case 'worker-state':
      return `${prefix}: ${event.from} -> ${event.to}`;
    case 'worker-exit':
      return `${prefix}: ${exit()}${event.restartInMs === null ? '' : `; restarting in ${formatSeconds(Number(event.restartInMs))}`}`;
    case 'worker-unhealthy':
      return `${prefix}: UNHEALTHY: ${event.reason}; replaced`;
    case 'crash-loop':
      return `${prefix}: CRASH LOOP: died ${event.bootFailures} times in a row before ready`;
    case 'worker-drained':
      return `${prefix}: drained in ${formatSeconds(Number(event.durationMs))}${event.killed ? ' (SIGKILL at drain.timeout)' : ''}`;
    case 'reload-start':
      return `${prefix} reload started (trigger: ${event.trigger})`;
    case 'reload-phase':
      return `${prefix} reload: ${renderReloadEvent({ ...event, event: String(event.phase) }).trim()}`;
    case 'reload-result': {
      const outcome = { promoted: 'PROMOTED', 'rolled-back': 'ROLLED BACK', refused: 'REFUSED', failed: 'FAILED' }[String(event.outcome)] ?? String(event.outcome).toUpperCase();
      const generation = event.generation === null ? '' : ` generation ${event.generation}`;
      return `${prefix} reload ${outcome}${generation} in ${formatSeconds(Number(event.durationMs))}${event.reason ? `: ${event.reason}` : ''}`;
    }
    case 'orphan-reaped':
      return `${prefix} reaped orphan pid ${event.pid}: ${exit()}`;
    case 'bake-start':
      return `${prefix}: serves; generation ${event.previous} bakes (kept warm for a rollback) for ${formatSeconds(Number(event.windowMs))}`;
    case 'bake-end':
      return `${prefix}: bake ended (${event.reason}); generation ${event.previous} drains`;
    case 'rollback':
      return `${prefix}: ROLLED BACK from generation ${event.from}${event.automatic ? ' (automatic)' : ''} in ${formatSeconds(Number(event.steeredMs))}: ${event.reason}`;
    case 'worker-output-suppressed':
      return `${prefix}: ${event.lines} output line(s) suppressed (past output_limit)`;
    case 'upgraded':
      return `${prefix} supervisor upgraded in place: ${event.from} -> ${event.to} in ${formatSeconds(Number(event.durationMs))}`;
    default:
      return `${prefix} ${event.event} ${JSON.stringify(event)}`;
  }
}

// The supervisor's own program: absent from daemons older than `supervisor upgrade`.
function programLine(status: DaemonStatus, now: number): string[] {
  const program = status.supervisor;
  if (!program) return [];
  const upgrade = program.lastUpgrade;
  const upgraded = upgrade ? `; upgraded ${program.upgrades} time(s), last ${ago(upgrade.at, now)}: ${upgrade.from} -> ${upgrade.to}` : '';
  return [`supervisor ${program.version} on node ${program.node}, up ${formatSeconds(now - Date.parse(program.startedAt))}${upgraded}`];
}
