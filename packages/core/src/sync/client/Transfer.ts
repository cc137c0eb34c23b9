/**
 * Moving content between a device's folder and the server: uploads (only the chunks the server
 * lacks, read from the file by offset; then the commit, as a delta against the base version's
 * manifest when the index holds it) and downloads (the manifest as a delta against the local
 * base, chunks the device already holds reused, the rest fetched and checked against their names,
 * written to a temp file under `.meridian/tmp`, fsynced, renamed over the target only if the
 * target still is what the index says). Both resume: an upload asks again which chunks are
 * missing; a download keeps the verified prefix of its temp file, named by the manifest's digest.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as SubscriptionRef from "effect/SubscriptionRef"
import type * as Hasher from "../Hasher.js"
import * as Manifest from "../Manifest.js"
import * as Protocol from "../Protocol.js"
import type { LocalEntry, LocalIndexFull, LocalIndexService } from "./LocalIndex.js"
import { conflictName, join, parent, TMP_DIR } from "./Paths.js"
import * as Scanner from "./Scanner.js"
import * as Settings from "./Settings.js"
import { type FolderStatus, pushBounded } from "./Status.js"

/**
 * The server sent something the device refuses: a manifest or chunk that does not match its name
 * or its change. Nothing was written; the folder goes on with other files.
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRemoteContent extends Data.TaggedError("BadRemoteContent")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `refused the server's ${this.path}: ${this.reason}`
  }
}

/**
 * A request to the server took longer than the folder's `requestTimeout`.
 *
 * @since 0.1.0
 * @category errors
 */
export class RequestTimeout extends Data.TaggedError("RequestTimeout")<{ readonly what: string }> {
  override get message() {
    return `the server did not answer ${this.what} in time`
  }
}

/**
 * What the folder's engine shares with its transfers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly root: string
  readonly device: string
  readonly session: Protocol.Session
  readonly index: LocalIndexService
  readonly settings: Settings.Settings
  readonly status: SubscriptionRef.SubscriptionRef<FolderStatus>
  /** The SHA-256 that names and checks content (native in a Node daemon, pure JS in the simulator). */
  readonly hasher: Hasher.Hasher
}

/**
 * Errors a transfer may end with.
 *
 * @since 0.1.0
 * @category errors
 */
export type TransferError =
  | Protocol.SyncError
  | RequestTimeout
  | BadRemoteContent
  | Scanner.FileUnreadable
  | LocalIndexFull

const transient = (e: unknown) =>
  e instanceof Protocol.SyncBusy || e instanceof Protocol.SyncHomeUnreachable || e instanceof RequestTimeout

/**
 * A request to the server with the folder's deadline, retried on a transient failure by the
 * folder's capped schedule.
 *
 * @since 0.1.0
 * @category requests
 */
export const call = <A>(
  ctx: Context,
  what: string,
  request: Effect.Effect<A, Protocol.SyncError>
): Effect.Effect<A, Protocol.SyncError | RequestTimeout> =>
  request.pipe(
    Effect.timeoutFail({ duration: ctx.settings.requestTimeout, onTimeout: () => new RequestTimeout({ what }) }),
    Effect.retry({ schedule: Settings.retrySchedule(ctx.settings), while: transient })
  )

/** Tracks one transfer in the status while `body` runs. */
const tracked = <A, E, R>(
  ctx: Context,
  path: string,
  direction: "upload" | "download",
  bytes: number,
  body: (progress: (n: number) => Effect.Effect<void>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  const update = (f: (list: FolderStatus["inFlight"]) => FolderStatus["inFlight"]) =>
    ctx.status.modify((s) => [undefined, { ...s, inFlight: f(s.inFlight) }] as const)
  const progress = (n: number) =>
    update((list) =>
      list.map((t) =>
        t.path === path && t.direction === direction ? { ...t, done: Math.min(t.bytes, t.done + n) } : t
      )
    )
  return Effect.acquireUseRelease(
    // Something moving: the folder is not idle, whatever command moves it.
    ctx.status.modify((s) => [
      undefined,
      {
        ...s,
        state: s.state === "idle" || s.state === "starting" ? "syncing" : s.state,
        inFlight: [...s.inFlight, { path, direction, bytes, done: 0 }]
      }
    ]),
    () => body(progress),
    () => update((list) => list.filter((t) => !(t.path === path && t.direction === direction)))
  )
}

/**
 * Records a problem in the status (bounded).
 *
 * @since 0.1.0
 * @category status
 */
export const reportError = (ctx: Context, path: string | undefined, message: string): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (at) =>
    ctx.status.modify((s) => [
      undefined,
      { ...s, errors: pushBounded(s.errors, { path, message, at }, ctx.settings.maxStatusEntries) }
    ])
  )

