/**
 * A synced folder's device index (`@meridian/core/sync/client/LocalIndex`) in SQLite: one database
 * file per folder, under the folder's `.meridian/` directory, with its own migrations. Same
 * behaviour as the memory index (the cases of `LocalIndexConformance` run over both). SQL failures
 * are defects: the folder's supervisor restarts the engine, which reloads from the file.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import {
  defaultConfig,
  type FolderState,
  type LocalEntry,
  LocalIndex,
  type LocalIndexConfig,
  LocalIndexFull,
  type LocalIndexService,
  MAX_SAME_CONTENT
} from "@meridian/core/sync/client/LocalIndex"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { decodeRows } from "./internal.js"

const statements = (...list: ReadonlyArray<string>): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.forEach(list, (statement) => sql.unsafe(statement), { discard: true })
  )

/** The first schema: the folder's one state row, its entries by path, indexed by content. */
const v1 = statements(
  `CREATE TABLE folder (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    device TEXT NOT NULL,
    index_id TEXT NOT NULL,
    last_seq INTEGER NOT NULL
  )`,
  `CREATE TABLE entries (
    path TEXT PRIMARY KEY NOT NULL,
    deleted INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    manifest TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    version INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    checked_at INTEGER NOT NULL,
    manifest_bytes BLOB
  ) WITHOUT ROWID`,
  `CREATE INDEX entries_sha256 ON entries (sha256) WHERE deleted = 0`
)

