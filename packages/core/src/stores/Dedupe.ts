/**
 * The dedupe window: the envelope ids a site has already applied, so that a retransmitted or
 * duplicated message is applied once. The window is persisted (here: kept outside the site scope)
 * and bounded by age and count, and its age bound is never shorter than the retransmit horizon —
 * otherwise a late retransmission would be applied twice.
 *
 * When the count bound is reached the oldest id may only be forgotten once it is older than
 * `minRetention` (set it to the retransmit horizon); otherwise {@link DedupeFull} tells the caller
 * not to acknowledge, so the sender retransmits later: busy, not loss, never a double apply.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"

/**
 * The window bounds.
 *
 * @since 0.1.0
 * @category config
 */
export interface DedupeConfig {
  /** Ids older than this are forgotten. Never shorter than the retransmit horizon. */
  readonly maxAge: Duration.DurationInput
  /** At most this many ids are remembered. */
  readonly maxEntries: number
  /** Under count pressure, an id younger than this is never evicted (use the retransmit horizon). */
  readonly minRetention: Duration.DurationInput
}

/**
 * Defaults: one day, one million ids, at least one hour of retention under pressure.
 *
 * @since 0.1.0
 * @category config
 */
export const DedupeConfig: DedupeConfig = {
  maxAge: Duration.days(1),
  maxEntries: 1_000_000,
  minRetention: Duration.hours(1)
}

/**
 * A configuration that could let a retransmission be applied twice, or is not a valid bound.
 *
 * @since 0.1.0
 * @category errors
 */
export class DedupeConfigError extends Data.TaggedError("DedupeConfigError")<{
  /** Every problem found, in words. */
  readonly problems: ReadonlyArray<string>
}> {}

/**
 * The window is at its count bound and its oldest id is younger than `minRetention`: the caller
 * must not acknowledge the message, so that it is retransmitted later.
 *
 * @since 0.1.0
 * @category errors
 */
export class DedupeFull extends Data.TaggedError("DedupeFull")<{
  readonly id: string
  readonly entries: number
  readonly maxEntries: number
  /** Epoch milliseconds when the oldest remembered id may be evicted. */
  readonly retryAfter: number
}> {}

/**
 * Checks a configuration against the retransmit horizon (the longest time after which a sender
 * may still retransmit): `maxAge` must not be shorter than it, `minRetention` must lie between the
 * horizon and `maxAge`, and `maxEntries` must be a positive integer. Lists every problem.
 *
 * @since 0.1.0
 * @category config
 */
export const validate = (
  config: DedupeConfig,
  retransmitHorizon: Duration.DurationInput
): Either.Either<DedupeConfig, DedupeConfigError> => {
  const problems: Array<string> = []
  const maxAge = Duration.decode(config.maxAge)
  const minRetention = Duration.decode(config.minRetention)
  const horizon = Duration.decode(retransmitHorizon)
  if (!Number.isSafeInteger(config.maxEntries) || config.maxEntries < 1) {
    problems.push(`maxEntries must be a positive integer, got ${config.maxEntries}`)
  }
  if (Duration.lessThan(maxAge, horizon)) {
    problems.push(
      `maxAge (${Duration.format(maxAge)}) is shorter than the retransmit horizon (${Duration.format(horizon)})`
    )
  }
  if (Duration.lessThan(minRetention, horizon)) {
    problems.push(
      `minRetention (${Duration.format(minRetention)}) is shorter than the retransmit horizon (${Duration.format(horizon)})`
    )
  }
  if (Duration.greaterThan(minRetention, maxAge)) {
    problems.push(`minRetention (${Duration.format(minRetention)}) is longer than maxAge (${Duration.format(maxAge)})`)
  }
  return problems.length === 0 ? Either.right(config) : Either.left(new DedupeConfigError({ problems }))
}

/**
 * The dedupe operations.
 *
 * @since 0.1.0
 * @category models
 */
export interface DedupeService {
  /**
   * `true` the first time an id is seen within the window (and records it), `false` when it was
   * already seen. Fails {@link DedupeFull} when it cannot record the id without forgetting one
   * younger than `minRetention`.
   */
  readonly markIfNew: (id: string) => Effect.Effect<boolean, DedupeFull>
  /** Whether the id is remembered (and not older than `maxAge`). */
  readonly has: (id: string) => Effect.Effect<boolean>
  /** How many ids are remembered, including ones past `maxAge` not yet pruned. */
  readonly size: Effect.Effect<number>
  /** Forgets every id older than `maxAge`; returns how many were forgotten. */
  readonly prune: Effect.Effect<number>
}

