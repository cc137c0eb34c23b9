/**
 * A small key-value store for module state: one namespace per module, string values, bounded in
 * key count and value size. Typed access goes through {@link getSchema} / {@link setSchema}, so a
 * value written by an older version of a module that no longer decodes is a typed
 * {@link KeyValueDecodeError} with the reason, never a crash.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * The store bounds.
 *
 * @since 0.1.0
 * @category config
 */
export interface KeyValueConfig {
  /** At most this many keys across all namespaces. */
  readonly maxKeys: number
  /** At most this many UTF-8 bytes per value. */
  readonly maxValueBytes: number
  /** At most this many UTF-8 bytes per key (and per namespace name). */
  readonly maxKeyBytes: number
}

/**
 * Defaults: 100 000 keys, 1 MiB per value, 512 bytes per key.
 *
 * @since 0.1.0
 * @category config
 */
export const KeyValueConfig: KeyValueConfig = {
  maxKeys: 100_000,
  maxValueBytes: 1024 * 1024,
  maxKeyBytes: 512
}

/**
 * A write that would exceed a bound; nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyValueLimit extends Data.TaggedError("KeyValueLimit")<{
  readonly namespace: string
  readonly key: string
  readonly bound: "maxKeys" | "maxValueBytes" | "maxKeyBytes"
  readonly limit: number
  readonly actual: number
}> {}

/**
 * A stored value that does not decode with the schema it is read with.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyValueDecodeError extends Data.TaggedError("KeyValueDecodeError")<{
  readonly namespace: string
  readonly key: string
  /** The schema's explanation of what is wrong. */
  readonly reason: string
}> {}

/**
 * A value that does not encode with the schema it is written with; nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyValueEncodeError extends Data.TaggedError("KeyValueEncodeError")<{
  readonly namespace: string
  readonly key: string
  readonly reason: string
}> {}

/**
 * One stored entry, as listed.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyValueEntry {
  readonly key: string
  readonly value: string
}

/**
 * The key-value operations.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyValueService {
  readonly get: (namespace: string, key: string) => Effect.Effect<Option.Option<string>>
  /** Writes a value; fails {@link KeyValueLimit} (writing nothing) when a bound would be exceeded. */
  readonly set: (namespace: string, key: string, value: string) => Effect.Effect<void, KeyValueLimit>
  /** `true` when a value was removed. */
  readonly delete: (namespace: string, key: string) => Effect.Effect<boolean>
  /** The entries of a namespace whose key starts with `prefix`, sorted by key (code-unit order). */
  readonly list: (namespace: string, prefix?: string) => Effect.Effect<ReadonlyArray<KeyValueEntry>>
  /** How many keys are stored across all namespaces. */
  readonly size: Effect.Effect<number>
}

/**
 * The key-value store service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class KeyValue extends Context.Tag("@meridian/core/KeyValue")<KeyValue, KeyValueService>() {}

/**
 * The UTF-8 size of a string, as counted against the byte bounds (the size `TextEncoder` would
 * produce, a lone surrogate counting as the 3-byte replacement character), without allocating.
 *
 * @since 0.1.0
 * @category utils
 */
export const byteLength = (s: string): number => {
  let bytes = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1)
      if (next >= 0xdc00 && next < 0xe000) {
        bytes += 4
        i++
      } else bytes += 3
    } else bytes += 3
  }
  return bytes
}

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 1

