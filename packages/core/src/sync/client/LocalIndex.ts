/**
 * A device's index of one synced folder: what it last saw of each path (its stat, to notice a
 * change without reading the file; its content; the server's version and number) and where the
 * folder stands with the server (device, index id, last number seen). The engine compares a scan
 * with it, and never replaces or deletes a file that no longer matches it.
 *
 * Memory here (tests, the simulator); SQLite per folder in the node package (`SqliteLocalIndex`,
 * one file under the folder's `.meridian/`). Both pass {@link LocalIndexConformance}.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/**
 * What the device knows of one path.
 *
 * @since 0.1.0
 * @category models
 */
export interface LocalEntry {
  readonly path: string
  /** The server's current version is a tombstone (the file is gone on every device). */
  readonly deleted: boolean
  /** The stat when the entry was recorded (for a tombstone: zeros). */
  readonly size: number
  readonly mtime: number
  /** 0 when the file system gives none. */
  readonly inode: number
  /** The content's manifest digest and whole-file SHA-256 (`""` for a tombstone). */
  readonly manifest: string
  readonly sha256: string
  /** The server's version of this path the content is (0: never committed, to upload). */
  readonly version: number
  /** The account's number that version took (0: never committed). */
  readonly seq: number
  /** When the stat was recorded (epoch ms): a file modified within the racy window is hashed again. */
  readonly checkedAt: number
}

/**
 * Where the folder stands with the server.
 *
 * @since 0.1.0
 * @category models
 */
export interface FolderState {
  readonly device: string
  /** The server's index id the numbers below belong to. */
  readonly indexId: string
  /** Every change up to this number is applied. */
  readonly lastSeq: number
}

/**
 * The index holds as many paths as it may.
 *
 * @since 0.1.0
 * @category errors
 */
export class LocalIndexFull extends Data.TaggedError("LocalIndexFull")<{ readonly limit: number }> {
  override get message() {
    return `the folder's index holds ${this.limit} paths, its bound`
  }
}

/**
 * The most entries {@link LocalIndexService.bySha256} returns.
 *
 * @since 0.1.0
 * @category bounds
 */
export const MAX_SAME_CONTENT = 16

/**
 * What the folder holds by the index: its files (not tombstones) and their bytes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Totals {
  readonly files: number
  readonly bytes: number
}

/**
 * `true` when `path` is `scope` or lies below it as a directory.
 *
 * @since 0.1.0
 * @category models
 */
export const within = (path: string, scope: string): boolean =>
  path === scope || (path.length > scope.length && path.startsWith(scope) && path[scope.length] === "/")

/**
 * @since 0.1.0
 * @category models
 */
export interface LocalIndexService {
  readonly state: Effect.Effect<Option.Option<FolderState>>
  readonly setState: (state: FolderState) => Effect.Effect<void>
  readonly get: (path: string) => Effect.Effect<Option.Option<LocalEntry>>
  /** The encoded manifest of a file entry (to make deltas and reuse chunks). */
  readonly manifest: (path: string) => Effect.Effect<Option.Option<Uint8Array>>
  /** Records a path; a file entry with its encoded manifest. New paths past the bound fail. */
  readonly put: (entry: LocalEntry, manifest?: Uint8Array) => Effect.Effect<void, LocalIndexFull>
  readonly remove: (path: string) => Effect.Effect<void>
  /** Every entry, by path (no manifests: the bound on memory is the entries'). */
  readonly all: Effect.Effect<ReadonlyArray<LocalEntry>>
  /**
   * The entry at `path` and every entry below it as a directory, by path: what a scan of changed
   * paths compares with, at a cost that does not grow with the rest of the folder.
   */
  readonly under: (path: string) => Effect.Effect<ReadonlyArray<LocalEntry>>
  /** Files and bytes, kept as entries change (reading them costs nothing whatever the folder's size). */
  readonly totals: Effect.Effect<Totals>
  /** Files (not tombstones) with this content, at most {@link MAX_SAME_CONTENT}, by path. */
  readonly bySha256: (sha256: string) => Effect.Effect<ReadonlyArray<LocalEntry>>
  /**
   * The server's numbers are void (a new index id): every file's version and number become 0 (its
   * content and stat stay, to reconcile by hash), tombstones are forgotten.
   */
  readonly forgetVersions: Effect.Effect<void>
  readonly count: Effect.Effect<number>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class LocalIndex extends Context.Tag("@meridian/core/sync/client/LocalIndex")<LocalIndex, LocalIndexService>() {}

/**
 * @since 0.1.0
 * @category config
 */
export interface LocalIndexConfig {
  /** Paths the index holds at most (files and tombstones). */
  readonly maxEntries: number
}

/**
 * Default: two million paths.
 *
 * @since 0.1.0
 * @category config
 */
export const defaultConfig: LocalIndexConfig = { maxEntries: 2_000_000 }

const byPath = (a: LocalEntry, b: LocalEntry) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)

/**
 * An index in memory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (config: Partial<LocalIndexConfig> = {}): Effect.Effect<LocalIndexService> =>
  Effect.sync(() => {
    const { maxEntries } = { ...defaultConfig, ...config }
    let folder: Option.Option<FolderState> = Option.none()
    const entries = new Map<string, { entry: LocalEntry; manifest: Uint8Array | undefined }>()
    let files = 0
    let bytes = 0
    const count = (entry: LocalEntry | undefined, sign: 1 | -1) => {
      if (entry === undefined || entry.deleted) return
      files += sign
      bytes += sign * entry.size
    }
    const service: LocalIndexService = {
      state: Effect.sync(() => folder),
      setState: (state) =>
        Effect.sync(() => {
          folder = Option.some({ ...state })
        }),
      get: (path) => Effect.sync(() => Option.fromNullable(entries.get(path)?.entry)),
      manifest: (path) => Effect.sync(() => Option.fromNullable(entries.get(path)?.manifest)),
      put: (entry, manifest) =>
        Effect.suspend(() => {
          if (!entries.has(entry.path) && entries.size >= maxEntries)
            return Effect.fail(new LocalIndexFull({ limit: maxEntries }))
          count(entries.get(entry.path)?.entry, -1)
          entries.set(entry.path, { entry: { ...entry }, manifest: entry.deleted ? undefined : manifest?.slice() })
          count(entry, 1)
          return Effect.void
        }),
      remove: (path) =>
        Effect.sync(() => {
          count(entries.get(path)?.entry, -1)
          entries.delete(path)
        }),
      all: Effect.sync(() => [...entries.values()].map((e) => e.entry).sort(byPath)),
      under: (path) =>
        Effect.sync(() =>
          [...entries.values()]
            .map((e) => e.entry)
            .filter((e) => within(e.path, path))
            .sort(byPath)
        ),
      totals: Effect.sync(() => ({ files, bytes })),
      bySha256: (sha256) =>
        Effect.sync(() =>
          [...entries.values()]
            .map((e) => e.entry)
            .filter((e) => !e.deleted && e.sha256 === sha256)
            .sort(byPath)
            .slice(0, MAX_SAME_CONTENT)
        ),
      forgetVersions: Effect.sync(() => {
        for (const [path, e] of entries) {
          if (e.entry.deleted) entries.delete(path)
          else entries.set(path, { ...e, entry: { ...e.entry, version: 0, seq: 0 } })
        }
      }),
      count: Effect.sync(() => entries.size)
    }
    return service
  })

/**
 * A memory index as the layer of {@link LocalIndex}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (config: Partial<LocalIndexConfig> = {}): Layer.Layer<LocalIndex> =>
  Layer.effect(LocalIndex, makeMemory(config))