/**
 * The dedupe window service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class Dedupe extends Context.Tag("@meridian/core/Dedupe")<Dedupe, DedupeService>() {}

/**
 * An in-memory dedupe window whose state lives outside any site scope (it survives a simulated
 * crash). Relies on a clock that does not go backwards (Effect's clocks, the simulator's clock).
 * Does not check the retransmit horizon: call {@link validate} where the horizon is known.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (config: Partial<DedupeConfig> = {}): Effect.Effect<DedupeService> =>
  Effect.suspend(() => {
    const window = MemoryWindow.make(config)
    if (Either.isLeft(window)) return Effect.dieMessage(window.left)
    return Effect.succeed(window.right.service)
  })

/**
 * The in-memory window itself, with synchronous operations at a given time (epoch ms): the
 * kernel checks and records every non-durable envelope in one, and an effect per check would
 * cost more than the check.
 *
 * @since 0.1.0
 * @category models
 */
export class MemoryWindow {
  private readonly seen = new Map<string, number>()
  // The same ids in insertion order, which is time order (ids are never re-timestamped), from
  // `head` on. Evicting from the front of the Map itself would cost a walk over its deleted
  // entries on every eviction once the window is full.
  private order: Array<string> = []
  private times: Array<number> = []
  private head = 0

  private constructor(
    private readonly maxAge: number,
    private readonly minRetention: number,
    private readonly maxEntries: number
  ) {}

  /** A window with `config`'s bounds, or why they are not bounds. */
  static make(config: Partial<DedupeConfig> = {}): Either.Either<MemoryWindow, string> {
    const full = { ...DedupeConfig, ...config }
    if (!Number.isSafeInteger(full.maxEntries) || full.maxEntries < 1) {
      return Either.left(`Dedupe: maxEntries must be a positive integer, got ${full.maxEntries}`)
    }
    return Either.right(
      new MemoryWindow(
        Duration.toMillis(Duration.decode(full.maxAge)),
        Duration.toMillis(Duration.decode(full.minRetention)),
        full.maxEntries
      )
    )
  }

  get size(): number {
    return this.seen.size
  }

  /** Forgets ids older than `maxAge` at `now`; returns how many. */
  prune(now: number): number {
    let removed = 0
    while (this.head < this.order.length && now - this.times[this.head]! > this.maxAge) {
      this.dropOldest()
      removed++
    }
    return removed
  }

  has(id: string, now: number): boolean {
    const at = this.seen.get(id)
    return at !== undefined && now - at <= this.maxAge
  }

  /** As {@link DedupeService.markIfNew}, at `now`. */
  markIfNew(id: string, now: number): boolean | DedupeFull {
    const seen = this.seen
    this.prune(now)
    if (seen.has(id)) return false
    if (seen.size >= this.maxEntries) {
      const at = this.times[this.head]!
      if (now - at <= this.minRetention) {
        return new DedupeFull({
          id,
          entries: seen.size,
          maxEntries: this.maxEntries,
          retryAfter: at + this.minRetention + 1
        })
      }
      this.dropOldest()
    }
    seen.set(id, now)
    this.order.push(id)
    this.times.push(now)
    return true
  }

  private dropOldest(): void {
    this.seen.delete(this.order[this.head]!)
    this.head++
    // Compact once the dropped prefix is most of the arrays: amortized O(1) per id.
    if (this.head >= 1024 && this.head * 2 >= this.order.length) {
      this.order = this.order.slice(this.head)
      this.times = this.times.slice(this.head)
      this.head = 0
    }
  }

  /** The window as a {@link DedupeService}, on the Effect clock. */
  get service(): DedupeService {
    return {
      markIfNew: (id) =>
        Effect.clockWith((clock) =>
          Effect.suspend(() => {
            const marked = this.markIfNew(id, clock.unsafeCurrentTimeMillis())
            return typeof marked === "boolean" ? Effect.succeed(marked) : Effect.fail(marked)
          })
        ),
      has: (id) => Effect.clockWith((clock) => Effect.sync(() => this.has(id, clock.unsafeCurrentTimeMillis()))),
      size: Effect.sync(() => this.seen.size),
      prune: Effect.clockWith((clock) => Effect.sync(() => this.prune(clock.unsafeCurrentTimeMillis())))
    }
  }
}

/**
 * A layer with a fresh in-memory dedupe window.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (config: Partial<DedupeConfig> = {}): Layer.Layer<Dedupe> =>
  Layer.effect(Dedupe, makeMemory(config))
