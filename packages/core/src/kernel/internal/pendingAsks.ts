/**
 * The asks of a site waiting for their answer: each one a {@link Waiter}, which is also its entry
 * in the site's deadline heap, and the table of remote asks by correlation id.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { Address } from "../Address.js"
import { Deadline, type Deadlines } from "../Deadlines.js"
import { AskTimeout } from "../Errors.js"
import type { AskRequest, Tagged } from "../Protocol.js"

/**
 * Remote asks waiting for their reply, by correlation id; bounded by the site's `maxPendingAsks`.
 *
 * @internal
 */
export type PendingAsks = Map<string, Waiter>

/**
 * An ask waiting for its answer, and its deadline in the site's timer: `settle` completes it
 * (first call wins), the deadline fails it with `AskTimeout`. One object per ask rather than a
 * set of closures. A remote ask is registered in `pending` under its correlation id, and leaves
 * it with its answer or at its deadline.
 *
 * The wait registers no interruption hook: an `Effect.async` with a canceler costs about four
 * times the suspension itself (measured), on every ask. So an ask whose asker is interrupted
 * (a `timeout` or `race` around it) stays pending — it is still in flight — until its answer
 * arrives or its deadline passes, and counts against `maxPendingAsks` until then.
 *
 * @internal
 */
export class Waiter extends Deadline {
  private settled: Exit.Exit<unknown, unknown> | undefined = undefined
  private resume: ((exit: Exit.Exit<unknown, unknown>) => void) | undefined = undefined
  readonly wait: Effect.Effect<unknown, unknown>

  constructor(
    at: number,
    readonly request: AskRequest,
    private readonly to: Address,
    private readonly millis: number,
    private readonly deadlines: Deadlines,
    private readonly pending?: PendingAsks,
    private readonly correlationId?: string
  ) {
    super(at)
    this.wait = Effect.async<unknown, unknown>((resume) => {
      if (this.settled !== undefined) resume(this.settled)
      else this.resume = resume
    })
    pending?.set(correlationId!, this)
    deadlines.schedule(this)
  }

  settle(exit: Exit.Exit<unknown, unknown>): void {
    if (this.settled !== undefined) return
    this.settled = exit
    this.cancel()
    const resume = this.resume
    this.resume = undefined
    resume?.(exit)
  }

  /** The deadline passed. */
  task(): void {
    this.settle(Exit.fail(askTimeout(this.to, this.request, this.millis)))
  }

  /** The wait is over without an answer to deliver: no deadline, no registration. */
  cancel(): void {
    this.deadlines.cancel(this)
    this.pending?.delete(this.correlationId!)
  }
}

/**
 * The failure of an ask whose deadline passed.
 *
 * @internal
 */
export const askTimeout = (address: Address, message: Tagged, millis: number) =>
  new AskTimeout({ address: address.toString(), tag: message._tag, timeoutMillis: millis })
