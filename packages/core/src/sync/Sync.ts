/**
 * Folder sync (`sync` module): per account, a numbered index of file versions (one writer: the
 * account's home region), content-defined chunks stored once per site and shared, manifests sent
 * as deltas, kept versions, live push, and a device protocol over HTTP
 * (docs/design/folder-sync.md).
 *
 * The home side is in `Server.ts`, the relay from other sites in `Relay.ts`, the service that
 * picks one in `Service.ts`, the routes in `Http.ts` (described in `Api.ts`), the device's HTTP
 * binding in `HttpSession.ts`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Module from "../site/Module.js"
import { Api } from "./Api.js"
import { routes } from "./Http.js"
import * as Relay from "./Relay.js"
import { makeCounters, makeLocal, Settings } from "./Server.js"
import { make, type SyncService } from "./Service.js"
import { simulation } from "./Simulation.js"

export { Api } from "./Api.js"
export { Settings } from "./Server.js"
export type { SyncService } from "./Service.js"

/**
 * The module.
 *
 * @since 0.1.0
 * @category modules
 */
export const module = Module.make({
  name: "sync",
  description: "folder sync: numbered per-account file versions, shared content-defined chunks, live push",
  settings: Settings,
  start: (context, settings) =>
    Effect.gen(function* () {
      const counters = makeCounters()
      const local = yield* makeLocal(context, settings, counters)
      yield* context.spawn(Relay.actor(local, settings))
      const service: SyncService = yield* make(context, settings, counters, local)
      return {
        service,
        routes: routes(context.stores.identity, settings, service),
        api: Api,
        metrics: () => [
          `meridian_sync_commits_total ${counters.commits}`,
          `meridian_sync_conflicts_total ${counters.conflicts}`,
          `meridian_sync_quota_refusals_total ${counters.quotaRefusals}`,
          `meridian_sync_chunks_uploaded_total ${counters.chunksUploaded}`,
          `meridian_sync_chunk_bytes_uploaded_total ${counters.bytesUploaded}`,
          `meridian_sync_chunk_bytes_deduplicated_total ${counters.bytesDeduplicated}`,
          `meridian_sync_blob_releases_total ${counters.released}`,
          `meridian_sync_relayed_asks_total ${counters.relayedAsks}`,
          `meridian_sync_streams ${counters.streams}`
        ]
      }
    }),
  simulation
})