/**
 * The entry the index keeps for a file the device holds at a committed version.
 *
 * @since 0.1.0
 * @category index
 */
export const fileEntry = (
  path: string,
  stat: Scanner.Stat,
  content: { readonly digest: string; readonly manifest: Manifest.Manifest },
  version: number,
  seq: number,
  now: number
): LocalEntry => ({
  path,
  deleted: false,
  size: stat.size,
  mtime: stat.mtime,
  inode: stat.inode,
  manifest: content.digest,
  sha256: content.manifest.sha256,
  version,
  seq,
  checkedAt: now
})

/**
 * Uploads the chunks of `content` the server lacks, reading each from the file by offset and
 * checking it still hashes to its name (the file may change meanwhile: then it is read again later).
 *
 * @since 0.1.0
 * @category upload
 */
export const uploadChunks = (
  ctx: Context,
  path: string,
  content: Scanner.Content
): Effect.Effect<void, TransferError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const offsets = new Map<string, { offset: number; size: number }>()
    let offset = 0
    for (const c of content.manifest.chunks) {
      if (!offsets.has(c.hash)) offsets.set(c.hash, { offset, size: c.size })
      offset += c.size
    }
    const names = [...offsets.keys()]
    const missing: Array<string> = []
    for (let i = 0; i < names.length; i += Protocol.MAX_MISSING_QUERY) {
      const batch = names.slice(i, i + Protocol.MAX_MISSING_QUERY)
      missing.push(...(yield* call(ctx, "missing", ctx.session.missing(batch))))
    }
    const total = missing.reduce((n, h) => n + offsets.get(h)!.size, 0)
    const absolute = join(ctx.root, path)
    yield* tracked(ctx, path, "upload", total, (progress) =>
      Effect.forEach(
        missing,
        (hash) =>
          Effect.gen(function* () {
            const at = offsets.get(hash)
            if (at === undefined) return
            const bytes = yield* Scanner.readRange(absolute, at.offset, at.size).pipe(
              Effect.mapError((e) => new Scanner.FileUnreadable({ path, reason: e.message }))
            )
            if (bytes.length !== at.size || ctx.hasher.sha256(bytes) !== hash)
              return yield* Effect.fail(new Scanner.FileUnreadable({ path, reason: "changed while it was uploaded" }))
            yield* call(ctx, "putChunk", ctx.session.putChunk(hash, bytes))
            yield* progress(bytes.length)
          }),
        { concurrency: ctx.settings.parallelTransfers, discard: true }
      )
    )
  })

/**
 * The commit's content: the delta against the base version's manifest when the index holds that
 * manifest and the delta is smaller, else the whole manifest.
 *
 * @since 0.1.0
 * @category upload
 */
export const commitContent = (ctx: Context, path: string, base: number, content: Scanner.Content) =>
  Effect.gen(function* () {
    const whole: Protocol.Content = { _tag: "Manifest", bytes: content.encoded }
    if (base === 0) return whole
    const entry = yield* ctx.index.get(path)
    if (Option.isNone(entry) || entry.value.deleted || entry.value.version !== base) return whole
    const baseBytes = yield* ctx.index.manifest(path)
    if (Option.isNone(baseBytes)) return whole
    const baseManifest = Manifest.decode(baseBytes.value)
    if (Either.isLeft(baseManifest) || Manifest.digest(baseManifest.right, ctx.hasher) !== entry.value.manifest)
      return whole
    const delta = Manifest.encodeDelta(Manifest.diff(baseManifest.right, content.manifest))
    return delta.length < content.encoded.length ? ({ _tag: "Delta", bytes: delta } as const) : whole
  })

/**
 * Uploads a file's version and commits it on `base`; records it in the index. Fails with
 * `SyncConflict` when another device committed first (nothing recorded).
 *
 * @since 0.1.0
 * @category upload
 */
