/**
 * One timer for every pending ask of a site. `Effect.timeout` forks two fibers and a timer per
 * call (tens of microseconds each, measured here), which would make each ask cost more than the
 * round trip itself; here an ask adds an entry to a min-heap and one fiber sleeps until the
 * earliest deadline. It sleeps on the Effect `Clock`, so the simulator's virtual clock and
 * `TestClock` drive it like any other timer.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { type Timer, TimerHeap } from "../internal/timerHeap.js"

/**
 * Something due at an instant: an ask's wait subclasses it, so a pending ask is one object
 * in the timer heap rather than a timer, its task closure and a cancel handle.
 *
 * @since 0.1.0
 * @category models
 */
export abstract class Deadline implements Timer {
  seq = 0
  index = -1
  readonly scheduledAt: number

  constructor(
    /** Epoch ms, by the Effect clock. */
    readonly at: number
  ) {
    this.scheduledAt = at
  }

  /** Runs once the deadline has passed, unless it was cancelled first. */
  abstract task(): void
}

/**
 * @since 0.1.0
 * @category models
 */
export class Deadlines {
  private readonly heap = new TimerHeap()
  private seq = 0
  /** When the timer fiber will next wake (Infinity while it waits for work). */
  private wakeAt = Infinity
  private wake: (() => void) | undefined = undefined
  private stopped = false

  /** Entries scheduled and neither fired nor cancelled. */
  get size(): number {
    return this.heap.size
  }

  /** Runs `deadline.task()` once its instant has passed, unless cancelled first (at once on a stopped site). */
  schedule(deadline: Deadline): void {
    if (this.stopped) return deadline.task()
    deadline.seq = this.seq++
    this.heap.push(deadline)
    if (deadline.at < this.wakeAt && this.wake !== undefined) {
      const wake = this.wake
      this.wake = undefined
      wake()
    }
  }

  /** Takes `deadline` out of the heap; nothing if it already ran or was cancelled. */
  cancel(deadline: Deadline): void {
    this.heap.remove(deadline)
  }

  /**
   * The site stopped (or crashed): nothing will run the timer any more, so every pending
   * deadline fires now and later ones at once — no ask waits forever on a stopped site.
   */
  stop(): void {
    this.stopped = true
    for (let top = this.heap.pop(); top !== undefined; top = this.heap.pop()) top.task()
  }

  /** The timer fiber: fires what is due, then sleeps until the next deadline or an earlier add. */
  readonly run: Effect.Effect<never> = Effect.gen(this, function* () {
    const clock = yield* Effect.clock
    while (true) {
      const now = clock.unsafeCurrentTimeMillis()
      let top = this.heap.peek()
      while (top !== undefined && top.at <= now) {
        this.heap.pop()
        top.task()
        top = this.heap.peek()
      }
      const signal = Effect.async<void>((resume) => {
        this.wake = () => resume(Effect.void)
        return Effect.sync(() => {
          this.wake = undefined
        })
      })
      if (top === undefined) {
        this.wakeAt = Infinity
        yield* signal
      } else {
        this.wakeAt = top.at
        yield* Effect.raceFirst(Effect.sleep(top.at - now), signal)
      }
      this.wake = undefined
    }
  })
}
