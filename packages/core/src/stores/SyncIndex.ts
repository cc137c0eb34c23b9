/**
 * Folder sync's server state: per account, a sequenced index of file versions. The account's home
 * region is its one writer (docs/design/folder-sync.md): every commit takes the account's next
 * sequence number, so a device that remembers the last number it saw catches up with
 * {@link SyncIndexService.changesAfter} and cannot miss a change in between. The index id, random
 * and kept, changes when the state is reset or restored, so a device notices numbers it can no
 * longer trust and rescans.
 *
 * Only metadata lives here: a version names its manifest by digest (lowercase hex SHA-256); the
 * manifest and its chunks are in the blob store. Every file record, current or kept in the
 * history, holds its manifest: the caller takes one blob reference per record it commits and
 * releases one per digest this store reports dropped (at commit, or by
 * {@link SyncIndexService.prune}).
 *
 * The in-memory implementation keeps its state in a closure created by {@link makeMemory},
 * outside any site scope, so it survives a simulated crash of the site that uses it.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import { byteLength } from "./KeyValue.js"

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/**
 * A file's content at one version.
 *
 * @since 0.1.0
 * @category models
 */
export interface FileEntry {
  readonly _tag: "File"
  /** The manifest's digest in the blob store: lowercase hex SHA-256. */
  readonly manifest: string
  /** The file's size in bytes. */
  readonly size: number
  /** The file's content SHA-256, lowercase hex. */
  readonly sha256: string
  /** The file's modification time on the device that committed it, epoch milliseconds. */
  readonly mtime: number
}

/**
 * A deleted path. Kept as the path's current version so that devices learn of the deletion.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tombstone {
  readonly _tag: "Tombstone"
}

/**
 * @since 0.1.0
 * @category models
 */
export type Entry = FileEntry | Tombstone

/**
 * One commit: `path` becomes `entry`, provided its current version is `base`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Change {
  readonly path: string
  /** The version this change edits; 0 for a path that has none. A tombstone's version counts. */
  readonly base: number
  /** The device that made the change (shown in the history, used for conflict copies). */
  readonly device: string
  readonly entry: Entry
}

/**
 * A rename: a tombstone at `from` and `from`'s content at `to`, without uploading it again.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rename {
  readonly from: string
  readonly to: string
  /** `from`'s current version. `to` must have none, or a tombstone. */
  readonly base: number
  readonly device: string
}

/**
 * A path's current version.
 *
 * @since 0.1.0
 * @category models
 */
export interface Current {
  readonly path: string
  /** 1 for a path's first version, one more for each commit to it. */
  readonly version: number
  /** The account's sequence number this version took. */
  readonly seq: number
  readonly device: string
  /** When the server recorded it, epoch milliseconds (Effect `Clock`). */
  readonly committedAt: number
  readonly entry: Entry
}

/**
 * A replaced file version kept for restoring. Replaced tombstones are not kept: a deletion has no
 * content to restore, and keeping them would push content out of the bounded history.
 *
 * @since 0.1.0
 * @category models
 */
export interface Kept {
  readonly path: string
  readonly version: number
  readonly seq: number
  readonly device: string
  readonly committedAt: number
  /** When a newer version replaced it, epoch milliseconds; its age for {@link SyncIndexConfig.versionsMaxAge}. */
  readonly replacedAt: number
  readonly entry: FileEntry
}

/**
 * Where an account's numbering stands.
 *
 * @since 0.1.0
 * @category models
 */
export interface Head {
  /** Random, made at the account's first use; new after {@link SyncIndexService.resetIndex}. */
  readonly indexId: string
  /** The last sequence number given, 0 when none. */
  readonly seq: number
}

/**
 * What a commit recorded.
 *
 * @since 0.1.0
 * @category models
 */
export interface Committed {
  readonly seq: number
  readonly version: number
  /** Manifest digests of the kept versions this commit dropped from the history: release them. */
  readonly dropped: ReadonlyArray<string>
}

