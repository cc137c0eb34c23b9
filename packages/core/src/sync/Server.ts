/**
 * The `sync` module's server: the device {@link Protocol.Session} of one account and device over
 * the site's sync index (numbers, versions), blob store (chunks and manifests) and key-value store
 * (devices, chunk ownership, reference counts). Only the account's home site numbers its changes
 * ({@link Settings}); `Relay.ts` carries a session to it from any other site that runs `sync`.
 *
 * **Ownership.** Chunks are stored once per site and shared by files, versions and accounts, but
 * an account sees only the chunks it uploaded: `missing` reports every chunk the account has no
 * record of (even when another account's copy is in the store: no existence leak), `getChunk` and
 * `manifest` refuse what it does not hold. The records live in the key-value store, namespace
 * `sync`:
 * - `d/ACCOUNT/DEVICE`: a registered device (at most `maxDevices` per account);
 * - `c/ACCOUNT/HASH`: a chunk the account holds, `{ size, uses }`, where `uses` counts the
 *   account's manifests (distinct digests still held) that name it; the record holds **one blob
 *   reference**;
 * - `u/ACCOUNT/HASH`: a chunk uploaded but in no held manifest yet, with the time it expires;
 *   `p/ACCOUNT` sums them (`{ chunks, bytes }`, bounded by `maxPendingChunks`/`maxPendingBytes`);
 * - `m/ACCOUNT/DIGEST`: a manifest the account holds, `{ records }`: how many of its index records
 *   (current or kept versions) name it; the record holds **one blob reference** to the manifest.
 *
 * **Reference counting.** Each index record that names a manifest counts one in `m/`: a Put, a
 * rename's new path and a restore add one before the index commits (taken back if the commit is
 * refused); each manifest the index reports dropped (a version pushed out of the history at a
 * commit, or by the periodic `prune`) takes one away. When a manifest's count reaches zero its
 * blob reference is released and each of its chunks loses a use; a chunk with no use left and no
 * pending upload is forgotten and its blob reference released. Uploads never committed expire after
 * `pendingTtlSeconds` (the sweep releases them). A crash between the index and these records can
 * only leave a reference too many (a leak), never one too few: what a current or kept version
 * needs is never deleted.
 *
 * Writes of the bookkeeping and the index are serialized per site by one lock (the index is one
 * SQLite writer anyway); hashing and storing chunk bytes run outside it.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Module from "../site/Module.js"
import type * as SyncIndex from "../stores/SyncIndex.js"
import * as Chunker from "./Chunker.js"
import * as Manifest from "./Manifest.js"
import {
  type Change,
  type ChunkData,
  ChunksMissing,
  type CommitOutcome,
  type CommitRequest,
  type CommitResult,
  type Content,
  type Event,
  MAX_BATCH_BYTES,
  MAX_BATCH_CHUNKS,
  MAX_BATCH_COMMITS,
  MAX_MISSING_QUERY,
  QuotaExceeded,
  type Session,
  SyncBusy,
  SyncConflict,
  type SyncError,
  SyncInvalid,
  SyncNotFound,
  TooManyDevices,
  type Version
} from "./Protocol.js"

const int = (min: number, max: number, fallback: number) =>
  Schema.optionalWith(Schema.Int.pipe(Schema.between(min, max)), { default: () => fallback })

/**
 * Settings of the module (`sites.<site>.modules.sync`); every bound has a default.
 *
 * @since 0.1.0
 * @category config
 */
