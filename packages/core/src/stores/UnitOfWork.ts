/**
 * Atomic units of work across the site's stores. An actor that declares itself `transactional`
 * (its handlers only touch the site's stores) has each message from another site applied in one
 * unit together with the dedupe window's record of it: after a crash, either both happened or
 * neither, so a retransmission is applied exactly once. The SQLite implementation is one
 * transaction; the in-memory one makes the two steps uninterruptible.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * @since 0.1.0
 * @category models
 */
export interface UnitOfWorkService {
  readonly atomically: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class UnitOfWork extends Context.Tag("@meridian/core/UnitOfWork")<UnitOfWork, UnitOfWorkService>() {}

/**
 * For stores that need no transaction (memory): the effect runs uninterruptibly, so a simulated
 * crash (an interruption) cannot fall between its steps.
 *
 * @since 0.1.0
 * @category constructors
 */
export const direct: UnitOfWorkService = { atomically: (effect) => Effect.uninterruptible(effect) }

/**
 * @since 0.1.0
 * @category layers
 */
export const layerDirect: Layer.Layer<UnitOfWork> = Layer.succeed(UnitOfWork, direct)
