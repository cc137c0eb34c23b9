/**
 * The regional file service (`files` module): offline transfers uploaded with tus 1.0 to the
 * uploader's regional file server, listed in each recipient's inbox at any file server, and
 * downloaded from the recipient's own regional server — directly when it holds the file, else
 * through a download address it brokers from the holding server over the kernel (HTTP 307 or
 * JSON), served with Range/ETag from the holder's least loaded address.
 *
 * One site's file server is a {@link Server.Server} record its parts share: uploads in `Tus.ts`,
 * transfers and inboxes in `Transfers.ts`, downloads in `Downloads.ts`, the directory route in
 * `Locate.ts`, the addresses and their load in `Addresses.ts`, HTTP helpers in `Http.ts`, the
 * routes' description for the OpenAPI document in `Api.ts`; the simulator plug-in is in
 * `Simulation.ts`.
 *
 * @since 0.1.0
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Refusals from "../api/Refusals.js"
import * as Actor from "../kernel/Actor.js"
import * as Address from "../kernel/Address.js"
import * as Module from "../site/Module.js"
import { urlOf } from "./Addresses.js"
import { Api } from "./Api.js"
import * as Directory from "./Directory.js"
import * as Downloads from "./Downloads.js"
import { type FilesError, refuse } from "./Errors.js"
import { route } from "./Http.js"
import * as Locate from "./Locate.js"
import { ACTOR, type DownloadAddress, FilesProtocol, type Offer, RequestAddress, type Transfer } from "./Protocol.js"
import * as Server from "./Server.js"
import * as Simulation from "./Simulation.js"
import * as Transfers from "./Transfers.js"
import * as Tus from "./Tus.js"

export { Api } from "./Api.js"
export type { FilesError } from "./Errors.js"
export { parseMetadata, parseRange } from "./Http.js"
export { brokeredDownloads, transfersEverywhere } from "./Simulation.js"

/**
 * Settings of the module (`sites.<site>.modules.files`).
 *
 * @since 0.1.0
 * @category config
 */
export const Settings = Schema.Struct({
  /** Largest file one upload may declare (413 above). */
  maxUploadBytes: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 4 * 1024 ** 3 }),
  /** Bytes a user may hold here at once: transfers and uploads in progress (507 above). */
  quotaBytes: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 20 * 1024 ** 3 }),
  /** Transfer lifetime when the sender names none, and the longest allowed. */
  transferTtlSeconds: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 7 * 86400 }),
  maxTransferTtlSeconds: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 30 * 86400 }),
  /** An upload not finished within this is dropped (tus expiration). */
  uploadTtlSeconds: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 86400 }),
  /**
   * How long a finished upload stays answerable at its tus address (HEAD: 200 with `Upload-Offset`
   * = `Upload-Length`), so that a client that runs again (tus-js-client's `findPreviousUploads`)
   * sees it complete instead of sending the file a second time; never longer than its transfer.
   */
  finishedUploadTtlSeconds: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 86400 }),
  /**
   * Lifetime of a download address: whoever holds the address may use it until then (like an S3
   * presigned URL), so keep it short.
   */
  downloadTokenTtlSeconds: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 600 }),
  /** How long a brokered download waits for the holding region before answering 503. */
  brokerTimeoutMillis: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 5000 }),
  /** How often expired uploads and transfers are cleaned up. */
  cleanupIntervalSeconds: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 60 }),
  /** Most recipients of one transfer, and most transfers one inbox lists. */
  maxRecipients: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 10_000)), { default: () => 100 }),
  maxListed: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100_000)), { default: () => 1000 }),
  mailboxCapacity: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1_000_000)), { default: () => 1024 }),
  /**
   * A file held in another region: `redirect` hands out the holder's download address (the
   * patent's flow); `pull-through` fetches it from the holder once, keeps it here, and serves it
   * from here from then on.
   */
  remoteDownloads: Schema.optionalWith(Schema.Literal("redirect", "pull-through"), { default: () => "redirect" }),
  /** Proxies (CIDRs or addresses) whose `X-Forwarded-For` names the client. */
  trustedProxies: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  /** A MaxMind country database (`.mmdb`) for clients no CIDR of the topology claims. */
  geoipDatabase: Schema.optional(Schema.String)
})
export type Settings = typeof Settings.Type

/**
 * The file server of one running site, as the simulator's workloads drive it (the HTTP routes
 * call the same functions).
 *
 * @since 0.1.0
 * @category models
 */