/**
 * The table the index's migrations are recorded in.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrationsTable = "meridian_local_index_migrations"

/**
 * The index's migrations, by `<id>_<name>`. Append for every schema change; never edit one that
 * has shipped.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations: Record<string, Effect.Effect<void, SqlError, SqlClient.SqlClient>> = {
  "1_local_index": v1
}

const migrate = Migrator.make({})({ loader: Migrator.fromRecord(migrations), table: migrationsTable })

const FolderRow = Schema.Struct({ device: Schema.String, index_id: Schema.String, last_seq: Schema.Number })
const EntryRow = Schema.Struct({
  path: Schema.String,
  deleted: Schema.Number,
  size: Schema.Number,
  mtime: Schema.Number,
  inode: Schema.Number,
  manifest: Schema.String,
  sha256: Schema.String,
  version: Schema.Number,
  seq: Schema.Number,
  checked_at: Schema.Number
})
const ManifestRow = Schema.Struct({ manifest_bytes: Schema.NullOr(Schema.Uint8ArrayFromSelf) })
const OldRow = Schema.Struct({ deleted: Schema.Number, size: Schema.Number })
const CountsRow = Schema.Struct({ entries: Schema.Number, files: Schema.Number, bytes: Schema.Number })

const toEntry = (r: typeof EntryRow.Type): LocalEntry => ({
  path: r.path,
  deleted: r.deleted !== 0,
  size: r.size,
  mtime: r.mtime,
  inode: r.inode,
  manifest: r.manifest,
  sha256: r.sha256,
  version: r.version,
  seq: r.seq,
  checkedAt: r.checked_at
})

const COLUMNS = "path, deleted, size, mtime, inode, manifest, sha256, version, seq, checked_at"

/**
 * The index over the `SqlClient` in context (its migrations run first).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: Partial<LocalIndexConfig> = {}
): Effect.Effect<LocalIndexService, never, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const { maxEntries } = { ...defaultConfig, ...config }
    yield* Effect.orDie(migrate)
    const entries = decodeRows(EntryRow, "local index entries")
    const old = decodeRows(OldRow, "local index entry")
    // The counts are read once and kept as entries change (the daemon holds the file alone, by its
    // lock): a put costs no count of the table, the status's totals no scan of it.
    const counting = sql`SELECT count(*) AS entries, count(*) FILTER (WHERE deleted = 0) AS files,
        coalesce(sum(size) FILTER (WHERE deleted = 0), 0) AS bytes FROM entries`.pipe(
      Effect.flatMap(decodeRows(CountsRow, "local index counts")),
      Effect.map((rows) => rows[0] ?? { entries: 0, files: 0, bytes: 0 }),
      Effect.orDie
    )
    let counts = yield* counting
    const service: LocalIndexService = {
      state: sql`SELECT device, index_id, last_seq FROM folder WHERE id = 1`.pipe(
        Effect.flatMap(decodeRows(FolderRow, "local index folder")),
        Effect.map((rows) =>
          Option.map(
            Option.fromNullable(rows[0]),
            (r): FolderState => ({ device: r.device, indexId: r.index_id, lastSeq: r.last_seq })
          )
        ),
        Effect.orDie
      ),
      setState: (s) =>
        Effect.orDie(
          sql`INSERT INTO folder (id, device, index_id, last_seq) VALUES (1, ${s.device}, ${s.indexId}, ${s.lastSeq})
              ON CONFLICT (id) DO UPDATE SET device = excluded.device, index_id = excluded.index_id,
              last_seq = excluded.last_seq`
        ).pipe(Effect.asVoid),
      get: (path) =>
        sql.unsafe(`SELECT ${COLUMNS} FROM entries WHERE path = ?`, [path]).pipe(
          Effect.flatMap(entries),
          Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toEntry)),
          Effect.orDie
        ),
      manifest: (path) =>
        sql`SELECT manifest_bytes FROM entries WHERE path = ${path}`.pipe(
          Effect.flatMap(decodeRows(ManifestRow, "local index manifest")),
          Effect.map((rows) => Option.fromNullable(rows[0]?.manifest_bytes ?? undefined)),
          Effect.orDie
        ),
      put: (e, manifest) =>
        sql
          .withTransaction(
            Effect.gen(function* () {
              const [before] = yield* Effect.flatMap(sql`SELECT deleted, size FROM entries WHERE path = ${e.path}`, old)
              if (before === undefined && counts.entries >= maxEntries)
                return yield* Effect.fail(new LocalIndexFull({ limit: maxEntries }))
              const bytes = e.deleted || manifest === undefined ? null : manifest
              yield* sql`INSERT OR REPLACE INTO entries (${sql.unsafe(COLUMNS)}, manifest_bytes) VALUES (
                ${e.path}, ${e.deleted ? 1 : 0}, ${e.size}, ${e.mtime}, ${e.inode}, ${e.manifest}, ${e.sha256},
                ${e.version}, ${e.seq}, ${e.checkedAt}, ${bytes})`
              const was =
                before === undefined || before.deleted !== 0 ? { files: 0, bytes: 0 } : { files: 1, bytes: before.size }
              const now = e.deleted ? { files: 0, bytes: 0 } : { files: 1, bytes: e.size }
              counts = {
                entries: counts.entries + (before === undefined ? 1 : 0),
                files: counts.files - was.files + now.files,
                bytes: counts.bytes - was.bytes + now.bytes
              }
            })
          )
          .pipe(Effect.catchTag("SqlError", Effect.die)),
      remove: (path) =>
        sql
          .withTransaction(
            Effect.gen(function* () {
              const [before] = yield* Effect.flatMap(sql`SELECT deleted, size FROM entries WHERE path = ${path}`, old)
              if (before === undefined) return
              yield* sql`DELETE FROM entries WHERE path = ${path}`
              const live = before.deleted === 0
              counts = {
                entries: counts.entries - 1,
                files: counts.files - (live ? 1 : 0),
                bytes: counts.bytes - (live ? before.size : 0)
              }
            })
          )
          .pipe(Effect.orDie),
      under: (path) =>
        // Below `path` as a directory: the range from "path/" up to "path0" ("0" follows "/").
        sql
          .unsafe(`SELECT ${COLUMNS} FROM entries WHERE path = ? OR (path >= ? AND path < ?) ORDER BY path`, [
            path,
            `${path}/`,
            `${path}0`
          ])
          .pipe(
            Effect.flatMap(entries),
            Effect.map((rows) => rows.map(toEntry)),
            Effect.orDie
          ),
      totals: Effect.sync(() => ({ files: counts.files, bytes: counts.bytes })),
      all: sql.unsafe(`SELECT ${COLUMNS} FROM entries ORDER BY path`).pipe(
        Effect.flatMap(entries),
        Effect.map((rows) => rows.map(toEntry)),
        Effect.orDie
      ),
      bySha256: (sha256) =>
        sql
          .unsafe(`SELECT ${COLUMNS} FROM entries WHERE sha256 = ? AND deleted = 0 ORDER BY path LIMIT ?`, [
            sha256,
            MAX_SAME_CONTENT
          ])
          .pipe(
            Effect.flatMap(entries),
            Effect.map((rows) => rows.map(toEntry)),
            Effect.orDie
          ),
      forgetVersions: sql
        .withTransaction(
          Effect.zipRight(sql`DELETE FROM entries WHERE deleted = 1`, sql`UPDATE entries SET version = 0, seq = 0`)
        )
        .pipe(
          Effect.orDie,
          Effect.zipRight(counting),
          Effect.map((fresh) => {
            counts = fresh
          })
        ),
      count: Effect.sync(() => counts.entries)
    }
    return service
  })

/**
 * The index of the folder at `root`: its own SQLite file `root/.meridian/index.db` (the directory
 * must exist), opened for the layer's lifetime.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: { readonly filename: string; readonly config?: Partial<LocalIndexConfig> }) =>
  Layer.effect(LocalIndex, make(options.config ?? {})).pipe(
    Layer.provide(SqliteClient.layer({ filename: options.filename })),
    Layer.orDie
  )