/**
 * What a rename recorded: two sequence numbers, `from`'s tombstone first.
 *
 * @since 0.1.0
 * @category models
 */
export interface Renamed {
  readonly from: Committed
  readonly to: Committed
}

/**
 * One page of the catch-up: the current versions with `seq > after`, in `seq` order.
 *
 * @since 0.1.0
 * @category models
 */
export interface Page {
  readonly indexId: string
  /** The account's last sequence number: the device is caught up once it has seen this one. */
  readonly head: number
  readonly entries: ReadonlyArray<Current>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Usage {
  /** Current paths that are files (not tombstones). */
  readonly files: number
  /** The sum of their sizes. */
  readonly bytes: number
}

/**
 * What one {@link SyncIndexService.prune} removed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pruned {
  /** How many kept versions were removed; {@link SyncIndexConfig.pruneBatch} means call again. */
  readonly removed: number
  /** Their manifest digests (one per version, repeated when versions share one): release them. */
  readonly dropped: ReadonlyArray<string>
  /** The account of each of `dropped`, in the same order: whose references to release. */
  readonly accounts: ReadonlyArray<string>
}

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

/**
 * The index's bounds.
 *
 * @since 0.1.0
 * @category config
 */
export interface SyncIndexConfig {
  /** A path's UTF-8 length at most (Linux's PATH_MAX). */
  readonly maxPathBytes: number
  /** A device name's UTF-8 length at most. */
  readonly maxDeviceBytes: number
  /** Paths (files and tombstones) one account may hold; a new path past it is {@link SyncIndexFull}. */
  readonly maxEntries: number
  /** Kept versions per path, newest kept; 0 keeps none. */
  readonly versionsKept: number
  /** A kept version older than this (since it was replaced) is dropped. */
  readonly versionsMaxAge: Duration.DurationInput
  /** Entries per page of {@link SyncIndexService.changesAfter} at most, whatever the caller asks. */
  readonly maxPage: number
  /** Kept versions one {@link SyncIndexService.prune} removes at most, so one call stays short. */
  readonly pruneBatch: number
}

/**
 * Defaults: 4 KiB paths, 128-byte device names, 1 million paths per account, 10 versions per path
 * kept for 30 days, pages of 1000, prunes of 10 000.
 *
 * @since 0.1.0
 * @category config
 */
export const SyncIndexConfig: SyncIndexConfig = {
  maxPathBytes: 4096,
  maxDeviceBytes: 128,
  maxEntries: 1_000_000,
  versionsKept: 10,
  versionsMaxAge: Duration.days(30),
  maxPage: 1000,
  pruneBatch: 10_000
}

/**
 * The bounds with the defaults filled in and the age in milliseconds.
 *
 * @since 0.1.0
 * @category config
 */
export interface ResolvedConfig extends Omit<SyncIndexConfig, "versionsMaxAge"> {
  readonly versionsMaxAgeMillis: number
}

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

/**
 * Fills in the defaults and checks every bound; a bad bound is a defect of the caller (`what`
 * names the store in the message).
 *
 * @since 0.1.0
 * @category config
 */
export const resolveConfig = (what: string, config: Partial<SyncIndexConfig>): Effect.Effect<ResolvedConfig> =>
  Effect.suspend(() => {
    const { versionsMaxAge, ...rest } = { ...SyncIndexConfig, ...config }
    const positive = ["maxPathBytes", "maxDeviceBytes", "maxEntries", "maxPage", "pruneBatch"] as const
    for (const name of positive) {
      if (!isCount(rest[name]) || rest[name] < 1)
        return Effect.dieMessage(`${what}: ${name} must be a positive integer`)
    }
    if (!isCount(rest.versionsKept)) return Effect.dieMessage(`${what}: versionsKept must be a non-negative integer`)
    const age = Duration.decodeUnknown(versionsMaxAge)
    if (Option.isNone(age) || !Duration.isFinite(age.value)) {
      return Effect.dieMessage(`${what}: versionsMaxAge must be a finite duration`)
    }
    return Effect.succeed({ ...rest, versionsMaxAgeMillis: Duration.toMillis(age.value) })
  })

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/**
 * The change names a version that is not the path's current one: another device committed first.
 * Nothing was recorded and no number taken; the device keeps its bytes as a conflict copy.
 *
 * @since 0.1.0
 * @category errors
 */
