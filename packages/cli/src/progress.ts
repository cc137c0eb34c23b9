/**
 * Progress of a transfer on stderr, and the lines said while it runs (resuming, retrying): a bar
 * redrawn in place on a terminal (bytes, %, rate, time left), plain lines at most once a second otherwise
 * (logs, CI), nothing with `--json`, so that standard output stays the answer alone.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { formatBytes, formatEta } from "./units.js"

/**
 * How progress is shown: `tty` redraws a bar, `lines` prints lines, `none` prints nothing.
 *
 * @since 0.1.0
 * @category models
 */
export type ProgressMode = "tty" | "lines" | "none"

/**
 * The mode for a command: nothing with `--json`, a bar on a terminal, else lines.
 *
 * @since 0.1.0
 * @category constructors
 */
export const modeFor = (json: boolean): ProgressMode => (json ? "none" : process.stderr.isTTY ? "tty" : "lines")

/**
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  /** Bytes moved so far (redraws the bar on a terminal). */
  readonly live: (done: number) => void
  /** A point worth a line when stderr is not a terminal: a confirmed chunk, a second gone by. */
  readonly step: (done: number) => void
  /** A line of its own (resuming, retrying). */
  readonly note: (line: string) => void
  /** `note` as an effect, for the retry policy. */
  readonly say: (line: string) => Effect.Effect<void>
  readonly end: () => void
}

/** The bar is redrawn at most this often (a terminal has no use for more). */
const REDRAW_MILLIS = 100
/** Without a terminal, a progress line at most this often. */
const LINE_MILLIS = 1000
/** The rate shown is over the last this long: a stall shows at once, not averaged away. */
const RATE_WINDOW_MILLIS = 5000
/** Cells of the bar itself. */
const BAR_CELLS = 20

/**
 * Progress of `label` towards `total` bytes, starting at `from`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const progress = (mode: ProgressMode, label: string, total: number, from: number): Progress => {
  const start = Date.now()
  let drawn = 0
  let lined = 0
  let open = false
  const samples: Array<readonly [number, number]> = [[start, from]]
  const line = (done: number) => {
    const now = Date.now()
    if (now - samples[samples.length - 1]![0] >= 250) samples.push([now, done])
    while (samples.length > 2 && now - samples[0]![0] > RATE_WINDOW_MILLIS) samples.shift()
    const [since, base] = samples[0]!
    const rate = ((done - base) * 1000) / Math.max(now - since, 1)
    const percent = total === 0 ? 100 : Math.floor((done / total) * 100)
    // Time left at the recent rate: what a stall does to it shows at once.
    const left = done >= total ? "" : rate > 0 ? `  ETA ${formatEta((total - done) / rate)}` : "  ETA stalled"
    return `${label}  ${formatBytes(done)} / ${formatBytes(total)}  ${percent}%  ${formatBytes(Math.max(0, rate))}/s${left}`
  }
  const draw = (done: number) => {
    const width = Math.max(20, (process.stderr.columns || 80) - 1)
    const text = line(done)
    const filled = Math.round((BAR_CELLS * done) / Math.max(total, 1))
    const bar = text.length + BAR_CELLS + 3 <= width ? ` [${"#".repeat(filled).padEnd(BAR_CELLS, " ")}]` : ""
    process.stderr.write(`\r${(text + bar).slice(0, width)}\x1b[K`)
    open = true
  }
  const note = (text: string) => {
    if (mode === "none") return
    if (open) process.stderr.write("\n")
    open = false
    process.stderr.write(text + "\n")
  }
  return {
    live: (done) => {
      if (mode !== "tty") return
      const now = Date.now()
      if (now - drawn < REDRAW_MILLIS && done < total) return
      drawn = now
      draw(done)
    },
    step: (done) => {
      if (mode === "tty") return draw(done)
      if (mode !== "lines") return
      const now = Date.now()
      if (lined !== 0 && now - lined < LINE_MILLIS && done < total) return
      lined = now
      process.stderr.write(line(done) + "\n")
    },
    note,
    say: (text) => Effect.sync(() => note(text)),
    end: () => {
      if (open) process.stderr.write("\n")
      open = false
    }
  }
}