export const upload = (
  ctx: Context,
  path: string,
  base: number,
  content: Scanner.Content
): Effect.Effect<void, TransferError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    yield* uploadChunks(ctx, path, content)
    const body = yield* commitContent(ctx, path, base, content)
    const request: Protocol.CommitRequest = {
      path,
      base,
      op: { _tag: "Put", mtime: content.stat.mtime, content: body }
    }
    const result = yield* call(ctx, "commit", ctx.session.commit(request)).pipe(
      // Chunks collected on the server between `missing` and the commit: upload again, once.
      Effect.catchTag("ChunksMissing", () =>
        Effect.zipRight(uploadChunks(ctx, path, content), call(ctx, "commit", ctx.session.commit(request)))
      )
    )
    const change = result.changes.find((c) => c.path === path)
    if (change === undefined) return
    const now = yield* Clock.currentTimeMillis
    yield* ctx.index.put(fileEntry(path, content.stat, content, change.version, change.seq, now), content.encoded)
  })

/**
 * A small file to upload with others ({@link uploadMany}).
 *
 * @since 0.1.0
 * @category upload
 */
export interface Upload {
  readonly path: string
  readonly base: number
  readonly content: Scanner.Content
}

/**
 * What became of one file of {@link uploadMany}: committed (recorded in the index) or refused,
 * with the error a lone {@link upload} would have ended with.
 *
 * @since 0.1.0
 * @category upload
 */
export type UploadOutcome =
  | { readonly _tag: "Committed"; readonly path: string }
  | { readonly _tag: "Refused"; readonly path: string; readonly error: TransferError }

/**
 * Uploads many small files in a few requests: one question for the chunks the server lacks
 * (shared chunks asked once), the missing chunks packed (at most `maxBatchChunks` and
 * `maxBatchBytes` a pack, read from the files by offset and checked, one pack in memory at a
 * time), then the commits together (at most `maxBatchCommits` a request), each recorded in the
 * index as it is accepted. A file that changed while read, or whose commit is refused, is an
 * outcome of its own; the others go on. A failure of the server (after retries) fails the whole.
 *
 * @since 0.1.0
 * @category upload
 */
export const uploadMany = (
  ctx: Context,
  items: ReadonlyArray<Upload>
): Effect.Effect<ReadonlyArray<UploadOutcome>, Protocol.SyncError | RequestTimeout, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const { maxBatchBytes, maxBatchChunks, maxBatchCommits } = ctx.settings
    const refused = new Map<string, TransferError>()
    const where = new Map<string, { readonly path: string; readonly offset: number; readonly size: number }>()
    for (const item of items) {
      let offset = 0
      for (const c of item.content.manifest.chunks) {
        if (!where.has(c.hash)) where.set(c.hash, { path: item.path, offset, size: c.size })
        offset += c.size
      }
    }
    const names = [...where.keys()]
    const missing: Array<string> = []
    for (let i = 0; i < names.length; i += Protocol.MAX_MISSING_QUERY)
      missing.push(
        ...(yield* call(ctx, "missing", ctx.session.missing(names.slice(i, i + Protocol.MAX_MISSING_QUERY))))
      )
    const total = missing.reduce((n, h) => n + where.get(h)!.size, 0)
    yield* tracked(ctx, `${items.length} files`, "upload", total, (progress) =>
      Effect.gen(function* () {
        let pack: Array<Protocol.ChunkData> = []
        let packBytes = 0
        const send = Effect.suspend(() => {
          const sent = pack
          const bytes = packBytes
          pack = []
          packBytes = 0
          return sent.length === 0
            ? Effect.void
            : Effect.zipRight(call(ctx, "putChunks", ctx.session.putChunks(sent)), progress(bytes))
        })
        for (const hash of missing) {
          const at = where.get(hash)!
          if (refused.has(at.path)) continue
          const bytes = yield* Effect.either(Scanner.readRange(join(ctx.root, at.path), at.offset, at.size))
          if (Either.isLeft(bytes) || bytes.right.length !== at.size || ctx.hasher.sha256(bytes.right) !== hash) {
            const reason = Either.isLeft(bytes) ? bytes.left.message : "changed while it was uploaded"
            refused.set(at.path, new Scanner.FileUnreadable({ path: at.path, reason }))
            continue
          }
          if (pack.length >= maxBatchChunks || (pack.length > 0 && packBytes + at.size > maxBatchBytes)) yield* send
          pack.push({ hash, bytes: bytes.right })
          packBytes += at.size
        }
        yield* send
      })
    )
    const ready = items.filter((item) => !refused.has(item.path))
    const now = yield* Clock.currentTimeMillis
    for (let i = 0; i < ready.length; i += maxBatchCommits) {
      const group = ready.slice(i, i + maxBatchCommits)
      const requests: Array<Protocol.CommitRequest> = []
      for (const item of group) {
        const body = yield* commitContent(ctx, item.path, item.base, item.content)
        requests.push({
          path: item.path,
          base: item.base,
          op: { _tag: "Put", mtime: item.content.stat.mtime, content: body }
        })
      }
      const outcomes = yield* call(ctx, "commitMany", ctx.session.commitMany(requests))
      for (let j = 0; j < group.length; j++) {
        const item = group[j]!
        const outcome = outcomes[j]
        if (outcome === undefined) {
          refused.set(item.path, new Protocol.SyncBusy({ reason: "the server answered fewer commits than asked" }))
          continue
        }
        if (outcome._tag === "Refused") {
          refused.set(item.path, outcome.error)
          continue
        }
        const change = outcome.result.changes.find((c) => c.path === item.path)
        if (change === undefined) continue
        const put = yield* Effect.either(
          ctx.index.put(
            fileEntry(item.path, item.content.stat, item.content, change.version, change.seq, now),
            item.content.encoded
          )
        )
        if (Either.isLeft(put)) refused.set(item.path, put.left)
      }
    }
    return items.map((item): UploadOutcome => {
      const error = refused.get(item.path)
      return error === undefined ? { _tag: "Committed", path: item.path } : { _tag: "Refused", path: item.path, error }
    })
  })

