/**
 * A site's SQLite database: one file (WAL mode) holding every kernel store, with versioned
 * migrations defined in code. The stores in this folder need only the `SqlClient` it provides, so
 * a larger deployment can swap in another `@effect/sql` driver without touching the systems.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * Where the database lives.
 *
 * @since 0.1.0
 * @category config
 */
export interface DatabaseOptions {
  /** A file path, or `":memory:"` for a private in-memory database (tests, simulator runs). */
  readonly filename: string
}

/**
 * The table the migrator records applied migrations in.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrationsTable = "meridian_migrations"

const statements = (...list: ReadonlyArray<string>): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.forEach(list, (statement) => sql.unsafe(statement), { discard: true })
  )

/**
 * The first schema: one table per store, the indexes their queries need, and a `counters` table
 * kept by triggers so that every bound is checked in O(1) instead of by counting a table.
 */
const v1 = statements(
  `CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    entries INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0
  )`,
  `INSERT INTO counters (name) VALUES ('outbox'), ('dedupe'), ('kv'), ('accounts'), ('revocations')`,

  `CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    destination TEXT NOT NULL,
    envelope TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL
  )`,
  `CREATE INDEX outbox_due ON outbox (next_attempt_at, created_at, id)`,
  `CREATE INDEX outbox_destination ON outbox (destination, next_attempt_at, created_at, id)`,
  `CREATE TRIGGER outbox_count_insert AFTER INSERT ON outbox BEGIN
    UPDATE counters SET entries = entries + 1, bytes = bytes + NEW.bytes WHERE name = 'outbox';
  END`,
  `CREATE TRIGGER outbox_count_delete AFTER DELETE ON outbox BEGIN
    UPDATE counters SET entries = entries - 1, bytes = bytes - OLD.bytes WHERE name = 'outbox';
  END`,

  `CREATE TABLE dedupe (
    id TEXT NOT NULL UNIQUE,
    seen_at INTEGER NOT NULL
  )`,
  `CREATE INDEX dedupe_seen_at ON dedupe (seen_at)`,
  `CREATE TRIGGER dedupe_count_insert AFTER INSERT ON dedupe BEGIN
    UPDATE counters SET entries = entries + 1 WHERE name = 'dedupe';
  END`,
  `CREATE TRIGGER dedupe_count_delete AFTER DELETE ON dedupe BEGIN
    UPDATE counters SET entries = entries - 1 WHERE name = 'dedupe';
  END`,

  `CREATE TABLE kv (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
  ) WITHOUT ROWID`,
  `CREATE TRIGGER kv_count_insert AFTER INSERT ON kv BEGIN
    UPDATE counters SET entries = entries + 1 WHERE name = 'kv';
  END`,
  `CREATE TRIGGER kv_count_delete AFTER DELETE ON kv BEGIN
    UPDATE counters SET entries = entries - 1 WHERE name = 'kv';
  END`,

  `CREATE TABLE accounts (
    name TEXT PRIMARY KEY NOT NULL,
    home_region TEXT NOT NULL,
    roles TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID`,
  `CREATE TRIGGER accounts_count_insert AFTER INSERT ON accounts BEGIN
    UPDATE counters SET entries = entries + 1 WHERE name = 'accounts';
  END`,
  `CREATE TRIGGER accounts_count_delete AFTER DELETE ON accounts BEGIN
    UPDATE counters SET entries = entries - 1 WHERE name = 'accounts';
  END`,

  `CREATE TABLE revocations (
    token_id TEXT PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID`,
  `CREATE INDEX revocations_expires_at ON revocations (expires_at)`,
  `CREATE TRIGGER revocations_count_insert AFTER INSERT ON revocations BEGIN
    UPDATE counters SET entries = entries + 1 WHERE name = 'revocations';
  END`,
  `CREATE TRIGGER revocations_count_delete AFTER DELETE ON revocations BEGIN
    UPDATE counters SET entries = entries - 1 WHERE name = 'revocations';
  END`
)

/**
 * The migrations, by `<id>_<name>`. Append a new entry for every schema change; never edit one
 * that has shipped (the migrator runs each id once per database, in id order).
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations: Record<string, Effect.Effect<void, SqlError, SqlClient.SqlClient>> = {
  "1_stores": v1
}

/**
 * Applies the migrations not yet applied, in one transaction; returns the ones it ran.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> = Migrator.make({})({ loader: Migrator.fromRecord(migrations), table: migrationsTable })

/**
 * Opens (or creates) the database, turns WAL on for a file, and brings the schema up to date.
 * A database that cannot be opened or migrated is a defect: the site cannot run without it.
 * The connection closes when the layer's scope does.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: DatabaseOptions): Layer.Layer<SqlClient.SqlClient | SqliteClient.SqliteClient> => {
  const memory = options.filename === ":memory:"
  return Layer.effectDiscard(
    Effect.orDieWith(
      migrate,
      (error) => new Error(`SQLite database ${options.filename}: migration failed: ${error.message}`, { cause: error })
    )
  ).pipe(Layer.provideMerge(SqliteClient.layer({ filename: options.filename, disableWAL: memory })), Layer.orDie)
}
