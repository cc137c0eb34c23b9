/**
 * Folder sync's device protocol: what a device asks of the `sync` server for one account, as
 * Schemas (the HTTP routes, the relay between sites and the client all use them) and as the
 * {@link Session} interface, which the server implements per account and device and the client's
 * HTTP binding implements over the routes, so the client's engine runs the same against both
 * (and in the simulator against the server's service directly).
 *
 * The flow (docs/design/folder-sync.md): a device pages through {@link Session.changes} after the
 * last number it saw (checking the index id), asks {@link Session.missing} which chunks of a new
 * version the server lacks, uploads those with {@link Session.putChunk}, then commits the version
 * by its manifest or the manifest's delta against the version it edits ({@link Session.commit}).
 * A commit on a base that is not current is refused with {@link SyncConflict}: the device keeps
 * its bytes as a conflict copy. Live changes arrive as {@link Session.events}.
 *
 * Batches: {@link Session.putChunks}, {@link Session.getChunks} and {@link Session.commitMany} do
 * in one request what the single operations do in many (a folder of small files costs a few round
 * trips rather than five per file), each bounded by the server's settings (their defaults here:
 * {@link MAX_BATCH_CHUNKS}, {@link MAX_BATCH_BYTES}, {@link MAX_BATCH_COMMITS}).
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import * as Answer from "../api/Answer.js"

// ---- values ------------------------------------------------------------------------------------

/**
 * A SHA-256 digest, lowercase hex: a chunk's name, a manifest's, a file's content hash.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Sha256 = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{64}$/, { message: () => "a SHA-256 digest is 64 lowercase hex digits" })
).annotations({ identifier: "Sha256", description: "a SHA-256 digest, 64 lowercase hex digits" })

/**
 * A path in a synced folder: relative, `/`-separated. The server checks it fully (no `.`, `..` or
 * empty segment, no NUL, at most the index's bound) and refuses others with {@link SyncInvalid}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SyncPath = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(4096)).annotations({
  identifier: "SyncPath",
  description: "a file's path in the folder, relative and /-separated, e.g. docs/report.txt"
})

/**
 * A device's name (what a conflict copy is named after), at most 128 characters of letters,
 * digits, `.`, `_` and `-`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DeviceName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9._-]{1,128}$/, {
    message: () => "a device name is 1 to 128 letters, digits, '.', '_' or '-'"
  })
).annotations({ identifier: "DeviceName" })

const Count = Schema.Int.pipe(Schema.nonNegative())

/**
 * A file's content at one version.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FileEntry = Schema.TaggedStruct("File", {
  manifest: Sha256.annotations({ description: "the version's manifest, by digest" }),
  size: Count,
  sha256: Sha256.annotations({ description: "the whole file's SHA-256" }),
  mtime: Count.annotations({ description: "modification time on the device that wrote it, epoch ms" })
}).annotations({ identifier: "SyncFile" })

/**
 * @since 0.1.0
 * @category schemas
 */
export type FileEntry = typeof FileEntry.Type

/**
 * A deleted path, kept as its current version so that every device learns of the deletion.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Tombstone = Schema.TaggedStruct("Tombstone", {}).annotations({ identifier: "SyncTombstone" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const Entry = Schema.Union(FileEntry, Tombstone)

/**
 * @since 0.1.0
 * @category schemas
 */
export type Entry = typeof Entry.Type

/**
 * A path's version as the server recorded it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Change = Schema.Struct({
  path: SyncPath,
  version: Schema.Int.pipe(Schema.positive()),
  seq: Schema.Int.pipe(Schema.positive()).annotations({ description: "the account's sequence number it took" }),
  device: Schema.String,
  committedAt: Count,
  entry: Entry
}).annotations({ identifier: "SyncChange" })

/**
 * @since 0.1.0
 * @category schemas
 */
export type Change = typeof Change.Type

/**
 * One page of the catch-up: the current versions with `seq > after`, in `seq` order. The device
 * is caught up when it has seen `head`; a new `indexId` means the numbers it holds are void.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChangesPage = Schema.Struct({
  indexId: Schema.String,
  head: Count,
  entries: Schema.Array(Change)
}).annotations({ identifier: "SyncChangesPage" })

/**
 * @since 0.1.0
 * @category schemas
 */
export type ChangesPage = typeof ChangesPage.Type

/**
 * A replaced version kept for restoring.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Version = Schema.Struct({
  path: SyncPath,
  version: Schema.Int.pipe(Schema.positive()),
  seq: Schema.Int.pipe(Schema.positive()),
  device: Schema.String,
  committedAt: Count,
  replacedAt: Count,
  entry: FileEntry
}).annotations({ identifier: "SyncVersion" })

/**
 * @since 0.1.0
 * @category schemas
 */
