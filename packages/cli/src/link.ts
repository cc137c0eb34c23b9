/**
 * `meridian link down|up --peer NAME`: link maintenance (operator).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import { baseUrl, loadToken, print, targetOptions } from "./client.js"
import { callSite } from "./siteApi.js"
import type { Modules } from "./modules.js"

const linkCommand = (modules: Modules, direction: "down" | "up") =>
  Command.make(
    direction,
    { ...targetOptions, peer: Options.text("peer").pipe(Options.withDescription("the neighbour at the other end")) },
    (args) =>
      Effect.gen(function* () {
        const saved = yield* loadToken
        const url = yield* baseUrl(args, modules)
        const result = yield* callSite(
          url,
          saved.token,
          direction === "down"
            ? `take the link to ${args.peer} out of service`
            : `put the link to ${args.peer} back in service`,
          (client) =>
            direction === "down"
              ? client.admin.linkDown({ path: { peer: args.peer } })
              : client.admin.linkUp({ path: { peer: args.peer } }),
          { NotFound: "`meridian status` lists the site's links" }
        )
        return yield* print(
          args.json,
          result,
          () =>
            `link to ${args.peer} ${direction === "down" ? "taken out of service" : "back in service"}; routes: ${Object.entries(
              result.routes
            )
              .map(([to, via]) => `${to} via ${via}`)
              .join(", ")}`
        )
      })
  ).pipe(
    Command.withDescription(
      direction === "down"
        ? "take a link out of service (maintenance): traffic is routed around it"
        : "put a link back in service"
    )
  )

/**
 * @since 0.1.0
 * @category commands
 */
export const makeLinkCommand = (modules: Modules) =>
  Command.make("link").pipe(
    Command.withDescription("link maintenance (operator)"),
    Command.withSubcommands([linkCommand(modules, "down"), linkCommand(modules, "up")])
  )
