/**
 * The built-in accounts module every site starts before the modules of its topology entry: the
 * `accounts` actor (claims at a name's arbiter, accounts at its home region) and the claims of
 * accounts created offline, sent once the site runs. Its service is the site's accounts client,
 * the one every other module reaches as `context.accounts`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Module from "../site/Module.js"
import type { Accounts } from "./Accounts.js"
import { actor, sendPendingClaims } from "./Accounts.js"

/**
 * @since 0.1.0
 * @category modules
 */
export const module = Module.make({
  name: "accounts",
  description: "user accounts of the whole topology: unique names, home regions, logins, revocations",
  settings: Module.NoSettings,
  start: (context) =>
    Effect.gen(function* () {
      yield* context.spawn(actor(context.stores))
      yield* sendPendingClaims({ kv: context.stores.kv, topology: context.topology, system: context.system }).pipe(
        Effect.catchAll((e) => Effect.logWarning(`accounts: pending claims not sent yet: ${e.message}`))
      )
      return { service: context.accounts satisfies Accounts }
    })
})