export type Version = typeof Version.Type

// ---- requests ------------------------------------------------------------------------------------

/**
 * The most chunk names one {@link Session.missing} asks about: a 4 GiB file at the smallest
 * average chunk size; a larger file asks in several calls.
 *
 * @since 0.1.0
 * @category bounds
 */
export const MAX_MISSING_QUERY = 65_536

/**
 * Which of these chunks the server lacks for this account.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MissingRequest = Schema.Struct({
  chunks: Schema.Array(Sha256).pipe(Schema.maxItems(MAX_MISSING_QUERY))
}).annotations({ identifier: "SyncMissingRequest" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const MissingResponse = Schema.Struct({
  missing: Schema.Array(Sha256)
}).annotations({ identifier: "SyncMissingResponse" })

/**
 * A version's chunk list: the whole manifest in its canonical binary encoding
 * (`Manifest.encode`), or its delta against the base version's manifest (`Manifest.encodeDelta`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Content = Schema.Union(
  Schema.TaggedStruct("Manifest", { bytes: Schema.Uint8ArrayFromBase64 }),
  Schema.TaggedStruct("Delta", { bytes: Schema.Uint8ArrayFromBase64 })
).annotations({ identifier: "SyncContent" })

/**
 * @since 0.1.0
 * @category schemas
 */
export type Content = typeof Content.Type

/**
 * What a commit does to `path`: a new version of its content, a deletion, or a rename to `to`
 * (the content moves without being uploaded again).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Operation = Schema.Union(
  Schema.TaggedStruct("Put", { mtime: Count, content: Content }),
  Schema.TaggedStruct("Delete", {}),
  Schema.TaggedStruct("Rename", { to: SyncPath })
).annotations({ identifier: "SyncOperation" })

/**
 * @since 0.1.0
 * @category schemas
 */
export type Operation = typeof Operation.Type

/**
 * One commit: `path` changes by `op`, provided its current version is `base` (0: the path has
 * none; a tombstone's version counts).
 *
 * @since 0.1.0
 * @category schemas
 */
export const CommitRequest = Schema.Struct({
  path: SyncPath,
  base: Count,
  op: Operation
}).annotations({ identifier: "SyncCommitRequest" })

/**
 * @since 0.1.0
 * @category schemas
 */
export type CommitRequest = typeof CommitRequest.Type

/**
 * What a commit recorded: the paths' new versions, in `seq` order (two for a rename: the
 * tombstone at the old path, then the file at the new one).
 *
 * @since 0.1.0
 * @category schemas
 */
export const CommitResult = Schema.Struct({
  changes: Schema.Array(Change)
}).annotations({ identifier: "SyncCommitResult" })

/**
 * @since 0.1.0
 * @category schemas
 */
export type CommitResult = typeof CommitResult.Type

/**
 * Restores a kept version as the path's newest (a new number; the version replaced is kept in turn).
 *
 * @since 0.1.0
 * @category schemas
 */
export const RestoreRequest = Schema.Struct({
  path: SyncPath,
  version: Schema.Int.pipe(Schema.positive())
}).annotations({ identifier: "SyncRestoreRequest" })

/**
 * A manifest as the server sends it: whole, or as a delta against the base the device named.
 *
 * @since 0.1.0
 * @category models
 */
export type ManifestBody = Content

/**
 * A live event: a change, or (first, and after a silence) where the account stands, so a device
 * that reconnects knows whether it missed something and whether the index was reset.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Event = Schema.Union(
  Schema.TaggedStruct("Changed", { indexId: Schema.String, change: Change }),
  Schema.TaggedStruct("Head", { indexId: Schema.String, head: Count })
).annotations({ identifier: "SyncEvent" })

/**
 * @since 0.1.0
 * @category schemas
 */
export type Event = typeof Event.Type

// ---- errors (on the wire) ------------------------------------------------------------------------

/**
 * The commit names a version that is not the path's current one: another device committed first.
 * Nothing was recorded; the device keeps its bytes as a conflict copy and takes the current one.
 *
 * @since 0.1.0
 * @category errors
 */
export class SyncConflict extends Schema.TaggedError<SyncConflict>()(
  "SyncConflict",
  { path: SyncPath, current: Count },
  Answer.annotations({ status: 409 })
) {
  override get message() {
    return `${this.path} is at version ${this.current}: another device changed it first`
  }
}

/**
 * A commit whose manifest names chunks this account has not uploaded: upload them, then commit.
 *
 * @since 0.1.0
 * @category errors
 */
