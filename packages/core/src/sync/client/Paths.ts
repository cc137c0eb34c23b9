/**
 * Paths in a synced folder: checking a path the server sent before it touches the disk, the
 * folder's own directory, and conflict copies' names.
 *
 * @since 0.1.0
 */
import { utf8ToBytes } from "@noble/hashes/utils.js"
import * as Data from "effect/Data"
import * as Either from "effect/Either"

/**
 * The folder's own directory (index, temp files): never synced, never scanned.
 *
 * @since 0.1.0
 * @category constants
 */
export const META_DIR = ".meridian"

/**
 * Where downloads are written before they are renamed over their target.
 *
 * @since 0.1.0
 * @category constants
 */
export const TMP_DIR = `${META_DIR}/tmp`

/**
 * The per-folder ignore file (gitignore syntax).
 *
 * @since 0.1.0
 * @category constants
 */
export const IGNORE_FILE = ".meridianignore"

/**
 * A path the device refuses to write: it would leave the folder or cannot be a file name here.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsafePath extends Data.TaggedError("UnsafePath")<{ readonly path: string; readonly reason: string }> {
  override get message() {
    return `refused path ${JSON.stringify(this.path)}: ${this.reason}`
  }
}

/** Names Windows reserves whatever their extension; refused everywhere so that every device can hold the tree. */
const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i

/**
 * The most bytes of one name segment (ext4, APFS, NTFS all stop at 255).
 *
 * @since 0.1.0
 * @category bounds
 */
export const MAX_SEGMENT = 255

/**
 * Checks a folder-relative path from the server: relative, `/`-separated, no empty, `.` or `..`
 * segment, no NUL or control character, no backslash or `:` (a separator or a drive elsewhere),
 * no name a Windows device cannot hold, and not inside the folder's own directory.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (path: string): Either.Either<string, UnsafePath> => {
  const refuse = (reason: string) => Either.left(new UnsafePath({ path, reason }))
  if (path.length === 0) return refuse("empty")
  if (path.length > 4096) return refuse("longer than 4096 characters")
  if (path.startsWith("/")) return refuse("absolute")
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\\:]/.test(path)) return refuse("a control character, backslash or ':' in it")
  const segments = path.split("/")
  for (const s of segments) {
    if (s === "" || s === "." || s === "..") return refuse(`a segment ${JSON.stringify(s)}`)
    if (utf8ToBytes(s).length > MAX_SEGMENT) return refuse(`a name longer than ${MAX_SEGMENT} bytes`)
    if (RESERVED.test(s)) return refuse(`${JSON.stringify(s)} is a reserved device name`)
    if (s.endsWith(" ") || s.endsWith(".")) return refuse(`${JSON.stringify(s)} ends in a space or dot`)
  }
  if (isMeta(path)) return refuse(`inside the folder's own ${META_DIR} directory`)
  return Either.right(path)
}

/**
 * `true` for the folder's own directory and what is in it.
 *
 * @since 0.1.0
 * @category validation
 */
export const isMeta = (path: string): boolean => path === META_DIR || path.startsWith(META_DIR + "/")

/**
 * Joins a folder root and a folder-relative path.
 *
 * @since 0.1.0
 * @category paths
 */
export const join = (root: string, path: string): string => (root.endsWith("/") ? root + path : `${root}/${path}`)

/**
 * The parent directory of a folder-relative path (`""` at the top).
 *
 * @since 0.1.0
 * @category paths
 */
export const parent = (path: string): string => {
  const i = path.lastIndexOf("/")
  return i < 0 ? "" : path.slice(0, i)
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

/**
 * The time in a conflict copy's name: `YYYYMMDD-HHMMSS`, UTC.
 *
 * @since 0.1.0
 * @category conflicts
 */
export const conflictStamp = (millis: number): string => {
  const d = new Date(millis)
  return (
    `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-` +
    `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`
  )
}

/**
 * The conflict copy's name, Syncthing's: `dir/name.sync-conflict-YYYYMMDD-HHMMSS-DEVICE.ext`,
 * the extension being what follows the name's last dot (none for a dotfile like `.bashrc`).
 *
 * @since 0.1.0
 * @category conflicts
 */
export const conflictName = (path: string, millis: number, device: string): string => {
  const dir = parent(path)
  const name = dir === "" ? path : path.slice(dir.length + 1)
  const dot = name.lastIndexOf(".")
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""]
  const copy = `${stem}.sync-conflict-${conflictStamp(millis)}-${device}${ext}`
  return dir === "" ? copy : `${dir}/${copy}`
}

/**
 * `true` for a conflict copy's name.
 *
 * @since 0.1.0
 * @category conflicts
 */
export const isConflictCopy = (path: string): boolean => /\.sync-conflict-\d{8}-\d{6}-[A-Za-z0-9._-]+/.test(path)
