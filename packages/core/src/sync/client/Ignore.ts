/**
 * A folder's ignore rules: `.meridianignore` at its top, gitignore syntax (the `ignore` package,
 * which implements git's rules, negation and directory patterns included), plus what is never
 * synced whatever the file says: the folder's own `.meridian/` directory, and the ignore file
 * itself unless the folder shares it (`shareIgnoreFile`, opt-in).
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import ignoreModule from "ignore"
import { IGNORE_FILE, isMeta, join } from "./Paths.js"

/**
 * Decides which folder-relative paths are not synced.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ignore {
  /** `true` when `path` (a file) is not synced. */
  readonly ignores: (path: string) => boolean
  /** The rules' text, to notice a changed file. */
  readonly source: string
}

/**
 * The most bytes of an ignore file; a larger one is refused (reported, ignoring nothing): a pattern
 * list that large is a mistake, and its size must not set the daemon's memory.
 *
 * @since 0.1.0
 * @category bounds
 */
export const MAX_IGNORE_FILE_BYTES = 256 * 1024

/**
 * Rules from the text of an ignore file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromText = (source: string, shareIgnoreFile = false): Ignore => {
  const rules = ignoreModule.default().add(source)
  // A path that is not relative (refused by `Paths.validate` anyway) is not matched: `ignore` throws on it.
  return {
    source,
    ignores: (path) =>
      isMeta(path) ||
      (!shareIgnoreFile && path === IGNORE_FILE) ||
      (ignoreModule.default.isPathValid(path) && rules.ignores(path))
  }
}

/**
 * The folder's rules, read from its `.meridianignore` (none when it is absent or unreadable).
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (root: string, shareIgnoreFile = false): Effect.Effect<Ignore, never, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = join(root, IGNORE_FILE)
    const info = yield* Effect.option(fs.stat(path))
    if (Option.isNone(info) || info.value.type !== "File" || Number(info.value.size) > MAX_IGNORE_FILE_BYTES)
      return fromText("", shareIgnoreFile)
    return fromText(yield* fs.readFileString(path).pipe(Effect.orElseSucceed(() => "")), shareIgnoreFile)
  })
