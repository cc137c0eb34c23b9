/**
 * Units of work over the site's SQLite database: one transaction (a savepoint when nested), so a
 * transactional actor's state change and the dedupe record of the message that caused it commit
 * together or not at all.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { UnitOfWork, type UnitOfWorkService } from "@meridian/core/stores/UnitOfWork"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<UnitOfWorkService, never, SqlClient.SqlClient> = Effect.map(
  SqlClient.SqlClient,
  (sql) => ({
    atomically: (effect) =>
      sql.withTransaction(effect).pipe(
        Effect.catchIf(
          (e): e is SqlError => e instanceof SqlError,
          (e) => Effect.die(e)
        )
      )
  })
)

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<UnitOfWork, never, SqlClient.SqlClient> = Layer.effect(UnitOfWork, make)
