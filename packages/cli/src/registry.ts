/**
 * The modules this binary knows. A topology may only name these; the site layer never imports a
 * system, so this list is where systems are plugged in. A module that needs a part only this
 * binary has gets it here (`Module.provide`); what it needs from the machine it gets from the
 * host (`NodeHost`).
 *
 * @since 0.1.0
 */
import * as Chat from "@meridian/core/chat/Chat"
import * as Files from "@meridian/core/files/Files"
import * as Ping from "@meridian/core/ping/Ping"
import type * as Module from "@meridian/core/site/Module"
import * as Sync from "@meridian/core/sync/Sync"
import * as MaxMindGeo from "@meridian/node/files/MaxMindGeo"

/**
 * @since 0.1.0
 * @category registry
 */
export const modules: Module.Registry = [Ping.module, Chat.module, Files.withGeoIp(MaxMindGeo.layerLoader), Sync.module]