export class ChunksMissing extends Schema.TaggedError<ChunksMissing>()(
  "ChunksMissing",
  { chunks: Schema.Array(Sha256).annotations({ description: "the first of them, at most 100" }) },
  Answer.annotations({ status: 409 })
) {
  override get message() {
    return `the server lacks ${this.chunks.length === 1 ? "a chunk" : "chunks"} of this version: upload them first`
  }
}

/**
 * A delete, rename or restore of a path or version the account does not have.
 *
 * @since 0.1.0
 * @category errors
 */
export class SyncNotFound extends Schema.TaggedError<SyncNotFound>()(
  "SyncNotFound",
  { what: Schema.String },
  Answer.annotations({ status: 404 })
) {
  override get message() {
    return `no ${this.what}`
  }
}

/**
 * A request the server cannot take as sent: an invalid path, device name, manifest or delta, a
 * chunk whose bytes do not hash to its name. Nothing was recorded.
 *
 * @since 0.1.0
 * @category errors
 */
export class SyncInvalid extends Schema.TaggedError<SyncInvalid>()(
  "SyncInvalid",
  { reason: Schema.String },
  Answer.annotations({ status: 400 })
) {
  override get message() {
    return this.reason
  }
}

/**
 * The account is over its quota (bytes of current files, or paths): nothing was recorded. A
 * deletion is always taken.
 *
 * @since 0.1.0
 * @category errors
 */
export class QuotaExceeded extends Schema.TaggedError<QuotaExceeded>()(
  "QuotaExceeded",
  { what: Schema.Literal("bytes", "files"), used: Count, limit: Count },
  Answer.annotations({ status: 507 })
) {
  override get message() {
    return `the account's quota is full: ${this.used} of ${this.limit} ${this.what}`
  }
}

/**
 * The account has as many devices as it may: a new device is refused until one is removed.
 *
 * @since 0.1.0
 * @category errors
 */
export class TooManyDevices extends Schema.TaggedError<TooManyDevices>()(
  "TooManyDevices",
  { limit: Count },
  Answer.annotations({ status: 403 })
) {
  override get message() {
    return `the account already syncs ${this.limit} devices, its limit`
  }
}

/**
 * A bound of the server is reached for now (uploads in flight, live streams): try again later.
 *
 * @since 0.1.0
 * @category errors
 */
export class SyncBusy extends Schema.TaggedError<SyncBusy>()(
  "SyncBusy",
  { reason: Schema.String },
  Answer.annotations({ status: 503, headers: { "retry-after": "1" } })
) {
  override get message() {
    return `the sync server is busy: ${this.reason}`
  }
}

/**
 * The account's home region, which numbers its changes, did not answer this site's relay.
 *
 * @since 0.1.0
 * @category errors
 */
export class SyncHomeUnreachable extends Schema.TaggedError<SyncHomeUnreachable>()(
  "SyncHomeUnreachable",
  { region: Schema.String, reason: Schema.String },
  Answer.annotations({ status: 503, headers: { "retry-after": "2" } })
) {
  override get message() {
    return `region ${this.region}, the account's home, did not answer: ${this.reason}`
  }
}

/**
 * Every refusal of a device's request.
 *
 * @since 0.1.0
 * @category errors
 */
export const SyncError = Schema.Union(
  SyncConflict,
  ChunksMissing,
  SyncNotFound,
  SyncInvalid,
  QuotaExceeded,
  TooManyDevices,
  SyncBusy,
  SyncHomeUnreachable
)

/**
 * @since 0.1.0
 * @category errors
 */
export type SyncError = typeof SyncError.Type

// ---- batches ------------------------------------------------------------------------------------

/**
 * The most chunks one {@link Session.putChunks} or {@link Session.getChunks} carries, by default
 * (the server's `maxBatchChunks`).
 *
 * @since 0.1.0
 * @category bounds
 */
export const MAX_BATCH_CHUNKS = 1024

/**
 * The most chunk bytes one {@link Session.putChunks} carries, and one answer of
 * {@link Session.getChunks}, by default (the server's `maxBatchBytes`): 16 MiB.
 *
 * @since 0.1.0
 * @category bounds
 */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024

/**
 * The most commits one {@link Session.commitMany} carries, by default (the server's `maxBatchCommits`).
 *
 * @since 0.1.0
 * @category bounds
 */
export const MAX_BATCH_COMMITS = 1000

/**
 * A chunk's name and bytes, as batches carry them.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChunkData {
  readonly hash: string
  readonly bytes: Uint8Array
}

/**
 * `POST /v1/sync/chunks/fetch`: which chunks, and at most how many bytes of them in the answer
 * (the server's `maxBatchBytes` when absent or larger).
 *
 * @since 0.1.0
 * @category schemas
 */
