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

/**
 * A scheduled deadline. `cancel` it once the ask is answered.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly deadline: number
  readonly cancel: () => void
}

interface Node {
  readonly deadline: number
  readonly seq: number
  readonly fire: () => void
  cancelled: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export class Deadlines {
  private heap: Array<Node> = []
  private cancelled = 0
  private seq = 0
  /** When the timer fiber will next wake (Infinity while it waits for work). */
  private wakeAt = Infinity
  private wake: (() => void) | undefined = undefined

  /** Entries scheduled and not yet fired or cancelled (upper bound: cancelled ones linger). */
  get size(): number {
    return this.heap.length - this.cancelled
  }

  /** Calls `fire` once `deadline` (epoch ms, by the Effect clock) has passed, unless cancelled first. */
  add(deadline: number, fire: () => void): Entry {
    const node: Node = { deadline, seq: this.seq++, fire, cancelled: false }
    this.push(node)
    if (deadline < this.wakeAt && this.wake !== undefined) {
      const wake = this.wake
      this.wake = undefined
      wake()
    }
    return {
      deadline,
      cancel: () => {
        if (node.cancelled) return
        node.cancelled = true
        this.cancelled++
        if (this.cancelled > 1024 && this.cancelled * 2 > this.heap.length) this.compact()
      }
    }
  }

  /** The timer fiber: fires what is due, then sleeps until the next deadline or an earlier add. */
  readonly run: Effect.Effect<never> = Effect.gen(this, function* () {
    const clock = yield* Effect.clock
    while (true) {
      const now = clock.unsafeCurrentTimeMillis()
      let top = this.peek()
      while (top !== undefined && top.deadline <= now) {
        this.pop()
        top.cancelled = true
        top.fire()
        top = this.peek()
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
        this.wakeAt = top.deadline
        yield* Effect.raceFirst(Effect.sleep(top.deadline - now), signal)
      }
      this.wake = undefined
    }
  })

  private peek(): Node | undefined {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) {
      this.pop()
      this.cancelled--
    }
    return this.heap[0]
  }

  private compact(): void {
    const live = this.heap.filter((n) => !n.cancelled)
    this.heap = []
    this.cancelled = 0
    for (const node of live) this.push(node)
  }

  private push(node: Node): void {
    const heap = this.heap
    heap.push(node)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!less(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }

  private pop(): void {
    const heap = this.heap
    const last = heap.pop()!
    if (heap.length === 0) return
    heap[0] = last
    let i = 0
    while (true) {
      const l = 2 * i + 1
      const r = l + 1
      let smallest = i
      if (l < heap.length && less(heap[l]!, heap[smallest]!)) smallest = l
      if (r < heap.length && less(heap[r]!, heap[smallest]!)) smallest = r
      if (smallest === i) break
      ;[heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!]
      i = smallest
    }
  }
}

const less = (a: Node, b: Node): boolean => a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq)
