/**
 * The actor system of one site: spawns actors under supervisors, resolves addresses to local
 * mailboxes or to the router, and accepts envelopes from transports (decoding them with the
 * target actor's protocol, dropping duplicates, dead-lettering what it cannot deliver). Each actor's
 * run loop, the asks waiting for their answer and the reply codec are in `internal/`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import * as Dedupe from "../stores/Dedupe.js"
import { direct as directUnitOfWork, UnitOfWork } from "../stores/UnitOfWork.js"
import * as Actor from "./Actor.js"
import {
  type Cell,
  type DeadLetter,
  type ErasedHandler,
  failItem,
  type Item,
  localTell,
  makeRunIncarnation
} from "./internal/actorLoop.js"
import { askTimeout, type PendingAsks, Waiter } from "./internal/pendingAsks.js"
import { decodeReply, encodeReply, ReplyPayload as ReplyPayloadSchema } from "./internal/replyCodec.js"
import { Address } from "./Address.js"
import { DeadLetters, type DeadLettersService, type Reason } from "./DeadLetters.js"
import { Deadlines } from "./Deadlines.js"
import { Envelope, PROTOCOL_VERSION } from "./Envelope.js"
import {
  ActorNotFound,
  ActorStopped,
  type AskError,
  MailboxFull,
  MalformedMessage,
  PendingAsksFull,
  type TellError,
  type Unreachable
} from "./Errors.js"
import { Mailbox } from "./Mailbox.js"
import { type AskRequest, isAsk, type Protocol, type Tagged } from "./Protocol.js"
import { Router } from "./Router.js"
import * as Supervisor from "./Supervisor.js"

/**
 * An actor of that name already runs on this site.
 *
 * @since 0.1.0
 * @category errors
 */
export class ActorNameTaken extends Data.TaggedError("ActorNameTaken")<{ readonly name: string }> {
  override get message(): string {
    return `an actor named ${this.name} already runs on this site`
  }
}

/**
 * What happened to an envelope handed to {@link ActorSystemService.deliver}. A transport
 * acknowledges a durable envelope on `Delivered` and `Duplicate`, and not on `Busy` (the sender
 * retransmits later); `Rejected` envelopes are dead letters and are acknowledged too, since
 * retransmitting them cannot help.
 *
 * @since 0.1.0
 * @category models
 */
export type Delivery =
  | { readonly _tag: "Delivered" }
  | { readonly _tag: "Duplicate" }
  | { readonly _tag: "Busy"; readonly reason: string }
  | { readonly _tag: "Rejected"; readonly reason: Reason }

/**
 * What became of a message that came in an envelope (see {@link ActorSystemService.deliver}).
 *
 * @since 0.1.0
 * @category models
 */
export type Settlement = "applied" | "duplicate" | "failed" | "unprocessed"

/**
 * Status of one actor, for the status page and metrics.
 *
 * @since 0.1.0
 * @category models
 */
export interface ActorInfo {
  readonly name: string
  readonly protocol: string
  readonly status: "running" | "restarting" | "stopping" | "stopped"
  readonly mailboxDepth: number
  readonly mailboxCapacity: number
  readonly processed: number
  readonly restarts: number
}

/**
 * @since 0.1.0
 * @category config
 */
export interface Config {
  readonly site: string
  /** Most asks to remote actors waiting for their reply at once. */
  readonly maxPendingAsks?: number
  /** Stop timeout used by {@link ActorSystemService.shutdown} when none is given. */
  readonly drainTimeout?: Duration.DurationInput
  /** Supervision of the root supervisor (module supervisors are its children). */
  readonly supervision?: Partial<Supervisor.Config>
  /** How long non-durable envelope ids are remembered (in memory), and how many at most. */
  readonly volatileDedupeAge?: Duration.DurationInput
  readonly volatileDedupeEntries?: number
}

/**
 * @since 0.1.0
 * @category config
 */
export const defaultMaxPendingAsks = 10_000

/**
 * @since 0.1.0
 * @category models
 */
