/**
 * PLACEHOLDER until the simulated host lands (in-memory file system, listeners, HTTP client).
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as SocketServer from "@effect/platform/SocketServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Host from "../site/Host.js"

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (): Layer.Layer<Host.Services> =>
  Layer.mergeAll(
    FileSystem.layerNoop({}),
    Layer.succeed(
      HttpClient.HttpClient,
      HttpClient.make((request) =>
        Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", description: "no HTTP" }))
      )
    ),
    Layer.succeed(Host.Listeners, {
      listen: () => Effect.fail(new SocketServer.SocketServerError({ reason: "Open", cause: "none" }))
    })
  )