/**
 * What the device holds at a path compared with its index entry: nothing, the entry's content
 * (the stat matches, or the bytes do), or something the server has not seen.
 *
 * @since 0.1.0
 * @category local
 */
export type Local =
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Synced"; readonly stat: Scanner.Stat }
  | { readonly _tag: "Modified"; readonly stat: Scanner.Stat; readonly content: Scanner.Content | undefined }

/**
 * @since 0.1.0
 * @category local
 */
export const local = (
  ctx: Context,
  path: string,
  entry: Option.Option<LocalEntry>
): Effect.Effect<Local, never, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const s = yield* Scanner.stat(join(ctx.root, path))
    if (Option.isNone(s)) return { _tag: "Absent" } as const
    if (Option.isSome(entry) && Scanner.statMatches(entry.value, s.value, ctx.settings))
      return { _tag: "Synced", stat: s.value } as const
    const content = yield* Effect.option(Scanner.content(ctx.root, path, ctx.settings, ctx.hasher))
    if (Option.isNone(content)) return { _tag: "Modified", stat: s.value, content: undefined } as const
    if (Option.isSome(entry) && !entry.value.deleted && content.value.digest === entry.value.manifest)
      return { _tag: "Synced", stat: content.value.stat } as const
    return { _tag: "Modified", stat: content.value.stat, content: content.value } as const
  })

/**
 * Moves the device's bytes at `path` aside as a conflict copy (Syncthing's name, UTC from the
 * Clock) and records it in the status; the engine then uploads the copy as a new file.
 *
 * @since 0.1.0
 * @category conflicts
 */
export const conflictCopy = (
  ctx: Context,
  path: string,
  reason: string
): Effect.Effect<string, Scanner.FileUnreadable, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const now = yield* Clock.currentTimeMillis
    let copy = conflictName(path, now, ctx.device)
    // Two conflicts of one path in one second: number the later copies.
    for (let n = 2; yield* fs.exists(join(ctx.root, copy)).pipe(Effect.orElseSucceed(() => false)); n++) {
      if (n > 100) return yield* Effect.fail(new Scanner.FileUnreadable({ path, reason: "too many conflict copies" }))
      copy = conflictName(path, now, `${ctx.device}-${n}`)
    }
    yield* fs
      .rename(join(ctx.root, path), join(ctx.root, copy))
      .pipe(Effect.mapError((e) => new Scanner.FileUnreadable({ path, reason: e.message })))
    yield* ctx.status.modify((s) => [
      undefined,
      { ...s, conflicts: pushBounded(s.conflicts, { path, copy, at: now, reason }, ctx.settings.maxStatusEntries) }
    ])
    return copy
  })