export interface ActorSystemService {
  readonly site: string
  /** The root of the site's supervision tree. */
  readonly root: Supervisor.Supervisor
  readonly deadLetters: DeadLettersService
  /**
   * Starts an actor under `supervisor` (the root by default). Its `init` runs with the context
   * of the caller, on every (re)start.
   */
  readonly spawn: <Msg extends Tagged, R>(
    behavior: Actor.Behavior<Msg, R>,
    options?: { readonly name?: string; readonly supervisor?: Supervisor.Supervisor }
  ) => Effect.Effect<Actor.ActorRef<Msg>, ActorNameTaken, Exclude<R, Scope.Scope>>
  /** A typed reference to an actor on this or another site (resolved on each send). */
  readonly ref: <Msg extends Tagged>(protocol: Protocol<Msg>, address: Address) => Actor.ActorRef<Msg>
  /**
   * Stops an actor. `drain`: it processes what is queued for at most `timeout`; `reject`: what
   * is queued is dead-lettered at once (asks fail with `ActorStopped`). Either way nothing is
   * left behind silently.
   */
  readonly stop: (
    name: string,
    options?: { readonly mode?: "drain" | "reject"; readonly timeout?: Duration.DurationInput }
  ) => Effect.Effect<void>
  /** Stops every actor (drain, bounded by `timeout`). */
  readonly shutdown: (timeout?: Duration.DurationInput) => Effect.Effect<void>
  /**
   * Accepts an envelope from a transport. Never fails: what it cannot deliver is dead-lettered.
   * `onSettled` learns, once, what became of a message that was queued: applied by its handler,
   * found to be a duplicate when its turn came, failed (its handler crashed on it), or not
   * processed (`unprocessed`: the actor stopped or was interrupted first). A durable envelope
   * is acknowledged on the first three, never on `unprocessed`, so its sender retransmits it.
   */
  readonly deliver: (
    envelope: Envelope,
    onSettled?: (settlement: Settlement) => Effect.Effect<void>
  ) => Effect.Effect<Delivery>
  /**
   * `deliver` without an effect, for the router's direct path (frames taken as they arrive):
   * a non-durable ask or tell into a mailbox with room, a reply to the ask that waits for it.
   * `undefined`, having done nothing, for anything else (durable, a duplicate, a reply nobody
   * waits for, a missing, stopping or full actor, a payload that does not decode): `deliver`
   * then takes it, with its dead letters and rejections.
   */
  readonly unsafeDeliver: (
    envelope: Envelope,
    onSettled?: (settlement: Settlement) => Effect.Effect<void>
  ) => Delivery | undefined
  readonly actors: Effect.Effect<ReadonlyArray<ActorInfo>>
  /** Counters of envelopes that crossed this site's boundary. */
  readonly stats: Effect.Effect<{
    readonly envelopesIn: number
    readonly envelopesOut: number
    readonly duplicates: number
    readonly pendingAsks: number
  }>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ActorSystem extends Context.Tag("@meridian/core/ActorSystem")<ActorSystem, ActorSystemService>() {}

/**
 * Makes the actor system of `config.site`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: Config
): Effect.Effect<ActorSystemService, never, Router | Dedupe.Dedupe | DeadLetters | Scope.Scope> =>
  Effect.gen(function* () {
    const router = yield* Router
    const dedupe = yield* Dedupe.Dedupe
    /**
     * Non-durable envelopes (at-most-once tells and asks) are deduplicated too — a network may
     * duplicate a frame — but in memory: persisting them would put a disk write on every ask.
     */
    const window = Dedupe.MemoryWindow.make({
      maxAge: config.volatileDedupeAge ?? "1 minute",
      minRetention: "1 second",
      maxEntries: config.volatileDedupeEntries ?? 100_000
    })
    if (Either.isLeft(window)) return yield* Effect.dieMessage(window.left)
    /** Checked synchronously on the hot path; `volatileDedupe` is the same window as a service. */
    const volatileWindow = window.right
    const volatileDedupe = volatileWindow.service
    const dedupeOf = (durable: boolean) => (durable ? dedupe : volatileDedupe)
    const clock = yield* Effect.clock
    /** Whether a message that came in an envelope was applied already. */
    const seen = (item: Item): Effect.Effect<boolean> | boolean =>
      item.envelopeId === undefined
        ? false
        : item.durable
          ? dedupe.has(item.envelopeId)
          : volatileWindow.has(item.envelopeId, clock.unsafeCurrentTimeMillis())
    /** Records an applied message's envelope id (`DedupeFull`: applied but not remembered). */
    const rememberVolatile = (id: string): Either.Either<boolean, Dedupe.DedupeFull> => {
      const marked = volatileWindow.markIfNew(id, clock.unsafeCurrentTimeMillis())
      return typeof marked === "boolean" ? Either.right(marked) : Either.left(marked)
    }
    const remember = (durable: boolean, id: string): Effect.Effect<Either.Either<boolean, Dedupe.DedupeFull>> =>
      durable ? Effect.either(dedupe.markIfNew(id)) : Effect.succeed(rememberVolatile(id))
    const unitOfWork = Option.getOrElse(yield* Effect.serviceOption(UnitOfWork), () => directUnitOfWork)
    const deadLetters = yield* DeadLetters
    const site = config.site
    const maxPendingAsks = config.maxPendingAsks ?? defaultMaxPendingAsks
    const drainTimeout = config.drainTimeout ?? "5 seconds"
    const root = Supervisor.make(`site:${site}`, config.supervision ?? {})
    const cells = new Map<string, Cell>()
    const pending: PendingAsks = new Map<string, Waiter>()
    const counters = { envelopesIn: 0, envelopesOut: 0, duplicates: 0 }
    let idCounter = 0
    /**
     * Envelope ids: the site, this incarnation (drawn once from the Effect `Random`, so a
     * restarted site never reuses its predecessor's ids and the simulator stays reproducible), a
     * counter. Made synchronously: an id per ask and per reply.
     */
    const incarnationTag = (yield* Random.nextIntBetween(0, 0x7fffffff)).toString(36)
    const nextId = (): string => `${site}-${incarnationTag}-${(++idCounter).toString(36)}`
    const deadlines = new Deadlines()
    yield* Effect.forkScoped(deadlines.run)
    // Runs after the drain at scope close: asks still waiting then fail instead of hanging.
    yield* Effect.addFinalizer(() => Effect.sync(() => deadlines.stop()))
    // When the site stops or crashes, remote asks still waiting fail at once: the deadline timer
    // that would have failed them stops with the site.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        const waiting = [...pending.values()]
        pending.clear()
        for (const ask of waiting) ask.settle(Exit.fail(new ActorStopped({ address: `${SYSTEM_ACTOR}@${site}` })))
      })
    )

    const systemAddress = new Address({ site, actor: SYSTEM_ACTOR })

    const deadLetter: DeadLetter = (reason, to, from, message, envelopeId, detail, replay) =>
      deadLetters.record({
        reason,
        to,
        from: from?.toString() ?? "",
        tag: typeof message?._tag === "string" ? message._tag : "",
        envelopeId,
        detail,
        ...(replay === undefined ? {} : { replay })
      })

    // ---- local delivery -------------------------------------------------------------------

    const enqueueSlow = (cell: Cell, item: Item): Effect.Effect<void, ActorStopped> =>
      Effect.suspend(() => {
        if (cell.mailbox.offer(item)) return Effect.void
        if (cell.mailbox.isClosed) return Effect.fail(new ActorStopped({ address: cell.addressText }))
        return Effect.zipRight(cell.mailbox.awaitRoom, enqueueSlow(cell, item))
      })

    /** Fast path: a synchronous push while there is room. */
    const enqueue = (cell: Cell, item: Item): Effect.Effect<void, ActorStopped> =>
      cell.mailbox.offer(item) ? Effect.void : enqueueSlow(cell, item)

    const tryEnqueue = (cell: Cell, item: Item): Effect.Effect<void, MailboxFull | ActorStopped> => {
      if (cell.mailbox.offer(item)) return Effect.void
      if (cell.mailbox.isClosed) return Effect.fail(new ActorStopped({ address: cell.addressText }))
      return Effect.fail(new MailboxFull({ address: cell.addressText, capacity: cell.mailbox.capacity }))
    }

    /** A dead tell queued again to the current incarnation of its actor (an ask's asker has gone). */
    const requeue = (actor: string, item: Item): Effect.Effect<void, unknown> | undefined =>
      item.reply !== undefined
        ? undefined
        : Effect.suspend((): Effect.Effect<void, unknown> => {
            const cell = cells.get(actor)
            if (cell === undefined) return Effect.fail(new ActorNotFound({ address: `${actor}@${site}` }))
            return tryEnqueue(cell, { ...item, deadline: undefined, settle: undefined })
          })

    /** A dead tell envelope delivered again, without the deadline it may have missed. */
    const redeliver = (envelope: Envelope): Effect.Effect<void, unknown> | undefined =>
      envelope.kind !== "tell"
        ? undefined
        : Effect.suspend(() => {
            const { deadline: _deadline, ...rest } = envelope
            return Effect.flatMap(deliver(new Envelope(rest, { disableValidation: true })), (delivery) =>
              delivery._tag === "Delivered" || delivery._tag === "Duplicate"
                ? Effect.void
                : Effect.fail(new Error(delivery.reason))
            )
          })

    const notFound = (address: Address, message: Tagged): Effect.Effect<never, ActorNotFound> =>
      Effect.zipRight(
        deadLetter(
          "no-such-actor",
          address.toString(),
          undefined,
          message,
          undefined,
          "no actor of that name",
          isAsk(message) ? undefined : requeue(address.actor, localTell(message))
        ),
        Effect.fail(new ActorNotFound({ address: address.toString() }))
      )

    const rejectQueued = (cell: Cell, reason: Reason, detail: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        const items = [...cell.carry, ...cell.mailbox.drainAll()]
        cell.carry = []
        return Effect.forEach(
          items,
          (item) =>
            Effect.zipRight(
              deadLetter(
                reason,
                cell.addressText,
                item.from,
                item.message,
                item.envelopeId,
                detail,
                requeue(cell.name, item)
              ),
              Effect.zipRight(
                failItem(item, new ActorStopped({ address: cell.addressText })),
                item.settle === undefined ? Effect.void : item.settle("unprocessed")
              )
            ),
          { discard: true }
        )
      })

    const runIncarnation = makeRunIncarnation({
      counters,
      dedupe,
      unitOfWork,
      deadLetter,
      seen,
      rememberVolatile,
      remember,
      requeue
    })

    const spawn: ActorSystemService["spawn"] = <Msg extends Tagged, R>(
      behavior: Actor.Behavior<Msg, R>,
      options?: { readonly name?: string; readonly supervisor?: Supervisor.Supervisor }
    ) =>
      Effect.gen(function* () {
        const name = options?.name ?? behavior.name
        if (cells.has(name) || name === SYSTEM_ACTOR) return yield* new ActorNameTaken({ name })
        const context = yield* Effect.context<Exclude<R, Scope.Scope>>()
        const address = new Address({ site, actor: name })
        const supervisor = options?.supervisor ?? root
        const cell: Cell = {
          name,
          address,
          addressText: address.toString(),
          protocol: behavior.protocol as unknown as Protocol<Tagged>,
          mailbox: new Mailbox<Item>(behavior.options.mailboxCapacity ?? 1024, behavior.options.maxBatch ?? 256),
          askTimeout: Duration.decode(behavior.options.askTimeout ?? "5 seconds"),
          supervisor,
          transactional: behavior.options.transactional === true,
          status: "restarting",
          carry: [],
          batch: undefined,
          index: 0,
          processed: 0,
          restarts: 0,
          removed: false
        }
        const init = (self: Actor.Self) =>
          Effect.provide(
            behavior.init(self) as unknown as Effect.Effect<
              Record<string, ErasedHandler>,
              unknown,
              Exclude<R, Scope.Scope> | Scope.Scope
            >,
            context
          )
        cells.set(name, cell)
        let incarnation = 0
        yield* supervisor.add({
          id: name,
          run: Effect.suspend(() => runIncarnation(cell, init, incarnation++)),
          onStart: (restarts) => Effect.sync(() => (cell.restarts = restarts))
        })
        return ref(behavior.protocol, address)
      })

    // ---- remote delivery ------------------------------------------------------------------

    /**
     * An envelope from this site, built from checked parts without running the class constructor
     * (it copies the fields and merges defaults even without validation): the same prototype and
     * fields.
     */
    const envelopeOf = (fields: {
      readonly to: Address
      readonly from: Address
      readonly kind: Envelope["kind"]
      readonly correlationId: string | undefined
      readonly deadline: number | undefined
      readonly durable: boolean
      readonly payload: unknown
    }): Envelope => {
      const envelope = Object.create(Envelope.prototype) as Record<string, unknown>
      envelope.version = PROTOCOL_VERSION
      envelope.id = nextId()
      envelope.from = fields.from
      envelope.to = fields.to
      envelope.kind = fields.kind
      if (fields.correlationId !== undefined) envelope.correlationId = fields.correlationId
      if (fields.deadline !== undefined) envelope.deadline = fields.deadline
      envelope.hops = 0
      envelope.durable = fields.durable
      envelope.payload = fields.payload
      return envelope as unknown as Envelope
    }

    /** The encoded message, or `MalformedMessage` (a programmer error for statically typed sends). */
    const encodeFor = <Msg extends Tagged>(
      protocol: Protocol<Msg>,
      to: Address,
      message: Msg
    ): Either.Either<unknown, MalformedMessage> =>
      Either.mapLeft(
        protocol.encode(message),
        (error) =>
          new MalformedMessage({ address: to.toString(), reason: ParseResult.TreeFormatter.formatErrorSync(error) })
      )

    const envelopeTo = <Msg extends Tagged>(
      protocol: Protocol<Msg>,
      to: Address,
      message: Msg,
      kind: "tell" | "ask",
      durable: boolean
    ): Effect.Effect<Envelope, MalformedMessage> =>
      Effect.suspend(() => {
        const payload = encodeFor(protocol, to, message)
        if (Either.isLeft(payload)) return Effect.fail(payload.left)
        return Effect.succeed(
          envelopeOf({
            to,
            from: systemAddress,
            kind,
            correlationId: undefined,
            deadline: undefined,
            durable,
            payload: payload.right
          })
        )
      })

    /**
     * To the router: `undefined` once it handed the envelope to a link at once, else the effect
     * that sends it.
     */
    const dispatch = (envelope: Envelope): Effect.Effect<void, Unreachable> | undefined => {
      counters.envelopesOut++
      return router.trySend(envelope) ? undefined : router.send(envelope)
    }
    const send = (envelope: Envelope): Effect.Effect<void, Unreachable> => dispatch(envelope) ?? Effect.void

    const remoteTell = <Msg extends Tagged>(protocol: Protocol<Msg>, to: Address, message: Msg) =>
      Effect.flatMap(envelopeTo(protocol, to, message, "tell", false), send).pipe(
        // Encoding failures of a local, statically typed message are programmer errors.
        Effect.catchTag("MalformedMessage", (e) => Effect.die(e))
      )

    const durableTell = <Msg extends Tagged>(protocol: Protocol<Msg>, to: Address, message: Msg) =>
      Effect.flatMap(envelopeTo(protocol, to, message, "tell", true), router.sendDurable).pipe(
        Effect.catchTag("MalformedMessage", (e) => Effect.die(e))
      )

    /**
     * An ask to another site. Everything up to the wait is synchronous — the envelope, the
     * waiter, the hand-off to the link — so an ask costs one suspension, not a chain of effects.
     */
    const remoteAsk = <Msg extends Tagged>(
      protocol: Protocol<Msg>,
      to: Address,
      message: Msg & AskRequest,
      timeout: Duration.Duration
    ): Effect.Effect<unknown, unknown> =>
      Effect.suspend(() => {
        if (pending.size >= maxPendingAsks) return Effect.fail(new PendingAsksFull({ limit: maxPendingAsks }))
        const payload = encodeFor(protocol, to, message)
        if (Either.isLeft(payload)) return Effect.fail(payload.left)
        const correlationId = nextId()
        const millis = Duration.toMillis(timeout)
        const deadline = clock.unsafeCurrentTimeMillis() + millis
        const envelope = envelopeOf({
          to,
          from: systemAddress,
          kind: "ask",
          correlationId,
          deadline,
          durable: false,
          payload: payload.right
        })
        const waiter = new Waiter(deadline, message, to, millis, deadlines, pending, correlationId)
        const sending = dispatch(envelope)
        if (sending === undefined) return waiter.wait
        return sending.pipe(Effect.zipRight(waiter.wait), Effect.ensuring(Effect.sync(() => waiter.cancel())))
      })

    const ref = <Msg extends Tagged>(protocol: Protocol<Msg>, address: Address): Actor.ActorRef<Msg> => {
      if (address.site !== site) {
        return {
          address,
          tell: (message) => remoteTell(protocol, address, message as Msg),
          tryTell: (message) => remoteTell(protocol, address, message as Msg),
          unsafeTell: () => false,
          tellDurable: (message) => durableTell(protocol, address, message as Msg),
          ask: (message, options) =>
            remoteAsk(
              protocol,
              address,
              message as Msg & AskRequest,
              options?.timeout === undefined ? defaultAskTimeout : Duration.decode(options.timeout)
            ) as Effect.Effect<never, AskError>
        }
      }
      let cached: Cell | undefined
      const resolve = (): Cell | undefined => {
        if (cached === undefined || cached.removed) cached = cells.get(address.actor)
        return cached
      }
      const item = localTell
      return {
        address,
        tell: (message) =>
          Effect.suspend((): Effect.Effect<void, TellError> => {
            const cell = resolve()
            return cell === undefined ? notFound(address, message) : enqueue(cell, item(message))
          }),
        tryTell: (message) =>
          Effect.suspend((): Effect.Effect<void, TellError> => {
            const cell = resolve()
            return cell === undefined ? notFound(address, message) : tryEnqueue(cell, item(message))
          }),
        tellDurable: (message) => durableTell(protocol, address, message as Msg),
        unsafeTell: (message) => {
          const cell = resolve()
          return cell !== undefined && cell.mailbox.offer(item(message))
        },
        ask: (message, options) =>
          Effect.clockWith((clock): Effect.Effect<unknown, unknown> => {
            const cell = resolve()
            if (cell === undefined) return notFound(address, message)
            const timeout = options?.timeout === undefined ? cell.askTimeout : Duration.decode(options.timeout)
            const millis = Duration.toMillis(timeout)
            const deadline = clock.unsafeCurrentTimeMillis() + millis
            const waiter = new Waiter(deadline, message as AskRequest, address, millis, deadlines)
            const queued: Item = {
              message,
              from: undefined,
              envelopeId: undefined,
              deadline,
              reply: (exit) => {
                waiter.settle(exit)
                return undefined
              },
              settle: undefined,
              durable: false
            }
            if (cell.mailbox.offer(queued)) return waiter.wait
            // Full (or stopping): wait for room, but not past the deadline. Rare, so the
            // general-purpose timeout is fine here.
            return enqueueSlow(cell, queued).pipe(
              Effect.zipRight(waiter.wait),
              Effect.timeoutFail({ duration: timeout, onTimeout: () => askTimeout(address, message, millis) }),
              Effect.onExit(() => Effect.sync(() => waiter.cancel()))
            )
          }) as Effect.Effect<never, AskError>
      }
    }

    // ---- inbound envelopes ----------------------------------------------------------------

    /** Reply to an ask that came from another site: handed to the link at once when it can take it. */
    const replyTo =
      (envelope: Envelope, request: Tagged) =>
      (exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> | undefined => {
        const payload = encodeReply(request, exit)
        if (Either.isLeft(payload)) return Effect.die(payload.left)
        const reply = envelopeOf({
          from: envelope.to,
          to: envelope.from,
          kind: "reply",
          correlationId: envelope.correlationId ?? envelope.id,
          deadline: undefined,
          durable: false,
          payload: payload.right
        })
        return dispatch(reply)?.pipe(
          Effect.catchAll((e) =>
            deadLetter(
              "unreachable",
              envelope.from.toString(),
              envelope.to,
              request,
              reply.id,
              `reply lost: ${e.message}`
            )
          )
        )
      }

    const rejectAsk = (envelope: Envelope, error: AskError) =>
      envelope.kind === "ask"
        ? Effect.suspend(() => replyTo(envelope, { _tag: "" })(Exit.fail(error)) ?? Effect.void)
        : Effect.void

    const deliver = (
      envelope: Envelope,
      onSettled?: (settlement: Settlement) => Effect.Effect<void>
    ): Effect.Effect<Delivery> =>
      Effect.gen(function* () {
        counters.envelopesIn++
        const to = envelope.to.toString()
        if (envelope.version !== PROTOCOL_VERSION) {
          yield* deadLetter(
            "unsupported-version",
            to,
            envelope.from,
            undefined,
            envelope.id,
            `envelope version ${envelope.version}, this site speaks ${PROTOCOL_VERSION}`
          )
          return rejected("unsupported-version")
        }
        if (envelope.to.site !== site) {
          yield* deadLetter("unreachable", to, envelope.from, undefined, envelope.id, `not addressed to site ${site}`)
          return rejected("unreachable")
        }
        if (envelope.kind === "reply") return yield* acceptReply(envelope)
        const cell = cells.get(envelope.to.actor)
        if (cell === undefined) {
          yield* deadLetter(
            "no-such-actor",
            to,
            envelope.from,
            undefined,
            envelope.id,
            "no actor of that name",
            redeliver(envelope)
          )
          yield* rejectAsk(envelope, new ActorNotFound({ address: to }))
          return rejected("no-such-actor")
        }
        const now = clock.unsafeCurrentTimeMillis()
        if (envelope.deadline !== undefined && now > envelope.deadline) {
          yield* deadLetter(
            "expired",
            to,
            envelope.from,
            undefined,
            envelope.id,
            "deadline passed in transit",
            redeliver(envelope)
          )
          return rejected("expired")
        }
        const decoded = cell.protocol.decode(envelope.payload)
        if (Either.isLeft(decoded)) {
          const reason = ParseResult.TreeFormatter.formatErrorSync(decoded.left)
          yield* deadLetter("undecodable", to, envelope.from, tagOf(envelope.payload), envelope.id, reason)
          yield* rejectAsk(envelope, new MalformedMessage({ address: to, reason }))
          return rejected("undecodable")
        }
        const message = decoded.right
        if (envelope.kind === "ask" && !isAsk(message)) {
          yield* deadLetter("undecodable", to, envelope.from, message, envelope.id, "a tell message sent as an ask")
          yield* rejectAsk(envelope, new MalformedMessage({ address: to, reason: "not an ask request" }))
          return rejected("undecodable")
        }
        if (cell.mailbox.isClosed) {
          yield* deadLetter(
            "stopped",
            to,
            envelope.from,
            message,
            envelope.id,
            "actor is stopping",
            redeliver(envelope)
          )
          yield* rejectAsk(envelope, new ActorStopped({ address: to }))
          return rejected("stopped")
        }
        if (cell.mailbox.size >= cell.mailbox.capacity) {
          // A durable envelope is left unacknowledged and comes again; anything else is lost here.
          if (envelope.durable) return { _tag: "Busy", reason: "mailbox full" } as const
          yield* deadLetter(
            "mailbox-full",
            to,
            envelope.from,
            message,
            envelope.id,
            "mailbox full",
            redeliver(envelope)
          )
          yield* rejectAsk(envelope, new MailboxFull({ address: to, capacity: cell.mailbox.capacity }))
          return rejected("mailbox-full")
        }
        // Already applied: say so at once (the sender stops retransmitting). A copy of one that
        // is still queued goes in too and is skipped when its turn comes.
        if (yield* dedupeOf(envelope.durable).has(envelope.id)) {
          counters.duplicates++
          return { _tag: "Duplicate" } as const
        }
        // Room was checked above; if a racing sender took it, wait rather than drop.
        const queued = yield* Effect.either(enqueue(cell, itemOf(envelope, message, onSettled)))
        if (Either.isLeft(queued)) {
          yield* deadLetter("stopped", to, envelope.from, message, envelope.id, "actor stopped", redeliver(envelope))
          return rejected("stopped")
        }
        return { _tag: "Delivered" } as const
      })

    const delivered: Delivery = { _tag: "Delivered" }

    /** The mailbox item of a decoded message that came in `envelope`. */
    const itemOf = (
      envelope: Envelope,
      message: Tagged,
      onSettled: ((settlement: Settlement) => Effect.Effect<void>) | undefined
    ): Item => ({
      message,
      from: envelope.from,
      envelopeId: envelope.id,
      deadline: envelope.deadline,
      reply: envelope.kind === "ask" ? replyTo(envelope, message) : undefined,
      settle: onSettled,
      durable: envelope.durable
    })

    const unsafeDeliver = (
      envelope: Envelope,
      onSettled?: (settlement: Settlement) => Effect.Effect<void>
    ): Delivery | undefined => {
      if (envelope.durable || envelope.version !== PROTOCOL_VERSION || envelope.to.site !== site) return undefined
      if (envelope.kind === "reply") {
        const waiting = envelope.correlationId === undefined ? undefined : pending.get(envelope.correlationId)
        if (waiting === undefined) return undefined
        const exit = decodeReply(waiting.request, envelope.payload)
        if (Either.isLeft(exit)) return undefined
        counters.envelopesIn++
        waiting.settle(exit.right)
        return delivered
      }
      const cell = cells.get(envelope.to.actor)
      if (cell === undefined || cell.mailbox.isClosed || cell.mailbox.size >= cell.mailbox.capacity) return undefined
      const now = clock.unsafeCurrentTimeMillis()
      if (envelope.deadline !== undefined && now > envelope.deadline) return undefined
      if (volatileWindow.has(envelope.id, now)) return undefined
      const decoded = cell.protocol.decode(envelope.payload)
      if (Either.isLeft(decoded)) return undefined
      const message = decoded.right
      if (envelope.kind === "ask" && !isAsk(message)) return undefined
      if (!cell.mailbox.offer(itemOf(envelope, message, onSettled))) return undefined
      counters.envelopesIn++
      return delivered
    }

    const acceptReply = (envelope: Envelope): Effect.Effect<Delivery> =>
      Effect.gen(function* () {
        const waiting = envelope.correlationId === undefined ? undefined : pending.get(envelope.correlationId)
        if (waiting === undefined) {
          yield* deadLetter(
            "orphan-reply",
            envelope.to.toString(),
            envelope.from,
            undefined,
            envelope.id,
            "no ask waits for this reply (timed out?)"
          )
          return rejected("orphan-reply")
        }
        const exit = decodeReply(waiting.request, envelope.payload)
        if (Either.isLeft(exit)) {
          const reason = ParseResult.TreeFormatter.formatErrorSync(exit.left)
          yield* deadLetter("undecodable", envelope.to.toString(), envelope.from, undefined, envelope.id, reason)
          waiting.settle(Exit.fail(new MalformedMessage({ address: envelope.from.toString(), reason })))
          return rejected("undecodable")
        }
        waiting.settle(exit.right)
        return { _tag: "Delivered" } as const
      })

    const stop: ActorSystemService["stop"] = (name, options) =>
      Effect.gen(function* () {
        const cell = cells.get(name)
        if (cell === undefined) return
        const mode = options?.mode ?? "drain"
        cell.status = "stopping"
        cell.mailbox.close()
        if (mode === "reject") yield* rejectQueued(cell, "stopped", "stopped (reject)")
        yield* cell.supervisor.stop(name, options?.timeout ?? drainTimeout)
        yield* rejectQueued(cell, "stopped", "stopped before it was processed")
        cell.status = "stopped"
        cell.removed = true
        cells.delete(name)
      })

    const service: ActorSystemService = {
      site,
      root,
      deadLetters,
      spawn,
      ref,
      stop,
      shutdown: (timeout) =>
        Effect.forEach(
          Array.from(cells.keys()),
          (name) => stop(name, { mode: "drain", timeout: timeout ?? drainTimeout }),
          {
            concurrency: "unbounded",
            discard: true
          }
        ),
      deliver,
      unsafeDeliver,
      actors: Effect.sync(() =>
        Array.from(cells.values(), (cell) => ({
          name: cell.name,
          protocol: cell.protocol.name,
          status: cell.status,
          mailboxDepth: cell.mailbox.size + cell.carry.length,
          mailboxCapacity: cell.mailbox.capacity,
          processed: cell.processed,
          restarts: cell.restarts
        }))
      ),
      stats: Effect.sync(() => ({ ...counters, pendingAsks: pending.size }))
    }
    return service
  })

/**
 * The sender name of envelopes sent from outside any actor (reserved: no actor may take it).
 *
 * @since 0.1.0
 * @category constants
 */
export const SYSTEM_ACTOR = "system"

/** Decoded once: asks without a timeout of their own are the common case. */
const defaultAskTimeout = Duration.decode(Actor.defaults.askTimeout)

const rejected = (reason: Reason): Delivery => ({ _tag: "Rejected", reason })

const tagOf = (payload: unknown): { readonly _tag?: unknown } | undefined =>
  typeof payload === "object" && payload !== null ? (payload as { readonly _tag?: unknown }) : undefined

/**
 * The wire form of a reply: the handler's answer, its typed failure, or a kernel failure.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReplyPayload = ReplyPayloadSchema

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Config): Layer.Layer<ActorSystem, never, Router | Dedupe.Dedupe | DeadLetters> =>
  Layer.scoped(ActorSystem, make(config))
