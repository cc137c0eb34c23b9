/**
 * The host services of a site process (PLACEHOLDER until the host helper lands).
 *
 * @since 0.1.0
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as Host from "@meridian/core/site/Host"
import * as Layer from "effect/Layer"

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Host.Services> = Layer.mergeAll(
  NodeHttpClient.layer,
  NodeFileSystem.layer,
  Layer.succeed(Host.Listeners, { listen: (options) => NodeSocketServer.make(options) })
)
