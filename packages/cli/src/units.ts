/**
 * The units people type and read at the command line: lifetimes (`--expires 7d`), sizes
 * (`--chunk-size 8M`), and how sizes, waits and time left are printed. One grammar of each, used
 * by every command.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

const DURATION_UNITS: Readonly<Record<string, number>> = { "": 1, s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 }

/**
 * A lifetime: `90s`, `30m`, `12h`, `7d`, `2w`, or plain seconds.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseDuration = (text: string): Option.Option<number> => {
  const match = /^\s*(\d+)\s*([smhdw]?)\s*$/i.exec(text)
  if (match === null) return Option.none()
  const seconds = Number(match[1]) * (DURATION_UNITS[match[2]!.toLowerCase()] ?? 1)
  return seconds > 0 && Number.isSafeInteger(seconds) ? Option.some(seconds) : Option.none()
}

/**
 * A size: `65536`, `512K`, `8M`, `1G` (binary units; `KiB`, `MB` and the like are read alike).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseSize = (text: string): Option.Option<number> => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])i?)?b?\s*$/i.exec(text)
  if (match === null) return Option.none()
  const power = match[2] === undefined ? 0 : "kmgt".indexOf(match[2].toLowerCase()) + 1
  const bytes = Math.floor(Number(match[1]) * 1024 ** power)
  return bytes > 0 && Number.isSafeInteger(bytes) ? Option.some(bytes) : Option.none()
}

const SIZE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"]

/**
 * A size for people: `6.0 MiB`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatBytes = (bytes: number) => {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < SIZE_UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${SIZE_UNITS[unit]}`
}

/**
 * A wait before the next try, to a tenth of a second: `2.3 s`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatWait = (wait: Duration.DurationInput) => `${(Duration.toMillis(wait) / 1000).toFixed(1)} s`

/**
 * Time left, coarser the longer it is: `42m`, `5h 3m`, `6d 23h`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatRemaining = (millis: number) => {
  const minutes = Math.max(0, Math.floor(millis / 60_000))
  if (minutes < 60) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  return hours < 48 ? `${hours}h ${minutes % 60}m` : `${Math.floor(hours / 24)}d ${hours % 24}h`
}

/**
 * The time a transfer still needs, to the second while it is short: `45s`, `3m 05s`, `2h 10m`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatEta = (seconds: number) => {
  const whole = Math.max(0, Math.ceil(seconds))
  if (whole < 60) return `${whole}s`
  const minutes = Math.floor(whole / 60)
  if (minutes < 60) return `${minutes}m ${String(whole % 60).padStart(2, "0")}s`
  const hours = Math.floor(minutes / 60)
  return hours < 100 ? `${hours}h ${String(minutes % 60).padStart(2, "0")}m` : `${Math.floor(hours / 24)}d`
}
