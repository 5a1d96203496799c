'use strict';
// Progress of `npm run bench` / `photon-wb bench`, on stderr.
//
// On a TTY: one status line redrawn in place (every round and twice a
// second) — which step of how many, its title, round r/n, a bar, elapsed
// time and an ETA for the step — and one line per finished step above it.
// Elsewhere (CI logs, a pipe, a file): only the one line per finished step,
// so a log holds no carriage returns or escape codes.
//
// Child benchmarks (threads.js, flush.js, pagelog.js) report their rounds on
// stderr as `<name>: round <r>/<n>` lines; parseRoundLine() reads them back.

/** '0:07', '1:05', '1:02:03'; '?' for a missing or negative duration. */
function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A bar of `width` cells, `frac` (clamped to [0, 1]) of them filled. */
function formatBar(frac, width = 20) {
  const f = Math.min(1, Math.max(0, Number.isFinite(frac) ? frac : 0));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

/** Milliseconds left when `done` of `total` units took `elapsedMs`; null before the first unit. */
function estimateRemaining(elapsedMs, done, total) {
  if (!(done > 0) || !(total >= done)) return null;
  return (elapsedMs / done) * (total - done);
}

/**
 * The TTY status line: `[3/14] title · round 7/21 [####....] 33% · 0:12 · ETA 0:24`,
 * at most `columns - 1` characters (so the terminal never wraps it): the
 * title is cut first, so the round, bar and ETA stay visible.
 * `round` 0 with `rounds` > 0 reads "warming up".
 */
function formatStatus({ index, count, label, round = 0, rounds = 0, elapsedMs = 0, columns = 80 }) {
  const tail = [];
  if (rounds > 0) {
    const frac = round / rounds;
    tail.push(round === 0 ? `warming up ${formatBar(0)}` : `round ${round}/${rounds} ${formatBar(frac)} ${Math.round(frac * 100)}%`);
  }
  tail.push(formatDuration(elapsedMs));
  const left = estimateRemaining(elapsedMs, round, rounds);
  if (left !== null) tail.push(`ETA ${formatDuration(left)}`);
  const head = `[${index}/${count}] `;
  const rest = ` · ${tail.join(' · ')}`;
  const max = Math.max(20, columns - 1);
  const room = max - head.length - rest.length;
  const title = label.length <= room ? label : room > 1 ? `${label.slice(0, room - 1)}…` : '';
  const line = `${head}${title}${rest}`;
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** The line of a finished step: `[3/14] title: summary · 12.3 s`. */
function formatDone({ index, count, label, summary = '', elapsedMs = 0 }) {
  return `[${index}/${count}] ${label}${summary ? `: ${summary}` : ''} · ${(elapsedMs / 1000).toFixed(1)} s`;
}

/** `{ name, round, rounds }` of a child's `<name>: round <r>/<n>` line, else null. */
function parseRoundLine(line) {
  const m = /^(\S+): round (\d+)\/(\d+)\s*$/.exec(line);
  return m ? { name: m[1], round: Number(m[2]), rounds: Number(m[3]) } : null;
}

class Progress {
  /**
   * @param {object} o
   * @param {number} o.count     steps in the run
   * @param {object} [o.stream]  default process.stderr
   * @param {boolean} [o.tty]    redraw in place; default stream.isTTY
   * @param {() => number} [o.now]
   */
  constructor({ count, stream = process.stderr, tty = Boolean(stream.isTTY), now = Date.now }) {
    this.count = count;
    this.stream = stream;
    this.tty = tty;
    this.now = now;
    this.index = 0;
    this.step = null;
    this.timer = null;
  }

  /** A new step begins: `label`, `rounds` timed rounds (0: unknown). */
  start(label, rounds = 0) {
    this.index++;
    this.step = { label, rounds, round: 0, t0: this.now() };
    if (this.tty) {
      this.draw();
      if (this.timer === null) {
        this.timer = setInterval(() => this.draw(), 500);
        this.timer.unref();
      }
    }
  }

  /** Round `round` of `rounds` (default: the step's) is done. */
  round(round, rounds = this.step && this.step.rounds) {
    if (!this.step) return;
    this.step.round = round;
    this.step.rounds = rounds;
    this.draw();
  }

  /** A line of text: above the status line on a TTY, as it is elsewhere. */
  log(text) {
    if (this.tty) this.stream.write('\r\x1b[K');
    this.stream.write(`${text}\n`);
    this.draw();
  }

  /** The step is done: its one line, with `summary`. */
  end(summary = '') {
    if (!this.step) return;
    const { label, t0 } = this.step;
    this.step = null;
    if (this.tty) this.stream.write('\r\x1b[K');
    this.stream.write(`${formatDone({ index: this.index, count: this.count, label, summary, elapsedMs: this.now() - t0 })}\n`);
  }

  /** Stops redrawing (the run is over). */
  close() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.tty && this.step) this.stream.write('\r\x1b[K');
  }

  draw() {
    if (!this.tty || !this.step) return;
    const { label, round, rounds, t0 } = this.step;
    const line = formatStatus({ index: this.index, count: this.count, label, round, rounds,
      elapsedMs: this.now() - t0, columns: this.stream.columns || 80 });
    this.stream.write(`\r\x1b[K${line}`);
  }
}

module.exports = { Progress, formatDuration, formatBar, formatStatus, formatDone, estimateRemaining, parseRoundLine };
