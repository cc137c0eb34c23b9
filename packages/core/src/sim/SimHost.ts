/**
 * The simulated host: the services of `site/Host.ts` (a file system, raw TCP listeners, an HTTP
 * client) in memory, for the simulator. The same module code that runs on `NodeHost.layer` runs
 * here unchanged: errors are the platform's (`SystemError` with the reason NodeFileSystem gives,
 * `SocketServerError`, `SocketError`, `RequestError`), and everything is plain Effect — no promise,
 * no web stream, no timer, no Node API — so it runs synchronously on the engine's virtual clock
 * and seeded `Random`.
 *
 * Three parts, made apart because they live apart:
 * - `makeFileSystem` (`SimFileSystem.ts`): one per site per run. It is a disk: it outlives the
 *   site's scope, so a crashed and restarted site finds its files.
 * - `makeNetwork` (`SimHostNetwork.ts`, with HTTP in memory in `SimHttp.ts`): one per run, shared
 *   by the sites. Holds the bound addresses (TCP listeners and HTTP apps share one port table per
 *   host, as on a machine), lets workloads `connect` and routes each site's HTTP client to the app
 *   `serve`d at the request's address.
 * - {@link layer} (here): the three `Host.Services` of one site.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Layer from "effect/Layer"
import * as Host from "../site/Host.js"
import { makeFileSystem } from "./SimFileSystem.js"
import { type HostNetwork, makeNetwork } from "./SimHostNetwork.js"

export * from "./SimFileSystem.js"
export * from "./SimHostNetwork.js"

// ---------------------------------------------------------------------------------------------
// One site

/**
 * The `Host.Services` of the simulated site at `host`: its file system (made once per site per
 * run with {@link makeFileSystem}, so it survives the site's restarts), its listeners on the
 * run's network and an HTTP client that reaches the apps served on it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: {
  readonly network: HostNetwork
  readonly host: string
  readonly fileSystem: FileSystem.FileSystem
}): Layer.Layer<Host.Services> =>
  Layer.mergeAll(
    Layer.succeed(FileSystem.FileSystem, options.fileSystem),
    Layer.succeed(Host.Listeners, options.network.listeners(options.host)),
    Layer.succeed(HttpClient.HttpClient, options.network.httpClient(options.host))
  )

/**
 * One site's simulated host on a network and file system of its own: for a test of one site
 * (the simulator's runner gives every site of a run one shared network).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStandalone = (host = "127.0.0.1"): Layer.Layer<Host.Services> =>
  Layer.suspend(() => layer({ network: makeNetwork(), host, fileSystem: makeFileSystem() }))
