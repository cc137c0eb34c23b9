/**
 * Looking at the folder: the stat of a path, the walk of the whole tree (skipping ignored paths
 * and the folder's own directory), and a file's manifest, read as a stream so that a file of any
 * size costs one read buffer and its chunk list, never its bytes.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type * as PlatformError from "@effect/platform/Error"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Chunker from "../Chunker.js"
import * as Hasher from "../Hasher.js"
import * as Manifest from "../Manifest.js"
import type { Ignore } from "./Ignore.js"
import type { LocalEntry } from "./LocalIndex.js"
import { join } from "./Paths.js"
import type { Settings } from "./Settings.js"

/**
 * What the scan needs of a file's stat.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stat {
  readonly size: number
  readonly mtime: number
  readonly inode: number
}

/**
 * A file the device cannot take now: too large, changed while read, or unreadable.
 *
 * @since 0.1.0
 * @category errors
 */
export class FileUnreadable extends Data.TaggedError("FileUnreadable")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `${this.path}: ${this.reason}`
  }
}

/**
 * The stat of a regular file, or none (absent, a directory, a link, unreadable).
 *
 * @since 0.1.0
 * @category scanning
 */
export const stat = (absolute: string): Effect.Effect<Option.Option<Stat>, never, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.stat(absolute).pipe(
      Effect.map((info) =>
        info.type === "File"
          ? Option.some({
              size: Number(info.size),
              mtime: Option.match(info.mtime, { onNone: () => 0, onSome: (d) => d.getTime() }),
              inode: Option.getOrElse(info.ino, () => 0)
            })
          : Option.none()
      ),
      Effect.orElseSucceed(() => Option.none())
    )
  )

/**
 * `true` when the stat says the file is still what the entry recorded, without reading it: same
 * size, mtime and inode, and the mtime not so close to when it was recorded that a later write in
 * the same clock tick could hide behind it (git's "racy" rule).
 *
 * @since 0.1.0
 * @category scanning
 */
export const statMatches = (entry: LocalEntry, s: Stat, settings: Settings): boolean =>
  !entry.deleted &&
  entry.size === s.size &&
  entry.mtime === s.mtime &&
  (entry.inode === 0 || s.inode === 0 || entry.inode === s.inode) &&
  s.mtime < entry.checkedAt - Duration.toMillis(settings.racyWindow)

/**
 * Every regular file of the folder not ignored, by folder-relative path (in path order), with its
 * stat; at most `concurrency` stats at once.
 *
 * @since 0.1.0
 * @category scanning
 */
export const walk = (
  root: string,
  ignore: Ignore,
  concurrency = 1
): Effect.Effect<Map<string, Stat>, PlatformError.PlatformError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const names = yield* fs.readDirectory(root, { recursive: true })
    const paths = names
      .map((raw) => raw.split("\\").join("/"))
      .filter((path) => !ignore.ignores(path))
      .sort()
    const stats = yield* Effect.forEach(paths, (path) => stat(join(root, path)), { concurrency })
    const files = new Map<string, Stat>()
    for (let i = 0; i < paths.length; i++) {
      const s = stats[i]!
      if (Option.isSome(s)) files.set(paths[i]!, s.value)
    }
    return files
  })

/**
 * A file's content as a manifest.
 *
 * @since 0.1.0
 * @category models
 */
export interface Content {
  readonly manifest: Manifest.Manifest
  readonly digest: string
  readonly encoded: Uint8Array
  /** The stat the content was read at (checked again after reading). */
  readonly stat: Stat
}

/**
 * Reads a file as a stream (in one read when it fits in `readChunkSize`) and builds its manifest,
 * hashing with `hasher`; refuses a file over the size bound or one that changed while it was read
 * (it will be seen again once it settles).
 *
 * @since 0.1.0
 * @category scanning
 */
export const content = (
  root: string,
  path: string,
  settings: Settings,
  hasher: Hasher.Hasher = Hasher.noble
): Effect.Effect<Content, FileUnreadable, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const absolute = join(root, path)
    const refuse = (reason: string) => new FileUnreadable({ path, reason })
    const before = yield* stat(absolute)
    if (Option.isNone(before)) return yield* Effect.fail(refuse("not a regular file any more"))
    if (before.value.size > settings.maxFileSize)
      return yield* Effect.fail(refuse(`${before.value.size} bytes, over the bound of ${settings.maxFileSize}`))
    const chunker = Either.getOrThrow(Chunker.make(Chunker.defaults, hasher))
    const builder = Manifest.builder(chunker)
    if (before.value.size <= settings.readChunkSize) {
      // A small file (most of a folder): one read, no stream.
      const bytes = yield* fs.readFile(absolute).pipe(Effect.mapError((e) => refuse(e.message)))
      builder.push(bytes)
    } else {
      yield* fs.stream(absolute, { chunkSize: FileSystem.Size(settings.readChunkSize) }).pipe(
        Stream.runForEach((piece) => Effect.sync(() => builder.push(piece))),
        Effect.mapError((e) => refuse(e.message))
      )
    }
    const manifest = yield* Either.match(builder.finish(), {
      onLeft: (e) => Effect.fail(refuse(e.message)),
      onRight: Effect.succeed
    })
    const after = yield* stat(absolute)
    if (
      Option.isNone(after) ||
      after.value.size !== before.value.size ||
      after.value.mtime !== before.value.mtime ||
      manifest.size !== after.value.size
    )
      return yield* Effect.fail(refuse("changed while it was read"))
    return {
      manifest,
      digest: Manifest.digest(manifest, hasher),
      encoded: Manifest.encode(manifest),
      stat: after.value
    }
  })

/**
 * Reads `size` bytes at `offset` of a file (a chunk to upload or to reuse).
 *
 * @since 0.1.0
 * @category scanning
 */
export const readRange = (
  absolute: string,
  offset: number,
  size: number
): Effect.Effect<Uint8Array, PlatformError.PlatformError, FileSystem.FileSystem> =>
  Effect.scoped(
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const file = yield* fs.open(absolute, { flag: "r" })
      yield* file.seek(FileSystem.Size(offset), "start")
      const buffer = new Uint8Array(size)
      let filled = 0
      while (filled < size) {
        const n = Number(yield* file.read(buffer.subarray(filled)))
        if (n === 0) break
        filled += n
      }
      return filled === size ? buffer : buffer.subarray(0, filled)
    })
  )