export const Settings = Schema.Struct({
  /** Devices one account may sync; a new device past it is refused (403). */
  maxDevices: int(1, 10_000, 32),
  /** Bytes of an account's current files; a Put past it is refused (507), a delete always taken. */
  quotaBytes: int(1, Number.MAX_SAFE_INTEGER, 10 * 1024 ** 3),
  /** Paths (files and tombstones) one account may hold (the index's `maxEntries`; 507 past it). */
  maxFiles: int(1, 100_000_000, 1_000_000),
  /** Replaced versions kept per path. */
  versionsKept: int(0, 10_000, 10),
  /** Replaced versions are kept this long. */
  versionsMaxAgeSeconds: int(1, 100 * 365 * 86400, 30 * 86400),
  /** The largest chunk accepted: the chunker's largest cut by default. */
  maxChunkBytes: int(1, Chunker.MAX_CHUNK_CEILING, Chunker.defaults.maxSize),
  /** Chunks one manifest may name (`Manifest.Limits.maxChunks`). */
  maxManifestChunks: int(1, Manifest.Limits.maxChunks, Manifest.Limits.maxChunks),
  /**
   * The largest manifest or delta a commit carries, encoded: under the kernel's 4 MiB frame with
   * room for base64, so that a relayed commit always fits (60,000 chunks, 3.7 GiB at 64 KiB).
   */
  maxContentBytes: int(1024, 2 * 1024 * 1024, 2 * 1024 * 1024),
  /** Chunks one batch upload (`putChunks`) carries, or one batch download names, at most (400 past it). */
  maxBatchChunks: int(1, 100_000, MAX_BATCH_CHUNKS),
  /** Chunk bytes one batch upload carries, and one batch download answers, at most (413 past it). */
  maxBatchBytes: int(64 * 1024, 1024 ** 3, MAX_BATCH_BYTES),
  /** Commits one `commitMany` carries at most (400 past it). */
  maxBatchCommits: int(1, 100_000, MAX_BATCH_COMMITS),
  /** Chunks of one batch written to the blob store at once. */
  batchWriteConcurrency: int(1, 256, 8),
  /**
   * Chunk or manifest bytes one relayed ask carries at most: a batch relayed to the account's
   * home goes in asks of this size, under the kernel's 4 MiB frame with room for base64.
   */
  relayBatchBytes: int(64 * 1024, 2.5 * 1024 * 1024, 2 * 1024 * 1024),
  /** Bytes an account has uploaded but not yet committed; more uploads wait (503). */
  maxPendingBytes: int(1, Number.MAX_SAFE_INTEGER, 1024 ** 3),
  /** Chunks an account has uploaded but not yet committed. */
  maxPendingChunks: int(1, 10_000_000, 65_536),
  /** An uploaded chunk no commit names is released after this long. */
  pendingTtlSeconds: int(1, 30 * 86400, 86400),
  /** How often expired uploads and versions are released. */
  sweepIntervalSeconds: int(1, 86400, 60),
  /** Expired uploads one sweep releases at most (the next sweep takes the rest). */
  sweepBatch: int(1, 1_000_000, 10_000),
  /** Changes per page of the catch-up at most (the index's `maxPage`). */
  pageSize: int(1, 100_000, 1000),
  /** Live event streams per account, and per site; more are refused (503). */
  maxStreamsPerAccount: int(1, 10_000, 16),
  maxStreams: int(1, 1_000_000, 10_000),
  /** Changes buffered per live stream; a stream that falls further behind reads the index instead. */
  streamBuffer: int(1, 1_000_000, 1024),
  /** A `Head` event after this long without one. */
  heartbeatSeconds: int(1, 3600, 15),
  /** How long a site waits for the account's home to answer a relayed operation. */
  relayTimeoutMillis: int(100, 600_000, 10_000),
  /** How often a relayed event stream asks the home for changes. */
  relayPollMillis: int(50, 60_000, 500),
  /** Mailbox of the sync actor that serves relayed operations. */
  mailboxCapacity: int(1, 1_000_000, 1024),
  /** Accounts whose home region this site remembers, and for how long. */
  homeCacheSize: int(1, 10_000_000, 10_000),
  homeCacheTtlSeconds: int(1, 86400, 60),
  /**
   * UNSAFE, for the simulator's unsafe variant only: commits ignore their base version (the last
   * writer wins, no conflict is detected, a concurrent edit is silently buried in the history).
   * Refused unless `unsafe: true` is set beside it.
   */
  lastWriterWins: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Explicit acknowledgement that an unsafe switch (`lastWriterWins`) is meant. */
  unsafe: Schema.optionalWith(Schema.Boolean, { default: () => false })
}).pipe(
  Schema.filter((s) =>
    s.lastWriterWins && !s.unsafe
      ? { path: ["lastWriterWins"], message: "true loses concurrent edits; set `unsafe: true` to mean it" }
      : undefined
  )
)

/**
 * @since 0.1.0
 * @category config
 */
export type Settings = typeof Settings.Type

/**
 * What the module counts, shown in `/metrics`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Counters {
  commits: number
  conflicts: number
  chunksUploaded: number
  bytesUploaded: number
  bytesDeduplicated: number
  relayedAsks: number
  streams: number
  quotaRefusals: number
  released: number
}

/**
 * A fresh set of counters.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCounters = (): Counters => ({
  commits: 0,
  conflicts: 0,
  chunksUploaded: 0,
  bytesUploaded: 0,
  bytesDeduplicated: 0,
  relayedAsks: 0,
  streams: 0,
  quotaRefusals: 0,
  released: 0
})

/**
 * The module's key-value namespace.
 *
 * @since 0.1.0
 * @category keys
 */
export const NAMESPACE = "sync"

const deviceKey = (account: string, device: string) => `d/${account}/${device}`
const chunkKey = (account: string, hash: string) => `c/${account}/${hash}`
const uploadKey = (account: string, hash: string) => `u/${account}/${hash}`
const pendingKey = (account: string) => `p/${account}`
const manifestKey = (account: string, digest: string) => `m/${account}/${digest}`

const ChunkRecord = Schema.parseJson(Schema.Struct({ size: Schema.Number, uses: Schema.Number }))
const PendingRecord = Schema.parseJson(Schema.Struct({ chunks: Schema.Number, bytes: Schema.Number }))
const ManifestRecord = Schema.parseJson(Schema.Struct({ records: Schema.Number }))
const UploadRecord = Schema.parseJson(Schema.Struct({ size: Schema.Number, until: Schema.Number }))

const SHA256 = /^[0-9a-f]{64}$/

/**
 * The operations of the home site, per account and device: what a {@link Protocol.Session} of an
 * account homed here does, and what the sync actor answers for other sites.
 *
 * @since 0.1.0
 * @category models
 */
export interface Local {
  readonly session: (account: string, device: string) => Session
  /** Releases expired uploads and versions (the periodic sweep). */
  readonly sweep: Effect.Effect<void>
}

const toChange = (current: SyncIndex.Current): Change => ({
  path: current.path,
  version: current.version,
  seq: current.seq,
  device: current.device,
  committedAt: current.committedAt,
  entry: current.entry
})

