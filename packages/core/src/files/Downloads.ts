/**
 * Downloads: a signed download address at the least loaded address of the server that has the
 * bytes (here, brokered from the holder over the kernel, or here after a pull-through copy),
 * and the data route that serves it with Range and ETag.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Refusals from "../api/Refusals.js"
import * as Blobs from "../stores/Blobs.js"
import { urlOf } from "./Addresses.js"
import * as Errors from "./Errors.js"
import { type FilesError, refuse } from "./Errors.js"
import { type Handler, header, idPattern, parseRange } from "./Http.js"
import { type DownloadAddress, NotARecipient, RequestDownload, type Transfer, TransferNotFound } from "./Protocol.js"
import { copyKey, NAMESPACE, type Server } from "./Server.js"

const DOWNLOAD_PURPOSE = "files/download"

/**
 * The downloads of one file server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Downloads {
  /** A download address for `user`: here, brokered from the holder, or after a pull-through. */
  readonly addressFor: (transfer: Transfer, user: string) => Effect.Effect<DownloadAddress, FilesError>
  /** The holder's answer to another server brokering a download of a transfer held here. */
  readonly requestDownload: (
    request: RequestDownload
  ) => Effect.Effect<DownloadAddress, TransferNotFound | NotARecipient>
  /** `GET /v1/files/transfers/:id/download`: the address, as a 307 or (asked for) JSON. */
  readonly download: Handler
  /** `GET /v1/files/data/:id`: the bytes at a signed address, with Range, If-Range and ETag. */
  readonly data: Handler
}

/**
 * The downloads of `server`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (server: Server): Downloads => {
  const { kv, blobs, identity, settings, site, now, addresses, getTransfer, storedHere, mayFetch } = server

  const downloadAddress = (transfer: Transfer, user: string): Effect.Effect<DownloadAddress> =>
    Effect.gen(function* () {
      const expiresAt = (yield* now) + settings.downloadTokenTtlSeconds * 1000
      const sig = identity.sign(DOWNLOAD_PURPOSE, `${transfer.id}\n${user}\n${expiresAt}`)
      const address = addresses.choose()
      const query = `user=${encodeURIComponent(user)}&expires=${expiresAt}&sig=${sig}`
      return {
        url: `${urlOf(address.hostPort)}/v1/files/data/${transfer.id}?${query}`,
        address: address.name,
        holder: site,
        expiresAt
      }
    })

  const requestDownload = (request: RequestDownload) =>
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
      }).pipe(Effect.scoped, Effect.provideService(HttpClient.HttpClient, server.httpClient))
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
      return Effect.zipRight(Effect.forkIn(settle, server.moduleScope), Deferred.await(done))
    })

  const addressFor = (transfer: Transfer, user: string): Effect.Effect<DownloadAddress, FilesError> =>
    Effect.gen(function* () {
      if (yield* storedHere(transfer)) return yield* downloadAddress(transfer, user)
      const brokered = server
        .ref(transfer.holder)
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
    const principal = yield* server.authenticate
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
    // RFC 9110 13.1.2: `*`, or any tag of the list equal to ours by the weak comparison (`W/` ignored).
    const opaque = (tag: string) => tag.trim().replace(/^W\//, "")
    if (
      ifNoneMatch !== undefined &&
      (ifNoneMatch.trim() === "*" || ifNoneMatch.split(",").some((t) => opaque(t) === etag))
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
      // What a GET would answer, without the body: its type too.
      return HttpServerResponse.empty({
        status,
        headers: { ...headers, "content-type": "application/octet-stream", "content-length": String(length) }
      })
    }
    const wanted = range._tag === "Range" ? { start, end: end + 1 } : undefined
    const address = addresses.ofRequest(request)
    if (Blobs.hasRawBodies(blobs)) {
      // The host's own file stream, piped to the socket: no per-chunk work in the runtime.
      const body = yield* blobs
        .rawBody(hash, wanted, {
          onBytes: (bytes) => void (address.bytes += bytes),
          onEnd: () => void address.active--
        })
        .pipe(Effect.catchAll(() => refuse(new Refusals.NotFound({ message: "the file is no longer stored here" }))))
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

  return { addressFor, requestDownload, download, data }
}