/**
 * An in-memory key-value store whose state lives outside any site scope (it survives a simulated
 * crash).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (config: Partial<KeyValueConfig> = {}): Effect.Effect<KeyValueService> =>
  Effect.suspend(() => {
    const { maxKeyBytes, maxKeys, maxValueBytes } = { ...KeyValueConfig, ...config }
    if (!isCount(maxKeys) || !isCount(maxValueBytes) || !isCount(maxKeyBytes)) {
      return Effect.dieMessage("KeyValue: maxKeys, maxValueBytes and maxKeyBytes must be positive integers")
    }
    const namespaces = new Map<string, Map<string, string>>()
    let keys = 0

    const limit = (
      namespace: string,
      key: string,
      bound: KeyValueLimit["bound"],
      limit: number,
      actual: number
    ): Effect.Effect<never, KeyValueLimit> => Effect.fail(new KeyValueLimit({ namespace, key, bound, limit, actual }))

    const set = (namespace: string, key: string, value: string): Effect.Effect<void, KeyValueLimit> =>
      Effect.suspend(() => {
        const nsBytes = byteLength(namespace)
        if (nsBytes > maxKeyBytes) return limit(namespace, key, "maxKeyBytes", maxKeyBytes, nsBytes)
        const keyBytes = byteLength(key)
        if (keyBytes > maxKeyBytes) return limit(namespace, key, "maxKeyBytes", maxKeyBytes, keyBytes)
        const valueBytes = byteLength(value)
        if (valueBytes > maxValueBytes) return limit(namespace, key, "maxValueBytes", maxValueBytes, valueBytes)
        const ns = namespaces.get(namespace)
        const exists = ns !== undefined && ns.has(key)
        if (!exists && keys + 1 > maxKeys) return limit(namespace, key, "maxKeys", maxKeys, keys + 1)
        if (ns === undefined) namespaces.set(namespace, new Map([[key, value]]))
        else ns.set(key, value)
        if (!exists) keys++
        return Effect.void
      })

    const del = (namespace: string, key: string): Effect.Effect<boolean> =>
      Effect.sync(() => {
        const ns = namespaces.get(namespace)
        if (ns === undefined || !ns.delete(key)) return false
        keys--
        if (ns.size === 0) namespaces.delete(namespace)
        return true
      })

    const list = (namespace: string, prefix: string = ""): Effect.Effect<ReadonlyArray<KeyValueEntry>> =>
      Effect.sync(() => {
        const ns = namespaces.get(namespace)
        if (ns === undefined) return []
        const found: Array<KeyValueEntry> = []
        for (const [key, value] of ns) if (key.startsWith(prefix)) found.push({ key, value })
        return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      })

    return Effect.succeed<KeyValueService>({
      get: (namespace, key) => Effect.sync(() => Option.fromNullable(namespaces.get(namespace)?.get(key))),
      set,
      delete: del,
      list,
      size: Effect.sync(() => keys)
    })
  })

/**
 * A layer with a fresh in-memory key-value store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (config: Partial<KeyValueConfig> = {}): Layer.Layer<KeyValue> =>
  Layer.effect(KeyValue, makeMemory(config))

/**
 * Reads a value stored as JSON and decodes it with `schema`. `None` when absent; a stored value
 * that no longer decodes is a {@link KeyValueDecodeError} with the reason.
 *
 * @since 0.1.0
 * @category typed access
 */
export const getSchema = <A, I, R>(
  namespace: string,
  key: string,
  schema: Schema.Schema<A, I, R>
): Effect.Effect<Option.Option<A>, KeyValueDecodeError, KeyValue | R> =>
  Effect.flatMap(KeyValue, (kv) =>
    Effect.flatMap(
      kv.get(namespace, key),
      Option.match({
        onNone: () => Effect.succeedNone,
        onSome: (raw) =>
          Schema.decodeUnknown(Schema.parseJson(schema))(raw).pipe(
            Effect.mapBoth({
              onFailure: (error) =>
                new KeyValueDecodeError({ namespace, key, reason: ParseResult.TreeFormatter.formatErrorSync(error) }),
              onSuccess: Option.some
            })
          )
      })
    )
  )

/**
 * Encodes a value with `schema` and stores it as JSON.
 *
 * @since 0.1.0
 * @category typed access
 */
export const setSchema = <A, I, R>(
  namespace: string,
  key: string,
  schema: Schema.Schema<A, I, R>,
  value: A
): Effect.Effect<void, KeyValueLimit | KeyValueEncodeError, KeyValue | R> =>
  Effect.flatMap(KeyValue, (kv) =>
    Schema.encode(Schema.parseJson(schema))(value).pipe(
      Effect.mapError(
        (error) => new KeyValueEncodeError({ namespace, key, reason: ParseResult.TreeFormatter.formatErrorSync(error) })
      ),
      Effect.flatMap((json) => kv.set(namespace, key, json))
    )
  )
