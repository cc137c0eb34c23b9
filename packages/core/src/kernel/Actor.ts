/**
 * Actor behaviours and references. A behaviour is a protocol plus an `init` effect that builds
 * the handlers (one per message tag) and whatever state they close over. On a restart `init`
 * runs again, so state starts afresh (or is reloaded from a store) — the OTP contract.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Address } from "./Address.js"
import type { OutboxFull } from "../stores/Outbox.js"
import type { AskError, TellError, Unreachable } from "./Errors.js"
import type { Asks, Failure, HandlerResult, Protocol, Success, Tagged, Tells } from "./Protocol.js"

/**
 * What a handler knows about the message besides its content.
 *
 * @since 0.1.0
 * @category models
 */
export interface MessageContext {
  /** The sender, when the message came in an envelope (remote or addressed by a site). */
  readonly from: Address | undefined
  /** The envelope id, when the message came in an envelope. */
  readonly envelopeId: string | undefined
}

/**
 * One handler per message tag; the compiler checks that every tag is handled and that each ask
 * handler answers with its request's success and failure types.
 *
 * @since 0.1.0
 * @category models
 */
export type Handlers<Msg extends Tagged> = {
  readonly [K in Msg["_tag"]]: (
    message: Extract<Msg, { readonly _tag: K }>,
    context: MessageContext
  ) => HandlerResult<Extract<Msg, { readonly _tag: K }>>
}

/**
 * @since 0.1.0
 * @category config
 */
export interface Options {
  /** Most messages queued; senders beyond it wait (`tell`) or get `MailboxFull` (`tryTell`). */
  readonly mailboxCapacity?: number
  /** Most messages taken from the mailbox in one batch. */
  readonly maxBatch?: number
  /** Default deadline of asks to this actor. */
  readonly askTimeout?: Duration.DurationInput
  /**
   * The tell handlers only read and write the site's stores (no asks, no waiting on other
   * actors): each tell from another site is then applied in one unit of work with its dedupe
   * record (one SQLite transaction), so a crash at any point still gives exactly-once.
   */
  readonly transactional?: boolean
}

/**
 * @since 0.1.0
 * @category config
 */
export const defaults = {
  mailboxCapacity: 1024,
  maxBatch: 256,
  askTimeout: "5 seconds",
  transactional: false
} as const satisfies Required<Options>

/**
 * A typed handle on an actor, local or remote.
 *
 * @since 0.1.0
 * @category models
 */
export interface ActorRef<Msg extends Tagged> {
  readonly address: Address
  /** Enqueues a tell message, waiting while the mailbox is full (back-pressure). */
  readonly tell: (message: Tells<Msg>) => Effect.Effect<void, TellError>
  /** Enqueues a tell message, or fails with `MailboxFull` at once instead of waiting. */
  readonly tryTell: (message: Tells<Msg>) => Effect.Effect<void, TellError>
  /**
   * Enqueues a tell message synchronously, outside any effect: `true` when it is in the mailbox
   * of a local actor, `false` when it could not be (the mailbox is full, the actor is unknown or
   * stopping, or it lives on another site); then use `tell`, which waits for room, routes to
   * other sites and reports why. The fastest way to feed a local actor from a tight loop.
   */
  readonly unsafeTell: (message: Tells<Msg>) => boolean
  /**
   * Durable tell: succeeds once the message is in this site's outbox (*accepted*); from there
   * it is retransmitted until the target site acknowledges it, and applied there once.
   * `OutboxFull` means busy: nothing was accepted.
   */
  readonly tellDurable: (message: Tells<Msg>) => Effect.Effect<void, OutboxFull | Unreachable>
  /** Sends a request and waits for its answer until the deadline (`AskTimeout`). */
  readonly ask: <M extends Asks<Msg>>(
    message: M,
    options?: { readonly timeout?: Duration.DurationInput }
  ) => Effect.Effect<Success<M>, Failure<M> | AskError>
}

/**
 * What `init` receives: the actor's own address and a way to reach others.
 *
 * @since 0.1.0
 * @category models
 */
export interface Self {
  readonly address: Address
  /** How many times this actor has been restarted (0 on the first start). */
  readonly incarnation: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Behavior<Msg extends Tagged, R = never> {
  readonly name: string
  readonly protocol: Protocol<Msg>
  readonly init: (self: Self) => Effect.Effect<Handlers<Msg>, unknown, R | Scope.Scope>
  readonly options: Options
}

/**
 * Defines an actor.
 *
 * @example
 * const Counter = Actor.make("counter", CounterProtocol, () =>
 *   Effect.sync(() => {
 *     let count = 0
 *     return {
 *       Increment: (m) => Effect.sync(() => { count += m.by }),
 *       Get: () => Effect.succeed(count)
 *     }
 *   }))
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Msg extends Tagged, R = never>(
  name: string,
  protocol: Protocol<Msg>,
  init: (self: Self) => Effect.Effect<Handlers<Msg>, unknown, R | Scope.Scope>,
  options: Options = {}
): Behavior<Msg, R> => ({ name, protocol, init, options })
