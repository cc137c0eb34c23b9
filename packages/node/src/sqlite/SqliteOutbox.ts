/**
 * The durable outbox in the site's SQLite database. Same semantics as the kernel's in-memory
 * outbox (`@meridian/core/stores/Outbox`): idempotent `append`, bounded by entries and bytes, and
 * a full outbox answers {@link OutboxFull} without writing — nothing already accepted is lost.
 * Envelopes are stored as JSON text.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import {
  type AppendInput,
  Outbox,
  OutboxConfig,
  type OutboxEntry,
  OutboxFull,
  type OutboxService
} from "@meridian/core/stores/Outbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { changes, decodeRows, readCounter, requireWellFormed } from "./internal.js"

const OutboxRow = Schema.Struct({
  id: Schema.String,
  destination: Schema.String,
  envelope: Schema.parseJson(),
  bytes: Schema.Number,
  created_at: Schema.Number,
  attempts: Schema.Number,
  next_attempt_at: Schema.Number
})

const toEntry = (row: typeof OutboxRow.Type): OutboxEntry => ({
  id: row.id,
  destination: row.destination,
  envelope: row.envelope,
  bytes: row.bytes,
  createdAt: row.created_at,
  attempts: row.attempts,
  nextAttemptAt: row.next_attempt_at
})

const decodeEntries = decodeRows(OutboxRow, "SqliteOutbox")

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

/**
 * The outbox over the `outbox` table (see `Database.ts`). Bounds are checked and the row written
 * in one transaction, so two appends racing for the last slot cannot both win.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (config: Partial<OutboxConfig> = {}): Effect.Effect<OutboxService, never, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const { maxBytes, maxEntries } = { ...OutboxConfig, ...config }
    if (!isCount(maxEntries) || maxEntries < 1 || !isCount(maxBytes) || maxBytes < 1) {
      return yield* Effect.dieMessage(`SqliteOutbox: maxEntries and maxBytes must be positive integers`)
    }
    const sql = yield* SqlClient.SqlClient
    const columns = sql.literal("id, destination, envelope, bytes, created_at, attempts, next_attempt_at")

    const append = (input: AppendInput): Effect.Effect<void, OutboxFull> =>
      Effect.gen(function* () {
        yield* requireWellFormed("SqliteOutbox.append", { id: input.id, destination: input.destination })
        const existing = yield* sql`SELECT 1 AS found FROM outbox WHERE id = ${input.id}`
        if (existing.length > 0) return
        if (!isCount(input.bytes)) {
          return yield* Effect.dieMessage(
            `SqliteOutbox.append: bytes must be a non-negative integer, got ${input.bytes}`
          )
        }
        const occupancy = yield* readCounter(sql, "outbox")
        const bound =
          occupancy.entries + 1 > maxEntries
            ? "entries"
            : occupancy.bytes + input.bytes > maxBytes
              ? "bytes"
              : undefined
        if (bound !== undefined) {
          return yield* new OutboxFull({
            id: input.id,
            bound,
            entries: occupancy.entries,
            bytes: occupancy.bytes,
            maxEntries,
            maxBytes
          })
        }
        const envelope = yield* Effect.try({
          try: () => JSON.stringify(input.envelope) as string | undefined,
          catch: (cause) => cause
        }).pipe(
          Effect.filterOrFail(
            (json): json is string => typeof json === "string",
            () => "not JSON-compatible"
          ),
          Effect.orDieWith(
            (cause) => new Error(`SqliteOutbox.append: envelope ${input.id} cannot be encoded as JSON`, { cause })
          )
        )
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        yield* sql`INSERT INTO outbox ${sql.insert({
          id: input.id,
          destination: input.destination,
          envelope,
          bytes: input.bytes,
          created_at: now,
          attempts: 0,
          next_attempt_at: now
        })}`
      }).pipe(sql.withTransaction, Effect.catchTag("SqlError", Effect.die))

    const due = (now: number, limit: number): Effect.Effect<ReadonlyArray<OutboxEntry>> =>
      !(limit >= 1)
        ? Effect.succeed([])
        : sql`SELECT ${columns} FROM outbox WHERE next_attempt_at <= ${now}
              ORDER BY next_attempt_at, created_at, id LIMIT ${Math.floor(limit)}`.pipe(
            Effect.orDie,
            Effect.flatMap(decodeEntries),
            Effect.map((rows) => rows.map(toEntry))
          )

    const reschedule = (id: string, nextAttemptAt: number, countAttempt = true): Effect.Effect<boolean> =>
      sql`UPDATE outbox SET next_attempt_at = ${nextAttemptAt}, attempts = attempts + ${countAttempt ? 1 : 0}
          WHERE id = ${id}`.raw.pipe(
        Effect.orDie,
        Effect.flatMap((raw) => changes(raw, "SqliteOutbox.reschedule")),
        Effect.map((n) => n > 0)
      )

    const ack = (id: string): Effect.Effect<boolean> =>
      sql`DELETE FROM outbox WHERE id = ${id}`.raw.pipe(
        Effect.orDie,
        Effect.flatMap((raw) => changes(raw, "SqliteOutbox.ack")),
        Effect.map((n) => n > 0)
      )

    const get = (id: string): Effect.Effect<Option.Option<OutboxEntry>> =>
      sql`SELECT ${columns} FROM outbox WHERE id = ${id}`.pipe(
        Effect.orDie,
        Effect.flatMap(decodeEntries),
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toEntry))
      )

    const byDestination = (site: string): Effect.Effect<ReadonlyArray<OutboxEntry>> =>
      sql`SELECT ${columns} FROM outbox WHERE destination = ${site}
          ORDER BY next_attempt_at, created_at, id LIMIT ${maxEntries}`.pipe(
        Effect.orDie,
        Effect.flatMap(decodeEntries),
        Effect.map((rows) => rows.map(toEntry))
      )

    return {
      append,
      due,
      reschedule,
      ack,
      get,
      size: Effect.map(readCounter(sql, "outbox"), ({ bytes, entries }) => ({ entries, bytes })),
      byDestination
    }
  })

/**
 * A layer with the SQLite outbox, over the `SqlClient` of `Database.layer`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Partial<OutboxConfig> = {}): Layer.Layer<Outbox, never, SqlClient.SqlClient> =>
  Layer.effect(Outbox, make(config))