const toVersion = (kept: SyncIndex.Kept): Version => ({
  path: kept.path,
  version: kept.version,
  seq: kept.seq,
  device: kept.device,
  committedAt: kept.committedAt,
  replacedAt: kept.replacedAt,
  entry: kept.entry
})

/** The distinct chunks of a manifest, with their sizes. */
const distinctChunks = (manifest: Manifest.Manifest): Map<string, number> => {
  const chunks = new Map<string, number>()
  for (const c of manifest.chunks) chunks.set(c.hash, c.size)
  return chunks
}

/**
 * The home side of the module on one site: sessions over its stores, the sweep, and the live
 * push of commits to this site's event streams.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeLocal = (context: Module.SiteContext, settings: Settings, counters: Counters): Effect.Effect<Local> =>
  Effect.gen(function* () {
    const { kv, blobs } = context.stores
    const index = yield* context.stores.syncIndexes.open({
      maxEntries: settings.maxFiles,
      versionsKept: settings.versionsKept,
      versionsMaxAge: Duration.seconds(settings.versionsMaxAgeSeconds),
      maxPage: settings.pageSize
    })
    const limits: Manifest.Limits = { maxChunks: settings.maxManifestChunks, maxChunkSize: settings.maxChunkBytes }
    const books = yield* Effect.makeSemaphore(1)
    const locked = books.withPermits(1)
    const now = Effect.clockWith((clock) => clock.currentTimeMillis)

    // ---- key-value records -----------------------------------------------------------------

    const read = <A, I>(schema: Schema.Schema<A, I & string>, key: string): Effect.Effect<Option.Option<A>> =>
      Effect.map(kv.get(NAMESPACE, key), Option.flatMap(Schema.decodeUnknownOption(schema)))
    const write = <A, I>(schema: Schema.Schema<A, I & string>, key: string, value: A) =>
      kv
        .set(NAMESPACE, key, Schema.encodeSync(schema)(value))
        .pipe(Effect.mapError((e) => new SyncBusy({ reason: `the site's key-value store is full (${e.bound})` })))
    const remove = (key: string) => Effect.asVoid(kv.delete(NAMESPACE, key))

    const ensureDevice = (account: string, device: string): Effect.Effect<void, SyncError> =>
      Effect.flatMap(kv.get(NAMESPACE, deviceKey(account, device)), (known) =>
        Option.isSome(known)
          ? Effect.void
          : locked(
              Effect.gen(function* () {
                if (Option.isSome(yield* kv.get(NAMESPACE, deviceKey(account, device)))) return
                const devices = yield* kv.list(NAMESPACE, `d/${account}/`)
                if (devices.length >= settings.maxDevices) {
                  return yield* new TooManyDevices({ limit: settings.maxDevices })
                }
                yield* kv
                  .set(NAMESPACE, deviceKey(account, device), String(yield* now))
                  .pipe(Effect.mapError((e) => new SyncBusy({ reason: `the key-value store is full (${e.bound})` })))
              })
            )
      )

    const holdsChunk = (account: string, hash: string) =>
      Effect.map(kv.get(NAMESPACE, chunkKey(account, hash)), Option.isSome)

    const releaseBlob = (hash: string) =>
      Effect.zipRight(
        Effect.ignore(blobs.release(hash)),
        Effect.sync(() => counters.released++)
      )

    /** One use less of the chunk; forgotten (and its blob released) with the last, unless pending. */
    const unuseChunk = (account: string, hash: string) =>
      Effect.gen(function* () {
        const record = yield* read(ChunkRecord, chunkKey(account, hash))
        if (Option.isNone(record)) return
        const uses = record.value.uses - 1
        if (uses > 0)
          return yield* Effect.ignore(write(ChunkRecord, chunkKey(account, hash), { ...record.value, uses }))
        if (Option.isSome(yield* kv.get(NAMESPACE, uploadKey(account, hash)))) {
          return yield* Effect.ignore(write(ChunkRecord, chunkKey(account, hash), { ...record.value, uses: 0 }))
        }
        yield* remove(chunkKey(account, hash))
        yield* releaseBlob(hash)
      })

    /** One use more of the chunk; no longer pending once a manifest names it. */
    const useChunk = (account: string, hash: string) =>
      Effect.gen(function* () {
        const record = yield* read(ChunkRecord, chunkKey(account, hash))
        if (Option.isNone(record)) return yield* Effect.dieMessage(`sync: chunk ${hash} of ${account} is not held`)
        yield* write(ChunkRecord, chunkKey(account, hash), { ...record.value, uses: record.value.uses + 1 })
        const upload = yield* read(UploadRecord, uploadKey(account, hash))
        if (Option.isSome(upload)) {
          yield* remove(uploadKey(account, hash))
          yield* changePending(account, -1, -upload.value.size)
        }
      })

    const pendingOf = (account: string) =>
      Effect.map(
        read(PendingRecord, pendingKey(account)),
        Option.getOrElse(() => ({ chunks: 0, bytes: 0 }))
      )

    const changePending = (account: string, chunks: number, bytes: number) =>
      Effect.flatMap(pendingOf(account), (pending) => {
        const next = { chunks: Math.max(0, pending.chunks + chunks), bytes: Math.max(0, pending.bytes + bytes) }
        return next.chunks === 0 ? remove(pendingKey(account)) : write(PendingRecord, pendingKey(account), next)
      })

    const loadManifest = (digest: string): Effect.Effect<Option.Option<Manifest.Manifest>> =>
      Effect.map(Effect.option(blobs.get(digest)), (bytes) =>
        Option.flatMap(bytes, (b) => Either.getRight(Manifest.decode(b, limits)))
      )

    /** One record more naming `digest` (stored as `bytes` if the account did not hold it). */
    const addManifestRecord = (account: string, digest: string, manifest: Manifest.Manifest, bytes: Uint8Array) =>
      Effect.gen(function* () {
        const record = yield* read(ManifestRecord, manifestKey(account, digest))
        if (Option.isSome(record)) {
          return yield* write(ManifestRecord, manifestKey(account, digest), { records: record.value.records + 1 })
        }
        yield* blobs.put(bytes).pipe(Effect.mapError(() => new SyncBusy({ reason: "the site's blob store is full" })))
        yield* write(ManifestRecord, manifestKey(account, digest), { records: 1 })
        for (const hash of distinctChunks(manifest).keys()) yield* useChunk(account, hash)
      })

    /** One record less naming `digest`; with the last, the manifest and its chunks' uses go. */
    const dropManifestRecord = (account: string, digest: string): Effect.Effect<void> =>
      Effect.gen(function* () {
        const record = yield* read(ManifestRecord, manifestKey(account, digest))
        if (Option.isNone(record)) return
        if (record.value.records > 1) {
          return yield* Effect.ignore(
            write(ManifestRecord, manifestKey(account, digest), { records: record.value.records - 1 })
          )
        }
        const manifest = yield* loadManifest(digest)
        yield* remove(manifestKey(account, digest))
        if (Option.isSome(manifest)) {
          for (const hash of distinctChunks(manifest.value).keys()) yield* unuseChunk(account, hash)
        }
        yield* releaseBlob(digest)
      })

    const dropAll = (account: string, digests: ReadonlyArray<string>) =>
      Effect.forEach(digests, (d) => dropManifestRecord(account, d), { discard: true })

    // ---- live push -------------------------------------------------------------------------

    type Listener = (change: Change) => void
    const listeners = new Map<string, Set<Listener>>()
    const publish = (account: string, changes: ReadonlyArray<Change>) =>
      Effect.sync(() => {
        const set = listeners.get(account)
        if (set !== undefined) for (const listener of set) for (const change of changes) listener(change)
      })

    // ---- refusals --------------------------------------------------------------------------

    const invalid = (reason: string) => new SyncInvalid({ reason })
    const fromIndex = (
      e: SyncIndex.CommitError | SyncIndex.InvalidPath
    ): SyncConflict | SyncNotFound | SyncInvalid | QuotaExceeded => {
      switch (e._tag) {
        case "VersionConflict":
          counters.conflicts++
          return new SyncConflict({ path: e.path, current: e.current })
        case "NoSuchFile":
          return new SyncNotFound({ what: `file ${e.path}` })
        case "SyncIndexFull":
          counters.quotaRefusals++
          return new QuotaExceeded({ what: "files", used: e.entries, limit: e.maxEntries })
        case "InvalidPath":
          return invalid(`path ${JSON.stringify(e.path.slice(0, 200))}: ${e.reason}`)
        case "InvalidEntry":
          return invalid(`${e.field}: ${e.reason}`)
      }
    }
    const checkHash = (what: string, hash: string) =>
      SHA256.test(hash) ? Effect.void : Effect.fail(invalid(`${what} is not a lowercase hex SHA-256`))
    const checkCount = (what: string, n: number) =>
      Number.isSafeInteger(n) && n >= 0 ? Effect.void : Effect.fail(invalid(`${what} must be a non-negative integer`))

    // ---- content ---------------------------------------------------------------------------

    /** The new version's manifest from a Put's content, checked against the bounds. */
    const resolveContent = (
      account: string,
      path: string,
      base: number,
      content: Content
    ): Effect.Effect<Manifest.Manifest, SyncError> =>
      Effect.gen(function* () {
        if (content.bytes.length > settings.maxContentBytes) {
          return yield* invalid(`the ${content._tag.toLowerCase()} is over ${settings.maxContentBytes} bytes`)
        }
        if (content._tag === "Manifest") {
          return yield* Either.mapLeft(Manifest.decode(content.bytes, limits), (e) => invalid(e.message))
        }
        const delta = yield* Either.mapLeft(Manifest.decodeDelta(content.bytes, limits), (e) => invalid(e.message))
        const current = yield* index.get(account, path).pipe(Effect.mapError(fromIndex))
        const version = Option.match(current, { onNone: () => 0, onSome: (c) => c.version })
        if (version !== base) {
          counters.conflicts++
          return yield* new SyncConflict({ path, current: version })
        }
        if (Option.isNone(current) || current.value.entry._tag !== "File") {
          return yield* invalid("a delta needs a base version that is a file: send the whole manifest")
        }
        const baseManifest = yield* loadManifest(current.value.entry.manifest)
        if (Option.isNone(baseManifest)) return yield* invalid("the base version's manifest is gone: send it whole")
        return yield* Either.mapLeft(Manifest.apply(baseManifest.value, delta, limits), (e) =>
          invalid(e._tag === "DeltaBaseMismatch" ? `${e.message}: send the whole manifest` : e.message)
        )
      })

    const checkChunks = (account: string, manifest: Manifest.Manifest) =>
      Effect.gen(function* () {
        const missing: Array<string> = []
        for (const [hash, size] of distinctChunks(manifest)) {
          if (size < 1 || size > settings.maxChunkBytes) {
            return yield* invalid(`chunk ${hash} has size ${size}, outside 1..${settings.maxChunkBytes}`)
          }
          if (!(yield* holdsChunk(account, hash))) {
            missing.push(hash)
            if (missing.length >= 100) break
          }
        }
        if (missing.length > 0) return yield* new ChunksMissing({ chunks: missing })
      })

    const checkQuota = (account: string, path: string, size: number) =>
      Effect.gen(function* () {
        const usage = yield* index.usage(account)
        const current = yield* index.get(account, path).pipe(Effect.mapError(fromIndex))
        const replaced = Option.match(current, {
          onNone: () => 0,
          onSome: (c) => (c.entry._tag === "File" ? c.entry.size : 0)
        })
        const used = usage.bytes - replaced + size
        if (used > settings.quotaBytes) {
          counters.quotaRefusals++
          return yield* new QuotaExceeded({ what: "bytes", used: usage.bytes, limit: settings.quotaBytes })
        }
      })

    /** Records `entry` at `path` (its manifest counted first, taken back if refused). */
    const commitFile = (
      account: string,
      device: string,
      path: string,
      base: number,
      entry: SyncIndex.FileEntry,
      manifest: Manifest.Manifest,
      bytes: Uint8Array
    ) =>
      Effect.gen(function* () {
        yield* addManifestRecord(account, entry.manifest, manifest, bytes)
        const committed = yield* index.commit(account, { path, base, device, entry }).pipe(
          Effect.mapError(fromIndex),
          Effect.tapError(() => dropManifestRecord(account, entry.manifest))
        )
        yield* dropAll(account, committed.dropped)
        return committed
      })

    const current = (account: string, path: string) =>
      Effect.flatMap(index.get(account, path).pipe(Effect.mapError(fromIndex)), (found) =>
        Option.match(found, {
          onNone: () => Effect.dieMessage(`sync: ${path} was just committed but is not in the index`),
          onSome: (c) => Effect.succeed(toChange(c))
        })
      )

    const commit = (account: string, device: string, request: CommitRequest): Effect.Effect<CommitResult, SyncError> =>
      Effect.gen(function* () {
        yield* checkCount("base", request.base)
        const { op, path } = request
        const changes: Array<Change> = yield* locked(
          Effect.gen(function* () {
            // The unsafe switch: every commit takes whatever is current as its base.
            const base = settings.lastWriterWins
              ? Option.match(yield* index.get(account, path).pipe(Effect.mapError(fromIndex)), {
                  onNone: () => 0,
                  onSome: (c) => c.version
                })
              : request.base
            switch (op._tag) {
              case "Delete": {
                const done = yield* index
                  .commit(account, { path, base, device, entry: { _tag: "Tombstone" } })
                  .pipe(Effect.mapError(fromIndex))
                yield* dropAll(account, done.dropped)
                return [yield* current(account, path)]
              }
              case "Rename": {
                const source = yield* index.get(account, path).pipe(Effect.mapError(fromIndex))
                const version = Option.match(source, { onNone: () => 0, onSome: (c) => c.version })
                if (version !== base) {
                  counters.conflicts++
                  return yield* new SyncConflict({ path, current: version })
                }
                if (Option.isNone(source) || source.value.entry._tag !== "File") {
                  return yield* new SyncNotFound({ what: `file ${path}` })
                }
                const digest = source.value.entry.manifest
                const held = yield* read(ManifestRecord, manifestKey(account, digest))
                if (Option.isNone(held)) return yield* Effect.dieMessage(`sync: manifest ${digest} is not counted`)
                yield* write(ManifestRecord, manifestKey(account, digest), { records: held.value.records + 1 })
                const renamed = yield* index.rename(account, { from: path, to: op.to, base, device }).pipe(
                  Effect.mapError(fromIndex),
                  Effect.tapError(() => dropManifestRecord(account, digest))
                )
                yield* dropAll(account, [...renamed.from.dropped, ...renamed.to.dropped])
                return [yield* current(account, path), yield* current(account, op.to)]
              }
              case "Put": {
                const manifest = yield* resolveContent(account, path, base, op.content)
                yield* checkChunks(account, manifest)
                yield* checkQuota(account, path, manifest.size)
                const bytes = Manifest.encode(manifest)
                const entry: SyncIndex.FileEntry = {
                  _tag: "File",
                  manifest: Manifest.digest(manifest),
                  size: manifest.size,
                  sha256: manifest.sha256,
                  mtime: op.mtime
                }
                yield* commitFile(account, device, path, base, entry, manifest, bytes)
                return [yield* current(account, path)]
              }
            }
          })
        )
        counters.commits++
        yield* publish(account, changes)
        return { changes }
      })

    const restore = (
      account: string,
      device: string,
      path: string,
      version: number
    ): Effect.Effect<CommitResult, SyncError> =>
      locked(
        Effect.gen(function* () {
          const kept = yield* index.versions(account, path).pipe(Effect.mapError(fromIndex))
          const found = kept.find((k) => k.version === version)
          if (found === undefined) return yield* new SyncNotFound({ what: `version ${version} of ${path}` })
          const manifest = yield* loadManifest(found.entry.manifest)
          if (Option.isNone(manifest))
            return yield* Effect.dieMessage(`sync: kept manifest ${found.entry.manifest} is gone`)
          const now_ = yield* index.get(account, path).pipe(Effect.mapError(fromIndex))
          const base = Option.match(now_, { onNone: () => 0, onSome: (c) => c.version })
          yield* checkQuota(account, path, found.entry.size)
          yield* commitFile(account, device, path, base, found.entry, manifest.value, Manifest.encode(manifest.value))
          return [yield* current(account, path)]
        })
      ).pipe(
        Effect.tap(() => Effect.sync(() => counters.commits++)),
        Effect.tap((changes) => publish(account, changes)),
        Effect.map((changes) => ({ changes }))
      )

    // ---- chunks ----------------------------------------------------------------------------

    /**
     * Stores a batch of chunks: each checked on its own (name, size, bytes hashing to the name: the
     * blob store hashes them as it stores them, so they are hashed once), the records of all that
     * were new written in one unit of work; the refused ones named in one {@link SyncInvalid}.
     */
    const putChunks = (account: string, chunks: ReadonlyArray<ChunkData>): Effect.Effect<void, SyncError> =>
      Effect.gen(function* () {
        if (chunks.length > settings.maxBatchChunks) {
          return yield* invalid(`at most ${settings.maxBatchChunks} chunks per batch, this one ${chunks.length}`)
        }
        let total = 0
        for (const c of chunks) total += c.bytes.length
        if (total > settings.maxBatchBytes) {
          return yield* invalid(`at most ${settings.maxBatchBytes} bytes of chunks per batch, this one ${total}`)
        }
        const refused: Array<{ readonly hash: string; readonly reason: string }> = []
        const fresh: Array<ChunkData> = []
        const seen = new Set<string>()
        for (const c of chunks) {
          if (!SHA256.test(c.hash)) {
            refused.push({ hash: c.hash.slice(0, 64), reason: "the chunk's name is not a lowercase hex SHA-256" })
          } else if (c.bytes.length < 1 || c.bytes.length > settings.maxChunkBytes) {
            refused.push({
              hash: c.hash,
              reason: `a chunk is 1 to ${settings.maxChunkBytes} bytes, this one ${c.bytes.length}`
            })
          } else if (!seen.has(c.hash)) {
            seen.add(c.hash)
            if (!(yield* holdsChunk(account, c.hash))) fresh.push(c)
          }
        }
        if (fresh.length > 0) {
          const pending = yield* pendingOf(account)
          let bytes = 0
          for (const c of fresh) bytes += c.bytes.length
          if (
            pending.chunks + fresh.length > settings.maxPendingChunks ||
            pending.bytes + bytes > settings.maxPendingBytes
          ) {
            return yield* new SyncBusy({
              reason: `${pending.chunks} chunks (${pending.bytes} bytes) uploaded and not committed: commit first`
            })
          }
        }
        // Stored outside the lock (the blob store takes its own); each put is one blob reference.
        const stored = yield* Effect.forEach(
          fresh,
          (c) =>
            Effect.gen(function* () {
              const before = yield* blobs.stat(c.hash)
              const info = yield* blobs
                .put(c.bytes)
                .pipe(Effect.mapError(() => new SyncBusy({ reason: "the site's blob store is full" })))
              if (info.hash !== c.hash) {
                yield* Effect.ignore(blobs.release(info.hash))
                refused.push({ hash: c.hash, reason: "the bytes do not hash to its name" })
                return undefined
              }
              return { chunk: c, deduplicated: Option.isSome(before) }
            }).pipe(Effect.either),
          { concurrency: settings.batchWriteConcurrency }
        )
        const good = stored.flatMap((s) => (Either.isRight(s) && s.right !== undefined ? [s.right] : []))
        const failed = stored.find(Either.isLeft)
        if (good.length > 0) {
          const until = (yield* now) + settings.pendingTtlSeconds * 1000
          const duplicates = yield* locked(
            Effect.gen(function* () {
              const added: Array<(typeof good)[number]> = []
              const duplicates: Array<string> = []
              for (const g of good) {
                if (yield* holdsChunk(account, g.chunk.hash)) duplicates.push(g.chunk.hash)
                else added.push(g)
              }
              if (added.length === 0) return duplicates
              let bytes = 0
              for (const g of added) bytes += g.chunk.bytes.length
              yield* context.stores.atomically(
                Effect.gen(function* () {
                  for (const { chunk } of added) {
                    yield* write(ChunkRecord, chunkKey(account, chunk.hash), { size: chunk.bytes.length, uses: 0 })
                    yield* write(UploadRecord, uploadKey(account, chunk.hash), { size: chunk.bytes.length, until })
                  }
                  yield* changePending(account, added.length, bytes)
                })
              )
              for (const g of added) {
                counters.chunksUploaded++
                counters.bytesUploaded += g.chunk.bytes.length
                if (g.deduplicated) counters.bytesDeduplicated += g.chunk.bytes.length
              }
              return duplicates
            })
          ).pipe(Effect.tapError(() => Effect.forEach(good, (g) => releaseBlob(g.chunk.hash), { discard: true })))
          yield* Effect.forEach(duplicates, releaseBlob, { discard: true })
        }
        if (failed !== undefined && Either.isLeft(failed)) return yield* failed.left
        if (refused.length === 1) return yield* invalid(`chunk ${refused[0]!.hash}: ${refused[0]!.reason}`)
        if (refused.length > 1) {
          return yield* invalid(
            `${refused.length} chunks refused (the others were kept): ` +
              refused
                .slice(0, 10)
                .map((r) => `${r.hash}: ${r.reason}`)
                .join("; ")
          )
        }
      })

    const putChunk = (account: string, hash: string, bytes: Uint8Array): Effect.Effect<void, SyncError> =>
      putChunks(account, [{ hash, bytes }])

    const getChunk = (account: string, hash: string): Effect.Effect<Uint8Array, SyncError> =>
      Effect.gen(function* () {
        yield* checkHash("the chunk's name", hash)
        if (!(yield* holdsChunk(account, hash))) return yield* new SyncNotFound({ what: `chunk ${hash}` })
        return yield* blobs.get(hash).pipe(Effect.mapError(() => new SyncNotFound({ what: `chunk ${hash}` })))
      })

    /** As many of `hashes` as fit in `maxBytes` (at least one), in order. */
    const getChunks = (
      account: string,
      hashes: ReadonlyArray<string>,
      maxBytes: number | undefined
    ): Effect.Effect<ReadonlyArray<ChunkData>, SyncError> =>
      Effect.gen(function* () {
        if (hashes.length < 1 || hashes.length > settings.maxBatchChunks) {
          return yield* invalid(`a batch names 1 to ${settings.maxBatchChunks} chunks, this one ${hashes.length}`)
        }
        if (maxBytes !== undefined && (!Number.isSafeInteger(maxBytes) || maxBytes < 1)) {
          return yield* invalid("maxBytes must be a positive integer")
        }
        const budget = Math.min(maxBytes ?? settings.maxBatchBytes, settings.maxBatchBytes)
        for (const hash of hashes) yield* checkHash("a chunk's name", hash)
        const out: Array<ChunkData> = []
        let used = 0
        for (const hash of hashes) {
          const record = yield* read(ChunkRecord, chunkKey(account, hash))
          if (Option.isNone(record)) return yield* new SyncNotFound({ what: `chunk ${hash}` })
          if (out.length > 0 && used + record.value.size > budget) break
          const bytes = yield* blobs.get(hash).pipe(Effect.mapError(() => new SyncNotFound({ what: `chunk ${hash}` })))
          used += bytes.length
          out.push({ hash, bytes })
        }
        return out
      })

    /** Each commit as if alone, in order; the refusals answered, not failed. */
    const commitMany = (
      account: string,
      device: string,
      requests: ReadonlyArray<CommitRequest>
    ): Effect.Effect<ReadonlyArray<CommitOutcome>, SyncError> =>
      requests.length < 1 || requests.length > settings.maxBatchCommits
        ? Effect.fail(invalid(`a batch holds 1 to ${settings.maxBatchCommits} commits, this one ${requests.length}`))
        : Effect.forEach(requests, (request) =>
            Effect.match(commit(account, device, request), {
              onFailure: (error): CommitOutcome => ({ _tag: "Refused", error }),
              onSuccess: (result): CommitOutcome => ({ _tag: "Committed", result })
            })
          )

    const holdsManifest = (account: string, digest: string) =>
      Effect.map(kv.get(NAMESPACE, manifestKey(account, digest)), Option.isSome)

    const manifest = (account: string, digest: string, base?: string): Effect.Effect<Content, SyncError> =>
      Effect.gen(function* () {
        yield* checkHash("the manifest's digest", digest)
        if (base !== undefined) yield* checkHash("the base manifest's digest", base)
        const notFound = new SyncNotFound({ what: `manifest ${digest}` })
        if (!(yield* holdsManifest(account, digest))) return yield* notFound
        const bytes = yield* blobs.get(digest).pipe(Effect.mapError(() => notFound))
        if (base === undefined || base === digest || !(yield* holdsManifest(account, base))) {
          return { _tag: "Manifest", bytes } as const
        }
        const [next, previous] = [yield* loadManifest(digest), yield* loadManifest(base)]
        if (Option.isNone(next) || Option.isNone(previous)) return { _tag: "Manifest", bytes } as const
        const delta = Manifest.encodeDelta(Manifest.diff(previous.value, next.value))
        return delta.length < bytes.length
          ? ({ _tag: "Delta", bytes: delta } as const)
          : ({ _tag: "Manifest", bytes } as const)
      })

    const missing = (account: string, chunks: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        if (chunks.length > MAX_MISSING_QUERY) return yield* invalid(`at most ${MAX_MISSING_QUERY} chunks per question`)
        const out: Array<string> = []
        const seen = new Set<string>()
        for (const hash of chunks) {
          yield* checkHash("a chunk's name", hash)
          if (seen.has(hash)) continue
          seen.add(hash)
          if (!(yield* holdsChunk(account, hash))) out.push(hash)
        }
        return out
      })

    // ---- catch-up and events ---------------------------------------------------------------

    const changes = (account: string, after: number, limit: number | undefined) =>
      Effect.gen(function* () {
        yield* checkCount("after", after)
        if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
          return yield* invalid("limit must be a positive integer")
        }
        const page = yield* index.changesAfter(account, after, Math.min(limit ?? settings.pageSize, settings.pageSize))
        return { indexId: page.indexId, head: page.head, entries: page.entries.map(toChange) }
      })

    const heartbeat = Duration.seconds(settings.heartbeatSeconds)

    const events = (account: string, after: number): Stream.Stream<Event, SyncError> =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          yield* checkCount("after", after)
          const out = yield* Effect.acquireRelease(Queue.bounded<Event>(settings.streamBuffer), Queue.shutdown)
          const pushed = yield* Effect.acquireRelease(Queue.dropping<Change>(settings.streamBuffer), Queue.shutdown)
          let overflowed = false
          const listener: Listener = (change) => {
            if (!pushed.unsafeOffer(change)) overflowed = true
          }
          // Subscribed before the index is read, so that nothing committed meanwhile is missed.
          yield* Effect.acquireRelease(
            Effect.sync(() => {
              let set = listeners.get(account)
              if (set === undefined) listeners.set(account, (set = new Set()))
              set.add(listener)
            }),
            () =>
              Effect.sync(() => {
                const set = listeners.get(account)
                set?.delete(listener)
                if (set?.size === 0) listeners.delete(account)
              })
          )
          let last = after
          const catchUp = Effect.gen(function* () {
            while (true) {
              const page = yield* changes(account, last, settings.pageSize)
              for (const change of page.entries) {
                yield* Queue.offer(out, { _tag: "Changed", indexId: page.indexId, change })
                last = change.seq
              }
              if (page.entries.length === 0 || last >= page.head) return page
            }
          })
          const first = yield* index.head(account)
          yield* Queue.offer(out, { _tag: "Head", indexId: first.indexId, head: first.seq })
          yield* Effect.forkScoped(
            Effect.gen(function* () {
              let indexId = (yield* catchUp).indexId
              while (true) {
                const next = yield* Effect.timeout(Queue.take(pushed), heartbeat).pipe(Effect.option)
                if (Option.isNone(next) || overflowed) {
                  overflowed = false
                  yield* Queue.takeAll(pushed)
                  const head = yield* index.head(account)
                  indexId = head.indexId
                  yield* Queue.offer(out, { _tag: "Head", indexId, head: head.seq })
                  if (head.seq > last) indexId = (yield* catchUp).indexId
                } else if (next.value.seq > last) {
                  yield* Queue.offer(out, { _tag: "Changed", indexId, change: next.value })
                  last = next.value.seq
                }
              }
            }).pipe(Effect.catchAll(() => Queue.shutdown(out)))
          )
          return Stream.fromQueue(out)
        })
      )

    // ---- sweep -----------------------------------------------------------------------------

    const sweep: Effect.Effect<void> = Effect.gen(function* () {
      const time = yield* now
      const uploads = yield* kv.list(NAMESPACE, "u/")
      let swept = 0
      for (const entry of uploads) {
        if (swept >= settings.sweepBatch) break
        const record = Schema.decodeUnknownOption(UploadRecord)(entry.value)
        if (Option.isSome(record) && record.value.until > time) continue
        swept++
        const [, account, hash] = entry.key.split("/")
        if (account === undefined || hash === undefined) continue
        yield* locked(
          Effect.gen(function* () {
            yield* remove(entry.key)
            yield* Effect.ignore(
              changePending(account, -1, -Option.match(record, { onNone: () => 0, onSome: (r) => r.size }))
            )
            const chunk = yield* read(ChunkRecord, chunkKey(account, hash))
            if (Option.isSome(chunk) && chunk.value.uses === 0) {
              yield* remove(chunkKey(account, hash))
              yield* releaseBlob(hash)
            }
          })
        )
      }
      // Versions past their age: the index says whose manifests to release.
      while (true) {
        const pruned = yield* locked(
          Effect.tap(index.prune, (p) =>
            Effect.forEach(p.dropped, (digest, i) => dropManifestRecord(p.accounts[i]!, digest), { discard: true })
          )
        )
        if (pruned.removed === 0) break
      }
    })

    const session = (account: string, device: string): Session => {
      const registered = <A, E>(effect: Effect.Effect<A, E>) => Effect.zipRight(ensureDevice(account, device), effect)
      return {
        head: registered(Effect.map(index.head(account), (h) => ({ indexId: h.indexId, head: h.seq }))),
        changes: (after, limit) => registered(changes(account, after, limit)),
        missing: (chunks) => registered(missing(account, chunks)),
        putChunk: (hash, bytes) => registered(putChunk(account, hash, bytes)),
        getChunk: (hash) => registered(getChunk(account, hash)),
        putChunks: (chunks) => registered(putChunks(account, chunks)),
        getChunks: (hashes, maxBytes) => registered(getChunks(account, hashes, maxBytes)),
        commitMany: (requests) => registered(commitMany(account, device, requests)),
        manifest: (digest, base) => registered(manifest(account, digest, base)),
        commit: (request) => registered(commit(account, device, request)),
        versions: (path) =>
          registered(
            Effect.map(index.versions(account, path).pipe(Effect.mapError(fromIndex)), (kept) => kept.map(toVersion))
          ),
        restore: (path, version) =>
          registered(
            Effect.zipRight(
              Number.isSafeInteger(version) && version >= 1
                ? Effect.void
                : Effect.fail(invalid("version must be positive")),
              restore(account, device, path, version)
            )
          ),
        events: (after) => Stream.unwrap(Effect.as(ensureDevice(account, device), events(account, after)))
      }
    }

    return { session, sweep }
  })
