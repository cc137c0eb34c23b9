/**
 * Helpers shared by the SQLite stores: row decoding, counters, SQL errors as defects.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * Decodes rows read back from the database. A row that does not decode means the database was
 * written by something else (or corrupted): a defect with the store, the reason and the schema's
 * explanation, never a silent drop.
 *
 * @since 0.1.0
 * @category internal
 */
export const decodeRows =
  <A, I>(schema: Schema.Schema<A, I>, what: string) =>
  (rows: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<A>> =>
    Effect.catchAll(Schema.decodeUnknown(Schema.Array(schema))(rows), (error) =>
      Effect.dieMessage(`${what}: a stored row does not decode: ${ParseResult.TreeFormatter.formatErrorSync(error)}`)
    )

const Counter = Schema.Struct({ entries: Schema.Number, bytes: Schema.Number })

/**
 * The names of the counter rows kept by triggers (see the migrations in `Database.ts`), so that
 * bounds are checked without counting a table.
 *
 * @since 0.1.0
 * @category internal
 */
export type CounterName = "outbox" | "dedupe" | "kv" | "accounts" | "revocations"

/**
 * Reads one counter row: the entries (and bytes, for the outbox) a table holds.
 *
 * @since 0.1.0
 * @category internal
 */
export const readCounter = (
  sql: SqlClient.SqlClient,
  name: CounterName
): Effect.Effect<{ readonly entries: number; readonly bytes: number }> =>
  sql`SELECT entries, bytes FROM counters WHERE name = ${name}`.pipe(
    Effect.orDie,
    Effect.flatMap(decodeRows(Counter, `counters(${name})`)),
    Effect.flatMap((rows) =>
      rows.length === 1
        ? Effect.succeed(rows[0]!)
        : Effect.dieMessage(`counters: no row for ${name} (migration missing?)`)
    )
  )

const Changes = Schema.Struct({ changes: Schema.Number })

/**
 * How many rows a write statement changed (the `changes` of better-sqlite3's run result).
 *
 * @since 0.1.0
 * @category internal
 */
export const changes = (raw: unknown, what: string): Effect.Effect<number> =>
  Effect.catchAll(Schema.decodeUnknown(Changes)(raw), () =>
    Effect.dieMessage(`${what}: the driver returned no change count`)
  ).pipe(Effect.map((result) => result.changes))

/**
 * Whether a string is well-formed UTF-16 (no lone surrogate). SQLite stores UTF-8, and the driver
 * replaces a lone surrogate with U+FFFD, so two different ids could collide: such text is refused.
 *
 * @since 0.1.0
 * @category internal
 */
export const isWellFormed = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c < 0xdc00) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (next < 0xdc00 || next >= 0xe000) return false
      i++
    } else if (c >= 0xdc00 && c < 0xe000) return false
  }
  return true
}

/**
 * Dies with a clear message when a text argument is not well-formed UTF-16 (see {@link isWellFormed}).
 *
 * @since 0.1.0
 * @category internal
 */
export const requireWellFormed = (what: string, fields: Record<string, string>): Effect.Effect<void> => {
  for (const name in fields) {
    if (!isWellFormed(fields[name]!)) {
      return Effect.dieMessage(`${what}: ${name} contains a lone surrogate and cannot be stored as UTF-8 text`)
    }
  }
  return Effect.void
}

/**
 * Code-unit order, as the in-memory stores sort (SQLite's BINARY collation orders UTF-8 bytes,
 * which differs for characters above U+FFFF against U+E000–U+FFFF).
 *
 * @since 0.1.0
 * @category internal
 */
export const compareCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
