/**
 * An exclusive lock on a directory, held by one process: a pid file created atomically (written
 * aside, then hard-linked into place, so it never exists half-written). Two processes on one
 * SQLite database would each think they own the outbox and the dedupe window; the second one fails
 * at once instead, naming the holder. A lock left by a process that died (kill -9, power loss) is
 * taken over: its pid no longer runs, or runs a program that is not Meridian (the pid was reused).
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"

/**
 * The lock file `SiteNode`'s stores take in a site's data directory.
 *
 * @since 0.1.0
 * @category config
 */
export const SITE_LOCK = "site.lock"

/**
 * How often {@link acquire} looks again when the lock changes hands under it (a stale lock taken
 * over by another process at the same moment) before it gives up.
 *
 * @since 0.1.0
 * @category limits
 */
export const MAX_ATTEMPTS = 5

/**
 * The directory is locked by another process that still runs.
 *
 * @since 0.1.0
 * @category errors
 */
export class Locked extends Data.TaggedError("Locked")<{
  readonly file: string
  readonly pid: number
}> {
  override get message() {
    return `${dirname(this.file)} is in use by process ${this.pid} (lock file ${this.file}): stop that process first, or use another directory`
  }
}

/**
 * The lock file could not be read or written (permissions, a full disk).
 *
 * @since 0.1.0
 * @category errors
 */
export class LockFailed extends Data.TaggedError("LockFailed")<{
  readonly file: string
  readonly reason: string
}> {
  override get message() {
    return `cannot lock ${dirname(this.file)} (${this.file}): ${this.reason}`
  }
}

/**
 * Whether `pid` is a running process that may hold a Meridian lock: this process, or one that
 * exists and, where `/proc` tells (Linux), runs a command line that mentions meridian.
 *
 * @since 0.1.0
 * @category locks
 */
export const running = (pid: number): boolean => {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
  } catch (error) {
    // EPERM: it exists, under another user.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false
  }
  let cmdline: string
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8")
  } catch {
    return true
  }
  return cmdline.toLowerCase().includes("meridian")
}

/**
 * The pid written in a lock file; `undefined` when there is no file or no pid in it.
 *
 * @since 0.1.0
 * @category locks
 */
export const readPid = (file: string): number | undefined => {
  let text: string
  try {
    text = readFileSync(file, "utf8")
  } catch {
    return undefined
  }
  const pid = Number(text.split("\n")[0]!.trim())
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
}

/**
 * The process that holds the lock `file` now, if any (a stale lock has no holder).
 *
 * @since 0.1.0
 * @category locks
 */
export const holder = (file: string): number | undefined => {
  const pid = readPid(file)
  return pid !== undefined && running(pid) ? pid : undefined
}

const errnoOf = (error: unknown) => (error as NodeJS.ErrnoException).code

const tryLock = (file: string, note: string): Effect.Effect<void, Locked | LockFailed> =>
  Effect.suspend((): Effect.Effect<void, Locked | LockFailed> => {
    try {
      mkdirSync(dirname(file), { recursive: true })
    } catch (error) {
      return Effect.fail(new LockFailed({ file, reason: String((error as Error).message) }))
    }
    const aside = join(dirname(file), `.${basename(file)}.${process.pid}`)
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        writeFileSync(aside, `${process.pid}\n${note}\n`, { mode: 0o644 })
        try {
          linkSync(aside, file)
          return Effect.void
        } finally {
          unlinkSync(aside)
        }
      } catch (error) {
        if (errnoOf(error) !== "EEXIST") {
          return Effect.fail(new LockFailed({ file, reason: String((error as Error).message) }))
        }
      }
      const pid = readPid(file)
      if (pid !== undefined && running(pid)) return Effect.fail(new Locked({ file, pid }))
      // Stale: remove it unless another process took it over since it was read.
      if (readPid(file) === pid) {
        try {
          unlinkSync(file)
        } catch (error) {
          if (errnoOf(error) !== "ENOENT") {
            return Effect.fail(new LockFailed({ file, reason: String((error as Error).message) }))
          }
        }
      }
    }
    const pid = readPid(file)
    return pid === undefined
      ? Effect.fail(new LockFailed({ file, reason: `it changed hands ${MAX_ATTEMPTS} times while being taken` }))
      : Effect.fail(new Locked({ file, pid }))
  })

/** Removes `file` if this process still holds it. */
const unlock = (file: string) =>
  Effect.sync(() => {
    if (readPid(file) !== process.pid) return
    try {
      unlinkSync(file)
    } catch {
      // Already gone: nothing to release.
    }
  })

/**
 * Takes the lock `file` for the current scope (released when it closes): fails with
 * {@link Locked} while a running process holds it, takes it over from a dead one. `note` is
 * written on the file's second line for people who look (what holds it).
 *
 * @since 0.1.0
 * @category locks
 */
export const acquire = (file: string, note: string): Effect.Effect<void, Locked | LockFailed, Scope.Scope> =>
  Effect.acquireRelease(tryLock(file, note), () => unlock(file))
