/**
 * `meridian status`: a site's links, routes, actors and dead letters.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { baseUrl, loadToken, print, targetOptions } from "./client.js"
import { call, callSite } from "./siteApi.js"
import type { Modules } from "./modules.js"

/**
 * `meridian status`: the operator's detailed status when logged in as one, else the public one.
 *
 * @since 0.1.0
 * @category commands
 */
export const makeStatusCommand = (modules: Modules) =>
  Command.make("status", targetOptions, (args) =>
    Effect.gen(function* () {
      const url = yield* baseUrl(args, modules)
      const saved = yield* Effect.option(loadToken)
      const status: Record<string, unknown> =
        Option.isSome(saved) && saved.value.roles.includes("operator")
          ? yield* callSite(url, saved.value.token, "status", (client) => client.admin.status())
          : yield* call(
              url,
              "status",
              Effect.flatMap(HttpClient.HttpClient, (client) =>
                Effect.flatMap(client.get(`${url}/status`), (r) => r.json)
              )
            ).pipe(Effect.map((v) => v as Record<string, unknown>))
      return yield* print(args.json, status, () => {
        const links = (status.links ?? {}) as Record<string, string>
        const routes = (status.routes ?? {}) as Record<string, string>
        const maintenance = (status.maintenance ?? []) as ReadonlyArray<string>
        const actors = (status.actors ?? []) as ReadonlyArray<{ name: string; mailboxDepth: number; status: string }>
        const dead = (status.deadLetters ?? {}) as Record<string, number>
        return [
          `site ${String(status.site)}: modules ${((status.modules ?? []) as ReadonlyArray<string>).join(", ")}`,
          "links:",
          ...Object.entries(links).map(
            ([peer, state]) => `  ${peer}: ${state}${maintenance.includes(peer) ? " (maintenance)" : ""}`
          ),
          "routes:",
          ...Object.entries(routes).map(([to, via]) => `  ${to} via ${via}`),
          "actors:",
          ...actors.map((a) => `  ${a.name}: ${a.status}, ${a.mailboxDepth} queued`),
          `dead letters: ${
            Object.entries(dead)
              .map(([reason, n]) => `${reason} ${n}`)
              .join(", ") || "none"
          }`
        ].join("\n")
      })
    })
  ).pipe(Command.withDescription("show a site's links, routes, actors and dead letters"))