export const FetchChunksRequest = Schema.Struct({
  chunks: Schema.Array(Sha256).pipe(Schema.minItems(1)),
  maxBytes: Schema.optional(Schema.Int.pipe(Schema.positive()))
}).annotations({ identifier: "SyncFetchChunksRequest" })

/**
 * `POST /v1/sync/commits`: commits, each its own unit.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CommitManyRequest = Schema.Struct({
  commits: Schema.Array(CommitRequest).pipe(Schema.minItems(1))
}).annotations({ identifier: "SyncCommitManyRequest" })

/**
 * What became of one commit of a {@link Session.commitMany}: recorded, or refused with its wire error.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CommitOutcome = Schema.Union(
  Schema.TaggedStruct("Committed", { result: CommitResult }),
  Schema.TaggedStruct("Refused", { error: SyncError })
).annotations({ identifier: "SyncCommitOutcome" })

/**
 * @since 0.1.0
 * @category schemas
 */
export type CommitOutcome = typeof CommitOutcome.Type

/**
 * The answer of `POST /v1/sync/commits`: one outcome per commit, in the request's order.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CommitManyResponse = Schema.Struct({
  outcomes: Schema.Array(CommitOutcome)
}).annotations({ identifier: "SyncCommitManyResponse" })

// ---- the session ---------------------------------------------------------------------------------

/**
 * What one device of one account may ask. The server's service gives one per account and device
 * (authenticated by the caller); the client's HTTP binding implements it over the routes; a
 * failure of the network between them is the binding's `SyncHomeUnreachable`/`SyncBusy` (retry).
 *
 * @since 0.1.0
 * @category models
 */
export interface Session {
  /** Where the account's numbering stands (a device's first call: registers the device). */
  readonly head: Effect.Effect<{ readonly indexId: string; readonly head: number }, SyncError>
  /** The current versions with `seq > after`, in `seq` order, at most `limit` (bounded). */
  readonly changes: (after: number, limit?: number) => Effect.Effect<ChangesPage, SyncError>
  /** Which of `chunks` the account does not hold on the server (to upload). */
  readonly missing: (chunks: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<string>, SyncError>
  /** Uploads one chunk; its bytes must hash to `hash`. */
  readonly putChunk: (hash: string, bytes: Uint8Array) => Effect.Effect<void, SyncError>
  /** One chunk the account holds. */
  readonly getChunk: (hash: string) => Effect.Effect<Uint8Array, SyncError>
  /**
   * Uploads several chunks (at most the server's `maxBatchChunks`, `maxBatchBytes` of bytes, else
   * {@link SyncInvalid}). Each is checked on its own: those whose bytes do not hash to their name
   * are refused with one {@link SyncInvalid} naming them, and the good ones are kept all the same.
   */
  readonly putChunks: (chunks: ReadonlyArray<ChunkData>) => Effect.Effect<void, SyncError>
  /**
   * Chunks the account holds (at most `maxBatchChunks` named), in the order asked: as many as fit
   * in `maxBytes` (and the server's `maxBatchBytes`), at least one; the caller asks again for the
   * rest. A chunk the account does not hold is {@link SyncNotFound}.
   */
  readonly getChunks: (
    hashes: ReadonlyArray<string>,
    maxBytes?: number
  ) => Effect.Effect<ReadonlyArray<ChunkData>, SyncError>
  /**
   * The manifest `digest` of a version the account holds (current or kept); as a delta against
   * `base` when the device holds that manifest and a delta is smaller.
   */
  readonly manifest: (digest: string, base?: string) => Effect.Effect<ManifestBody, SyncError>
  readonly commit: (request: CommitRequest) => Effect.Effect<CommitResult, SyncError>
  /**
   * Several commits (at most the server's `maxBatchCommits`), each its own unit as if committed
   * alone, in order: one outcome each (its result or its refusal); one refused undoes no other.
   */
  readonly commitMany: (
    requests: ReadonlyArray<CommitRequest>
  ) => Effect.Effect<ReadonlyArray<CommitOutcome>, SyncError>
  /** The path's kept older versions, newest first. */
  readonly versions: (path: string) => Effect.Effect<ReadonlyArray<Version>, SyncError>
  readonly restore: (path: string, version: number) => Effect.Effect<CommitResult, SyncError>
  /**
   * Live changes with `seq > after` (those already recorded first), then as they are committed;
   * a `Head` event first and after each silence of the server's heartbeat.
   */
  readonly events: (after: number) => Stream.Stream<Event, SyncError>
}
