/**
 * Folder sync's server index in the site's SQLite database. Same semantics as the in-memory index
 * (`@meridian/core/stores/SyncIndex`): each write checks the path's current version and the
 * account's bounds and records the new version with the account's next number in one transaction,
 * so a refused commit changes nothing and two commits on one base cannot both win.
 *
 * Its tables have their own migrations (recorded in {@link migrationsTable}), run when the store is
 * made, so the index can be added to a site's database without touching the kernel's schema.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import {
  type Change,
  type CommitError,
  type Committed,
  type Current,
  type Entry,
  type FileEntry,
  type Head,
  type InvalidPath,
  type Kept,
  makeIndexId,
  NoSuchFile,
  normalizeEntry,
  overflow,
  type Page,
  type Pruned,
  type Rename,
  type Renamed,
  resolveConfig,
  SyncIndex,
  SyncIndexes,
  type SyncIndexConfig,
  requireAfter,
  SyncIndexFull,
  type SyncIndexService,
  type Usage,
  validateFields,
  validatePath,
  VersionConflict
} from "@meridian/core/stores/SyncIndex"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { decodeRows, requireWellFormed } from "./internal.js"

const statements = (...list: ReadonlyArray<string>): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.forEach(list, (statement) => sql.unsafe(statement), { discard: true })
  )

/**
 * The first schema. Per account its numbering and usage counters (kept by the writes, so bounds
 * and quotas are read in O(1)); per path its current version, with `(account, seq)` indexed for
 * the catch-up; the kept versions by `(account, path, version)`, and by age for pruning.
 */
const v1 = statements(
  `CREATE TABLE sync_accounts (
    account TEXT PRIMARY KEY NOT NULL,
    index_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    entries INTEGER NOT NULL DEFAULT 0,
    files INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID`,
  `CREATE TABLE sync_current (
    account TEXT NOT NULL,
    path TEXT NOT NULL,
    version INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    device TEXT NOT NULL,
    committed_at INTEGER NOT NULL,
    manifest TEXT,
    size INTEGER,
    sha256 TEXT,
    mtime INTEGER,
    PRIMARY KEY (account, path)
  ) WITHOUT ROWID`,
  `CREATE UNIQUE INDEX sync_current_seq ON sync_current (account, seq)`,
  `CREATE TABLE sync_history (
    account TEXT NOT NULL,
    path TEXT NOT NULL,
    version INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    device TEXT NOT NULL,
    committed_at INTEGER NOT NULL,
    replaced_at INTEGER NOT NULL,
    manifest TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    mtime INTEGER NOT NULL,
    PRIMARY KEY (account, path, version)
  ) WITHOUT ROWID`,
  `CREATE INDEX sync_history_replaced_at ON sync_history (replaced_at)`
)

/**
 * The table the index's migrations are recorded in.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrationsTable = "meridian_sync_index_migrations"

/**
 * The index's migrations, by `<id>_<name>`. Append for every schema change; never edit one that
 * has shipped.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations: Record<string, Effect.Effect<void, SqlError, SqlClient.SqlClient>> = {
  "1_sync_index": v1
}

/**
 * Applies the index's migrations not yet applied; returns the ones it ran.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> = Migrator.make({})({ loader: Migrator.fromRecord(migrations), table: migrationsTable })

const AccountRow = Schema.Struct({
  index_id: Schema.String,
  seq: Schema.Number,
  entries: Schema.Number,
  files: Schema.Number,
  bytes: Schema.Number
})

const CurrentRow = Schema.Struct({
  path: Schema.String,
  version: Schema.Number,
  seq: Schema.Number,
  device: Schema.String,
  committed_at: Schema.Number,
  manifest: Schema.NullOr(Schema.String),
  size: Schema.NullOr(Schema.Number),
  sha256: Schema.NullOr(Schema.String),
  mtime: Schema.NullOr(Schema.Number)
})

const KeptRow = Schema.Struct({
  path: Schema.String,
  version: Schema.Number,
  seq: Schema.Number,
  device: Schema.String,
  committed_at: Schema.Number,
  replaced_at: Schema.Number,
  manifest: Schema.String,
  size: Schema.Number,
  sha256: Schema.String,
  mtime: Schema.Number
})

const PrunedRow = Schema.Struct({
  account: Schema.String,
  path: Schema.String,
  version: Schema.Number,
  manifest: Schema.String
})

const decodeAccounts = decodeRows(AccountRow, "SqliteSyncIndex(sync_accounts)")
const decodeCurrent = decodeRows(CurrentRow, "SqliteSyncIndex(sync_current)")
const decodeKept = decodeRows(KeptRow, "SqliteSyncIndex(sync_history)")
const decodePruned = decodeRows(PrunedRow, "SqliteSyncIndex(sync_history)")

/** A current row's entry: a file has all four content columns, a tombstone none. */
const entryOf = (row: typeof CurrentRow.Type): Entry =>
  row.manifest !== null && row.size !== null && row.sha256 !== null && row.mtime !== null
    ? { _tag: "File", manifest: row.manifest, size: row.size, sha256: row.sha256, mtime: row.mtime }
    : { _tag: "Tombstone" }

