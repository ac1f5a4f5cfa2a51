// The run's chart as SVG text: one lane per strategy over the reload phase, throughput as a filled
// area (shared linear scale), p99 latency as a line (shared log scale), each reload as a shaded
// band from trigger to old-gone with a line at the trigger, each failed request as a red tick.
// Plain strings, no chart library: the output is diffable and renders anywhere.
import type { StrategyOutcome } from './spec.js';

const WIDTH = 1100;
const LEFT = 235; // strategy labels and the throughput axis
const RIGHT = 60; // p99 axis
const TOP = 84;
const LANE = 132;
const LANE_GAP = 22;
const PLOT_H = LANE - 30; // room below for the failure ticks and the x labels
const P99_MIN = 1; // ms, bottom of the log scale
const COLORS = { rps: '#4a90d9', rpsFill: '#cfe2f7', p99: '#e07b00', reload: '#8a8a8a', band: '#ececec', fail: '#d0021b', grid: '#dddddd', text: '#222222' };

const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

function niceCeil(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function kilo(n: number): string {
  return n >= 1000 ? `${fmt(n / 1000)}k` : fmt(n);
}

export function renderChart(outcomes: StrategyOutcome[], subtitle: string[]): string {
  const ran = outcomes.filter((o) => o.status === 'ran' && o.result);
  const lanes = outcomes.length;
  const height = TOP + lanes * (LANE + LANE_GAP) + 20;
  const plotW = WIDTH - LEFT - RIGHT;
  const durationMs = Math.max(1000, ...ran.map((o) => o.result!.series.durationMs));
  const rpsMax = niceCeil(Math.max(1, ...ran.flatMap((o) => o.result!.series.rps)));
  const p99Max = 10 ** Math.ceil(Math.log10(Math.max(10, ...ran.flatMap((o) => o.result!.series.p99))));
  const x = (ms: number) => LEFT + (Math.min(ms, durationMs) / durationMs) * plotW;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">`);
  out.push(`<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="12" y="20" font-size="15" font-weight="bold" fill="${COLORS.text}">Reload under load: throughput and p99 latency over time, one lane per strategy</text>`);
  subtitle.forEach((line, i) => out.push(`<text x="12" y="${38 + i * 15}" fill="#555">${esc(line)}</text>`));
  legend(out, 12, 38 + subtitle.length * 15 + 6);

  outcomes.forEach((outcome, lane) => {
    const top = TOP + lane * (LANE + LANE_GAP);
    const bottom = top + PLOT_H;
    const yRps = (rps: number) => bottom - (rps / rpsMax) * PLOT_H;
    const yP99 = (ms: number) => bottom - (Math.log10(Math.max(P99_MIN, Math.min(ms, p99Max)) / P99_MIN) / Math.log10(p99Max / P99_MIN)) * PLOT_H;

    out.push(`<g>`);
    out.push(`<text x="12" y="${top + 14}" font-weight="bold" fill="${COLORS.text}">${esc(outcome.label)}</text>`);
    if (outcome.status !== 'ran' || !outcome.result) {
      out.push(`<text x="12" y="${top + 30}" fill="#555">${outcome.status}</text>`);
      out.push(`<text x="${LEFT}" y="${top + PLOT_H / 2}" fill="#555">${esc(`${outcome.status}: ${outcome.reason ?? ''}`.slice(0, 140))}</text>`);
      out.push(`</g>`);
      return;
    }
    const r = outcome.result;
    const failed = r.modes['new-connection'].failed + r.modes['keep-alive'].failed;
    const info = [
      `tcp_migrate_req=${r.migrateReq ?? '?'}${r.where === 'host' ? ' (host)' : ''}`,
      `${r.reloadSummary.ok}/${r.reloadSummary.count} reloads`,
      `failed: ${failed}`,
    ];
    info.forEach((line, i) => out.push(`<text x="12" y="${top + 30 + i * 14}" fill="${i === 2 && failed > 0 ? COLORS.fail : '#555'}">${esc(line)}</text>`));

    // Frame, grid and axes.
    out.push(`<rect x="${LEFT}" y="${top}" width="${plotW}" height="${PLOT_H}" fill="none" stroke="${COLORS.grid}"/>`);
    for (const frac of [0.5, 1]) {
      const y = bottom - frac * PLOT_H;
      out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${y}" y2="${y}" stroke="${COLORS.grid}" stroke-dasharray="2,3"/>`);
      out.push(`<text x="${LEFT - 4}" y="${y + 4}" text-anchor="end" fill="${COLORS.rps}">${kilo(rpsMax * frac)}</text>`);
    }
    out.push(`<text x="${LEFT - 4}" y="${bottom}" text-anchor="end" fill="${COLORS.rps}">0</text>`);
    for (let ms = P99_MIN; ms <= p99Max; ms *= 10) {
      out.push(`<text x="${LEFT + plotW + 4}" y="${yP99(ms) + 4}" fill="${COLORS.p99}">${ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`}</text>`);
    }

    // Reload bands first, so the data draws over them.
    for (const reload of r.series.reloads) {
      const end = reload.goneMs ?? reload.promotedMs ?? reload.triggerMs;
      out.push(`<rect x="${x(reload.triggerMs).toFixed(1)}" y="${top}" width="${Math.max(0.5, x(end) - x(reload.triggerMs)).toFixed(1)}" height="${PLOT_H}" fill="${COLORS.band}"/>`);
      out.push(`<line x1="${x(reload.triggerMs).toFixed(1)}" x2="${x(reload.triggerMs).toFixed(1)}" y1="${top}" y2="${bottom}" stroke="${COLORS.reload}" stroke-width="0.8"/>`);
    }

    const { bucketMs, rps, p99 } = r.series;
    const mid = (i: number) => x((i + 0.5) * bucketMs).toFixed(1);
    const area = rps.map((v, i) => `${mid(i)},${yRps(v).toFixed(1)}`);
    out.push(`<polygon points="${mid(0)},${bottom} ${area.join(' ')} ${mid(rps.length - 1)},${bottom}" fill="${COLORS.rpsFill}" stroke="${COLORS.rps}" stroke-width="1"/>`);
    const line = p99.flatMap((v, i) => (v > 0 ? [`${mid(i)},${yP99(v).toFixed(1)}`] : []));
    if (line.length > 1) out.push(`<polyline points="${line.join(' ')}" fill="none" stroke="${COLORS.p99}" stroke-width="1.3"/>`);

    // One tick per pixel column that saw a failure, so thousands of failures stay a small file.
    const columns = new Set(r.series.failures.map((f) => Math.round(x(f.atMs))));
    for (const col of columns) out.push(`<line x1="${col}" x2="${col}" y1="${bottom + 2}" y2="${bottom + 12}" stroke="${COLORS.fail}" stroke-width="1"/>`);

    for (let s = 0; s * 1000 <= durationMs; s += durationMs > 40_000 ? 10 : 5) {
      out.push(`<text x="${x(s * 1000).toFixed(1)}" y="${bottom + 24}" text-anchor="middle" fill="#555">${s}s</text>`);
    }
    out.push(`</g>`);
  });
  out.push(`</svg>`);
  return `${out.join('\n')}\n`;
}

function legend(out: string[], left: number, y: number): void {
  let at = left;
  const item = (draw: string, label: string, width: number) => {
    out.push(draw.replaceAll('@', String(at)));
    out.push(`<text x="${at + 22}" y="${y + 4}" fill="#333">${esc(label)}</text>`);
    at += width;
  };
  item(`<rect x="@" y="${y - 5}" width="16" height="10" fill="${COLORS.rpsFill}" stroke="${COLORS.rps}"/>`, 'throughput, req/s (left axis)', 210);
  item(`<line x1="@" x2="${at + 16}" y1="${y}" y2="${y}" stroke="${COLORS.p99}" stroke-width="2"/>`, 'p99 latency (right axis, log)', 210);
  item(`<rect x="@" y="${y - 5}" width="16" height="10" fill="${COLORS.band}" stroke="${COLORS.reload}"/>`, 'reload: trigger to old gone', 200);
  item(`<line x1="${at + 8}" x2="${at + 8}" y1="${y - 6}" y2="${y + 6}" stroke="${COLORS.fail}" stroke-width="2"/>`, 'failed request', 150);
}
