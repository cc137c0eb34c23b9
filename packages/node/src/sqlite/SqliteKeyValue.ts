/**
 * The module key-value store in the site's SQLite database. Same semantics as the kernel's
 * in-memory store (`@meridian/core/stores/KeyValue`): bounded in keys and in UTF-8 bytes per key and
 * value; a write past a bound fails {@link KeyValueLimit} and writes nothing.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import {
  byteLength,
  KeyValue,
  KeyValueConfig,
  type KeyValueEntry,
  KeyValueLimit,
  type KeyValueService
} from "@meridian/core/stores/KeyValue"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { changes, compareCodeUnits, decodeRows, readCounter, requireWellFormed } from "./internal.js"

const EntryRow = Schema.Struct({ key: Schema.String, value: Schema.String })
const ValueRow = Schema.Struct({ value: Schema.String })
const decodeEntries = decodeRows(EntryRow, "SqliteKeyValue")
const decodeValues = decodeRows(ValueRow, "SqliteKeyValue")

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 1

/**
 * The store over the `kv` table, keyed by (namespace, key). The key-count check and the write are
 * one transaction.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: Partial<KeyValueConfig> = {}
): Effect.Effect<KeyValueService, never, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const { maxKeyBytes, maxKeys, maxValueBytes } = { ...KeyValueConfig, ...config }
    if (!isCount(maxKeys) || !isCount(maxValueBytes) || !isCount(maxKeyBytes)) {
      return yield* Effect.dieMessage(
        "SqliteKeyValue: maxKeys, maxValueBytes and maxKeyBytes must be positive integers"
      )
    }
    const sql = yield* SqlClient.SqlClient

    const limit = (namespace: string, key: string, bound: KeyValueLimit["bound"], limit: number, actual: number) =>
      Effect.fail(new KeyValueLimit({ namespace, key, bound, limit, actual }))

    const get = (namespace: string, key: string): Effect.Effect<Option.Option<string>> =>
      requireWellFormed("SqliteKeyValue.get", { namespace, key }).pipe(
        Effect.zipRight(sql`SELECT value FROM kv WHERE namespace = ${namespace} AND key = ${key}`.pipe(Effect.orDie)),
        Effect.flatMap(decodeValues),
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (row) => row.value))
      )

    const set = (namespace: string, key: string, value: string): Effect.Effect<void, KeyValueLimit> =>
      Effect.gen(function* () {
        const nsBytes = byteLength(namespace)
        if (nsBytes > maxKeyBytes) return yield* limit(namespace, key, "maxKeyBytes", maxKeyBytes, nsBytes)
        const keyBytes = byteLength(key)
        if (keyBytes > maxKeyBytes) return yield* limit(namespace, key, "maxKeyBytes", maxKeyBytes, keyBytes)
        const valueBytes = byteLength(value)
        if (valueBytes > maxValueBytes) return yield* limit(namespace, key, "maxValueBytes", maxValueBytes, valueBytes)
        yield* requireWellFormed("SqliteKeyValue.set", { namespace, key, value })
        yield* Effect.gen(function* () {
          const exists =
            (yield* sql`SELECT 1 AS found FROM kv WHERE namespace = ${namespace} AND key = ${key}`).length > 0
          if (exists) {
            yield* sql`UPDATE kv SET value = ${value} WHERE namespace = ${namespace} AND key = ${key}`
            return
          }
          const { entries } = yield* readCounter(sql, "kv")
          if (entries + 1 > maxKeys) return yield* limit(namespace, key, "maxKeys", maxKeys, entries + 1)
          yield* sql`INSERT INTO kv (namespace, key, value) VALUES (${namespace}, ${key}, ${value})`
        }).pipe(sql.withTransaction, Effect.catchTag("SqlError", Effect.die))
      })

    const del = (namespace: string, key: string): Effect.Effect<boolean> =>
      requireWellFormed("SqliteKeyValue.delete", { namespace, key }).pipe(
        Effect.zipRight(sql`DELETE FROM kv WHERE namespace = ${namespace} AND key = ${key}`.raw.pipe(Effect.orDie)),
        Effect.flatMap((raw) => changes(raw, "SqliteKeyValue.delete")),
        Effect.map((n) => n > 0)
      )

    // Keys starting with `prefix` are exactly those in [prefix, prefix || 0xFF): no valid UTF-8 text
    // has a 0xFF byte, so the (namespace, key) primary key answers with one range scan.
    const list = (namespace: string, prefix: string = ""): Effect.Effect<ReadonlyArray<KeyValueEntry>> =>
      requireWellFormed("SqliteKeyValue.list", { namespace, prefix }).pipe(
        Effect.zipRight(
          sql`SELECT key, value FROM kv WHERE namespace = ${namespace}
              AND key >= ${prefix} AND key < (${prefix} || X'FF') LIMIT ${maxKeys}`.pipe(Effect.orDie)
        ),
        Effect.flatMap(decodeEntries),
        Effect.map((rows) =>
          rows.map(({ key, value }) => ({ key, value })).sort((a, b) => compareCodeUnits(a.key, b.key))
        )
      )

    return {
      get,
      set,
      delete: del,
      list,
      size: Effect.map(readCounter(sql, "kv"), ({ entries }) => entries)
    }
  })

/**
 * A layer with the SQLite key-value store, over the `SqlClient` of `Database.layer`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Partial<KeyValueConfig> = {}): Layer.Layer<KeyValue, never, SqlClient.SqlClient> =>
  Layer.effect(KeyValue, make(config))
