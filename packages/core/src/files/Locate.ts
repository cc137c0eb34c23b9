/**
 * The directory route (`GET /v1/locate`): which region a client (or an IP it names) is in, by the
 * topology's CIDRs, the GeoIP database or the default region, and the least loaded address of
 * that region's file server.
 *
 * @since 0.1.0
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Refusals from "../api/Refusals.js"
import { urlOf } from "./Addresses.js"
import * as Directory from "./Directory.js"
import { type FilesError, isFilesError, refuse } from "./Errors.js"
import { type Handler, header } from "./Http.js"
import { RequestAddress } from "./Protocol.js"
import type { Server } from "./Server.js"

/**
 * The directory route of `server`, its GeoIP database (when the settings name one) loaded by the
 * binary's {@link Directory.GeoIpLoader}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (server: Server): Effect.Effect<Handler, { readonly message: string }, Directory.GeoIpLoader> =>
  Effect.gen(function* () {
    const { context, settings, site, fileServers } = server
    const directory = Directory.make(context.topology)
    const proxies = Directory.proxyList(settings.trustedProxies)
    const geo: Directory.GeoIpService =
      settings.geoipDatabase === undefined
        ? Directory.GeoIp.none
        : yield* Effect.flatMap(Directory.GeoIpLoader, (loader) => loader.load(settings.geoipDatabase!))

    /** The file server of a region: its first site by name running this module. */
    const serverOf = (name: string) => fileServers.filter((s) => context.topology.sites[s]!.region === name).sort()[0]

    return Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const query = yield* HttpServerRequest.ParsedSearchParams
      const asked = typeof query.ip === "string" ? query.ip : undefined
      const forwardedFor = header(request, "x-forwarded-for")
      const client = Directory.clientAddress({
        remoteAddress: Option.getOrUndefined(request.remoteAddress),
        ...(forwardedFor === undefined ? {} : { forwardedFor }),
        trustedProxies: proxies
      })
      const ip = asked ?? Option.getOrElse(client, () => "")
      if (asked !== undefined && Option.isNone(Directory.parseIp(asked))) {
        return yield* refuse(new Refusals.BadRequest({ message: `not an IP address: ${asked}` }))
      }
      const location = directory.locate(ip, geo)
      // A region without a file server of its own is served by the default region's.
      const target = serverOf(location.region) ?? serverOf(directory.defaultRegion) ?? fileServers.sort()[0]!
      const fallback = { name: "main", url: urlOf(context.topology.sites[target]!.http) }
      const address =
        target === site
          ? yield* server.ref(site).ask(new RequestAddress())
          : yield* server
              .ref(target)
              .ask(new RequestAddress(), { timeout: Duration.millis(settings.brokerTimeoutMillis) })
              .pipe(Effect.orElseSucceed(() => fallback))
      return HttpServerResponse.unsafeJson({
        ...location,
        server: { site: target, region: context.topology.sites[target]!.region, ...address }
      })
    }).pipe(
      Effect.catchIf(
        (e): e is Exclude<typeof e, FilesError> => !isFilesError(e),
        (e) => refuse(new Refusals.Unavailable({ message: `the file server did not answer (${e._tag})` }))
      )
    )
  })
