/**
 * Uploads with tus 1.0 (`/v1/files/uploads`: OPTIONS, POST, HEAD, PATCH, DELETE; the creation,
 * expiration, termination and checksum extensions): bytes staged as they come, the finished
 * file moved into the blob store (its SHA-256 checked) and published as a transfer.
 *
 * @since 0.1.0
 */
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { sha1 } from "@noble/hashes/legacy.js"
import { sha256 } from "@noble/hashes/sha2.js"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { withHeaders } from "../api/Answer.js"
import * as Refusals from "../api/Refusals.js"
import { type Principal, randomBytes } from "../stores/Identity.js"
import * as Staging from "../stores/Staging.js"
import * as Errors from "./Errors.js"
import { refuse } from "./Errors.js"
import { type Handler, header, httpDate, idPattern, intHeader, parseMetadata } from "./Http.js"
import type { Transfer, Upload } from "./Protocol.js"
import { encodeUpload, NAMESPACE, type Server, uploadKey } from "./Server.js"
import type { Transfers } from "./Transfers.js"

const TUS_VERSION = "1.0.0"
const userPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/**
 * The tus routes of one file server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tus {
  /** `OPTIONS /v1/files/uploads`: what this server speaks. */
  readonly options: Handler
  /** `POST /v1/files/uploads`: a new upload (its recipients checked, its quota taken). */
  readonly create: Handler
  /** `HEAD /v1/files/uploads/:id` (routed as GET): the upload's offset. */
  readonly head: Handler
  /** `PATCH /v1/files/uploads/:id`: bytes at the offset; the last one completes the upload. */
  readonly patch: Handler
  /** `DELETE /v1/files/uploads/:id`: the upload dropped. */
  readonly terminate: Handler
}