/** Where the device already holds a chunk: a file and an offset in it. */
interface Source {
  readonly absolute: string
  readonly offset: number
}

/**
 * The new version's manifest from the server, as a delta against the local base when the device
 * holds it, checked against the change (digest, size, SHA-256).
 *
 * @since 0.1.0
 * @category download
 */
export const fetchManifest = (ctx: Context, change: Protocol.Change, entry: Protocol.FileEntry) =>
  Effect.gen(function* () {
    const refuse = (reason: string) => new BadRemoteContent({ path: change.path, reason })
    const current = yield* ctx.index.get(change.path)
    const baseBytes = yield* ctx.index.manifest(change.path)
    const base =
      Option.isSome(current) && !current.value.deleted && Option.isSome(baseBytes)
        ? Option.getRight(Manifest.decode(baseBytes.value))
        : Option.none()
    const body = yield* call(
      ctx,
      "manifest",
      ctx.session.manifest(entry.manifest, Option.isSome(base) ? Manifest.digest(base.value, ctx.hasher) : undefined)
    )
    let manifest: Manifest.Manifest
    if (body._tag === "Manifest") {
      const decoded = Manifest.decode(body.bytes)
      if (Either.isLeft(decoded)) return yield* Effect.fail(refuse(decoded.left.message))
      manifest = decoded.right
    } else {
      const delta = Manifest.decodeDelta(body.bytes)
      if (Either.isLeft(delta)) return yield* Effect.fail(refuse(delta.left.message))
      if (Option.isNone(base)) return yield* Effect.fail(refuse("a delta against a manifest the device does not hold"))
      const applied = Manifest.apply(base.value, delta.right)
      if (Either.isLeft(applied)) return yield* Effect.fail(refuse(applied.left.message))
      manifest = applied.right
    }
    if (Manifest.digest(manifest, ctx.hasher) !== entry.manifest)
      return yield* Effect.fail(refuse(`the manifest does not hash to its name ${entry.manifest}`))
    if (manifest.size !== entry.size || manifest.sha256 !== entry.sha256)
      return yield* Effect.fail(refuse("the manifest's size or SHA-256 is not the change's"))
    return manifest
  })

/**
 * Where the device already holds chunks of `manifest`: the files the index says hold chunks (the
 * old version of the same path, files with the same content), each only if it still matches.
 *
 * @since 0.1.0
 * @category download
 */
const localSources = (ctx: Context, paths: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const sources = new Map<string, Source>()
    for (const path of paths) {
      const entry = yield* ctx.index.get(path)
      if (Option.isNone(entry) || entry.value.deleted) continue
      const s = yield* Scanner.stat(join(ctx.root, path))
      if (Option.isNone(s) || s.value.size !== entry.value.size || s.value.mtime !== entry.value.mtime) continue
      const bytes = yield* ctx.index.manifest(path)
      const decoded = Option.flatMap(bytes, (b) => Option.getRight(Manifest.decode(b)))
      if (Option.isNone(decoded)) continue
      let offset = 0
      for (const c of decoded.value.chunks) {
        if (!sources.has(c.hash)) sources.set(c.hash, { absolute: join(ctx.root, path), offset })
        offset += c.size
      }
    }
    return sources
  })

/**
 * Writes `manifest`'s bytes to the download's temp file (keeping a verified prefix left by a cut
 * download), chunks reused locally or fetched and checked, and fsyncs it. Returns the temp path.
 *
 * @since 0.1.0
 * @category download
 */