export class VersionConflict extends Data.TaggedError("VersionConflict")<{
  readonly path: string
  /** The path's current version (0 when it has none). */
  readonly current: number
}> {}

/**
 * A delete or rename of a path that has no file (none, or a tombstone) at the version named.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoSuchFile extends Data.TaggedError("NoSuchFile")<{
  readonly path: string
}> {}

/**
 * The account holds {@link SyncIndexConfig.maxEntries} paths: a new path is refused, nothing written.
 *
 * @since 0.1.0
 * @category errors
 */
export class SyncIndexFull extends Data.TaggedError("SyncIndexFull")<{
  readonly account: string
  readonly entries: number
  readonly maxEntries: number
}> {}

/**
 * A path that is not relative, `/`-separated and plain (no empty, `.` or `..` segment, no NUL,
 * well-formed Unicode, at most {@link SyncIndexConfig.maxPathBytes}).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidPath extends Data.TaggedError("InvalidPath")<{
  readonly path: string
  readonly reason: string
}> {}

/**
 * A change whose fields are out of range: a digest that is not lowercase hex SHA-256, a negative
 * size or base, a device name too long.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidEntry extends Data.TaggedError("InvalidEntry")<{
  readonly field: string
  readonly reason: string
}> {}

/**
 * @since 0.1.0
 * @category errors
 */
export type CommitError = VersionConflict | NoSuchFile | SyncIndexFull | InvalidPath | InvalidEntry

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

/**
 * The index operations. Every implementation (memory here, SQLite in the node package) keeps these
 * semantics; each write is one transaction.
 *
 * @since 0.1.0
 * @category models
 */
export interface SyncIndexService {
  /** The account's index id and last number; makes the index id at the account's first use. */
  readonly head: (account: string) => Effect.Effect<Head>
  /**
   * Records `change` as the path's next version and takes the account's next number, when `base`
   * is the path's current version (else {@link VersionConflict}, nothing changed). The replaced
   * file version goes to the history, whose overflow is returned in `dropped`.
   */
  readonly commit: (account: string, change: Change) => Effect.Effect<Committed, CommitError>
  /** A tombstone at `from` and `from`'s content at `to`, in one transaction, two numbers. */
  readonly rename: (account: string, rename: Rename) => Effect.Effect<Renamed, CommitError>
  readonly get: (account: string, path: string) => Effect.Effect<Option.Option<Current>, InvalidPath>
  /**
   * The current versions with `seq > after` in `seq` order, at most `limit` (and
   * {@link SyncIndexConfig.maxPage}): a path changed twice appears once, at its latest number.
   */
  readonly changesAfter: (account: string, after: number, limit: number) => Effect.Effect<Page>
  /** The path's kept older versions, newest first (none older than `versionsMaxAge`). */
  readonly versions: (account: string, path: string) => Effect.Effect<ReadonlyArray<Kept>, InvalidPath>
  /** Files and bytes of the account's current versions, for quotas. */
  readonly usage: (account: string) => Effect.Effect<Usage>
  /** A new index id (after a restore): devices rescan. The numbering continues. */
  readonly resetIndex: (account: string) => Effect.Effect<Head>
  /** Drops kept versions older than `versionsMaxAge`, oldest first, at most `pruneBatch`. */
  readonly prune: Effect.Effect<Pruned>
}

