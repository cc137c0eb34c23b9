/**
 * The durable outbox: durable sends waiting for their end-to-end acknowledgement. A durable send
 * is *accepted* once it is in the outbox; the sender retransmits what is due until the receiver
 * acknowledges it. The store is bounded by entry count and bytes; a full outbox answers
 * {@link OutboxFull} (busy) and never drops what it already holds.
 *
 * The in-memory implementation keeps its state in a closure created by {@link makeMemory}, outside
 * any site scope, so it survives a simulated crash of the site that uses it.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/**
 * A durable send waiting for acknowledgement.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutboxEntry {
  /** The envelope id: appending the same id twice stores it once. */
  readonly id: string
  /** The destination site name. */
  readonly destination: string
  /** The encoded envelope (JSON-compatible), ready to send again. */
  readonly envelope: unknown
  /** A size estimate of the encoded envelope, counted against {@link OutboxConfig.maxBytes}. */
  readonly bytes: number
  /** Epoch milliseconds when the entry was accepted. */
  readonly createdAt: number
  /** How many times it was rescheduled (sent and not yet acknowledged). */
  readonly attempts: number
  /** Epoch milliseconds from which the entry is due for (re)transmission. */
  readonly nextAttemptAt: number
}

/**
 * What a caller gives {@link OutboxService.append}; the store fills in the times and attempts.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendInput {
  readonly id: string
  readonly destination: string
  readonly envelope: unknown
  readonly bytes: number
}

/**
 * The outbox bounds. Both are checked before anything is stored.
 *
 * @since 0.1.0
 * @category config
 */
export interface OutboxConfig {
  /** At most this many entries waiting for acknowledgement. */
  readonly maxEntries: number
  /** At most this many bytes (sum of {@link OutboxEntry.bytes}) waiting for acknowledgement. */
  readonly maxBytes: number
}

/**
 * Default bounds: 100 000 entries, 256 MiB.
 *
 * @since 0.1.0
 * @category config
 */
export const OutboxConfig: OutboxConfig = {
  maxEntries: 100_000,
  maxBytes: 256 * 1024 * 1024
}

/**
 * The outbox cannot accept the entry without exceeding a bound. Nothing already in it is lost;
 * the caller answers busy and the send is not accepted.
 *
 * @since 0.1.0
 * @category errors
 */
export class OutboxFull extends Data.TaggedError("OutboxFull")<{
  readonly id: string
  /** Which bound would be exceeded. */
  readonly bound: "entries" | "bytes"
  readonly entries: number
  readonly bytes: number
  readonly maxEntries: number
  readonly maxBytes: number
}> {}

/**
 * Current occupancy, for metrics and the status page.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutboxSize {
  readonly entries: number
  readonly bytes: number
}

/**
 * The outbox operations. Every implementation (memory here, SQLite in the node package) keeps
 * these semantics.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutboxService {
  /**
   * Accepts a durable send, due immediately. Idempotent: an id already present succeeds without
   * change (even when the outbox is full). Fails {@link OutboxFull} when a bound would be exceeded.
   */
  readonly append: (entry: AppendInput) => Effect.Effect<void, OutboxFull>
  /** Entries with `nextAttemptAt <= now`, ordered by (nextAttemptAt, createdAt, id), at most `limit`. */
  readonly due: (now: number, limit: number) => Effect.Effect<ReadonlyArray<OutboxEntry>>
  /** Sets the next attempt time and (by default) counts one attempt. `false` when the id is not present. */
  readonly reschedule: (
    id: string,
    nextAttemptAt: number,
    /** `false`: postponed without being sent (e.g. no route yet), so `attempts` stays as it is. */
    countAttempt?: boolean
  ) => Effect.Effect<boolean>
  /** Removes an acknowledged entry. `false` when the id was not present. */
  readonly ack: (id: string) => Effect.Effect<boolean>
  readonly get: (id: string) => Effect.Effect<Option.Option<OutboxEntry>>
  readonly size: Effect.Effect<OutboxSize>
  /** Every entry for one destination site, in due order (introspection, status page). */
  readonly byDestination: (site: string) => Effect.Effect<ReadonlyArray<OutboxEntry>>
}