const assemble = (
  ctx: Context,
  path: string,
  manifest: Manifest.Manifest,
  digest: string,
  sources: Map<string, Source>
) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const refuse = (reason: string) => new BadRemoteContent({ path, reason })
    const unreadable = (e: { message: string }) => new Scanner.FileUnreadable({ path, reason: e.message })
    const tmpDir = join(ctx.root, TMP_DIR)
    yield* fs.makeDirectory(tmpDir, { recursive: true }).pipe(Effect.mapError(unreadable))
    const part = join(tmpDir, `${digest}.part`)
    const whole = ctx.hasher.create()
    // Resume: keep the prefix of whole chunks that still hash to their names.
    let kept = 0
    let next = 0
    const existing = yield* Scanner.stat(part)
    if (Option.isSome(existing)) {
      let offset = 0
      for (const c of manifest.chunks) {
        if (offset + c.size > existing.value.size) break
        const bytes = yield* Scanner.readRange(part, offset, c.size).pipe(Effect.mapError(unreadable))
        if (ctx.hasher.sha256(bytes) !== c.hash) break
        whole.update(bytes)
        offset += c.size
        next++
      }
      kept = offset
      yield* fs.truncate(part, FileSystem.Size(kept)).pipe(Effect.mapError(unreadable))
    }
    const fetchOne = (c: Manifest.ChunkRef) =>
      Effect.gen(function* () {
        const source = sources.get(c.hash)
        if (source !== undefined) {
          const bytes = yield* Effect.option(Scanner.readRange(source.absolute, source.offset, c.size))
          if (Option.isSome(bytes) && bytes.value.length === c.size && ctx.hasher.sha256(bytes.value) === c.hash)
            return bytes.value
        }
        const bytes = yield* call(ctx, "getChunk", ctx.session.getChunk(c.hash))
        if (bytes.length !== c.size || ctx.hasher.sha256(bytes) !== c.hash)
          return yield* Effect.fail(refuse(`chunk ${c.hash} does not hash to its name`))
        return bytes
      })
    yield* tracked(ctx, path, "download", manifest.size, (progress) =>
      Effect.scoped(
        Effect.gen(function* () {
          yield* progress(kept)
          const file = yield* fs
            .open(part, { flag: Option.isSome(existing) ? "a" : "w" })
            .pipe(Effect.mapError(unreadable))
          // Windows of chunks bounded by the cache bytes (the folder's, shared by the files moving at
          // once), fetched in parallel, written in order.
          const windowBytes = Math.max(1, Math.floor(ctx.settings.chunkCacheBytes / ctx.settings.parallelFiles))
          let i = next
          while (i < manifest.chunks.length) {
            const window: Array<Manifest.ChunkRef> = []
            let bytes = 0
            while (
              i < manifest.chunks.length &&
              (window.length === 0 || bytes + manifest.chunks[i]!.size <= windowBytes)
            ) {
              bytes += manifest.chunks[i]!.size
              window.push(manifest.chunks[i++]!)
            }
            const pieces = yield* Effect.forEach(window, fetchOne, { concurrency: ctx.settings.parallelTransfers })
            for (const piece of pieces) {
              whole.update(piece)
              yield* file.writeAll(piece).pipe(Effect.mapError(unreadable))
              yield* progress(piece.length)
            }
          }
          yield* file.sync.pipe(Effect.mapError(unreadable))
        })
      )
    )
    if (whole.digest() !== manifest.sha256) {
      yield* fs.remove(part).pipe(Effect.ignore)
      return yield* Effect.fail(refuse("the chunks do not make the file the manifest names"))
    }
    return part
  })

/**
 * A remote version's bytes, fetched ahead of the moment they are applied: its checked manifest and
 * the fsynced temp file that holds them (named by the manifest's digest, under `.meridian/tmp`).
 *
 * @since 0.1.0
 * @category download
 */
export interface Prepared {
  readonly digest: string
  readonly manifest: Manifest.Manifest
  readonly part: string
}

/** The quick outcomes of a download: the device already holds the version or its bytes. */
const held = (ctx: Context, change: Protocol.Change, entry: Protocol.FileEntry) =>
  Effect.gen(function* () {
    const current = yield* ctx.index.get(change.path)
    if (Option.isSome(current) && current.value.version > 0 && current.value.version >= change.version)
      return { _tag: "Applied", current, before: undefined } as const
    const before = yield* local(ctx, change.path, current)
    if (before._tag === "Modified" && before.content !== undefined && before.content.manifest.sha256 === entry.sha256)
      return { _tag: "Held", current, before } as const
    if (before._tag === "Synced" && Option.isSome(current) && current.value.sha256 === entry.sha256)
      return { _tag: "Held", current, before } as const
    return { _tag: "Needed", current, before } as const
  })

