/**
 * The regional file service (`files` module): offline transfers uploaded with tus 1.0 to the
 * uploader's regional file server, listed in each recipient's inbox at any file server, and
 * downloaded from the recipient's own regional server — directly when it holds the file, else
 * through a download address it brokers from the holding server over the kernel (HTTP 307 or
 * JSON), served with Range/ETag from the holder's least loaded address.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { sha1 } from "@noble/hashes/legacy.js"
import { sha256 } from "@noble/hashes/sha2.js"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { answer, withHeaders, type WithHeaders } from "../api/Answer.js"
import * as Refusals from "../api/Refusals.js"
import * as Errors from "./Errors.js"
import * as Blobs from "../stores/Blobs.js"
import * as Staging from "../stores/Staging.js"
import * as Actor from "../kernel/Actor.js"
import * as Address from "../kernel/Address.js"
import * as Module from "../site/Module.js"
import * as Directory from "./Directory.js"
import { randomBytes, type Principal } from "../stores/Identity.js"
import type { Site } from "../topology/Topology.js"
import {
  ACTOR,
  type DownloadAddress,
  FilesProtocol,
  NotARecipient,
  Offer,
  RequestAddress,
  RequestDownload,
  Transfer,
  TransferNotFound,
  Upload
} from "./Protocol.js"

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
  /** Lifetime of a download address. */
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

const NAMESPACE = "files"
const uploadKey = (id: string) => `upload/${id}`
const transferKey = (id: string) => `transfer/${id}`
/** A pulled-through copy of another region's file is held here (pull-through mode). */
const copyKey = (id: string) => `copy/${id}`
/** A transfer whose offers to the other file servers are not all in the outbox yet. */
const unofferedKey = (id: string) => `unoffered/${id}`
const TUS_VERSION = "1.0.0"
const DOWNLOAD_PURPOSE = "files/download"
const idPattern = /^[A-Za-z0-9_-]{16,64}$/
const userPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

const encodeTransfer = Schema.encodeSync(Schema.parseJson(Transfer))
const decodeTransfer = Schema.decodeUnknownOption(Schema.parseJson(Transfer))
const encodeUpload = Schema.encodeSync(Schema.parseJson(Upload))
const decodeUpload = Schema.decodeUnknownOption(Schema.parseJson(Upload))

// ---------------------------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------------------------

/**
 * Everything the file service's routes refuse with.
 *
 * @since 0.1.0
 * @category errors
 */
export type FilesError =
  | Refusals.BadRequest
  | Refusals.Unauthorized
  | Refusals.Forbidden
  | Refusals.NotFound
  | Refusals.Conflict
  | Refusals.Gone
  | Refusals.Unavailable
  | Refusals.StorageFull
  | Errors.TooLarge
  | Errors.PreconditionFailed
  | Errors.ChecksumMismatch
  | Errors.QuotaExceeded
  | Errors.UnsupportedMediaType
  | Errors.HolderUnavailable
  | WithHeaders<FilesError>

const filesErrorTags: ReadonlySet<string> = new Set<FilesError["_tag"]>([
  "BadRequest",
  "Unauthorized",
  "Forbidden",
  "NotFound",
  "Conflict",
  "Gone",
  "Unavailable",
  "StorageFull",
  "TooLarge",
  "PreconditionFailed",
  "ChecksumMismatch",
  "QuotaExceeded",
  "UnsupportedMediaType",
  "HolderUnavailable",
  "WithHeaders"
])

/** Fails with a refusal, typed as every refusal of the service (so that branches agree). */
const refuse = (error: FilesError): Effect.Effect<never, FilesError> => Effect.fail(error)

/** One of the file service's own refusals (rather than a kernel error still to put into words). */
const isFilesError = (e: { readonly _tag: string }): e is FilesError => filesErrorTags.has(e._tag)

const header = (request: HttpServerRequest.HttpServerRequest, name: string): string | undefined => {
  const value = request.headers[name]
  return typeof value === "string" ? value : undefined
}

const intHeader = (request: HttpServerRequest.HttpServerRequest, name: string) => {
  const text = header(request, name)
  return text !== undefined && /^\d{1,16}$/.test(text) ? Number(text) : undefined
}

/** tus `Upload-Metadata`: `key base64,key base64`; keys unique, values optional. */
export const parseMetadata = (text: string): Option.Option<Record<string, string>> => {
  const out: Record<string, string> = {}
  if (text.trim() === "") return Option.some(out)
  for (const pair of text.split(",")) {
    const [key, value, ...rest] = pair.trim().split(" ")
    if (key === undefined || key === "" || rest.length > 0 || key in out) return Option.none()
    if (value === undefined) {
      out[key] = ""
      continue
    }
    const decoded = Encoding.decodeBase64String(value)
    if (Either.isLeft(decoded)) return Option.none()
    out[key] = decoded.right
  }
  return Option.some(out)
}

