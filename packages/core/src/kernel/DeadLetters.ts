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
}

/**
 * @since 0.1.0
 * @category models
 */
export interface DeadLettersService {
  readonly record: (letter: Omit<DeadLetter, "at">) => Effect.Effect<void>
  /** Newest first, at most `limit`. */
  readonly list: (limit?: number) => Effect.Effect<ReadonlyArray<DeadLetter>>
  /** Totals per reason since the site started (not bounded by `capacity`). */
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
 * A ring buffer of the newest `capacity` dead letters.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (capacity: number = defaultCapacity): DeadLettersService => {
  if (!(capacity >= 1)) throw new Error("dead letter capacity must be >= 1")
  const ring: Array<DeadLetter> = []
  let next = 0
  let total = 0
  const counts: Record<string, number> = {}
  return {
    record: (letter) =>
      Effect.map(Clock.currentTimeMillis, (at) => {
        const entry: DeadLetter = { at, ...letter }
        if (ring.length < capacity) ring.push(entry)
        else ring[next] = entry
        next = (next + 1) % capacity
        total++
        counts[letter.reason] = (counts[letter.reason] ?? 0) + 1
      }),
    list: (limit = capacity) =>
      Effect.sync(() => {
        const out: Array<DeadLetter> = []
        for (let i = 1; i <= ring.length && out.length < limit; i++) {
          out.push(ring[(next - i + ring.length * 2) % ring.length]!)
        }
        return out
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
