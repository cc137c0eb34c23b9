/**
 * A binary min-heap of timers (the simulator's event queue, the kernel's ask deadlines) ordered by (due time, insertion
 * sequence), so timers due at the same instant fire in the order they were registered — the run
 * is deterministic without relying on anything but the order the fibers ran in.
 *
 * Each timer knows its heap slot, so a cancelled timer is removed at once (O(log n)) rather than
 * left behind as a tombstone: a cancelled sleep neither counts as an event nor keeps a run alive,
 * and a loop of `Effect.timeout`s does not pile up dead entries.
 *
 * @internal
 */

/** @internal */
export interface Timer {
  /** Due time (the owner picks the unit: the simulator uses nanoseconds, deadlines milliseconds). */
  readonly at: number
  /** Insertion order; breaks ties between timers due at the same instant. */
  readonly seq: number
  /** When it was registered, in the same unit as `at`. */
  readonly scheduledAt: number
  readonly task: () => void
  /** Slot in the heap, -1 once popped or removed. */
  index: number
}

const before = (a: Timer, b: Timer): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq)

/** @internal */
export class TimerHeap {
  private readonly heap: Array<Timer> = []

  get size(): number {
    return this.heap.length
  }

  peek(): Timer | undefined {
    return this.heap[0]
  }

  push(timer: Timer): void {
    timer.index = this.heap.length
    this.heap.push(timer)
    this.up(timer.index)
  }

  pop(): Timer | undefined {
    const top = this.heap[0]
    if (top !== undefined) this.removeAt(0)
    return top
  }

  /** `false` when the timer was no longer queued (already fired or removed). */
  remove(timer: Timer): boolean {
    const i = timer.index
    if (i < 0 || this.heap[i] !== timer) return false
    this.removeAt(i)
    return true
  }

  private removeAt(i: number): void {
    const heap = this.heap
    const removed = heap[i]
    const last = heap.pop()!
    removed.index = -1
    if (i < heap.length) {
      heap[i] = last
      last.index = i
      this.down(i)
      this.up(last.index)
    }
  }

  private up(i: number): void {
    const heap = this.heap
    const timer = heap[i]
    while (i > 0) {
      const parentIndex = (i - 1) >> 1
      const parent = heap[parentIndex]
      if (!before(timer, parent)) break
      heap[i] = parent
      parent.index = i
      i = parentIndex
    }
    heap[i] = timer
    timer.index = i
  }

  private down(i: number): void {
    const heap = this.heap
    const length = heap.length
    const timer = heap[i]
    while (true) {
      const left = 2 * i + 1
      if (left >= length) break
      const right = left + 1
      const child = right < length && before(heap[right], heap[left]) ? right : left
      const childTimer = heap[child]
      if (!before(childTimer, timer)) break
      heap[i] = childTimer
      childTimer.index = i
      i = child
    }
    heap[i] = timer
    timer.index = i
  }
}
