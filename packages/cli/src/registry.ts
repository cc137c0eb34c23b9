/**
 * The modules this binary knows. A topology may only name these; the kernel itself never
 * imports a system, so this list is where systems are plugged in.
 *
 * @since 0.1.0
 */
import type * as Module from "@meridian/core/kernel/Module"
import * as Chat from "@meridian/core/chat/Chat"
import * as Files from "@meridian/core/files/Files"
import * as Ping from "@meridian/core/ping/Ping"
import * as MaxMindGeo from "@meridian/node/files/MaxMindGeo"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"

/**
 * @since 0.1.0
 * @category registry
 */
export const modules: Module.Registry = [
  Ping.module,
  Chat.module,
  Files.make({
    loadGeoIp: (file) =>
      MaxMindGeo.make({ file }).pipe(
        Effect.provide(NodeContext.layer),
        Effect.mapError((e) => ({ message: `GeoIP database ${e.file}: ${e.reason}` }))
      )
  })
]
