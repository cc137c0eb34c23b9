/**
 * An actor's state on its site (its cell) and the loop every incarnation of it runs: batches
 * taken from the mailbox, each message checked (deadline, dedupe, handler) and handled in turn
 * without a fiber per message; after a crash, what the batch had left is kept for the next one.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type * as Dedupe from "../../stores/Dedupe.js"
import type { UnitOfWorkService } from "../../stores/UnitOfWork.js"
import type * as Actor from "../Actor.js"
import type { ActorInfo, Settlement } from "../ActorSystem.js"
import type { Address } from "../Address.js"
import type { Reason } from "../DeadLetters.js"
import { ActorCrashed, ActorStopped, type AskError } from "../Errors.js"
import type { Mailbox } from "../Mailbox.js"
import type { Protocol, Tagged } from "../Protocol.js"
import type * as Supervisor from "../Supervisor.js"

/**
 * A queued message. `reply` is set for asks.
 *
 * @internal
 */
export interface Item {
  readonly message: Tagged
  readonly from: Address | undefined
  readonly envelopeId: string | undefined
  readonly deadline: number | undefined
  /** Answers an ask: at once when it can (`undefined`), else the effect that answers. */
  readonly reply: ((exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void> | undefined) | undefined
  /** Set for messages that came in an envelope: told once what became of it. */
  readonly settle: ((settlement: Settlement) => Effect.Effect<void>) | undefined
  /** Durable envelopes are remembered in the site's (persisted) dedupe store, others in memory. */
  readonly durable: boolean
}

/**
 * A tell from this site to a local actor: no sender, envelope, deadline or reply.
 *
 * @internal
 */
export const localTell = (message: Tagged): Item => ({
  message,
  from: undefined,
  envelopeId: undefined,
  deadline: undefined,
  reply: undefined,
  settle: undefined,
  durable: false
})

/**
 * A handler with its message type erased: the loop finds it by the message's tag.
 *
 * @internal
 */
export type ErasedHandler = (message: Tagged, context: Actor.MessageContext) => Effect.Effect<unknown, unknown> | void

/**
 * One actor on its site, across its incarnations: the loop and the system share it.
 *
 * @internal
 */
export interface Cell {
  readonly name: string
  readonly address: Address
  readonly addressText: string
  readonly protocol: Protocol<Tagged>
  readonly mailbox: Mailbox<Item>
  readonly askTimeout: Duration.Duration
  readonly supervisor: Supervisor.Supervisor
  /** Handlers only touch stores: messages from other sites are applied atomically with their dedupe record. */
  readonly transactional: boolean
  status: ActorInfo["status"]
  /** Messages taken from the mailbox but not processed when the last incarnation ended. */
  carry: ReadonlyArray<Item>
  batch: ReadonlyArray<Item> | undefined
  index: number
  processed: number
  restarts: number
  removed: boolean
}

/**
 * Records a dead letter: the site's `deadLetter`, which fills in what the record needs.
 *
 * @internal
 */
export type DeadLetter = (
  reason: Reason,
  to: string,
  from: Address | undefined,
  message: { readonly _tag?: unknown } | undefined,
  envelopeId: string | undefined,
  detail: string,
  replay?: Effect.Effect<void, unknown>
) => Effect.Effect<void>

/**
 * What the run loop shares with its site: made once per site, not per actor or message.
 *
 * @internal
 */
export interface LoopContext {
  readonly counters: { duplicates: number }
  readonly dedupe: Dedupe.DedupeService
  readonly unitOfWork: UnitOfWorkService
  readonly deadLetter: DeadLetter
  /** Whether a message that came in an envelope was applied already. */
  readonly seen: (item: Item) => Effect.Effect<boolean> | boolean
  /** Records an applied message's envelope id (`DedupeFull`: applied but not remembered). */
  readonly rememberVolatile: (id: string) => Either.Either<boolean, Dedupe.DedupeFull>
  readonly remember: (durable: boolean, id: string) => Effect.Effect<Either.Either<boolean, Dedupe.DedupeFull>>
  /** A dead tell queued again to the current incarnation of its actor (an ask's asker has gone). */
  readonly requeue: (actor: string, item: Item) => Effect.Effect<void, unknown> | undefined
}

/**
 * Replies to an ask whose handler never ran.
 *
 * @internal
 */
export const failItem = (item: Item, error: AskError): Effect.Effect<void> =>
  item.reply === undefined ? Effect.void : Effect.suspend(() => item.reply!(Exit.fail(error)) ?? Effect.void)

/**
 * Runs one incarnation of an actor: its `init`, then its mailbox until it closes; a crash or an
 * interruption salvages the batch it was in.
 *
 * @internal
 */
export type RunIncarnation = (
  cell: Cell,
  init: (self: Actor.Self) => Effect.Effect<Record<string, ErasedHandler>, unknown, Scope.Scope>,
  incarnation: number
) => Effect.Effect<void, unknown>

/**
 * The run loop of a site's actors, made once per site. The parts of `site` are taken out here,
 * once, so that the loop reads them as variables of this closure rather than as properties on
 * every message.
 *
 * @internal
 */
export const makeRunIncarnation = (site: LoopContext): RunIncarnation => {
  const { counters, dedupe, unitOfWork, deadLetter, seen, rememberVolatile, remember, requeue } = site

  const runIncarnation = (
    cell: Cell,
    init: (self: Actor.Self) => Effect.Effect<Record<string, ErasedHandler>, unknown, Scope.Scope>,
    incarnation: number
  ): Effect.Effect<void, unknown> =>
    Effect.scoped(
      Effect.gen(function* () {
        const handlers = yield* init({ address: cell.address, incarnation })
        const clock = yield* Effect.clock
        cell.status = "running"
        while (true) {
          let batch: ReadonlyArray<Item>
          if (cell.carry.length > 0) {
            batch = cell.carry
            cell.carry = []
          } else {
            batch = yield* cell.mailbox.takeBatch
            if (batch.length === 0) return // closed and drained: a normal stop
          }
          cell.batch = batch
          for (let i = 0; i < batch.length; i++) {
            cell.index = i
            const item = batch[i]!
            if (item.deadline !== undefined && clock.unsafeCurrentTimeMillis() > item.deadline) {
              yield* deadLetter(
                "expired",
                cell.addressText,
                item.from,
                item.message,
                item.envelopeId,
                "deadline passed in the mailbox"
              )
              if (item.settle !== undefined) yield* item.settle("failed")
              continue
            }
            // A message from another site is applied once: a copy that arrives again (a
            // retransmission, a duplicated frame) is skipped. It is remembered only once its
            // handler succeeded, so one that never got applied (crash) is applied when it comes again.
            const already = seen(item)
            if (already === true || (already !== false && (yield* already))) {
              counters.duplicates++
              if (item.settle !== undefined) yield* item.settle("duplicate")
              continue
            }
            const handler = handlers[item.message._tag]
            if (handler === undefined) {
              yield* deadLetter(
                "handler-failed",
                cell.addressText,
                item.from,
                item.message,
                item.envelopeId,
                "no handler for this tag"
              )
              if (item.settle !== undefined) yield* item.settle("failed")
              continue
            }
            if (item.reply === undefined && item.envelopeId !== undefined && cell.transactional) {
              // Applied and remembered in one unit: a crash leaves both or neither.
              const id = item.envelopeId
              const remembered = yield* unitOfWork.atomically(
                Effect.suspend(() => {
                  const result = handler(item.message, item)
                  return Effect.zipRight(result ?? Effect.void, remember(item.durable, id))
                })
              )
              cell.processed++
              if (item.settle !== undefined && Either.isRight(remembered)) yield* item.settle("applied")
              continue
            }
            if (item.reply === undefined) {
              const result = handler(item.message, item)
              if (result !== undefined) yield* result
            } else {
              const result = handler(item.message, item) as Effect.Effect<unknown, unknown>
              // A handler that answers with `Effect.succeed`/`Effect.fail` returned its exit already.
              const exit = Exit.isExit(result) ? result : yield* Effect.exit(result)
              // A typed failure is an answer; a defect or interruption is a crash.
              if (Exit.isFailure(exit) && !Cause.isFailType(exit.cause)) return yield* Effect.failCause(exit.cause)
              const answering = item.reply(exit)
              if (answering !== undefined) yield* answering
            }
            cell.processed++
            if (item.envelopeId !== undefined) {
              // DedupeFull: applied but not remembered; left unacknowledged (see the dedupe store).
              const remembered = item.durable
                ? yield* Effect.either(dedupe.markIfNew(item.envelopeId))
                : rememberVolatile(item.envelopeId)
              if (item.settle !== undefined && Either.isRight(remembered)) yield* item.settle("applied")
            }
          }
          cell.batch = undefined
        }
      })
    ).pipe(
      Effect.onExit((exit) =>
        Exit.isSuccess(exit)
          ? Effect.void
          : Effect.suspend(() => {
              if (cell.status !== "stopping") cell.status = "restarting"
              return salvage(cell, exit.cause)
            })
      )
    )

  /**
   * After a crash (or an interruption) mid-batch: the message being handled becomes a dead
   * letter (its asker gets `ActorCrashed`), the rest of the batch is kept for the next
   * incarnation.
   */
  const salvage = (cell: Cell, cause: Cause.Cause<unknown>): Effect.Effect<void> => {
    const batch = cell.batch
    cell.batch = undefined
    if (batch === undefined) return Effect.void
    const item = batch[cell.index]!
    cell.carry = [...batch.slice(cell.index + 1), ...cell.carry]
    const interrupted = Cause.isInterruptedOnly(cause)
    const detail = interrupted ? "interrupted" : Cause.pretty(cause).split("\n")[0]!.slice(0, 500)
    return Effect.zipRight(
      deadLetter(
        "handler-failed",
        cell.addressText,
        item.from,
        item.message,
        item.envelopeId,
        detail,
        requeue(cell.name, item)
      ).pipe(
        Effect.zipRight(item.settle === undefined ? Effect.void : item.settle(interrupted ? "unprocessed" : "failed"))
      ),
      failItem(
        item,
        interrupted
          ? new ActorStopped({ address: cell.addressText })
          : new ActorCrashed({ address: cell.addressText, tag: item.message._tag, defect: detail })
      )
    )
  }

  return runIncarnation
}
