/**
 * One site as a process: its stores, the TCP transport to its neighbours, the kernel site with
 * its modules, and its HTTP server — all in one scope, so closing it shuts the site down in order
 * (HTTP stops accepting, mailboxes drain within their bound, links close, then the stores).
 *
 * @since 0.1.0
 */
import type * as Host from "@meridian/core/site/Host"
import type * as Module from "@meridian/core/site/Module"
import type * as Routing from "@meridian/core/kernel/Routing"
import * as Site from "@meridian/core/site/Site"
import { Identity } from "@meridian/core/stores/Identity"
import { parseHostPort, type Topology } from "@meridian/core/topology/Topology"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as V8 from "node:v8"
import * as SiteHttp from "../http/SiteHttp.js"
import * as TcpTransport from "../tcp/TcpTransport.js"
import * as NodeHost from "./NodeHost.js"
import * as Secret from "./Secret.js"

/**
 * Environment variable that carries the shared secret when the topology does not.
 *
 * @since 0.1.0
 * @category config
 */
export const SECRET_ENV = Secret.SECRET_ENV

/**
 * @since 0.1.0
 * @category models
 */
export interface SiteNode {
  readonly site: Site.RunningSite
  readonly transport: TcpTransport.TcpTransport
  readonly http: ReadonlyArray<SiteHttp.AddressLoad>
}

/**
 * The secret sites prove in their hello: the topology's, else `$MERIDIAN_SECRET`.
 *
 * @since 0.1.0
 * @category config
 */
export const secretOf = Secret.secretOf

/**
 * The V8 setting of a process that runs a site, applied by {@link start} (unless told to keep
 * V8's defaults): allocation-site pretenuring off. Under a site's steady load — many asks in
 * flight, each a handful of short-lived objects — V8 takes the allocation sites of those objects
 * for sites of long-lived ones and allocates them straight into the old generation, which then
 * fills with garbage only a full collection frees, and every scavenge slows down. Measured with
 * `npm run bench:transport` on the asking process: scavenges from 4–8 ms to under 1 ms, CPU per
 * ask from about 52 to 37 µs. It changes where V8 first places objects, never what runs.
 *
 * @since 0.1.0
 * @category config
 */
export const tuneV8 = (): void => V8.setFlagsFromString("--no-allocation-site-pretenuring")

/**
 * What an operator needs from a site's log about its links: each change of a link's state, at
 * info, a link lost at warning (the transport says when a peer first connects: it joined). The
 * router calls this synchronously on its own path, so the line is written by a forked log effect.
 *
 * @since 0.1.0
 * @category logging
 */
export const logLinkChanges = (): ((event: Routing.Event) => void) => (event) => {
  if (event._tag !== "LinkState") return
  const line =
    event.state === "down"
      ? `link: ${event.peer} is down (no heartbeat, closed, or in maintenance): traffic goes around it`
      : event.state === "suspect"
        ? `link: ${event.peer} is suspect (heartbeats late)`
        : `link: ${event.peer} is up`
  Effect.runFork(event.state === "down" ? Effect.logWarning(line) : Effect.logInfo(line))
}

/**
 * Starts `site` in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (options: {
  readonly topology: Topology
  readonly site: string
  readonly modules: Module.Registry
  readonly secret: string
  readonly tcp?: Partial<TcpTransport.Config>
  /** Bounds of the HTTP server (`maxBodyBytes`...); default {@link SiteHttp.Config}. */
  readonly http?: Partial<SiteHttp.Config>
  readonly drainTimeout?: Duration.DurationInput
  /** Leave V8's settings as they are (see {@link tuneV8}); default false. */
  readonly keepV8Defaults?: boolean
  /** What modules get from the machine; default: the real ones ({@link NodeHost.layer}). */
  readonly host?: Layer.Layer<Host.Services>
}): Effect.Effect<SiteNode, Error, Scope.Scope | Site.SiteStores> =>
  Effect.gen(function* () {
    const { topology, site } = options
    if (options.keepV8Defaults !== true) tuneV8()
    const info = topology.sites[site]
    if (info === undefined) return yield* Effect.fail(new Error(`no site named ${site} in topology ${topology.name}`))
    const transport = yield* TcpTransport.make({
      topology,
      site,
      secret: options.secret,
      ...(options.tcp === undefined ? {} : { config: options.tcp })
    })
    const running = yield* Site.start({
      topology,
      site,
      modules: options.modules,
      transport,
      onRouterEvent: logLinkChanges(),
      ...(options.drainTimeout === undefined ? {} : { drainTimeout: options.drainTimeout })
    }).pipe(
      Effect.provide(options.host ?? NodeHost.layer),
      Effect.mapError((e) => new Error(e.message))
    )
    const addresses = [
      { name: "main", value: info.http },
      ...Object.entries(info.carriers).map(([name, carrier]) => ({ name, value: carrier.http }))
    ].map(({ name, value }) => {
      const parsed = parseHostPort(value)
      if (parsed === undefined) throw new Error(`bad http address ${value}`)
      return { name, host: parsed.host, port: parsed.port }
    })
    const http = yield* SiteHttp.serve({
      site: running,
      identity: yield* Identity,
      addresses,
      ...(options.http === undefined ? {} : { config: options.http }),
      extras: {
        metrics: () => [
          ...Object.entries(transport.stats.rejected).map(
            ([reason, n]) => `meridian_tcp_rejected_connections_total{reason="${reason}"} ${n}`
          ),
          `meridian_tcp_frames_total{direction="in"} ${transport.stats.framesIn}`,
          `meridian_tcp_frames_total{direction="out"} ${transport.stats.framesOut}`,
          `meridian_tcp_bytes_total{direction="in"} ${transport.stats.bytesIn}`,
          `meridian_tcp_bytes_total{direction="out"} ${transport.stats.bytesOut}`
        ],
        status: () => ({
          tcp: { address: `${transport.address.host}:${transport.address.port}`, connected: transport.connected() }
        }),
        details: () => ({
          tcp: {
            address: `${transport.address.host}:${transport.address.port}`,
            connected: transport.connected(),
            ...transport.stats
          }
        })
      }
    })
    return { site: running, transport, http }
  })
