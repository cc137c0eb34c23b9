/**
 * The disk implementation of the {@link Blobs.Blobs} store: one file per blob, named by the
 * lowercase hex SHA-256 of its content, under a directory of the site's.
 *
 * Layout (`<dir>` is `options.directory`):
 *
 * - `<dir>/blobs/ab/abcdef…` — the content of the blob whose hash starts with `ab` (256 fan-out
 *   directories, so no directory grows past a few thousand entries).
 * - `<dir>/blobs/ab/abcdef….refs` — its reference count, as decimal text (a per-blob sidecar).
 * - `<dir>/tmp/` — files being written. Anything left here was interrupted by a crash.
 *
 * Why it is crash safe: content is written to a temp file, fsynced, then renamed to its final name,
 * so a final name only ever holds complete content. A reference count is written the same way
 * (temp, fsync, rename) and only after the blob is in place; the directory is fsynced before the
 * caller hears of success. At start-up the store removes every temp file, every blob without a
 * reference count (a crash between the blob's rename and its count's) and every count without a
 * blob, then rebuilds the usage figures. A blob that a caller was told about therefore always has
 * its count, and a crash can only leave garbage, which the next start collects.
 *
 * Why a sidecar rather than one JSON index: a reference change rewrites a few bytes for that blob
 * instead of the whole index, so its cost does not grow with the number of blobs.
 *
 * One store per directory: two processes sharing a directory would collect each other's temp files.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type { PlatformError } from "@effect/platform/Error"
import * as Path from "@effect/platform/Path"
import * as Blobs from "@meridian/core/stores/Blobs"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createHash, randomBytes } from "node:crypto"
import { createReadStream } from "node:fs"
import { rm, stat } from "node:fs/promises"
import { Readable } from "node:stream"
import { FileBody, type FileBodyConfig } from "./FileBody.js"

/**
 * Where the store lives, and its bounds (defaults: {@link Blobs.BlobsConfig}; for raw bodies,
 * `FileBody.FileBodyConfig`).
 *
 * @since 0.1.0
 * @category config
 */
export type DiskBlobsOptions = { readonly directory: string } & Partial<Blobs.BlobsConfig> & {
    readonly rawBody?: Partial<FileBodyConfig>
  }

/**
 * The disk store: a blob store that can also adopt a finished file (see `putFile` in `make`).
 *
 * @since 0.1.0
 * @category models
 */
export interface DiskBlobsService extends Blobs.BlobsService, Blobs.RawBodies {
  readonly putFile: (file: string, sha256?: string) => Effect.Effect<Blobs.BlobInfo, Blobs.BlobStoreFull>
}

/**
 * Whether a blob store can adopt files (the disk store can; the memory store cannot).
 *
 * @since 0.1.0
 * @category guards
 */
export const canAdoptFiles = (blobs: Blobs.BlobsService): blobs is DiskBlobsService =>
  "putFile" in blobs && typeof blobs.putFile === "function"

const statFile = (file: string) => stat(file)
const rmFile = rm
/**
 * A file's content as a stream of `chunkBytes` reads (the stores' files exist while read: a
 * read error is a defect).
 *
 * @since 0.1.0
 * @category utils
 */
export const fileStream = (file: string, chunkBytes = 1024 * 1024): Stream.Stream<Uint8Array> =>
  Stream.fromAsyncIterable(createReadStream(file, { highWaterMark: chunkBytes }), (e) => e).pipe(
    Stream.map((chunk) => chunk as Uint8Array),
    Stream.orDie
  )
const hashFile = async (file: string) => {
  const hasher = createHash("sha256")
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hasher.update(chunk as Buffer)
  return hasher.digest("hex")
}

/** How many fan-out directories start-up scans at once. */
const startupConcurrency = 16

const hashPattern = /^[0-9a-f]{64}$/
const refsPattern = /^[0-9a-f]{64}\.refs$/
const countPattern = /^[1-9][0-9]*\n?$/

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 1

/**
 * Whether `hash` can name a blob: 64 lowercase hex characters. Anything else (`../../etc/passwd`)
 * is answered with {@link Blobs.BlobNotFound} without touching the file system.
 *
 * @since 0.1.0
 * @category utils
 */
export const isHash = (hash: string): boolean => hashPattern.test(hash)

