import type { DaemonStatus, EventFrame } from '../control/protocol.js';

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

export function renderStatus(status: DaemonStatus, now = Date.now()): string {
  const lines = [
    `supervisor pid ${status.pid}: ${status.state}; socket mode ${status.socket} on ${status.listen.join(', ')}`,
    `config ${status.config}`,
    `lossless: ${status.lossless.mechanisms.length > 0 ? status.lossless.mechanisms.join(' + ') : 'none'} (${status.lossless.guarantee})`,
  ];
  if (status.sharedAcceptQueue !== null) lines.push(`shared listener accept queue: ${status.sharedAcceptQueue}`);
  const rows = [['GEN', 'GEN STATE', 'WORKER', 'PID', 'STATE', 'READY SINCE', 'RESTARTS', 'QUEUE', 'NOTE']];
  for (const gen of status.generations) {
    for (const worker of gen.workers) {
      const note = worker.crashLooping ? `CRASH LOOP (last: ${worker.lastExit ?? '?'})` : worker.state === 'backoff' ? `restarting (last: ${worker.lastExit ?? '?'})` : '';
      rows.push([
        String(gen.generation),
        gen.state,
        String(worker.slot),
        worker.pid === null ? '-' : String(worker.pid),
        worker.state,
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

export function renderReloadEvent(event: EventFrame): string {
  switch (event.event) {
    case 'starting':
      return `starting generation ${event.generation}: ${event.workers} worker(s) in ${event.cwd}`;
    case 'worker-ready':
      return `  ready ${event.ready}/${event.total}: worker ${event.slot} (pid ${event.pid})`;
    case 'rolling-back':
      return `rolling back generation ${event.generation}: ${event.reason}`;
    case 'promoted':
      return `generation ${event.generation} serves; draining generation ${event.drainingGeneration} (${event.drainWorkers} worker(s))`;
    case 'drained':
      return `  drained ${event.done}/${event.total}`;
    default:
      return `${event.event} ${JSON.stringify(event)}`;
  }
}