export interface FileServer {
  /** Stores `content` and records it as a transfer held here, offered to every other server. */
  readonly publish: (
    meta: Pick<Transfer, "id" | "sender" | "recipients" | "filename" | "expiresAt">,
    content: Uint8Array
  ) => Effect.Effect<Transfer, FilesError>
  /** What `GET /v1/files/transfers/:id/download` answers for `user`. */
  readonly addressFor: (id: string, user: string) => Effect.Effect<DownloadAddress, FilesError>
  /** The transfer records this server knows. */
  readonly transfers: Effect.Effect<ReadonlyArray<Transfer>>
}

/**
 * The regional file service module, before the binary supplies its GeoIP reader: it needs an HTTP
 * client (pull-through downloads) from the host and a {@link Directory.GeoIpLoader}.
 *
 * @since 0.1.0
 * @category modules
 */
export const base = Module.make({
  name: "files",
  description: "regional file servers: offline transfers (tus uploads), inboxes, brokered downloads",
  settings: Settings,
  simulation: () => {
    const run = Simulation.makeRun()
    return {
      generators: { "brokered-downloads": Simulation.brokeredDownloads(run) },
      invariants: { "transfers-everywhere": Simulation.transfersEverywhere(run) }
    }
  },
  start: (context, settings) =>
    Effect.gen(function* () {
      const server = yield* Server.make(context, settings)
      const locate = yield* Locate.make(server)
      const transfers = Transfers.make(server)
      const tus = Tus.make(server, transfers)
      const downloads = Downloads.make(server)

      yield* context.spawn(
        Actor.make(
          ACTOR,
          FilesProtocol,
          () =>
            Effect.succeed({
              RequestDownload: downloads.requestDownload,
              RequestAddress: () =>
                Effect.sync(() => {
                  const address = server.addresses.choose()
                  return { name: address.name, url: urlOf(address.hostPort) }
                }),
              // A full key-value store fails the handler: the offer is not acknowledged and comes again.
              Offer: (offer: Offer) => transfers.accept(offer),
              Withdraw: transfers.forget
            }),
          { mailboxCapacity: settings.mailboxCapacity, transactional: true }
        )
      )
      yield* Effect.forkScoped(transfers.cleanupLoop)

      const routes = HttpLayerRouter.addAll([
        route("GET", "/v1/locate", locate),
        route("OPTIONS", "/v1/files/uploads", tus.options),
        route("POST", "/v1/files/uploads", tus.create),
        // HEAD is routed to GET: a GET of an upload answers like HEAD (its offset, no body).
        route("GET", "/v1/files/uploads/:id", tus.head),
        route("PATCH", "/v1/files/uploads/:id", tus.patch),
        route("DELETE", "/v1/files/uploads/:id", tus.terminate),
        route("GET", "/v1/files/inbox", transfers.inbox),
        route("DELETE", "/v1/files/transfers/:id", transfers.remove),
        route("GET", "/v1/files/transfers/:id/download", downloads.download),
        route("GET", "/v1/files/data/:id", downloads.data)
      ])

      // Offers a crash cut short go out now.
      yield* Effect.forkScoped(transfers.offerPending)
      const service: FileServer = {
        publish: (meta, content) =>
          Effect.flatMap(
            Effect.catchTag(server.blobs.put(content), "BlobStoreFull", () =>
              refuse(new Refusals.StorageFull({ message: "the file store is full" }))
            ),
            (blob) => transfers.publish(meta, blob)
          ),
        addressFor: (id, user) =>
          Effect.flatMap(server.getTransfer(id), (transfer) =>
            Option.isNone(transfer)
              ? refuse(new Refusals.NotFound({ message: "no such transfer" }))
              : downloads.addressFor(transfer.value, user)
          ),
        transfers: server.listTransfers
      }

      return { service, routes, api: Api, metrics: server.addresses.metrics }
    })
})

/**
 * The module in a binary that reads no GeoIP databases (CIDR ranges and the default region only;
 * a site that names a `geoipDatabase` refuses to start, saying so).
 *
 * @since 0.1.0
 * @category modules
 */
export const module = Module.provide(base, Directory.layerLoaderNone)

/**
 * The module with the binary's GeoIP reader (`MaxMindGeo.layerLoader` in `@meridian/node`).
 *
 * @since 0.1.0
 * @category modules
 */
export const withGeoIp = <E, R>(loader: Layer.Layer<Directory.GeoIpLoader, E, R>) => Module.provide(base, loader)

/**
 * References to the file server actor of a site.
 *
 * @since 0.1.0
 * @category refs
 */
export const ref = (system: Module.SiteContext["system"], site: string) =>
  system.ref(FilesProtocol, Address.make(site, ACTOR))

export { RequestAddress }