const toCurrent = (row: typeof CurrentRow.Type): Current => ({
  path: row.path,
  version: row.version,
  seq: row.seq,
  device: row.device,
  committedAt: row.committed_at,
  entry: entryOf(row)
})

const toKept = (row: typeof KeptRow.Type): Kept => ({
  path: row.path,
  version: row.version,
  seq: row.seq,
  device: row.device,
  committedAt: row.committed_at,
  replacedAt: row.replaced_at,
  entry: { _tag: "File", manifest: row.manifest, size: row.size, sha256: row.sha256, mtime: row.mtime }
})

const fileColumns = (entry: Entry) =>
  entry._tag === "File"
    ? { manifest: entry.manifest, size: entry.size, sha256: entry.sha256, mtime: entry.mtime }
    : { manifest: null, size: null, sha256: null, mtime: null }

/**
 * The sync index over its tables in the `SqlClient`'s database (migrated here if needed). A
 * database that cannot be migrated is a defect, as for the kernel's stores.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: Partial<SyncIndexConfig> = {}
): Effect.Effect<SyncIndexService, never, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const bounds = yield* resolveConfig("SqliteSyncIndex", config)
    yield* Effect.orDieWith(
      migrate,
      (error) => new Error(`SqliteSyncIndex: migration failed: ${error.message}`, { cause: error })
    )
    const sql = yield* SqlClient.SqlClient
    const currentColumns = sql.literal("path, version, seq, device, committed_at, manifest, size, sha256, mtime")
    const keptColumns = sql.literal(
      "path, version, seq, device, committed_at, replaced_at, manifest, size, sha256, mtime"
    )
    const now = Effect.clockWith((clock) => clock.currentTimeMillis)

    const readAccount = (account: string) =>
      sql`SELECT index_id, seq, entries, files, bytes FROM sync_accounts WHERE account = ${account}`.pipe(
        Effect.orDie,
        Effect.flatMap(decodeAccounts),
        Effect.map((rows) => Option.fromNullable(rows[0]))
      )

    /** The account's row, made with a new index id at its first use. Inside a transaction. */
    const ensureAccount = (account: string) =>
      Effect.gen(function* () {
        yield* requireWellFormed("SqliteSyncIndex", { account })
        const found = yield* readAccount(account)
        if (Option.isSome(found)) return found.value
        const indexId = yield* makeIndexId
        yield* Effect.orDie(sql`INSERT INTO sync_accounts ${sql.insert({ account, index_id: indexId, seq: 0 })}`)
        return { index_id: indexId, seq: 0, entries: 0, files: 0, bytes: 0 }
      })

    const readCurrent = (account: string, path: string) =>
      sql`SELECT ${currentColumns} FROM sync_current WHERE account = ${account} AND path = ${path}`.pipe(
        Effect.orDie,
        Effect.flatMap(decodeCurrent),
        Effect.map((rows) => Option.fromNullable(rows[0]))
      )

    /** Drops what overflows `path`'s history at `time`; the dropped manifests. */
    const trim = (account: string, path: string, time: number) =>
      Effect.gen(function* () {
        const kept = yield* sql`SELECT version, replaced_at FROM sync_history
          WHERE account = ${account} AND path = ${path} ORDER BY version`.pipe(
          Effect.orDie,
          Effect.flatMap(
            decodeRows(
              Schema.Struct({ version: Schema.Number, replaced_at: Schema.Number }),
              "SqliteSyncIndex(sync_history)"
            )
          )
        )
        const drop = overflow(
          bounds,
          time,
          kept.map((k) => k.replaced_at)
        )
        if (drop === 0) return []
        const through = kept[drop - 1]!.version
        const removed = yield* sql`DELETE FROM sync_history
          WHERE account = ${account} AND path = ${path} AND version <= ${through}
          RETURNING manifest, version`.pipe(
          Effect.orDie,
          Effect.flatMap(
            decodeRows(
              Schema.Struct({ manifest: Schema.String, version: Schema.Number }),
              "SqliteSyncIndex(sync_history)"
            )
          )
        )
        return [...removed].sort((a, b) => a.version - b.version).map((r) => r.manifest)
      })

    /**
     * Writes `entry` as `path`'s next version with the account's next number; the caller has
     * checked the base and the bounds. Inside a transaction.
     */
    const record = (account: string, path: string, device: string, entry: Entry, time: number) =>
      Effect.gen(function* () {
        const previous = yield* readCurrent(account, path)
        const state = yield* readAccount(account).pipe(
          Effect.flatMap(
            Option.match({
              onNone: () => Effect.dieMessage("SqliteSyncIndex: account row missing"),
              onSome: Effect.succeed
            })
          )
        )
        const seq = state.seq + 1
        let entries = state.entries
        let files = state.files
        let bytes = state.bytes
        if (Option.isSome(previous)) {
          const old = entryOf(previous.value)
          if (old._tag === "File") {
            files -= 1
            bytes -= old.size
            yield* Effect.orDie(
              sql`INSERT INTO sync_history ${sql.insert({
                account,
                path,
                version: previous.value.version,
                seq: previous.value.seq,
                device: previous.value.device,
                committed_at: previous.value.committed_at,
                replaced_at: time,
                ...fileColumns(old)
              })}`
            )
          }
          yield* Effect.orDie(sql`DELETE FROM sync_current WHERE account = ${account} AND path = ${path}`)
        } else entries += 1
        const version = Option.match(previous, { onNone: () => 0, onSome: (p) => p.version }) + 1
        yield* Effect.orDie(
          sql`INSERT INTO sync_current ${sql.insert({
            account,
            path,
            version,
            seq,
            device,
            committed_at: time,
            ...fileColumns(entry)
          })}`
        )
        if (entry._tag === "File") {
          files += 1
          bytes += entry.size
        }
        yield* Effect.orDie(
          sql`UPDATE sync_accounts SET seq = ${seq}, entries = ${entries}, files = ${files}, bytes = ${bytes}
              WHERE account = ${account}`
        )
        const dropped = yield* trim(account, path, time)
        return { seq, version, dropped } satisfies Committed
      })

    /** `effect` in one transaction; SQL errors are defects, typed refusals roll back. */
    const transaction = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      sql.withTransaction(effect).pipe(Effect.catchTag("SqlError", Effect.die))

    const refuseIfFull = (account: string, entries: number, adding: boolean) =>
      adding && entries + 1 > bounds.maxEntries
        ? Effect.fail(new SyncIndexFull({ account, entries, maxEntries: bounds.maxEntries }))
        : Effect.void

    /** The path's current row, when `base` is its current version (0: none); else a conflict. */
    const currentAt = (account: string, path: string, base: number) =>
      Effect.flatMap(readCurrent(account, path), (current) => {
        const version = Option.match(current, { onNone: () => 0, onSome: (c) => c.version })
        return base === version ? Effect.succeed(current) : Effect.fail(new VersionConflict({ path, current: version }))
      })

    const head = (account: string): Effect.Effect<Head> =>
      transaction(Effect.map(ensureAccount(account), (row) => ({ indexId: row.index_id, seq: row.seq })))

    const commit = (account: string, change: Change): Effect.Effect<Committed, CommitError> =>
      Effect.gen(function* () {
        const path = yield* validatePath(bounds, change.path)
        yield* validateFields(bounds, change)
        yield* requireWellFormed("SqliteSyncIndex.commit", { account })
        const time = yield* now
        return yield* transaction(
          Effect.gen(function* () {
            const current = yield* currentAt(account, path, change.base)
            const isFile = Option.exists(current, (c) => entryOf(c)._tag === "File")
            if (change.entry._tag === "Tombstone" && !isFile) return yield* new NoSuchFile({ path })
            const state = yield* ensureAccount(account)
            yield* refuseIfFull(account, state.entries, Option.isNone(current))
            return yield* record(account, path, change.device, normalizeEntry(change.entry), time)
          })
        )
      })

    const rename = (account: string, input: Rename): Effect.Effect<Renamed, CommitError> =>
      Effect.gen(function* () {
        const from = yield* validatePath(bounds, input.from)
        const to = yield* validatePath(bounds, input.to)
        yield* validateFields(bounds, input)
        yield* requireWellFormed("SqliteSyncIndex.rename", { account })
        const time = yield* now
        return yield* transaction(
          Effect.gen(function* () {
            const source = yield* currentAt(account, from, input.base)
            const content = Option.map(source, entryOf)
            if (Option.isNone(content) || content.value._tag !== "File") return yield* new NoSuchFile({ path: from })
            const target = yield* readCurrent(account, to)
            if (Option.isSome(target) && entryOf(target.value)._tag === "File") {
              return yield* new VersionConflict({ path: to, current: target.value.version })
            }
            const state = yield* ensureAccount(account)
            yield* refuseIfFull(account, state.entries, Option.isNone(target))
            const file: FileEntry = content.value
            const removed = yield* record(account, from, input.device, { _tag: "Tombstone" }, time)
            const added = yield* record(account, to, input.device, file, time)
            return { from: removed, to: added }
          })
        )
      })

    const get = (account: string, path: string): Effect.Effect<Option.Option<Current>, InvalidPath> =>
      Effect.flatMap(validatePath(bounds, path), (valid) =>
        Effect.zipRight(
          requireWellFormed("SqliteSyncIndex.get", { account }),
          Effect.map(readCurrent(account, valid), Option.map(toCurrent))
        )
      )

    const changesAfter = (account: string, after: number, limit: number): Effect.Effect<Page> =>
      transaction(
        Effect.gen(function* () {
          yield* requireAfter("SqliteSyncIndex.changesAfter", after)
          const state = yield* ensureAccount(account)
          const size = Math.min(Math.floor(limit), bounds.maxPage)
          const entries =
            size >= 1
              ? yield* sql`SELECT ${currentColumns} FROM sync_current
                  WHERE account = ${account} AND seq > ${after} ORDER BY seq LIMIT ${size}`.pipe(
                  Effect.orDie,
                  Effect.flatMap(decodeCurrent),
                  Effect.map((rows) => rows.map(toCurrent))
                )
              : []
          return { indexId: state.index_id, head: state.seq, entries }
        })
      )

    const versions = (account: string, path: string): Effect.Effect<ReadonlyArray<Kept>, InvalidPath> =>
      Effect.gen(function* () {
        const valid = yield* validatePath(bounds, path)
        yield* requireWellFormed("SqliteSyncIndex.versions", { account })
        const time = yield* now
        const oldest = time - bounds.versionsMaxAgeMillis
        return yield* sql`SELECT ${keptColumns} FROM sync_history
          WHERE account = ${account} AND path = ${valid} AND replaced_at >= ${oldest}
          ORDER BY version DESC`.pipe(
          Effect.orDie,
          Effect.flatMap(decodeKept),
          Effect.map((rows) => rows.map(toKept))
        )
      })

    const usage = (account: string): Effect.Effect<Usage> =>
      Effect.zipRight(
        requireWellFormed("SqliteSyncIndex.usage", { account }),
        Effect.map(readAccount(account), (row) =>
          Option.match(row, {
            onNone: () => ({ files: 0, bytes: 0 }),
            onSome: (r) => ({ files: r.files, bytes: r.bytes })
          })
        )
      )

    const resetIndex = (account: string): Effect.Effect<Head> =>
      transaction(
        Effect.gen(function* () {
          const state = yield* ensureAccount(account)
          const indexId = yield* makeIndexId
          yield* Effect.orDie(sql`UPDATE sync_accounts SET index_id = ${indexId} WHERE account = ${account}`)
          return { indexId, seq: state.seq }
        })
      )

    const prune: Effect.Effect<Pruned> = Effect.flatMap(now, (time) =>
      transaction(
        Effect.gen(function* () {
          const oldest = time - bounds.versionsMaxAgeMillis
          const expired = yield* sql`SELECT account, path, version, manifest FROM sync_history
            WHERE replaced_at < ${oldest} ORDER BY replaced_at LIMIT ${bounds.pruneBatch}`.pipe(
            Effect.orDie,
            Effect.flatMap(decodePruned)
          )
          for (const row of expired) {
            yield* Effect.orDie(
              sql`DELETE FROM sync_history
                  WHERE account = ${row.account} AND path = ${row.path} AND version = ${row.version}`
            )
          }
          return {
            removed: expired.length,
            dropped: expired.map((row) => row.manifest),
            accounts: expired.map((row) => row.account)
          }
        })
      )
    )

    return { head, commit, rename, get, changesAfter, versions, usage, resetIndex, prune }
  })

/**
 * A layer with the SQLite sync index, over the `SqlClient` of `Database.layer`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Partial<SyncIndexConfig> = {}): Layer.Layer<SyncIndex, never, SqlClient.SqlClient> =>
  Layer.effect(SyncIndex, make(config))

/**
 * The site's sync indexes over the `SqlClient`'s database: each `open` is an index with its own
 * bounds over the same tables.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerIndexes: Layer.Layer<SyncIndexes, never, SqlClient.SqlClient> = Layer.effect(
  SyncIndexes,
  Effect.map(SqlClient.SqlClient, (sql) => ({
    open: (config: Partial<SyncIndexConfig>) => Effect.provideService(make(config), SqlClient.SqlClient, sql)
  }))
)