/**
 * The outbox service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class Outbox extends Context.Tag("@meridian/core/Outbox")<Outbox, OutboxService>() {}

/** Due order: (nextAttemptAt, createdAt, id), with plain code-unit comparison so it is deterministic. */
const compareEntries = (a: OutboxEntry, b: OutboxEntry): number =>
  a.nextAttemptAt !== b.nextAttemptAt
    ? a.nextAttemptAt - b.nextAttemptAt
    : a.createdAt !== b.createdAt
      ? a.createdAt - b.createdAt
      : a.id < b.id
        ? -1
        : a.id > b.id
          ? 1
          : 0

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

/**
 * An in-memory outbox. Its state lives in the returned service, not in any scope: build it once
 * and hand it to every incarnation of a site to model a database that survives a crash.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (config: Partial<OutboxConfig> = {}): Effect.Effect<OutboxService> =>
  Effect.suspend(() => {
    const { maxBytes, maxEntries } = { ...OutboxConfig, ...config }
    if (!isCount(maxEntries) || maxEntries < 1 || !isCount(maxBytes) || maxBytes < 1) {
      return Effect.dieMessage(`Outbox: maxEntries and maxBytes must be positive integers`)
    }
    const entries = new Map<string, OutboxEntry>()
    let bytes = 0

    const append = (input: AppendInput): Effect.Effect<void, OutboxFull> =>
      Effect.clockWith((clock) =>
        Effect.suspend(() => {
          if (entries.has(input.id)) return Effect.void
          if (!isCount(input.bytes)) {
            return Effect.dieMessage(`Outbox.append: bytes must be a non-negative integer, got ${input.bytes}`)
          }
          const bound = entries.size + 1 > maxEntries ? "entries" : bytes + input.bytes > maxBytes ? "bytes" : undefined
          if (bound !== undefined) {
            return Effect.fail(
              new OutboxFull({ id: input.id, bound, entries: entries.size, bytes, maxEntries, maxBytes })
            )
          }
          const now = clock.unsafeCurrentTimeMillis()
          entries.set(input.id, {
            id: input.id,
            destination: input.destination,
            envelope: input.envelope,
            bytes: input.bytes,
            createdAt: now,
            attempts: 0,
            nextAttemptAt: now
          })
          bytes += input.bytes
          return Effect.void
        })
      )

    const due = (now: number, limit: number): Effect.Effect<ReadonlyArray<OutboxEntry>> =>
      Effect.sync(() => {
        if (limit <= 0) return []
        const ready: Array<OutboxEntry> = []
        for (const entry of entries.values()) if (entry.nextAttemptAt <= now) ready.push(entry)
        return ready.sort(compareEntries).slice(0, limit)
      })

    const reschedule = (id: string, nextAttemptAt: number, countAttempt = true): Effect.Effect<boolean> =>
      Effect.sync(() => {
        const entry = entries.get(id)
        if (entry === undefined) return false
        // Spelled out rather than spread: every (re)transmission and every poll without a path passes here.
        entries.set(id, {
          id: entry.id,
          destination: entry.destination,
          envelope: entry.envelope,
          bytes: entry.bytes,
          createdAt: entry.createdAt,
          attempts: entry.attempts + (countAttempt ? 1 : 0),
          nextAttemptAt
        })
        return true
      })

    const ack = (id: string): Effect.Effect<boolean> =>
      Effect.sync(() => {
        const entry = entries.get(id)
        if (entry === undefined) return false
        entries.delete(id)
        bytes -= entry.bytes
        return true
      })

    const get = (id: string): Effect.Effect<Option.Option<OutboxEntry>> =>
      Effect.sync(() => Option.fromNullable(entries.get(id)))

    const byDestination = (site: string): Effect.Effect<ReadonlyArray<OutboxEntry>> =>
      Effect.sync(() => {
        const found: Array<OutboxEntry> = []
        for (const entry of entries.values()) if (entry.destination === site) found.push(entry)
        return found.sort(compareEntries)
      })

    return Effect.succeed<OutboxService>({
      append,
      due,
      reschedule,
      ack,
      get,
      size: Effect.sync(() => ({ entries: entries.size, bytes })),
      byDestination
    })
  })

/**
 * A layer with a fresh in-memory outbox. For crash simulation build the service once with
 * {@link makeMemory} and provide it with `Layer.succeed(Outbox, service)` to each incarnation.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (config: Partial<OutboxConfig> = {}): Layer.Layer<Outbox> =>
  Layer.effect(Outbox, makeMemory(config))