/** Fetches a version's manifest and bytes into its temp file (reusing chunks the device holds). */
const fetchVersion = (
  ctx: Context,
  change: Protocol.Change,
  entry: Protocol.FileEntry,
  before: Local
): Effect.Effect<Prepared, TransferError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const manifest = yield* fetchManifest(ctx, change, entry)
    const same = yield* ctx.index.bySha256(entry.sha256)
    const sources = yield* localSources(ctx, [
      ...(before._tag === "Synced" ? [change.path] : []),
      ...same.map((e) => e.path)
    ])
    const part = yield* assemble(ctx, change.path, manifest, entry.manifest, sources)
    return { digest: entry.manifest, manifest, part }
  })

/**
 * Fetches a remote version's bytes ahead of applying it, when the device needs them: several
 * versions' bytes move at once while {@link download} applies them one by one, in number order.
 * Writes nothing but the temp file; a version the device holds is none.
 *
 * @since 0.1.0
 * @category download
 */
export const prepare = (
  ctx: Context,
  change: Protocol.Change,
  entry: Protocol.FileEntry
): Effect.Effect<Option.Option<Prepared>, TransferError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const seen = yield* held(ctx, change, entry)
    if (seen._tag !== "Needed") return Option.none()
    return Option.some(yield* fetchVersion(ctx, change, entry, seen.before))
  })

/**
 * Applies a remote file version at `change.path`. A local change the server has not seen is never
 * overwritten: it becomes a conflict copy first (returned, to upload). A device that already holds
 * the content (after an index reset, or the same edit made twice) only records the number. The
 * bytes come from `prepared` when {@link prepare} fetched them already.
 *
 * @since 0.1.0
 * @category download
 */
export const download = (
  ctx: Context,
  change: Protocol.Change,
  entry: Protocol.FileEntry,
  prepared?: Prepared
): Effect.Effect<ReadonlyArray<string>, TransferError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = change.path
    const absolute = join(ctx.root, path)
    const unreadable = (e: { message: string }) => new Scanner.FileUnreadable({ path, reason: e.message })
    const copies: Array<string> = []
    const current = yield* ctx.index.get(path)
    const before = yield* local(ctx, path, current)
    // Bytes fetched ahead and not needed after all: their temp file goes.
    const unused = prepared === undefined ? Effect.void : fs.remove(prepared.part).pipe(Effect.ignore)
    if (before._tag === "Modified" && before.content !== undefined && before.content.manifest.sha256 === entry.sha256) {
      // The device holds this content already: record the number, move nothing.
      const now = yield* Clock.currentTimeMillis
      yield* ctx.index.put(
        fileEntry(path, before.content.stat, before.content, change.version, change.seq, now),
        before.content.encoded
      )
      yield* unused
      return copies
    }
    if (before._tag === "Synced" && Option.isSome(current) && current.value.sha256 === entry.sha256) {
      const bytes = yield* ctx.index.manifest(path)
      const now = yield* Clock.currentTimeMillis
      yield* ctx.index.put(
        { ...current.value, version: change.version, seq: change.seq, mtime: before.stat.mtime, checkedAt: now },
        Option.getOrUndefined(bytes)
      )
      yield* unused
      return copies
    }
    const { manifest, part } =
      prepared !== undefined && prepared.digest === entry.manifest
        ? prepared
        : yield* fetchVersion(ctx, change, entry, before)
    // The target may have changed while the chunks moved: look again right before the rename.
    const now = yield* local(ctx, path, current)
    if (now._tag === "Modified")
      copies.push(yield* conflictCopy(ctx, path, "changed here while another device's version was taken"))
    yield* fs.makeDirectory(join(ctx.root, parent(path)), { recursive: true }).pipe(Effect.mapError(unreadable))
    yield* fs.rename(part, absolute).pipe(Effect.mapError(unreadable))
    const s = yield* Scanner.stat(absolute)
    const stat = Option.getOrElse(s, () => ({ size: manifest.size, mtime: 0, inode: 0 }))
    const at = yield* Clock.currentTimeMillis
    yield* ctx.index.put(
      fileEntry(path, stat, { digest: entry.manifest, manifest }, change.version, change.seq, at),
      Manifest.encode(manifest)
    )
    return copies
  })
