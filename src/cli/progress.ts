import type { ConnectionEventName, EventFrame, ReloadPhase } from '../control/protocol.js';
import { renderReloadEvent } from './render.js';

// What `supervisor reload` shows while it waits. On a terminal: one spinner line rewritten in
// place with the phase under way (ready k/N, draining k/M) and elapsed time, and a line that stays
// for each finished phase. Elsewhere (a pipe, a CI log, TERM=dumb): one plain line per event, no
// escape sequences.
export interface ProgressOutput {
  write(text: string): unknown;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const CLEAR_LINE = '\r\x1b[K';

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export class ReloadProgressView {
  readonly #out: ProgressOutput;
  readonly #tty: boolean;
  readonly #now: () => number;
  readonly #started: number;
  #phase: string | null = null;
  #phaseStarted: number;
  #frame = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(out: ProgressOutput, tty: boolean, now: () => number = Date.now) {
    this.#out = out;
    this.#tty = tty;
    this.#now = now;
    this.#started = now();
    this.#phaseStarted = this.#started;
    if (tty) {
      this.#setPhase('asking the supervisor to reload');
      this.#timer = setInterval(() => this.#draw(), 100);
      this.#timer.unref();
    }
  }

  event(event: EventFrame): void {
    if (!this.#tty) {
      this.#out.write(`${renderReloadEvent(event)}\n`);
      return;
    }
    switch (event.event as ReloadPhase | ConnectionEventName) {
      case 'accepted':
        this.#setPhase(event.queued ? 'queued: waiting for the running reload to finish' : 'checking the config');
        return;
      case 'starting':
        this.#done(`config valid; release ${String(event.cwd)}${event.revision ? ` (revision ${String(event.revision)})` : ''}`);
        this.#setPhase(`starting generation ${event.generation}: ${event.workers} worker(s), ready 0/${event.workers}`);
        return;
      case 'worker-ready':
        if (event.ready === event.total) {
          this.#done(`generation ${event.generation} ready: ${event.ready}/${event.total} worker(s) in ${seconds(this.#now() - this.#phaseStarted)}`);
          this.#setPhase(`steering new connections to generation ${event.generation}`);
        } else {
          this.#phase = `starting generation ${event.generation}: ready ${event.ready}/${event.total}`;
          this.#draw();
        }
        return;
      case 'rolling-back':
        this.#done(`generation ${event.generation} failed: ${String(event.reason)}`, '✗');
        this.#setPhase(`rolling back: stopping generation ${event.generation}; the old generation keeps serving`);
        return;
      case 'promoted':
        if (typeof event.canaryShare === 'number' && event.canaryShare > 0) {
          this.#done(renderReloadEvent(event));
          return;
        }
        if (typeof event.slowStartMs === 'number' && event.slowStartMs > 0) {
          this.#done(`generation ${event.generation} serves: slow start`);
          this.#setPhase(`slow start: shifting new connections from generation ${event.drainingGeneration} to ${event.generation} over ${seconds(event.slowStartMs)}`);
          return;
        }
        this.#done(`steering: new connections go to generation ${event.generation}`);
        this.#setPhase(`draining generation ${event.drainingGeneration}: 0/${event.drainWorkers} worker(s) gone`);
        return;
      case 'shifted':
        this.#done(`steering: every new connection goes to generation ${event.generation}`);
        this.#setPhase(`draining generation ${event.drainingGeneration}`);
        return;
      case 'drained':
        if (event.done === event.total) {
          this.#done(`generation ${event.generation} drained: ${event.total} worker(s) in ${seconds(this.#now() - this.#phaseStarted)}`);
          this.#setPhase('finishing');
        } else {
          this.#phase = `draining generation ${event.generation}: ${event.done}/${event.total} worker(s) gone`;
          this.#draw();
        }
        return;
      default:
        this.#done(renderReloadEvent(event), '·');
    }
  }

  // Clears the spinner line; the caller prints the result.
  finish(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#tty && this.#phase !== null) this.#out.write(CLEAR_LINE);
    this.#phase = null;
  }

  elapsedMs(): number {
    return this.#now() - this.#started;
  }

  #setPhase(text: string): void {
    this.#phase = text;
    this.#phaseStarted = this.#now();
    this.#draw();
  }

  #done(text: string, mark = '✓'): void {
    this.#out.write(`${CLEAR_LINE}${mark} ${text}\n`);
    this.#phase = null;
  }

  #draw(): void {
    if (!this.#tty || this.#phase === null) return;
    const spinner = SPINNER[this.#frame++ % SPINNER.length];
    this.#out.write(`${CLEAR_LINE}${spinner} ${this.#phase} (${seconds(this.#now() - this.#started)})`);
  }
}

// A terminal that understands the cursor controls above: a TTY whose TERM is not "dumb".
export function isFancyTerminal(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && env.TERM !== 'dumb';
}
