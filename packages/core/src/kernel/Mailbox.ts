/**
 * A purpose-built bounded mailbox for one consumer (the actor fiber) and many producers.
 *
 * Why not `Queue.bounded`: every `Queue.offer` there is a full effect round trip and every
 * `take` resumes the consumer once per item. Here an offer is a synchronous array push while
 * there is room, and the consumer is woken once per *batch*: when it finds items it takes all of
 * them (up to `maxBatch`) in one step. Producers that find it full wait (back-pressure) and are
 * woken when the consumer frees room.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"

/**
 * @since 0.1.0
 * @category models
 */
export class Mailbox<A> {
  private buffer: Array<A> = []
  private takeWaiter: ((effect: Effect.Effect<void>) => void) | undefined = undefined
  private putWaiters: Array<(effect: Effect.Effect<void>) => void> = []
  private closed = false

  constructor(
    /** Most items held at once; producers beyond it wait or get `MailboxFull`. */
    readonly capacity: number,
    /** Most items handed to the consumer in one batch. */
    readonly maxBatch: number
  ) {
    if (!(capacity >= 1) || !(maxBatch >= 1)) throw new Error("mailbox capacity and maxBatch must be >= 1")
  }

  /** Items waiting. */
  get size(): number {
    return this.buffer.length
  }

  /** Closed mailboxes accept nothing; the consumer still drains what is left. */
  get isClosed(): boolean {
    return this.closed
  }

  /**
   * Enqueues synchronously. `false` when full or closed (the caller decides whether to wait,
   * fail, or dead-letter).
   */
  offer(item: A): boolean {
    if (this.closed || this.buffer.length >= this.capacity) return false
    this.buffer.push(item)
    const waiter = this.takeWaiter
    if (waiter !== undefined) {
      this.takeWaiter = undefined
      waiter(Effect.void)
    }
    return true
  }

  /** Completes when there may be room (or the mailbox closed): the producer then retries. */
  readonly awaitRoom: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (this.closed || this.buffer.length < this.capacity) return resume(Effect.void)
    this.putWaiters.push(resume)
    return Effect.sync(() => {
      const i = this.putWaiters.indexOf(resume)
      if (i >= 0) this.putWaiters.splice(i, 1)
    })
  })

  /**
   * Takes up to `maxBatch` items, waiting while empty. An empty array means the mailbox is
   * closed and drained.
   */
  readonly takeBatch: Effect.Effect<ReadonlyArray<A>> = Effect.suspend(() => {
    const batch = this.pollBatch()
    if (batch.length > 0 || this.closed) return Effect.succeed(batch)
    return Effect.flatMap(this.awaitItems, () => this.takeBatch)
  })

  /** Completes when there may be items (or the mailbox closed): the consumer then polls. */
  readonly awaitItems: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (this.buffer.length > 0 || this.closed) return resume(Effect.void)
    this.takeWaiter = resume
    return Effect.sync(() => {
      if (this.takeWaiter === resume) this.takeWaiter = undefined
    })
  })

  /** Takes what is there without waiting. */
  pollBatch(): ReadonlyArray<A> {
    const buffer = this.buffer
    if (buffer.length === 0) return empty
    let batch: Array<A>
    if (buffer.length <= this.maxBatch) {
      batch = buffer
      this.buffer = []
    } else {
      batch = buffer.splice(0, this.maxBatch)
    }
    this.wakeProducers()
    return batch
  }

  /** Refuses further offers; waiting producers and the consumer are woken to see it. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.wakeProducers()
    const waiter = this.takeWaiter
    if (waiter !== undefined) {
      this.takeWaiter = undefined
      waiter(Effect.void)
    }
  }

  /** Removes and returns everything queued (used to reject what is left at stop). */
  drainAll(): Array<A> {
    const all = this.buffer
    this.buffer = []
    this.wakeProducers()
    return all
  }

  private wakeProducers(): void {
    if (this.putWaiters.length === 0) return
    const waiters = this.putWaiters
    this.putWaiters = []
    for (const resume of waiters) resume(Effect.void)
  }
}

const empty: ReadonlyArray<never> = []