/**
 * The tus routes of `server`, whose finished uploads `transfers` publishes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (server: Server, transfers: Transfers): Tus => {
  const { kv, blobs, staging, settings, now, authenticate } = server

  const tusHeaders = { "tus-resumable": TUS_VERSION }
  const requireTus = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    header(request, "tus-resumable") === TUS_VERSION
      ? Effect.succeed(request)
      : refuse(new Errors.PreconditionFailed({ message: `Tus-Resumable: ${TUS_VERSION} is required` }))
  )

  /**
   * The caller's upload at `:id`: in progress, or finished (its transfer, held here and sent by
   * the caller, within `finishedUploadTtlSeconds` of its completion and while it lives).
   */
  const ownUploadOrFinished = (principal: Principal) =>
    Effect.gen(function* () {
      const { id } = yield* HttpRouter.params
      if (id === undefined || !idPattern.test(id))
        return yield* refuse(new Refusals.NotFound({ message: "no such upload" }))
      const upload = yield* server.getUpload(id)
      const at = yield* now
      if (Option.isNone(upload)) {
        const transfer = yield* server.getTransfer(id)
        if (
          Option.isNone(transfer) ||
          transfer.value.holder !== server.site ||
          transfer.value.sender !== principal.name
        )
          return yield* refuse(new Refusals.NotFound({ message: "no such upload" }))
        const until = Math.min(
          transfer.value.createdAt + settings.finishedUploadTtlSeconds * 1000,
          transfer.value.expiresAt
        )
        if (at >= until) return yield* refuse(new Refusals.Gone({ message: "this upload finished and has expired" }))
        return { _tag: "Finished", transfer: transfer.value, until } as const
      }
      if (upload.value.owner !== principal.name)
        return yield* refuse(new Refusals.NotFound({ message: "no such upload" }))
      if (at >= upload.value.expiresAt) return yield* refuse(new Refusals.Gone({ message: "this upload expired" }))
      return { _tag: "InProgress", upload: upload.value } as const
    })

  /** The caller's upload in progress at `:id` (a finished one cannot be changed: 409). */
  const ownUpload = (principal: Principal) =>
    Effect.flatMap(ownUploadOrFinished(principal), (found) =>
      found._tag === "InProgress"
        ? Effect.succeed(found.upload)
        : refuse(new Refusals.Conflict({ message: "this upload is complete: nothing more can be sent or removed" }))
    )

  /** tus's answer about a finished upload: all of it is here. */
  const finishedHeaders = (transfer: Transfer, until: number) => ({
    ...tusHeaders,
    "upload-offset": String(transfer.size),
    "upload-length": String(transfer.size),
    "upload-expires": httpDate(until),
    "cache-control": "no-store",
    "meridian-transfer": transfer.id,
    "meridian-sha256": transfer.sha256
  })

  const usageOf = (user: string) =>
    Effect.gen(function* () {
      const held = (yield* server.listTransfers).filter((t) => t.holder === server.site && t.sender === user)
      const pending = (yield* server.listUploads).filter((u) => u.owner === user)
      return held.reduce((n, t) => n + t.size, 0) + pending.reduce((n, u) => n + u.length, 0)
    })

  /** The last byte arrived: into the blob store (hash checked), a transfer, offered to every server. */
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
      const transfer = yield* transfers.publish(
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

  const create = Effect.gen(function* () {
    const request = yield* requireTus
    const principal = yield* authenticate
    if (header(request, "upload-defer-length") !== undefined) {
      return yield* Effect.fail(
        new Refusals.BadRequest({ message: "Upload-Defer-Length is not supported: send Upload-Length" })
      )
    }
    const length = intHeader(request, "upload-length")
    if (length === undefined) {
      return yield* refuse(
        new Refusals.BadRequest({
          message:
            header(request, "upload-length") === undefined
              ? "Upload-Length is required"
              : "Upload-Length must be the file's size in bytes: a whole number, 0 or more, of at most 16 digits"
        })
      )
    }
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
        server.context.accounts.locate(name, { timeout: Duration.millis(settings.brokerTimeoutMillis) }).pipe(
          Effect.catchAll((e) =>
            e._tag === "AccountNotFound"
              ? refuse(new Refusals.BadRequest({ message: `no such user: ${name}` }))
              : refuse(
                  withHeaders(
                    new Refusals.Unavailable({
                      message: `cannot check recipient ${name} now (${e._tag}); try again`
                    }),
                    { "retry-after": "5" }
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

  const head = Effect.gen(function* () {
    yield* requireTus
    const found = yield* ownUploadOrFinished(yield* authenticate)
    // tus 1.0: a completed upload answers 200 with its offset at its length.
    if (found._tag === "Finished")
      return HttpServerResponse.empty({ status: 200, headers: finishedHeaders(found.transfer, found.until) })
    const upload = found.upload
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
    const found = yield* ownUploadOrFinished(yield* authenticate)
    if (found._tag === "Finished") {
      // A client resending the end of a finished upload: nothing new, no second transfer.
      const { transfer, until } = found
      const offset = intHeader(request, "upload-offset")
      const length = header(request, "content-length")
      if (offset === transfer.size && (length === undefined || length === "0"))
        return HttpServerResponse.empty({ status: 204, headers: finishedHeaders(transfer, until) })
      return yield* refuse(
        withHeaders(
          new Refusals.Conflict({
            message: `this upload is complete (all ${transfer.size} bytes are here, transfer ${transfer.id}): nothing more can be sent`
          }),
          { ...tusHeaders, "upload-offset": String(transfer.size) }
        )
      )
    }
    const upload = found.upload
    if (header(request, "content-type") !== "application/offset+octet-stream") {
      return yield* Effect.fail(
        new Errors.UnsupportedMediaType({ message: "Content-Type: application/offset+octet-stream is required" })
      )
    }
    const offset = intHeader(request, "upload-offset")
    if (offset === undefined) {
      return yield* refuse(
        new Refusals.BadRequest({
          message:
            header(request, "upload-offset") === undefined
              ? "Upload-Offset is required"
              : "Upload-Offset must be a whole number of bytes, 0 or more, of at most 16 digits"
        })
      )
    }
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
            { ...tusHeaders, "upload-offset": String(size) }
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

  return { options, create, head, patch, terminate }
}