/** One `Range: bytes=…` range over a body of `size` bytes (several ranges: the whole body). */
export const parseRange = (
  text: string | undefined,
  size: number
):
  | { readonly _tag: "All" }
  | { readonly _tag: "Range"; readonly start: number; readonly end: number }
  | { readonly _tag: "Unsatisfiable" } => {
  if (text === undefined) return { _tag: "All" }
  const match = /^bytes=(\d*)-(\d*)$/.exec(text.trim())
  if (match === null) return { _tag: "All" }
  const [, from, to] = match
  if (from === "" && to === "") return { _tag: "All" }
  if (from === "") {
    const suffix = Number(to)
    if (suffix === 0 || size === 0) return { _tag: "Unsatisfiable" }
    return { _tag: "Range", start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(from)
  const end = to === "" ? size - 1 : Math.min(Number(to), size - 1)
  if (start >= size || end < start) return { _tag: "Unsatisfiable" }
  return { _tag: "Range", start, end }
}

const httpDate = (millis: number) => new Date(millis).toUTCString()

// ---------------------------------------------------------------------------------------------
// addresses and their load
// ---------------------------------------------------------------------------------------------

interface AddressState {
  readonly name: string
  readonly hostPort: string
  active: number
  bytes: number
  lastBytes: number
  /** Bytes per second, smoothed. */
  rate: number
  rateAt: number
  chosen: number
}

const urlOf = (hostPort: string) => {
  const host = hostPort.slice(0, hostPort.lastIndexOf(":"))
  const port = hostPort.slice(hostPort.lastIndexOf(":") + 1)
  return `http://${host === "0.0.0.0" ? "127.0.0.1" : host === "::" || host === "[::]" ? "[::1]" : host}:${port}`
}

const addressesOf = (site: Site): Array<AddressState> =>
  [
    { name: "main", hostPort: site.http },
    ...Object.entries(site.carriers).map(([name, carrier]) => ({ name, hostPort: carrier.http }))
  ].map((a) => ({ ...a, active: 0, bytes: 0, lastBytes: 0, rate: 0, rateAt: 0, chosen: 0 }))

// ---------------------------------------------------------------------------------------------
// the module
// ---------------------------------------------------------------------------------------------

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

/** What the simulator's workload published and brokered in one run. */
interface Run {
  readonly published: Map<string, Transfer>
  readonly brokered: Map<string, DownloadAddress>
}

/**
 * Simulator workload: `count` transfers published at `holder` (one every `intervalMillis` from
 * `startMillis`, each retried while the holder is down), and for each a download address asked of
 * the file server at `at` for `recipient`, retried every `retryMillis` until it is brokered.
 *
 * @since 0.1.0
 * @category simulation
 */
export const brokeredDownloads = (run: Run) =>
  Module.generator(
    Schema.Struct({
      holder: Schema.String,
      at: Schema.String,
      sender: Schema.optionalWith(Schema.String, { default: () => "alice" }),
      recipient: Schema.optionalWith(Schema.String, { default: () => "bob" }),
      count: Schema.Int.pipe(Schema.between(1, 100_000)),
      bytes: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 1_000_000)), { default: () => 1024 }),
      intervalMillis: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 100 }),
      startMillis: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { default: () => 0 }),
      retryMillis: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 250 })
    }),
    (context: Module.SimContext<FileServer>, params) =>
      Effect.gen(function* () {
        yield* Effect.sleep(params.startMillis)
        const broker = (id: string): Effect.Effect<void> =>
          Effect.suspend(() => {
            const server = context.service(params.at)
            if (server === undefined) return Effect.zipRight(Effect.sleep(params.retryMillis), broker(id))
            return server.addressFor(id, params.recipient).pipe(
              Effect.matchEffect({
                onFailure: () => Effect.zipRight(Effect.sleep(params.retryMillis), broker(id)),
                onSuccess: (address) => Effect.sync(() => void run.brokered.set(id, address))
              })
            )
          })
        const brokers: Array<Fiber.RuntimeFiber<void>> = []
        for (let i = 0; i < params.count; ) {
          yield* Effect.sleep(params.intervalMillis)
          const server = context.service(params.holder)
          if (server === undefined) continue
          const id = `sim-transfer-${params.holder}-${String(i).padStart(6, "0")}`
          const content = new Uint8Array(params.bytes).map((_, j) => (i * 31 + j) & 0xff)
          const at = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          const published = yield* Effect.either(
            server.publish(
              {
                id,
                sender: params.sender,
                recipients: [params.recipient],
                filename: `f${i}`,
                expiresAt: at + 86_400_000
              },
              content
            )
          )
          if (published._tag === "Left") continue
          run.published.set(id, published.right)
          brokers.push(yield* Effect.fork(broker(id)))
          i++
        }
        // Retried until brokered; the run's end interrupts what is still trying (the invariant says so).
        yield* Fiber.awaitAll(brokers)
      })
  )

/**
 * Simulator invariant: every file server that is up knows exactly the published transfers (none
 * lost, none extra, each as published), and each was brokered from its holder.
 *
 * @since 0.1.0
 * @category simulation
 */