/** The OS reported a full disk (or quota) at `path`; mapped to `BlobStoreFull` where it is typed. */
class DiskFull extends Data.TaggedError("DiskFull")<{ readonly path: string; readonly error: PlatformError }> {}

const diskFullCodes = ["ENOSPC", "EDQUOT"]

const errnoCode = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined

const isDiskFullError = (error: PlatformError): boolean => {
  if (error._tag !== "SystemError") return false
  const code = errnoCode(error.cause)
  if (code !== undefined) return diskFullCodes.includes(code)
  return diskFullCodes.some((c) => error.description?.includes(c) === true)
}

/** A file-system step: a full disk becomes {@link DiskFull}, anything else a defect naming `path`. */
const io = <A, R>(path: string, effect: Effect.Effect<A, PlatformError, R>): Effect.Effect<A, DiskFull, R> =>
  Effect.catchAll(effect, (error) =>
    isDiskFullError(error)
      ? Effect.fail(new DiskFull({ path, error }))
      : Effect.die(new Error(`DiskBlobs: ${path}: ${error.message}`, { cause: error }))
  )

/** Where a full disk cannot be a typed error (retain, release, reads): a defect naming the path. */
const dieOnFull = <A, E, R>(effect: Effect.Effect<A, E | DiskFull, R>): Effect.Effect<A, Exclude<E, DiskFull>, R> =>
  Effect.catchIf(
    effect,
    (e): e is DiskFull => e instanceof DiskFull,
    (e) => Effect.die(new Error(`DiskBlobs: disk full at ${e.path}: ${e.error.message}`, { cause: e.error }))
  )

const clampRange = (size: number, range: Blobs.BlobRange | undefined): readonly [number, number] => {
  if (range === undefined) return [0, size]
  const start = Math.min(Math.max(0, Math.floor(range.start)), size)
  const end = range.end === undefined ? size : Math.min(Math.max(start, Math.floor(range.end)), size)
  return [start, end]
}

interface Entry {
  readonly size: number
  refs: number
}

