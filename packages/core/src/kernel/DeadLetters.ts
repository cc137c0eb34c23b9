/**
 * Dead letters: messages the site could not deliver or apply, kept with their reason so an
 * operator can see what was lost and why. Bounded: the newest `capacity` records are kept, the
 * counts per reason are never reset.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * Why a message became a dead letter.
 *
 * @since 0.1.0
 * @category models
 */
export type Reason =
  /** No actor of that name on the target site. */
  | "no-such-actor"
  /** The payload or envelope did not decode with its Schema. */
  | "undecodable"
  /** Its deadline passed before it was processed. */
  | "expired"
  /** The target mailbox was full and the message could not wait. */
  | "mailbox-full"
  /** The actor stopped with the message still queued. */
  | "stopped"
  /** The handler failed or died on it (the actor was restarted). */
  | "handler-failed"
  /** The envelope format version is not one this site speaks. */
  | "unsupported-version"
  /** The target site could not be reached. */
  | "unreachable"
  /** A reply arrived for an ask nobody waits for (timed out or unknown). */
  | "orphan-reply"

/**
 * @since 0.1.0
 * @category models
 */
export interface DeadLetter {
  /** Increasing per site since it started: what `replay` and `purge` name. */
  readonly id: number
  readonly at: number
  readonly reason: Reason
  readonly to: string
  readonly from: string
  /** Message tag, when known. */
  readonly tag: string
  /** Envelope id, when the message came in an envelope. */
  readonly envelopeId: string | undefined
  /** Human-readable detail (the decode error, the defect...). */
  readonly detail: string
  /**
   * Sends the message again the way it first went (a tell; an ask's asker has gone). Absent when
   * the message cannot be sent again (asks, replies, undecodable bytes).
   */
  readonly replay: Effect.Effect<void, unknown> | undefined
}

/**
 * What `replay` did with the letters it was given.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplayResult {
  /** Sent again (and removed from the list; a second failure records a new letter). */
  readonly replayed: ReadonlyArray<number>
  /** Kept: not replayable (asks, replies, undecodable), or the resend failed at once. */
  readonly kept: ReadonlyArray<{ readonly id: number; readonly reason: string }>
  /** Ids not in the list (purged, replayed or pushed out by newer letters). */
  readonly unknown: ReadonlyArray<number>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface DeadLettersService {
  readonly record: (
    letter: Omit<DeadLetter, "at" | "id" | "replay"> & { readonly replay?: DeadLetter["replay"] }
  ) => Effect.Effect<void>
  /** Newest first, at most `limit`. */
  readonly list: (limit?: number) => Effect.Effect<ReadonlyArray<DeadLetter>>
  /** Sends the given letters again (all replayable ones when `ids` is absent), oldest first. */
  readonly replay: (ids?: ReadonlyArray<number>) => Effect.Effect<ReplayResult>
  /** Forgets the given letters (all when `ids` is absent); returns how many were removed. */
  readonly purge: (ids?: ReadonlyArray<number>) => Effect.Effect<number>
  /** Totals per reason since the site started (not bounded by `capacity`, not reset by purge). */
  readonly counts: Effect.Effect<Readonly<Record<string, number>>>
  readonly total: Effect.Effect<number>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class DeadLetters extends Context.Tag("@meridian/core/DeadLetters")<DeadLetters, DeadLettersService>() {}

/**
 * @since 0.1.0
 * @category config
 */
export const defaultCapacity = 1_000

/**
 * The newest `capacity` dead letters, in order of arrival.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (capacity: number = defaultCapacity): DeadLettersService => {
  if (!(capacity >= 1)) throw new Error("dead letter capacity must be >= 1")
  // A Map keeps insertion order: the first key is the oldest letter.
  const letters = new Map<number, DeadLetter>()
  let nextId = 1
  let total = 0
  const counts: Record<string, number> = {}
  const describe = (error: unknown) =>
    typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)
  return {
    record: (letter) =>
      Effect.map(Clock.currentTimeMillis, (at) => {
        const entry: DeadLetter = { ...letter, id: nextId++, at, replay: letter.replay }
        letters.set(entry.id, entry)
        if (letters.size > capacity) letters.delete(letters.keys().next().value!)
        total++
        counts[letter.reason] = (counts[letter.reason] ?? 0) + 1
      }),
    list: (limit = capacity) => Effect.sync(() => [...letters.values()].reverse().slice(0, Math.max(0, limit))),
    replay: (ids) =>
      Effect.gen(function* () {
        const wanted = ids === undefined ? [...letters.keys()] : [...new Set(ids)].sort((a, b) => a - b)
        const replayed: Array<number> = []
        const kept: Array<{ id: number; reason: string }> = []
        const unknown: Array<number> = []
        for (const id of wanted) {
          const letter = letters.get(id)
          if (letter === undefined) {
            unknown.push(id)
            continue
          }
          if (letter.replay === undefined) {
            if (ids !== undefined) kept.push({ id, reason: "not replayable (an ask, a reply or undecodable bytes)" })
            continue
          }
          const sent = yield* Effect.either(letter.replay)
          if (sent._tag === "Left") {
            kept.push({ id, reason: describe(sent.left) })
            continue
          }
          letters.delete(id)
          replayed.push(id)
        }
        return { replayed, kept, unknown }
      }),
    purge: (ids) =>
      Effect.sync(() => {
        if (ids === undefined) {
          const n = letters.size
          letters.clear()
          return n
        }
        let n = 0
        for (const id of new Set(ids)) if (letters.delete(id)) n++
        return n
      }),
    counts: Effect.sync(() => ({ ...counts })),
    total: Effect.sync(() => total)
  }
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (capacity: number = defaultCapacity): Layer.Layer<DeadLetters> =>
  Layer.sync(DeadLetters, () => make(capacity))