/**
 * The sync index service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class SyncIndex extends Context.Tag("@meridian/core/SyncIndex")<SyncIndex, SyncIndexService>() {}

/**
 * The site's sync index, opened with the bounds of the module that uses it (its settings in the
 * topology): the stores own where the index lives, the module owns its bounds. Every `open` of one
 * site sees the same accounts.
 *
 * @since 0.1.0
 * @category tags
 */
export class SyncIndexes extends Context.Tag("@meridian/core/SyncIndexes")<
  SyncIndexes,
  { readonly open: (config: Partial<SyncIndexConfig>) => Effect.Effect<SyncIndexService> }
>() {}

// ---------------------------------------------------------------------------------------------
// Shared rules
// ---------------------------------------------------------------------------------------------

/** Hex digits of an index id: 64 random bits, enough that two ids of one account never meet. */
const INDEX_ID_BYTES = 8

/**
 * A new index id: 16 lowercase hex characters from Effect's `Random` (seeded in the simulator).
 *
 * @since 0.1.0
 * @category utils
 */
export const makeIndexId: Effect.Effect<string> = Effect.map(
  Effect.replicateEffect(Random.nextIntBetween(0, 256), INDEX_ID_BYTES),
  (bytes) => bytes.map((b) => b.toString(16).padStart(2, "0")).join("")
)

const hasLoneSurrogate = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c < 0xdc00) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (next < 0xdc00 || next >= 0xe000) return true
      i++
    } else if (c >= 0xdc00 && c < 0xe000) return true
  }
  return false
}

/**
 * Checks a path: relative, `/`-separated, no empty, `.` or `..` segment, no NUL, well-formed
 * Unicode (it is stored as UTF-8), at most `maxPathBytes`. Unicode normalization is the device's.
 *
 * @since 0.1.0
 * @category validation
 */
export const validatePath = (config: ResolvedConfig, path: string): Effect.Effect<string, InvalidPath> => {
  const refuse = (reason: string) => Effect.fail(new InvalidPath({ path, reason }))
  if (path.length === 0) return refuse("empty")
  if (path.includes("\u0000")) return refuse("contains NUL")
  if (hasLoneSurrogate(path)) return refuse("not well-formed Unicode")
  const bytes = byteLength(path)
  if (bytes > config.maxPathBytes) return refuse(`${bytes} bytes, more than maxPathBytes ${config.maxPathBytes}`)
  if (path.startsWith("/")) return refuse("absolute")
  for (const segment of path.split("/")) {
    if (segment === "") return refuse("empty segment")
    if (segment === "." || segment === "..") return refuse(`'${segment}' segment`)
  }
  return Effect.succeed(path)
}

/**
 * Checks a page's `after`: a non-negative integer (a device's last number, 0 for none). Anything
 * else is a defect of the caller, which decodes it from the request.
 *
 * @since 0.1.0
 * @category validation
 */
export const requireAfter = (what: string, after: number): Effect.Effect<void> =>
  isCount(after) ? Effect.void : Effect.dieMessage(`${what}: after must be a non-negative integer, got ${after}`)

const HEX_SHA256 = /^[0-9a-f]{64}$/

/**
 * Checks a change's fields other than the path (see {@link InvalidEntry}).
 *
 * @since 0.1.0
 * @category validation
 */
export const validateFields = (
  config: ResolvedConfig,
  fields: { readonly base: number; readonly device: string; readonly entry?: Entry }
): Effect.Effect<void, InvalidEntry> => {
  const refuse = (field: string, reason: string) => Effect.fail(new InvalidEntry({ field, reason }))
  if (!isCount(fields.base)) return refuse("base", "not a non-negative integer")
  if (fields.device.length === 0) return refuse("device", "empty")
  if (hasLoneSurrogate(fields.device)) return refuse("device", "not well-formed Unicode")
  if (byteLength(fields.device) > config.maxDeviceBytes) return refuse("device", "longer than maxDeviceBytes")
  const entry = fields.entry
  if (entry !== undefined && entry._tag === "File") {
    if (!HEX_SHA256.test(entry.manifest)) return refuse("manifest", "not a lowercase hex SHA-256")
    if (!HEX_SHA256.test(entry.sha256)) return refuse("sha256", "not a lowercase hex SHA-256")
    if (!isCount(entry.size)) return refuse("size", "not a non-negative integer")
    if (!Number.isSafeInteger(entry.mtime)) return refuse("mtime", "not an integer")
  }
  return Effect.void
}

