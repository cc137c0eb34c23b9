/**
 * What a module may need from the machine it runs on, as Effect services: an HTTP client, a file
 * system (with its watcher, `FileSystem.watch`) and raw TCP listeners. A module states the ones it
 * uses in the requirements of its `start`; the site provides all of them from one `Layer`: the
 * real ones in `@meridian/node` (`NodeHost.layer`), simulated ones in the simulator
 * (`sim/SimHost.ts`), so the same module code runs in both.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as SocketServer from "@effect/platform/SocketServer"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * Where a raw TCP listener binds: a host (an IP literal or `localhost`) and a port (0: any free
 * one; the bound one is the server's `address`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ListenOptions {
  readonly host: string
  readonly port: number
}

/**
 * Opens raw TCP listeners (a protocol that is not HTTP: a proxy in front of another server). A
 * listener lives as long as the scope it was opened in; each accepted connection is a platform
 * `Socket` handed to `run`'s handler.
 *
 * @since 0.1.0
 * @category tags
 */
export class Listeners extends Context.Tag("@meridian/core/site/Host/Listeners")<
  Listeners,
  {
    readonly listen: (
      options: ListenOptions
    ) => Effect.Effect<SocketServer.SocketServer["Type"], SocketServer.SocketServerError, Scope.Scope>
  }
>() {}

/**
 * Default bound on the events a `FileSystem.watch` stream holds that its consumer has not taken
 * yet, on both hosts. Past it the stream delivers what it holds, then fails with `SystemError`
 * reason `"Unknown"` (what NodeFileSystem reports when its watcher fails): events were lost and
 * the consumer must rescan. No event is dropped silently.
 *
 * @since 0.1.0
 * @category bounds
 */
export const DEFAULT_WATCH_QUEUE_CAPACITY = 1024

/**
 * Every host service a module's `start` may require. A module whose `start` needs anything else
 * does not type-check as a module.
 *
 * @since 0.1.0
 * @category models
 */
export type Services = HttpClient.HttpClient | FileSystem.FileSystem | Listeners