export const transfersEverywhere =
  (run: Run): Module.Invariant<FileServer> =>
  (context) =>
    Effect.gen(function* () {
      for (const name of Object.keys(context.topology.sites).sort()) {
        const server = context.service(name)
        if (server === undefined) continue
        const known = new Map((yield* server.transfers).map((t) => [t.id, t]))
        for (const [id, transfer] of run.published) {
          const record = known.get(id)
          if (record === undefined) return `${name} does not know transfer ${id}`
          if (record.sha256 !== transfer.sha256 || record.holder !== transfer.holder) {
            return `${name} holds a different record of ${id}`
          }
        }
        if (known.size !== run.published.size) {
          return `${name} knows ${known.size} transfers, ${run.published.size} were published`
        }
      }
      for (const [id, transfer] of run.published) {
        const address = run.brokered.get(id)
        if (address === undefined) return `no download address was brokered for ${id}`
        if (address.holder !== transfer.holder) return `${id} was brokered from ${address.holder}, not its holder`
      }
      return undefined
    })

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
    const run: Run = { published: new Map(), brokered: new Map() }
    return {
      generators: { "brokered-downloads": brokeredDownloads(run) },
      invariants: { "transfers-everywhere": transfersEverywhere(run) }
    }
  },
  start: (context, settings) =>
    Effect.gen(function* () {
      const { kv, blobs, staging, identity } = context.stores
      const site = context.site
      const region = context.siteInfo.region
      const moduleScope = yield* Effect.scope
      const directory = Directory.make(context.topology)
      const proxies = Directory.proxyList(settings.trustedProxies)
      const geo: Directory.GeoIpService =
        settings.geoipDatabase === undefined
          ? Directory.GeoIp.none
          : yield* Effect.flatMap(Directory.GeoIpLoader, (loader) => loader.load(settings.geoipDatabase!))
      const httpClient = yield* HttpClient.HttpClient
      const addresses = addressesOf(context.siteInfo)
      const fileServers = Object.keys(context.topology.sites).filter(
        (name) => context.topology.sites[name]!.modules.files !== undefined
      )
      const now = Effect.clockWith((clock) => clock.currentTimeMillis)
      const ref = (target: string) => context.system.ref(FilesProtocol, Address.make(target, ACTOR))

      /** The least loaded address: fewest active transfers, then fewest bytes/s, then by name. */
      /**
       * Bytes/s per address, brought up to date when read (no timer): the rate of the last
       * whole interval of at least a second, averaged with the previous estimate.
       */
      const clock = yield* Effect.clock
      const refreshRates = () => {
        const at = clock.unsafeCurrentTimeMillis()
        for (const a of addresses) {
          const seconds = (at - a.rateAt) / 1000
          if (seconds < 1) continue
          a.rate = a.rate / 2 ** seconds + ((a.bytes - a.lastBytes) / seconds) * (1 - 1 / 2 ** seconds)
          a.lastBytes = a.bytes
          a.rateAt = at
        }
      }
      const choose = (): AddressState => {
        refreshRates()
        const best = [...addresses].sort((a, b) => a.active - b.active || a.rate - b.rate)[0]!
        best.chosen++
        return best
      }
      const addressOfRequest = (request: HttpServerRequest.HttpServerRequest) => {
        const host = header(request, "host")
        return addresses.find((a) => a.hostPort === host) ?? addresses[0]!
      }

      const getTransfer = (id: string) => Effect.map(kv.get(NAMESPACE, transferKey(id)), Option.flatMap(decodeTransfer))
      const listTransfers = Effect.map(kv.list(NAMESPACE, "transfer/"), (entries) =>
        entries.flatMap((e) => Option.toArray(decodeTransfer(e.value)))
      )
      const listUploads = Effect.map(kv.list(NAMESPACE, "upload/"), (entries) =>
        entries.flatMap((e) => Option.toArray(decodeUpload(e.value)))
      )
      const putTransfer = (transfer: Transfer) => kv.set(NAMESPACE, transferKey(transfer.id), encodeTransfer(transfer))

      const downloadAddress = (transfer: Transfer, user: string): Effect.Effect<DownloadAddress> =>
        Effect.gen(function* () {
          const expiresAt = (yield* now) + settings.downloadTokenTtlSeconds * 1000
          const sig = identity.sign(DOWNLOAD_PURPOSE, `${transfer.id}\n${user}\n${expiresAt}`)
          const address = choose()
          const query = `user=${encodeURIComponent(user)}&expires=${expiresAt}&sig=${sig}`
          return {
            url: `${urlOf(address.hostPort)}/v1/files/data/${transfer.id}?${query}`,
            address: address.name,
            holder: site,
            expiresAt
          }
        })

      /** The file's bytes are here: this site holds it, or keeps a pulled-through copy. */
      const storedHere = (transfer: Transfer) =>
        transfer.holder === site
          ? Effect.succeed(true)
          : Effect.map(kv.get(NAMESPACE, copyKey(transfer.id)), Option.isSome)

      const mayFetch = (transfer: Transfer, user: string) =>
        transfer.recipients.includes(user) || transfer.sender === user

      yield* context.spawn(
        Actor.make(
          ACTOR,
          FilesProtocol,
          () =>
            Effect.succeed({
              RequestDownload: (request: RequestDownload) =>
                Effect.gen(function* () {
                  const transfer = yield* getTransfer(request.id)
                  if (Option.isNone(transfer) || transfer.value.holder !== site) {
                    return yield* new TransferNotFound({ id: request.id })
                  }
                  if ((yield* now) >= transfer.value.expiresAt) return yield* new TransferNotFound({ id: request.id })
                  if (!mayFetch(transfer.value, request.user)) {
                    return yield* new NotARecipient({ id: request.id, user: request.user })
                  }
                  return yield* downloadAddress(transfer.value, request.user)
                }),
              RequestAddress: () =>
                Effect.sync(() => {
                  const address = choose()
                  return { name: address.name, url: urlOf(address.hostPort) }
                }),
              // A full key-value store fails the handler: the offer is not acknowledged and comes again.
              Offer: (offer: Offer) => Effect.orDie(putTransfer(offer.transfer))
            }),
          { mailboxCapacity: settings.mailboxCapacity, transactional: true }
        )
      )

      // Cleanup: unfinished uploads and transfers past their expiry (the blob with its last
      // reference); offers not yet sent go out again.
      const cleanup = Effect.gen(function* () {
        yield* offerPending
        const at = yield* now
        for (const upload of yield* listUploads) {
          if (upload.expiresAt > at) continue
          yield* staging.remove(upload.id)
          yield* kv.delete(NAMESPACE, uploadKey(upload.id))
        }
        for (const transfer of yield* listTransfers) {
          if (transfer.expiresAt > at) continue
          const copy = Option.isSome(yield* kv.get(NAMESPACE, copyKey(transfer.id)))
          yield* kv.delete(NAMESPACE, transferKey(transfer.id))
          yield* kv.delete(NAMESPACE, copyKey(transfer.id))
          if (transfer.holder === site || copy) yield* Effect.ignore(blobs.release(transfer.sha256))
        }
      })
      yield* Effect.forkScoped(
        Effect.forever(
          Effect.zipRight(
            Effect.sleep(Duration.seconds(settings.cleanupIntervalSeconds)),
            cleanup.pipe(Effect.catchAllCause((cause) => Effect.logWarning("files: cleanup failed", cause)))
          )
        )
      )

      // ---- HTTP -------------------------------------------------------------------------------

      const authenticate = Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const auth = header(request, "authorization")
        if (auth === undefined || !auth.startsWith("Bearer ")) {
          return yield* Effect.fail(
            new Refusals.Unauthorized({ message: "an Authorization: Bearer token is required" })
          )
        }
        return yield* identity
          .verify(auth.slice("Bearer ".length).trim())
          .pipe(Effect.catchAll((e) => refuse(new Refusals.Unauthorized({ message: `token ${e.reason}` }))))
      })

      const tusHeaders = { "tus-resumable": TUS_VERSION }
      const requireTus = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        header(request, "tus-resumable") === TUS_VERSION
          ? Effect.succeed(request)
          : refuse(new Errors.PreconditionFailed({ message: `Tus-Resumable: ${TUS_VERSION} is required` }))
      )

      const ownUpload = (principal: Principal) =>
        Effect.gen(function* () {
          const { id } = yield* HttpRouter.params
          if (id === undefined || !idPattern.test(id))
            return yield* refuse(new Refusals.NotFound({ message: "no such upload" }))
          const upload = Option.flatMap(yield* kv.get(NAMESPACE, uploadKey(id)), decodeUpload)
          if (Option.isNone(upload)) {
            return Option.isSome(yield* getTransfer(id))
              ? yield* refuse(new Refusals.Gone({ message: "this upload is complete" }))
              : yield* refuse(new Refusals.NotFound({ message: "no such upload" }))
          }
          if (upload.value.owner !== principal.name)
            return yield* refuse(new Refusals.NotFound({ message: "no such upload" }))
          if ((yield* now) >= upload.value.expiresAt)
            return yield* refuse(new Refusals.Gone({ message: "this upload expired" }))
          return upload.value
        })

      const usageOf = (user: string) =>
        Effect.gen(function* () {
          const held = (yield* listTransfers).filter((t) => t.holder === site && t.sender === user)
          const pending = (yield* listUploads).filter((u) => u.owner === user)
          return held.reduce((n, t) => n + t.size, 0) + pending.reduce((n, u) => n + u.length, 0)
        })

      const create = Effect.gen(function* () {
        const request = yield* requireTus
        const principal = yield* authenticate
        if (header(request, "upload-defer-length") !== undefined) {
          return yield* Effect.fail(
            new Refusals.BadRequest({ message: "Upload-Defer-Length is not supported: send Upload-Length" })
          )
        }
        const length = intHeader(request, "upload-length")
        if (length === undefined)
          return yield* refuse(new Refusals.BadRequest({ message: "Upload-Length is required" }))
        if (length > settings.maxUploadBytes) {
          return yield* Effect.fail(
            new Errors.TooLarge({ message: `files are limited to ${settings.maxUploadBytes} bytes` })
          )
        }
        const raw = header(request, "upload-metadata") ?? ""
        const metadata = parseMetadata(raw)
        if (Option.isNone(metadata))
          return yield* refuse(new Refusals.BadRequest({ message: "Upload-Metadata is malformed" }))
        const recipients = [
          ...new Set(
            (metadata.value.recipients ?? "")
              .split(",")
              .map((r) => r.trim())
              .filter((r) => r !== "")
          )
        ]
        if (recipients.length === 0 || recipients.length > settings.maxRecipients) {
          return yield* Effect.fail(
            new Refusals.BadRequest({
              message: `Upload-Metadata must name 1 to ${settings.maxRecipients} recipients (comma-separated user names)`
            })
          )
        }
        const badRecipient = recipients.find((r) => !userPattern.test(r))
        if (badRecipient !== undefined)
          return yield* refuse(new Refusals.BadRequest({ message: `no such user name: ${badRecipient}` }))
        // Each recipient must have an account: asked of its name's arbiter (cached claims there).
        yield* Effect.forEach(
          recipients,
          (name) =>
            context.accounts.locate(name, { timeout: Duration.millis(settings.brokerTimeoutMillis) }).pipe(
              Effect.catchAll((e) =>
                e._tag === "AccountNotFound"
                  ? refuse(new Refusals.BadRequest({ message: `no such user: ${name}` }))
                  : refuse(
                      withHeaders(
                        new Refusals.Unavailable({
                          message: `cannot check recipient ${name} now (${e._tag}); try again`
                        }),
                        {
                          "retry-after": "5"
                        }
                      )
                    )
              )
            ),
          { concurrency: 8, discard: true }
        )
        const sha = metadata.value.sha256?.toLowerCase()
        if (sha !== undefined && !/^[0-9a-f]{64}$/.test(sha)) {
          return yield* refuse(new Refusals.BadRequest({ message: "sha256 must be 64 hex digits" }))
        }
        const ttlText = metadata.value.expires
        const ttl = ttlText === undefined ? settings.transferTtlSeconds : Number(ttlText)
        if (!Number.isInteger(ttl) || ttl <= 0 || ttl > settings.maxTransferTtlSeconds) {
          return yield* Effect.fail(
            new Refusals.BadRequest({
              message: `expires must be 1 to ${settings.maxTransferTtlSeconds} seconds (the transfer's lifetime)`
            })
          )
        }
        const used = yield* usageOf(principal.name)
        if (used + length > settings.quotaBytes) {
          return yield* Effect.fail(
            new Errors.QuotaExceeded({
              message: `${principal.name} holds ${used} of ${settings.quotaBytes} bytes here; this upload needs ${length}`
            })
          )
        }
        // Hex: an id never starts with `-`, which a command line would take for an option.
        const id = Encoding.encodeHex(yield* randomBytes(16))
        const at = yield* now
        const upload: Upload = {
          id,
          owner: principal.name,
          length,
          filename: (metadata.value.filename ?? id).replace(/[/\\\0]/g, "_").slice(0, 255) || id,
          ...(sha === undefined ? {} : { sha256: sha }),
          recipients,
          transferExpiresAt: at + ttl * 1000,
          expiresAt: at + settings.uploadTtlSeconds * 1000,
          metadata: raw,
          createdAt: at
        }
        yield* staging.create(id).pipe(Effect.catchAll((e) => refuse(new Refusals.StorageFull({ message: e.reason }))))
        yield* kv
          .set(NAMESPACE, uploadKey(id), encodeUpload(upload))
          .pipe(Effect.catchAll((e) => refuse(new Refusals.StorageFull({ message: e.message }))))
        if (length === 0) yield* complete(upload)
        return HttpServerResponse.empty({
          status: 201,
          headers: {
            ...tusHeaders,
            location: `/v1/files/uploads/${id}`,
            "upload-expires": httpDate(upload.expiresAt),
            "upload-offset": "0"
          }
        })
      })

      /** The last byte arrived: into the blob store (hash checked), a transfer, offered to every server. */
      /**
       * Records a stored file as a transfer and offers it to every other file server. The
       * `unoffered` marker is written first and removed once every offer is in the outbox, so
       * offers a crash cut short are sent again when the module starts.
       */
      const publish = (
        meta: Pick<Transfer, "id" | "sender" | "recipients" | "filename" | "expiresAt">,
        blob: { readonly hash: string; readonly size: number }
      ) =>
        Effect.gen(function* () {
          const transfer: Transfer = {
            ...meta,
            size: blob.size,
            sha256: blob.hash,
            holder: site,
            holderRegion: region,
            createdAt: yield* now
          }
          yield* kv.set(NAMESPACE, unofferedKey(transfer.id), "").pipe(
            Effect.zipRight(putTransfer(transfer)),
            Effect.catchAll((e) => refuse(new Refusals.StorageFull({ message: e.message })))
          )
          yield* offer(transfer)
          return transfer
        })

      const offer = (transfer: Transfer) =>
        Effect.gen(function* () {
          for (const server of fileServers) {
            if (server === site) continue
            yield* ref(server).tellDurable(new Offer({ transfer }))
          }
          yield* kv.delete(NAMESPACE, unofferedKey(transfer.id))
        }).pipe(
          Effect.catchAll((e) => Effect.logWarning(`files: offers of ${transfer.id} not all sent yet: ${e.message}`))
        )

      const offerPending = Effect.gen(function* () {
        for (const entry of yield* kv.list(NAMESPACE, "unoffered/")) {
          const transfer = yield* getTransfer(entry.key.slice("unoffered/".length))
          if (Option.isSome(transfer)) yield* offer(transfer.value)
          else yield* kv.delete(NAMESPACE, entry.key)
        }
      })

      const complete = (upload: Upload) =>
        Effect.gen(function* () {
          const blob = yield* staging.commit(upload.id, blobs).pipe(
            Effect.catchTags({
              BlobStoreFull: () => refuse(new Refusals.StorageFull({ message: "the file store is full" })),
              StagingNotFound: () => refuse(new Refusals.NotFound({ message: "no such upload" }))
            })
          )
          const discard = Effect.zipRight(staging.remove(upload.id), kv.delete(NAMESPACE, uploadKey(upload.id)))
          if (upload.sha256 !== undefined && upload.sha256 !== blob.hash) {
            yield* Effect.ignore(blobs.release(blob.hash))
            yield* discard
            return yield* Effect.fail(
              new Errors.ChecksumMismatch({
                message: `the file's SHA-256 is ${blob.hash}, not ${upload.sha256}: upload discarded, send it again`
              })
            )
          }
          // Recorded first, then the upload forgotten: a crash in between leaves an upload at its
          // full length, which the client's next PATCH completes again.
          const transfer = yield* publish(
            {
              id: upload.id,
              sender: upload.owner,
              recipients: upload.recipients,
              filename: upload.filename,
              expiresAt: upload.transferExpiresAt
            },
            blob
          )
          yield* discard
          return transfer
        })

      const head = Effect.gen(function* () {
        yield* requireTus
        const upload = yield* ownUpload(yield* authenticate)
        const size = Option.getOrElse(yield* staging.size(upload.id), () => 0)
        return HttpServerResponse.empty({
          status: 200,
          headers: {
            ...tusHeaders,
            "upload-offset": String(size),
            "upload-length": String(upload.length),
            "upload-expires": httpDate(upload.expiresAt),
            "cache-control": "no-store",
            ...(upload.metadata === "" ? {} : { "upload-metadata": upload.metadata })
          }
        })
      })

      const patch = Effect.gen(function* () {
        const request = yield* requireTus
        const upload = yield* ownUpload(yield* authenticate)
        if (header(request, "content-type") !== "application/offset+octet-stream") {
          return yield* Effect.fail(
            new Errors.UnsupportedMediaType({ message: "Content-Type: application/offset+octet-stream is required" })
          )
        }
        const offset = intHeader(request, "upload-offset")
        if (offset === undefined)
          return yield* refuse(new Refusals.BadRequest({ message: "Upload-Offset is required" }))
        const checksum = header(request, "upload-checksum")
        let hasher: { update: (b: Uint8Array) => void; digest: () => Uint8Array } | undefined
        let expected: Uint8Array | undefined
        if (checksum !== undefined) {
          const [algorithm, value] = checksum.trim().split(" ")
          const digest = Encoding.decodeBase64(value ?? "")
          if ((algorithm !== "sha1" && algorithm !== "sha256") || Either.isLeft(digest)) {
            return yield* Effect.fail(
              new Refusals.BadRequest({ message: "Upload-Checksum must be `sha1 BASE64` or `sha256 BASE64`" })
            )
          }
          hasher = algorithm === "sha1" ? sha1.create() : sha256.create()
          expected = digest.right
        }
        const body =
          hasher === undefined
            ? request.stream
            : request.stream.pipe(Stream.tap((chunk) => Effect.sync(() => hasher!.update(chunk))))
        // The upload's own bound, not the site's small default for request bodies.
        const appended = yield* Effect.either(
          hasher === undefined && Staging.hasNativeAppend(staging)
            ? // The host's request body read by the store itself (no per-chunk checksum to take).
              staging.appendNative(upload.id, offset, request.source, upload.length)
            : staging.append(upload.id, offset, body, upload.length).pipe(
                HttpIncomingMessage.withMaxBodySize(Option.some(upload.length + 1)),
                Effect.catchTag("RequestError", () => Effect.fail(new Staging.BodyBrokeOff()))
              )
        )
        if (Either.isLeft(appended)) {
          const e = appended.left
          switch (e._tag) {
            case "OffsetMismatch":
              return yield* Effect.fail(
                new Refusals.Conflict({ message: `Upload-Offset is ${e.given}, the upload is at ${e.expected}` })
              )
            case "TooLong":
              return yield* Effect.fail(
                new Errors.TooLarge({ message: `more bytes than the declared Upload-Length ${upload.length}` })
              )
            case "StagingFull":
              return yield* refuse(new Refusals.StorageFull({ message: e.reason }))
            case "StagingNotFound":
              return yield* refuse(new Refusals.NotFound({ message: "no such upload" }))
            default:
              // The client went away mid-chunk: what arrived is kept; it resumes with HEAD.
              return yield* Effect.fail(
                new Refusals.BadRequest({ message: "the request body broke off; HEAD for the offset and resume" })
              )
          }
        }
        let size = appended.right
        if (hasher !== undefined && expected !== undefined) {
          const actual = hasher.digest()
          if (actual.length !== expected.length || actual.some((b, i) => b !== expected[i])) {
            yield* Effect.ignore(staging.truncate(upload.id, offset))
            size = offset
            return yield* refuse(
              withHeaders(
                new Errors.ChecksumMismatch({ message: "the chunk's checksum does not match; it was discarded" }),
                {
                  ...tusHeaders,
                  "upload-offset": String(size)
                }
              )
            )
          }
        }
        const headers: Record<string, string> = {
          ...tusHeaders,
          "upload-offset": String(size),
          "upload-expires": httpDate(upload.expiresAt)
        }
        if (size === upload.length) {
          // Finished even if the client goes away now: the bytes are all here.
          const transfer = yield* Effect.uninterruptible(complete(upload))
          headers["meridian-transfer"] = transfer.id
          headers["meridian-sha256"] = transfer.sha256
        }
        return HttpServerResponse.empty({ status: 204, headers })
      })

      const terminate = Effect.gen(function* () {
        yield* requireTus
        const upload = yield* ownUpload(yield* authenticate)
        yield* staging.remove(upload.id)
        yield* kv.delete(NAMESPACE, uploadKey(upload.id))
        return HttpServerResponse.empty({ status: 204, headers: tusHeaders })
      })

      const options = Effect.succeed(
        HttpServerResponse.empty({
          status: 204,
          headers: {
            ...tusHeaders,
            "tus-version": TUS_VERSION,
            "tus-extension": "creation,expiration,termination,checksum",
            "tus-max-size": String(settings.maxUploadBytes),
            "tus-checksum-algorithm": "sha1,sha256"
          }
        })
      )

      const inbox = Effect.gen(function* () {
        const principal = yield* authenticate
        const at = yield* now
        const mine = (yield* listTransfers)
          .filter((t) => t.expiresAt > at && mayFetch(t, principal.name))
          .sort((a, b) => b.createdAt - a.createdAt)
          .slice(0, settings.maxListed)
        return HttpServerResponse.unsafeJson({
          user: principal.name,
          transfers: mine.map((t) => ({ ...t, direction: t.sender === principal.name ? "sent" : "received" }))
        })
      })

      const unavailable = (transfer: Transfer, why: string) =>
        Effect.fail(
          new Errors.HolderUnavailable({
            message: `the file is held in region ${transfer.holderRegion}, which does not answer now (${why}); try again`
          })
        )

      /** Pulls under way, so concurrent downloads of one file fetch it once. */
      const pulling = new Map<string, Deferred.Deferred<void, FilesError>>()

      /** Fetches a remote file once into the blob store (SHA-256 checked) and records the copy. */
      const pull = (transfer: Transfer, address: Effect.Effect<DownloadAddress, FilesError>) =>
        Effect.suspend(() => {
          const running = pulling.get(transfer.id)
          if (running !== undefined) return Deferred.await(running)
          const done = Deferred.unsafeMake<void, FilesError>(FiberId.none)
          pulling.set(transfer.id, done)
          const fetchOnce = Effect.gen(function* () {
            const { url } = yield* address
            const response = yield* HttpClient.get(url).pipe(
              Effect.flatMap(HttpClientResponse.filterStatusOk),
              Effect.catchAll((e) => unavailable(transfer, e._tag))
            )
            const blob = yield* blobs.putStream(response.stream).pipe(
              Effect.catchTag("BlobStoreFull", () =>
                refuse(new Refusals.StorageFull({ message: "the file store is full" }))
              ),
              Effect.catchAll((e) => unavailable(transfer, `transfer broke off: ${e._tag}`))
            )
            if (blob.hash !== transfer.sha256) {
              yield* Effect.ignore(blobs.release(blob.hash))
              return yield* unavailable(transfer, "the copy did not match its SHA-256")
            }
            yield* kv
              .set(NAMESPACE, copyKey(transfer.id), blob.hash)
              .pipe(Effect.catchAll((e) => refuse(new Refusals.StorageFull({ message: e.message }))))
          }).pipe(Effect.scoped, Effect.provideService(HttpClient.HttpClient, httpClient))
          // In the module's scope, not the request's: a client that goes away does not stop
          // the pull others may be waiting for.
          const settle = fetchOnce.pipe(
            Effect.exit,
            Effect.flatMap((exit) =>
              Effect.zipRight(
                Effect.sync(() => pulling.delete(transfer.id)),
                Deferred.done(done, exit)
              )
            )
          )
          return Effect.zipRight(Effect.forkIn(settle, moduleScope), Deferred.await(done))
        })

      /** A download address for `user`: here, brokered from the holder, or after a pull-through. */
      const addressFor = (transfer: Transfer, user: string): Effect.Effect<DownloadAddress, FilesError> =>
        Effect.gen(function* () {
          if (yield* storedHere(transfer)) return yield* downloadAddress(transfer, user)
          const brokered = ref(transfer.holder)
            .ask(new RequestDownload({ id: transfer.id, user }), {
              timeout: Duration.millis(settings.brokerTimeoutMillis)
            })
            .pipe(
              Effect.catchAll((e) =>
                e._tag === "TransferNotFound" || e._tag === "NotARecipient"
                  ? refuse(new Refusals.NotFound({ message: "no such transfer at its holder" }))
                  : unavailable(transfer, e._tag)
              )
            )
          if (settings.remoteDownloads === "redirect") return yield* brokered
          yield* pull(transfer, brokered)
          return yield* downloadAddress(transfer, user)
        })

      const download = Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const principal = yield* authenticate
        const { id } = yield* HttpRouter.params
        const transfer = id === undefined ? Option.none() : yield* getTransfer(id)
        if (Option.isNone(transfer) || (yield* now) >= transfer.value.expiresAt) {
          return yield* refuse(new Refusals.NotFound({ message: "no such transfer" }))
        }
        if (!mayFetch(transfer.value, principal.name))
          return yield* refuse(new Refusals.NotFound({ message: "no such transfer" }))
        const address = yield* addressFor(transfer.value, principal.name)
        const wantsJson = (header(request, "accept") ?? "").includes("application/json")
        return wantsJson
          ? HttpServerResponse.unsafeJson({ ...address, transfer: transfer.value })
          : HttpServerResponse.empty({ status: 307, headers: { location: address.url, "cache-control": "no-store" } })
      })

      const data = Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const { id } = yield* HttpRouter.params
        const query = yield* HttpServerRequest.ParsedSearchParams
        const param = (name: string) => {
          const value = query[name]
          return typeof value === "string" ? value : ""
        }
        const user = param("user")
        const expires = Number(param("expires"))
        const sig = param("sig")
        if (
          id === undefined ||
          !idPattern.test(id) ||
          !identity.verifySignature(DOWNLOAD_PURPOSE, `${id}\n${user}\n${expires}`, sig)
        ) {
          return yield* refuse(new Refusals.Forbidden({ message: "this download address is not valid" }))
        }
        if ((yield* now) >= expires) {
          return yield* Effect.fail(
            new Refusals.Forbidden({ message: "this download address has expired; ask your file server again" })
          )
        }
        const transfer = yield* getTransfer(id)
        if (Option.isNone(transfer) || !(yield* storedHere(transfer.value))) {
          return yield* refuse(new Refusals.NotFound({ message: "no such file here" }))
        }
        if ((yield* now) >= transfer.value.expiresAt)
          return yield* refuse(new Refusals.Gone({ message: "this transfer has expired" }))
        const { sha256: hash, size } = transfer.value
        const etag = `"${hash}"`
        const common = {
          etag,
          "accept-ranges": "bytes",
          "cache-control": "private, no-transform",
          "content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(transfer.value.filename)}`
        }
        const ifNoneMatch = header(request, "if-none-match")
        if (
          ifNoneMatch !== undefined &&
          (ifNoneMatch.trim() === "*" || ifNoneMatch.split(",").some((t) => t.trim() === etag))
        ) {
          return HttpServerResponse.empty({ status: 304, headers: common })
        }
        const ifRange = header(request, "if-range")
        const range =
          ifRange === undefined || ifRange.trim() === etag
            ? parseRange(header(request, "range"), size)
            : { _tag: "All" as const }
        if (range._tag === "Unsatisfiable") {
          return HttpServerResponse.empty({ status: 416, headers: { ...common, "content-range": `bytes */${size}` } })
        }
        const [start, end] = range._tag === "Range" ? [range.start, range.end] : [0, size - 1]
        const length = size === 0 ? 0 : end - start + 1
        const headers = {
          ...common,
          ...(range._tag === "Range" ? { "content-range": `bytes ${start}-${end}/${size}` } : {})
        }
        const status = range._tag === "Range" ? 206 : 200
        if (request.method === "HEAD") {
          return HttpServerResponse.empty({ status, headers: { ...headers, "content-length": String(length) } })
        }
        const wanted = range._tag === "Range" ? { start, end: end + 1 } : undefined
        const address = addressOfRequest(request)
        if (Blobs.hasRawBodies(blobs)) {
          // The host's own file stream, piped to the socket: no per-chunk work in the runtime.
          const body = yield* blobs
            .rawBody(hash, wanted, {
              onBytes: (bytes) => void (address.bytes += bytes),
              onEnd: () => void address.active--
            })
            .pipe(
              Effect.catchAll(() => refuse(new Refusals.NotFound({ message: "the file is no longer stored here" })))
            )
          address.active++
          return HttpServerResponse.raw(body, {
            status,
            headers: { ...headers, "content-length": String(length) },
            contentType: "application/octet-stream"
          })
        }
        const content = yield* blobs
          .stream(hash, wanted)
          .pipe(Effect.catchAll(() => refuse(new Refusals.NotFound({ message: "the file is no longer stored here" }))))
        address.active++
        const counted = content.pipe(
          Stream.tap((chunk) => Effect.sync(() => void (address.bytes += chunk.length))),
          Stream.ensuring(Effect.sync(() => void address.active--))
        )
        return HttpServerResponse.stream(counted, {
          status,
          headers,
          contentType: "application/octet-stream",
          contentLength: length
        })
      })

      /** The file server of a region: its first site by name running this module. */
      const serverOf = (name: string) => fileServers.filter((s) => context.topology.sites[s]!.region === name).sort()[0]

      const locate = Effect.gen(function* () {
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
        const server = serverOf(location.region) ?? serverOf(directory.defaultRegion) ?? fileServers.sort()[0]!
        const fallback = { name: "main", url: urlOf(context.topology.sites[server]!.http) }
        const address =
          server === site
            ? yield* ref(site).ask(new RequestAddress())
            : yield* ref(server)
                .ask(new RequestAddress(), { timeout: Duration.millis(settings.brokerTimeoutMillis) })
                .pipe(Effect.orElseSucceed(() => fallback))
        return HttpServerResponse.unsafeJson({
          ...location,
          server: { site: server, region: context.topology.sites[server]!.region, ...address }
        })
      }).pipe(
        Effect.catchIf(
          (e): e is Exclude<typeof e, FilesError> => !isFilesError(e),
          (e) => refuse(new Refusals.Unavailable({ message: `the file server did not answer (${e._tag})` }))
        )
      )

      const route = (
        method: "GET" | "POST" | "PATCH" | "DELETE" | "OPTIONS",
        path: HttpLayerRouter.PathInput,
        handler: Effect.Effect<
          HttpServerResponse.HttpServerResponse,
          FilesError,
          HttpServerRequest.HttpServerRequest | HttpServerRequest.ParsedSearchParams | HttpRouter.RouteContext
        >
      ) => HttpLayerRouter.route(method, path, answer(handler))

      const routes = HttpLayerRouter.addAll([
        route("GET", "/v1/locate", locate),
        route("OPTIONS", "/v1/files/uploads", options),
        route("POST", "/v1/files/uploads", create),
        // HEAD is routed to GET: a GET of an upload answers like HEAD (its offset, no body).
        route("GET", "/v1/files/uploads/:id", head),
        route("PATCH", "/v1/files/uploads/:id", patch),
        route("DELETE", "/v1/files/uploads/:id", terminate),
        route("GET", "/v1/files/inbox", inbox),
        route("GET", "/v1/files/transfers/:id/download", download),
        route("GET", "/v1/files/data/:id", data)
      ])

      const metrics = () => {
        refreshRates()
        return metricLines()
      }
      const metricLines = () => [
        ...addresses.map((a) => `meridian_files_active_transfers{address="${a.name}"} ${a.active}`),
        ...addresses.map((a) => `meridian_files_bytes_per_second{address="${a.name}"} ${Math.round(a.rate)}`),
        ...addresses.map((a) => `meridian_files_served_bytes_total{address="${a.name}"} ${a.bytes}`),
        ...addresses.map((a) => `meridian_files_address_chosen_total{address="${a.name}"} ${a.chosen}`)
      ]

      // Offers a crash cut short go out now.
      yield* Effect.forkScoped(offerPending)
      const service: FileServer = {
        publish: (meta, content) =>
          Effect.flatMap(
            Effect.catchTag(blobs.put(content), "BlobStoreFull", () =>
              refuse(new Refusals.StorageFull({ message: "the file store is full" }))
            ),
            (blob) => publish(meta, blob)
          ),
        addressFor: (id, user) =>
          Effect.flatMap(getTransfer(id), (transfer) =>
            Option.isNone(transfer)
              ? refuse(new Refusals.NotFound({ message: "no such transfer" }))
              : addressFor(transfer.value, user)
          ),
        transfers: listTransfers
      }

      return { service, routes, metrics }
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