/** A file entry with only its fields (no extra properties a caller's object may carry). */
const fileOf = (entry: FileEntry): FileEntry => ({
  _tag: "File",
  manifest: entry.manifest,
  size: entry.size,
  sha256: entry.sha256,
  mtime: entry.mtime
})

/**
 * The entry as stored: only its own fields.
 *
 * @since 0.1.0
 * @category utils
 */
export const normalizeEntry = (entry: Entry): Entry => (entry._tag === "File" ? fileOf(entry) : { _tag: "Tombstone" })

/**
 * Which kept versions of one path (oldest first) fall out when `now` is the time: those older
 * than `versionsMaxAge`, then the oldest beyond `versionsKept`. Returns how many to drop from the
 * front.
 *
 * @since 0.1.0
 * @category utils
 */
export const overflow = (config: ResolvedConfig, now: number, replacedAt: ReadonlyArray<number>): number => {
  let drop = 0
  while (drop < replacedAt.length && now - replacedAt[drop]! > config.versionsMaxAgeMillis) drop++
  return Math.max(drop, replacedAt.length - config.versionsKept)
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

/** @internal */
export interface AccountState {
  indexId: string
  seq: number
  readonly current: Map<string, Current>
  /** seq → path of each path's current version; insertion order is seq order. */
  readonly bySeq: Map<number, string>
  /** Kept versions per path, oldest first. */
  readonly history: Map<string, Array<Kept>>
  files: number
  bytes: number
}

/**
 * The accounts of an in-memory sync index, apart from its bounds: indexes made over one state see
 * the same accounts.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryState {
  readonly accounts: Map<string, AccountState>
}

/**
 * A new, empty state for {@link makeMemory}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemoryState = (): MemoryState => ({ accounts: new Map() })

/**
 * An in-memory sync index. Its state lives in the returned service, not in any scope: build it
 * once and hand it to every incarnation of a site to model a database that survives a crash. Each
 * write runs its checks and changes in one synchronous step, so it is atomic among fibers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (
  config: Partial<SyncIndexConfig> = {},
  state: MemoryState = makeMemoryState()
): Effect.Effect<SyncIndexService> =>
  Effect.map(resolveConfig("SyncIndex", config), (bounds) => {
    const accounts = state.accounts

    /** The account's state, made with `indexId` at its first use. */
    const account = (name: string, indexId: string | undefined): AccountState => {
      const existing = accounts.get(name)
      if (existing !== undefined) return existing
      if (indexId === undefined) throw new Error("SyncIndex: an account was used before it was made")
      const state: AccountState = {
        indexId,
        seq: 0,
        current: new Map(),
        bySeq: new Map(),
        history: new Map(),
        files: 0,
        bytes: 0
      }
      accounts.set(name, state)
      return state
    }

    /** An index id when the account is new, so that the write that makes it stays synchronous. */
    const idIfNew = (name: string): Effect.Effect<string | undefined> =>
      accounts.has(name) ? Effect.succeed(undefined) : makeIndexId

    const now = Effect.clockWith((clock) => clock.currentTimeMillis)

    /** Drops what overflows the path's history at `time`; the dropped manifests. */
    const trim = (state: AccountState, path: string, time: number): Array<string> => {
      const kept = state.history.get(path)
      if (kept === undefined) return []
      const drop = overflow(
        bounds,
        time,
        kept.map((k) => k.replacedAt)
      )
      const dropped = kept.splice(0, drop).map((k) => k.entry.manifest)
      if (kept.length === 0) state.history.delete(path)
      return dropped
    }

    /** Writes `entry` as `path`'s next version; the caller has checked the base and bounds. */
    const record = (state: AccountState, path: string, device: string, entry: Entry, time: number): Committed => {
      const previous = state.current.get(path)
      const seq = state.seq + 1
      state.seq = seq
      if (previous !== undefined) {
        state.bySeq.delete(previous.seq)
        if (previous.entry._tag === "File") {
          state.files -= 1
          state.bytes -= previous.entry.size
          const kept = state.history.get(path) ?? []
          kept.push({
            path,
            version: previous.version,
            seq: previous.seq,
            device: previous.device,
            committedAt: previous.committedAt,
            replacedAt: time,
            entry: previous.entry
          })
          state.history.set(path, kept)
        }
      }
      const version = (previous?.version ?? 0) + 1
      state.current.set(path, { path, version, seq, device, committedAt: time, entry })
      state.bySeq.set(seq, path)
      if (entry._tag === "File") {
        state.files += 1
        state.bytes += entry.size
      }
      return { seq, version, dropped: trim(state, path, time) }
    }

    const full = (name: string, state: AccountState | undefined, paths: ReadonlyArray<string>) => {
      const entries = state?.current.size ?? 0
      const added = paths.filter((p) => state?.current.has(p) !== true).length
      return entries + added > bounds.maxEntries
        ? Option.some(new SyncIndexFull({ account: name, entries, maxEntries: bounds.maxEntries }))
        : Option.none()
    }

    const head = (name: string): Effect.Effect<Head> =>
      Effect.flatMap(idIfNew(name), (indexId) =>
        Effect.sync(() => {
          const state = account(name, indexId)
          return { indexId: state.indexId, seq: state.seq }
        })
      )

    const commit = (name: string, change: Change): Effect.Effect<Committed, CommitError> =>
      Effect.gen(function* () {
        const path = yield* validatePath(bounds, change.path)
        yield* validateFields(bounds, change)
        const time = yield* now
        const indexId = yield* idIfNew(name)
        return yield* Effect.suspend((): Effect.Effect<Committed, CommitError> => {
          const existing = accounts.get(name)
          const current = existing?.current.get(path)
          const version = current?.version ?? 0
          if (change.base !== version) return Effect.fail(new VersionConflict({ path, current: version }))
          if (change.entry._tag === "Tombstone" && current?.entry._tag !== "File") {
            return Effect.fail(new NoSuchFile({ path }))
          }
          const refused = full(name, existing, [path])
          if (Option.isSome(refused)) return Effect.fail(refused.value)
          return Effect.succeed(record(account(name, indexId), path, change.device, normalizeEntry(change.entry), time))
        })
      })

    const rename = (name: string, input: Rename): Effect.Effect<Renamed, CommitError> =>
      Effect.gen(function* () {
        const from = yield* validatePath(bounds, input.from)
        const to = yield* validatePath(bounds, input.to)
        yield* validateFields(bounds, input)
        const time = yield* now
        const indexId = yield* idIfNew(name)
        return yield* Effect.suspend((): Effect.Effect<Renamed, CommitError> => {
          const existing = accounts.get(name)
          const source = existing?.current.get(from)
          const sourceVersion = source?.version ?? 0
          if (input.base !== sourceVersion)
            return Effect.fail(new VersionConflict({ path: from, current: sourceVersion }))
          if (source === undefined || source.entry._tag !== "File") return Effect.fail(new NoSuchFile({ path: from }))
          const target = existing?.current.get(to)
          if (target !== undefined && target.entry._tag === "File") {
            return Effect.fail(new VersionConflict({ path: to, current: target.version }))
          }
          const refused = full(name, existing, [to])
          if (Option.isSome(refused)) return Effect.fail(refused.value)
          const state = account(name, indexId)
          const content = source.entry
          return Effect.succeed({
            from: record(state, from, input.device, { _tag: "Tombstone" }, time),
            to: record(state, to, input.device, content, time)
          })
        })
      })

    const get = (name: string, path: string): Effect.Effect<Option.Option<Current>, InvalidPath> =>
      Effect.map(validatePath(bounds, path), (valid) => Option.fromNullable(accounts.get(name)?.current.get(valid)))

    const changesAfter = (name: string, after: number, limit: number): Effect.Effect<Page> =>
      Effect.flatMap(Effect.zipRight(requireAfter("SyncIndex.changesAfter", after), idIfNew(name)), (indexId) =>
        Effect.sync(() => {
          const state = account(name, indexId)
          const size = Math.min(Math.floor(limit), bounds.maxPage)
          const entries: Array<Current> = []
          if (size >= 1) {
            for (const [seq, path] of state.bySeq) {
              if (seq <= after) continue
              entries.push(state.current.get(path)!)
              if (entries.length >= size) break
            }
          }
          return { indexId: state.indexId, head: state.seq, entries }
        })
      )

    const versions = (name: string, path: string): Effect.Effect<ReadonlyArray<Kept>, InvalidPath> =>
      Effect.flatMap(validatePath(bounds, path), (valid) =>
        Effect.map(now, (time) => {
          const kept = accounts.get(name)?.history.get(valid) ?? []
          return kept.filter((k) => time - k.replacedAt <= bounds.versionsMaxAgeMillis).reverse()
        })
      )

    const usage = (name: string): Effect.Effect<Usage> =>
      Effect.sync(() => {
        const state = accounts.get(name)
        return { files: state?.files ?? 0, bytes: state?.bytes ?? 0 }
      })

    const resetIndex = (name: string): Effect.Effect<Head> =>
      Effect.flatMap(makeIndexId, (indexId) =>
        Effect.sync(() => {
          const state = account(name, indexId)
          state.indexId = indexId
          return { indexId, seq: state.seq }
        })
      )

    const prune: Effect.Effect<Pruned> = Effect.map(now, (time) => {
      const expired: Array<{ readonly name: string; readonly state: AccountState; readonly kept: Kept }> = []
      for (const [name, state] of accounts) {
        for (const kept of state.history.values()) {
          for (const k of kept) {
            if (time - k.replacedAt > bounds.versionsMaxAgeMillis) expired.push({ name, state, kept: k })
            else break
          }
        }
      }
      // Oldest first, as the SQLite store removes them, so a batch takes the same versions.
      expired.sort((a, b) => a.kept.replacedAt - b.kept.replacedAt)
      const batch = expired.slice(0, bounds.pruneBatch)
      for (const { kept, state } of batch) {
        const list = state.history.get(kept.path)!
        list.splice(list.indexOf(kept), 1)
        if (list.length === 0) state.history.delete(kept.path)
      }
      return {
        removed: batch.length,
        dropped: batch.map((e) => e.kept.entry.manifest),
        accounts: batch.map((e) => e.name)
      }
    })

    return { head, commit, rename, get, changesAfter, versions, usage, resetIndex, prune }
  })

/**
 * A layer with a fresh in-memory sync index. For crash simulation build the service once with
 * {@link makeMemory} and provide it with `Layer.succeed(SyncIndex, service)` to each incarnation.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (config: Partial<SyncIndexConfig> = {}): Layer.Layer<SyncIndex> =>
  Layer.effect(SyncIndex, makeMemory(config))

/**
 * The site's sync indexes in memory: one state made with the layer, so every `open` (and every
 * incarnation of a simulated site given the built layer) sees the same accounts.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemoryIndexes: Layer.Layer<SyncIndexes> = Layer.sync(SyncIndexes, () => {
  const state = makeMemoryState()
  return { open: (config) => makeMemory(config, state) }
})
