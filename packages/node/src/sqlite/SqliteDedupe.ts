/**
 * The dedupe window in the site's SQLite database. Same semantics as the kernel's in-memory window
 * (`@meridian/core/stores/Dedupe`): ids older than `maxAge` are forgotten; at the count bound the
 * oldest ids are evicted only once older than `minRetention`, else {@link DedupeFull} (busy, never
 * a double apply).
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Dedupe, DedupeConfig, DedupeFull, type DedupeService } from "@meridian/core/stores/Dedupe"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { changes, decodeRows, readCounter, requireWellFormed } from "./internal.js"

const SeenRow = Schema.Struct({ seen_at: Schema.Number })
const decodeSeen = decodeRows(SeenRow, "SqliteDedupe")

/**
 * The window over the `dedupe` table (indexed by id and by `seen_at`). `markIfNew` prunes, checks
 * and records in one transaction. Relies on a clock that does not go backwards; does not check
 * the retransmit horizon (use `Dedupe.validate` where it is known).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (config: Partial<DedupeConfig> = {}): Effect.Effect<DedupeService, never, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const full = { ...DedupeConfig, ...config }
    const maxAge = Duration.toMillis(Duration.decode(full.maxAge))
    const minRetention = Duration.toMillis(Duration.decode(full.minRetention))
    const maxEntries = full.maxEntries
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      return yield* Effect.dieMessage(`SqliteDedupe: maxEntries must be a positive integer, got ${maxEntries}`)
    }
    const sql = yield* SqlClient.SqlClient
    const now = Effect.clockWith((clock) => clock.currentTimeMillis)

    // `now - seen_at > maxAge`, written so the `seen_at` index answers it.
    const pruneAt = (at: number): Effect.Effect<number> =>
      sql`DELETE FROM dedupe WHERE seen_at < ${at - maxAge}`.raw.pipe(
        Effect.orDie,
        Effect.flatMap((raw) => changes(raw, "SqliteDedupe.prune"))
      )

    /** Records the id, or answers why it cannot: decided in the transaction, failed after it so the prune stays. */
    const record = (id: string, at: number): Effect.Effect<boolean | DedupeFull> =>
      Effect.gen(function* () {
        yield* pruneAt(at)
        if ((yield* sql`SELECT 1 AS found FROM dedupe WHERE id = ${id}`).length > 0) return false
        const { entries } = yield* readCounter(sql, "dedupe")
        if (entries >= maxEntries) {
          // Evict the oldest ids past minRetention, as many as needed to make room for one.
          yield* sql`DELETE FROM dedupe WHERE rowid IN (
            SELECT rowid FROM dedupe WHERE seen_at < ${at - minRetention}
            ORDER BY seen_at, rowid LIMIT ${entries - maxEntries + 1})`
          const left = (yield* readCounter(sql, "dedupe")).entries
          if (left >= maxEntries) {
            const oldest = yield* sql`SELECT seen_at FROM dedupe ORDER BY seen_at, rowid LIMIT 1`.pipe(
              Effect.flatMap(decodeSeen)
            )
            const seenAt = oldest[0]?.seen_at ?? at
            return new DedupeFull({ id, entries: left, maxEntries, retryAfter: seenAt + minRetention + 1 })
          }
        }
        yield* sql`INSERT INTO dedupe (id, seen_at) VALUES (${id}, ${at})`
        return true
      }).pipe(sql.withTransaction, Effect.orDie)

    const markIfNew = (id: string): Effect.Effect<boolean, DedupeFull> =>
      Effect.gen(function* () {
        yield* requireWellFormed("SqliteDedupe.markIfNew", { id })
        const outcome = yield* record(id, yield* now)
        return typeof outcome === "boolean" ? outcome : yield* outcome
      })

    const has = (id: string): Effect.Effect<boolean> =>
      Effect.gen(function* () {
        yield* requireWellFormed("SqliteDedupe.has", { id })
        const rows = yield* sql`SELECT seen_at FROM dedupe WHERE id = ${id}`.pipe(
          Effect.orDie,
          Effect.flatMap(decodeSeen)
        )
        const at = yield* now
        return rows.length > 0 && at - rows[0]!.seen_at <= maxAge
      })

    return {
      markIfNew,
      has,
      size: Effect.map(readCounter(sql, "dedupe"), ({ entries }) => entries),
      prune: Effect.flatMap(now, pruneAt)
    }
  })

/**
 * A layer with the SQLite dedupe window, over the `SqlClient` of `Database.layer`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Partial<DedupeConfig> = {}): Layer.Layer<Dedupe, never, SqlClient.SqlClient> =>
  Layer.effect(Dedupe, make(config))
