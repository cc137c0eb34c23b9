/**
 * Roaming group communication (`chat` module): groups with a home region, messages numbered by
 * the group's home and delivered to every member in their own home region, pushed to online
 * readers (server-sent events) and kept for the others, over regional service centers whose
 * roaming systems talk pairwise — and through a third region when a link between two is down.
 *
 * The service is in `Service.ts`, its HTTP API in `Http.ts` (described in `Api.ts`), its simulator plug-in in
 * `Simulation.ts`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Module from "../site/Module.js"
import { Api } from "./Api.js"
import { routes } from "./Http.js"
import { type ChatService, type Counters, make, Settings } from "./Service.js"
import * as Simulation from "./Simulation.js"

export { Api } from "./Api.js"
export { type ChatError, type ChatService, HomeUnreachable, type Sent, Settings } from "./Service.js"

/**
 * The module.
 *
 * @since 0.1.0
 * @category modules
 */
export const module = Module.make({
  name: "chat",
  description: "roaming group communication: regional service centers, full-mesh roaming, relay around failed links",
  settings: Settings,
  simulation: () => {
    const run = Simulation.makeRun()
    return {
      generators: { "roaming-traffic": Simulation.roamingTraffic(run) },
      invariants: {
        "delivered-once-in-order": Simulation.deliveredOnceInOrder(run),
        "queries-from-home": Simulation.queriesFromHome(run)
      }
    }
  },
  start: (context, settings) =>
    Effect.gen(function* () {
      const counters: Counters = { sequenced: 0, queued: 0, rejected: 0, released: 0, delivered: 0, streams: 0 }
      const { service, roaming } = yield* make(context, settings, counters)
      const httpRoutes = yield* routes(context, settings, service, counters)
      return {
        service: service satisfies ChatService,
        routes: httpRoutes,
        api: Api,
        metrics: () => {
          const caches = roaming.cacheSizes()
          return [
            `meridian_chat_sends_total{outcome="sequenced"} ${counters.sequenced}`,
            `meridian_chat_sends_total{outcome="queued"} ${counters.queued}`,
            `meridian_chat_refused_at_home_total ${counters.rejected}`,
            `meridian_chat_copies_released_total ${counters.released}`,
            `meridian_chat_deliveries_total ${counters.delivered}`,
            `meridian_chat_streams ${counters.streams}`,
            `meridian_chat_home_cache_entries{kind="group"} ${caches.groups}`,
            `meridian_chat_home_cache_entries{kind="user"} ${caches.users}`
          ]
        }
      }
    })
})