/**
 * Opens (creating if needed) the blob store in `options.directory`, cleaning up after a crash:
 * temp files and unreferenced blobs are removed, and the usage figures are rebuilt from the disk.
 * The scope is the store's lifetime; closing it removes deleted blobs that an unfinished stream
 * still held.
 *
 * Errors: a full disk while storing is {@link Blobs.BlobStoreFull}, like the `maxBytes` bound; a
 * full disk while retaining or releasing (rewriting a count) and any other I/O error are defects
 * whose message names the path. A corrupt reference count at start-up is a defect too: the store
 * will not guess how many records hold a blob.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: DiskBlobsOptions
): Effect.Effect<DiskBlobsService, never, FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function* () {
    const { chunkSize, maxBytes } = { ...Blobs.BlobsConfig, ...withoutUndefined(options) }
    if (!isCount(maxBytes) || !isCount(chunkSize)) {
      return yield* Effect.dieMessage("DiskBlobs: maxBytes and chunkSize must be positive integers")
    }
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path

    const root = path.resolve(options.directory)
    const blobsDir = path.join(root, "blobs")
    const tmpDir = path.join(root, "tmp")
    const fanOut = (hash: string) => path.join(blobsDir, hash.slice(0, 2))
    const blobPath = (hash: string) => path.join(fanOut(hash), hash)
    const refsPath = (hash: string) => path.join(fanOut(hash), `${hash}.refs`)
    const tempPath = (suffix: string) => path.join(tmpDir, `${randomBytes(16).toString("hex")}.${suffix}`)

    /** The blobs that hold references, with their sizes and counts. */
    const index = new Map<string, Entry>()
    /** Bytes of the blobs in `index`. */
    let used = 0
    /** Bytes of content being written to temp files, so concurrent writes cannot overshoot the bound. */
    let reserved = 0
    /** Readers (get, stream) per blob: a released blob's file stays until its readers finish. */
    const pins = new Map<string, number>()
    /** Blobs released while read: out of `index`, file still on disk until the last reader ends. */
    const doomed = new Set<string>()
    /**
     * Serialises every change to counts, renames into `blobs/` and removals from it. The body is
     * uninterruptible (a few small writes), so the disk and `index` never disagree after a success.
     */
    const lock = yield* Effect.makeSemaphore(1)
    const locked = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      lock.withPermits(1)(Effect.uninterruptible(effect))

    /** Best effort: makes renames and removals in `dir` durable where the platform can open a directory. */
    const syncDirectory = (dir: string): Effect.Effect<void> =>
      Effect.scoped(Effect.flatMap(fs.open(dir, { flag: "r" }), (file) => file.sync)).pipe(Effect.ignore)

    const removeQuietly = (file: string): Effect.Effect<void> => Effect.ignore(fs.remove(file, { force: true }))

    /** Writes `data` to a new temp file and fsyncs it; removes the file if that fails. */
    const writeTemp = (file: string, data: Uint8Array): Effect.Effect<void, DiskFull> =>
      Effect.scoped(
        Effect.flatMap(io(file, fs.open(file, { flag: "wx" })), (handle) =>
          Effect.zipRight(io(file, handle.writeAll(data)), io(file, handle.sync))
        )
      ).pipe(Effect.onError(() => removeQuietly(file)))

    /** Atomically replaces the reference count of `hash` (temp, fsync, rename, fsync the directory). */
    const writeRefs = (hash: string, refs: number): Effect.Effect<void, DiskFull> => {
      const temp = tempPath("refs")
      const target = refsPath(hash)
      return writeTemp(temp, new TextEncoder().encode(`${refs}\n`)).pipe(
        Effect.zipRight(io(target, fs.rename(temp, target)).pipe(Effect.onError(() => removeQuietly(temp)))),
        Effect.zipRight(syncDirectory(fanOut(hash)))
      )
    }

    /** Removes the file of a blob no longer in `index`, unless a reader holds it. Call under the lock. */
    const discardFile = (hash: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        if ((pins.get(hash) ?? 0) > 0) {
          doomed.add(hash)
          return Effect.void
        }
        doomed.delete(hash)
        return removeQuietly(blobPath(hash))
      })

    const pin = (hash: string): void => {
      pins.set(hash, (pins.get(hash) ?? 0) + 1)
    }

    const unpin = (hash: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        const left = (pins.get(hash) ?? 1) - 1
        if (left > 0) {
          pins.set(hash, left)
          return Effect.void
        }
        pins.delete(hash)
        if (!doomed.has(hash)) return Effect.void
        // Recheck under the lock: a reader or a put may have come in meanwhile.
        return locked(
          Effect.suspend(() =>
            (pins.get(hash) ?? 0) === 0 && doomed.has(hash) && !index.has(hash) ? discardFile(hash) : Effect.void
          )
        )
      })

    /** Pins `hash` if it is stored, in the same step as the lookup. */
    const pinIfStored = (hash: string): Effect.Effect<Entry, Blobs.BlobNotFound> =>
      Effect.suspend(() => {
        const entry = isHash(hash) ? index.get(hash) : undefined
        if (entry === undefined) return Effect.fail(new Blobs.BlobNotFound({ hash }))
        pin(hash)
        return Effect.succeed(entry)
      })

    /**
     * Makes the fsynced temp file the blob `hash` (or, if it is stored already, discards it) and adds
     * one reference. The count is written after the blob is in place.
     */
    const commit = (hash: string, temp: string, size: number): Effect.Effect<Blobs.BlobInfo, DiskFull> =>
      locked(
        Effect.suspend(() => {
          const existing = index.get(hash)
          if (existing !== undefined) {
            return writeRefs(hash, existing.refs + 1).pipe(
              Effect.tap(() => {
                existing.refs++
              }),
              Effect.ensuring(removeQuietly(temp)),
              Effect.as({ hash, size: existing.size })
            )
          }
          const target = blobPath(hash)
          return io(target, fs.rename(temp, target)).pipe(
            Effect.zipRight(writeRefs(hash, 1).pipe(Effect.onError(() => discardFile(hash)))),
            Effect.tap(() => {
              index.set(hash, { size, refs: 1 })
              used += size
              doomed.delete(hash)
            }),
            Effect.onError(() => removeQuietly(temp)),
            Effect.as({ hash, size })
          )
        })
      )

    const full = (needed: number) => new Blobs.BlobStoreFull({ needed, used, capacity: maxBytes })

    /** Holds `bytes` of the bound for a write in progress; fails if they do not fit. */
    const reserve = (bytes: number): Effect.Effect<void, Blobs.BlobStoreFull> =>
      Effect.suspend(() => {
        if (used + reserved + bytes > maxBytes) return Effect.fail(full(bytes))
        reserved += bytes
        return Effect.void
      })

    const retainExisting = (hash: string): Effect.Effect<Option.Option<Blobs.BlobInfo>, DiskFull> =>
      locked(
        Effect.suspend(() => {
          const entry = index.get(hash)
          if (entry === undefined) return Effect.succeed(Option.none())
          return writeRefs(hash, entry.refs + 1).pipe(
            Effect.map(() => {
              entry.refs++
              return Option.some({ hash, size: entry.size })
            })
          )
        })
      )

    const put = (data: Uint8Array): Effect.Effect<Blobs.BlobInfo, Blobs.BlobStoreFull> =>
      Effect.suspend(() => {
        // Copy and hash in one step, so a caller mutating its buffer cannot split name from content.
        const copy = data.slice()
        const hash = createHash("sha256").update(copy).digest("hex")
        const size = copy.length
        const temp = tempPath("blob")
        const store = Effect.acquireUseRelease(
          reserve(size),
          () => Effect.zipRight(writeTemp(temp, copy), commit(hash, temp, size)),
          () =>
            Effect.sync(() => {
              reserved -= size
            })
        )
        return retainExisting(hash).pipe(
          Effect.flatMap(Option.match({ onNone: () => store, onSome: Effect.succeed })),
          Effect.catchIf(
            (e): e is DiskFull => e instanceof DiskFull,
            () => Effect.fail(full(size))
          )
        )
      })

    const putStream = <E, R>(
      stream: Stream.Stream<Uint8Array, E, R>
    ): Effect.Effect<Blobs.BlobInfo, Blobs.BlobStoreFull | E, R> =>
      Effect.suspend(() => {
        const temp = tempPath("blob")
        const hasher = createHash("sha256")
        let total = 0
        const write = Effect.scoped(
          Effect.gen(function* () {
            const handle = yield* io(temp, fs.open(temp, { flag: "wx" }))
            yield* Stream.runForEach(stream, (chunk) =>
              Effect.suspend((): Effect.Effect<void, Blobs.BlobStoreFull | DiskFull> => {
                // Reserve and count in one step, so an interruption cannot leak a reservation.
                if (used + reserved + chunk.length > maxBytes) return Effect.fail(full(total + chunk.length))
                reserved += chunk.length
                total += chunk.length
                hasher.update(chunk)
                return io(temp, handle.writeAll(chunk))
              })
            )
            yield* io(temp, handle.sync)
          })
        )
        return write.pipe(
          Effect.zipRight(Effect.suspend(() => commit(hasher.digest("hex"), temp, total))),
          Effect.onError(() => removeQuietly(temp)),
          Effect.ensuring(
            Effect.sync(() => {
              reserved -= total
            })
          ),
          Effect.catchIf(
            (e): e is DiskFull => e instanceof DiskFull,
            () => Effect.fail(full(total))
          )
        )
      })

    /**
     * Adopts a complete, fsynced file as a blob without copying it: renamed into place (the file
     * is gone afterwards, also when the blob was stored already). `sha256`, when the caller hashed
     * the bytes as they were written, saves reading the file again. Same file system only: a
     * file elsewhere is streamed in instead.
     */
    const putFile = (file: string, sha256?: string): Effect.Effect<Blobs.BlobInfo, Blobs.BlobStoreFull> =>
      Effect.gen(function* () {
        const [info, here] = yield* Effect.promise(() => Promise.all([statFile(file), statFile(root)]))
        if (info.dev !== here.dev) {
          return yield* Effect.zipLeft(
            putStream(fileStream(file)),
            Effect.promise(() => rmFile(file, { force: true }))
          )
        }
        const size = info.size
        const hash = sha256 ?? (yield* Effect.promise(() => hashFile(file)))
        return yield* Effect.acquireUseRelease(
          reserve(size),
          () => commit(hash, file, size),
          () =>
            Effect.sync(() => {
              reserved -= size
            })
        ).pipe(
          Effect.catchIf(
            (e): e is DiskFull => e instanceof DiskFull,
            () => Effect.fail(full(size))
          )
        )
      })

    const get = (hash: string): Effect.Effect<Uint8Array, Blobs.BlobNotFound> =>
      Effect.acquireUseRelease(
        pinIfStored(hash),
        () =>
          dieOnFull(io(blobPath(hash), fs.readFile(blobPath(hash)))).pipe(
            Effect.map((buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength))
          ),
        () => unpin(hash)
      )

    /** Reads exactly `length` bytes at the file's position (a short read means the file was cut). */
    const readExactly = (
      file: string,
      handle: FileSystem.File,
      length: number
    ): Effect.Effect<Uint8Array, DiskFull> => {
      const buffer = new Uint8Array(length)
      const loop = (offset: number): Effect.Effect<Uint8Array, DiskFull> =>
        offset >= length
          ? Effect.succeed(buffer)
          : Effect.flatMap(io(file, handle.read(buffer.subarray(offset))), (read) =>
              Number(read) === 0
                ? Effect.dieMessage(`DiskBlobs: ${file}: shorter than its recorded size`)
                : loop(offset + Number(read))
            )
      return loop(0)
    }

    const streamBlob = (
      hash: string,
      range?: Blobs.BlobRange
    ): Effect.Effect<Stream.Stream<Uint8Array>, Blobs.BlobNotFound> =>
      Effect.map(pinIfStored(hash), ({ size }) => {
        const [start, end] = clampRange(size, range)
        const file = blobPath(hash)
        // The pin taken now serves the first run; a later run pins again if the file is still there.
        let firstRun = true
        const acquire = Effect.suspend(() => {
          if (firstRun) {
            firstRun = false
            return Effect.void
          }
          if (!index.has(hash) && !doomed.has(hash)) {
            return Effect.dieMessage(`DiskBlobs: blob ${hash} was deleted before its stream was run again`)
          }
          pin(hash)
          return Effect.void
        })
        return Stream.unwrapScoped(
          Effect.gen(function* () {
            yield* Effect.acquireRelease(acquire, () => unpin(hash))
            if (start >= end) return Stream.empty
            const handle = yield* dieOnFull(io(file, fs.open(file, { flag: "r" })))
            yield* handle.seek(start, "start")
            return Stream.unfoldEffect(start, (position) =>
              position >= end
                ? Effect.succeed(Option.none())
                : dieOnFull(readExactly(file, handle, Math.min(chunkSize, end - position))).pipe(
                    Effect.map((chunk) => Option.some([chunk, position + chunk.length] as const))
                  )
            )
          })
        )
      })

    const retain = (hash: string): Effect.Effect<void, Blobs.BlobNotFound> =>
      isHash(hash)
        ? dieOnFull(retainExisting(hash)).pipe(
            Effect.flatMap(
              Option.match({ onNone: () => Effect.fail(new Blobs.BlobNotFound({ hash })), onSome: () => Effect.void })
            )
          )
        : Effect.fail(new Blobs.BlobNotFound({ hash }))

    const release = (hash: string): Effect.Effect<{ readonly deleted: boolean }, Blobs.BlobNotFound> =>
      locked(
        Effect.suspend((): Effect.Effect<{ readonly deleted: boolean }, Blobs.BlobNotFound> => {
          const entry = isHash(hash) ? index.get(hash) : undefined
          if (entry === undefined) return Effect.fail(new Blobs.BlobNotFound({ hash }))
          if (entry.refs > 1) {
            return dieOnFull(writeRefs(hash, entry.refs - 1)).pipe(
              Effect.map(() => {
                entry.refs--
                return { deleted: false }
              })
            )
          }
          // The count goes first: a crash after it leaves an unreferenced blob, collected at start.
          const refs = refsPath(hash)
          return dieOnFull(io(refs, fs.remove(refs, { force: true }))).pipe(
            Effect.tap(() => {
              index.delete(hash)
              used -= entry.size
            }),
            Effect.zipRight(discardFile(hash)),
            Effect.zipRight(syncDirectory(fanOut(hash))),
            Effect.as({ deleted: true })
          )
        })
      )

    const stat = (hash: string): Effect.Effect<Option.Option<Blobs.BlobStat>> =>
      Effect.sync(() =>
        Option.map(Option.fromNullable(isHash(hash) ? index.get(hash) : undefined), ({ refs, size }) => ({
          hash,
          size,
          refs
        }))
      )

    // --- Start-up: create the layout, then collect what a crash left behind.
    const prefixes = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))
    yield* dieOnFull(io(tmpDir, fs.makeDirectory(tmpDir, { recursive: true })))
    yield* Effect.forEach(
      prefixes,
      (prefix) => dieOnFull(io(blobsDir, fs.makeDirectory(path.join(blobsDir, prefix), { recursive: true }))),
      { concurrency: startupConcurrency, discard: true }
    )
    yield* syncDirectory(root)

    const leftovers = yield* dieOnFull(io(tmpDir, fs.readDirectory(tmpDir)))
    yield* Effect.forEach(
      leftovers,
      (name) => dieOnFull(io(tmpDir, fs.remove(path.join(tmpDir, name), { recursive: true, force: true }))),
      { discard: true }
    )

    let garbage = 0
    const scanFanOut = (prefix: string) =>
      Effect.gen(function* () {
        const dir = path.join(blobsDir, prefix)
        const names = new Set(yield* io(dir, fs.readDirectory(dir)))
        let removed = false
        for (const name of names) {
          if (hashPattern.test(name) && name.startsWith(prefix)) {
            const refsName = `${name}.refs`
            if (!names.has(refsName)) {
              yield* io(blobPath(name), fs.remove(blobPath(name), { force: true }))
              garbage++
              removed = true
              continue
            }
            const text = yield* io(refsPath(name), fs.readFileString(refsPath(name)))
            if (!countPattern.test(text) || !isCount(Number.parseInt(text, 10))) {
              return yield* Effect.dieMessage(
                `DiskBlobs: ${refsPath(name)}: corrupt reference count ${JSON.stringify(text)}`
              )
            }
            const info = yield* io(blobPath(name), fs.stat(blobPath(name)))
            index.set(name, { size: Number(info.size), refs: Number.parseInt(text, 10) })
            used += Number(info.size)
          } else if (refsPattern.test(name) && !names.has(name.slice(0, 64))) {
            yield* io(path.join(dir, name), fs.remove(path.join(dir, name), { force: true }))
            removed = true
          }
        }
        if (removed) yield* syncDirectory(dir)
      })
    yield* Effect.forEach(prefixes, (prefix) => dieOnFull(scanFanOut(prefix)), {
      concurrency: startupConcurrency,
      discard: true
    })
    if (leftovers.length > 0 || garbage > 0) {
      yield* Effect.logInfo("DiskBlobs: cleaned up after an interrupted run").pipe(
        Effect.annotateLogs({ directory: root, tempFiles: leftovers.length, unreferencedBlobs: garbage })
      )
    }

    // Blobs released while a stream that never ran held them: their counts are gone already.
    yield* Effect.addFinalizer(() =>
      locked(
        Effect.forEach(
          [...doomed].filter((hash) => !index.has(hash)),
          (hash) => removeQuietly(blobPath(hash)),
          { discard: true }
        )
      )
    )

    /**
     * The blob as a {@link FileBody} (its own few buffers, reused: no allocation per chunk),
     * pinned (not deleted) until it closes.
     */
    const rawBody: Blobs.RawBodies["rawBody"] = (hash, range, hooks) =>
      Effect.map(pinIfStored(hash), ({ size }) => {
        const [start, end] = clampRange(size, range)
        const body =
          start >= end
            ? Readable.from([])
            : new FileBody({ ...options.rawBody, file: blobPath(hash), start, end, onBytes: hooks.onBytes })
        body.once("close", () => {
          hooks.onEnd()
          Effect.runFork(unpin(hash))
        })
        return body
      })

    return {
      put,
      putStream,
      putFile,
      get,
      rawBody,
      stream: streamBlob,
      stat,
      retain,
      release,
      usage: Effect.sync(() => ({ blobs: index.size, bytes: used, capacity: maxBytes }))
    } satisfies DiskBlobsService
  })

/** Drops `undefined` values so they do not override the defaults. */
const withoutUndefined = (options: DiskBlobsOptions): Partial<Blobs.BlobsConfig> => ({
  ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
  ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {})
})

/**
 * The {@link Blobs.Blobs} service on disk, for a site's layer stack (needs `NodeContext.layer` or
 * another FileSystem and Path).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: DiskBlobsOptions): Layer.Layer<Blobs.Blobs, never, FileSystem.FileSystem | Path.Path> =>
  Layer.scoped(Blobs.Blobs, make(options))
