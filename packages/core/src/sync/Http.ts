/**
 * The `sync` module's HTTP routes (`/v1/sync/...`, described in `Api.ts`): a device's
 * {@link Protocol.Session} over HTTP. Every route needs the account's bearer token (401 without)
 * and names the device in the `meridian-device` header; chunks and manifests travel as raw bytes,
 * live changes as server-sent events resumable by `Last-Event-ID` (the sequence number). Every
 * refusal is `{ error, message }` with the wire error's status (`api/Answer.ts`).
 *
 * @since 0.1.0
 */
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Answer from "../api/Answer.js"
import * as Refusals from "../api/Refusals.js"
import type { IdentityService } from "../stores/Identity.js"
import * as Frames from "./Frames.js"
import {
  CommitManyRequest,
  CommitManyResponse,
  CommitRequest,
  DeviceName,
  Event,
  FetchChunksRequest,
  MAX_MISSING_QUERY,
  MissingRequest,
  RestoreRequest,
  SyncError,
  SyncInvalid
} from "./Protocol.js"
import type { Settings } from "./Server.js"
import type { SyncService } from "./Service.js"

/**
 * The request header that names the device.
 *
 * @since 0.1.0
 * @category headers
 */
export const DEVICE_HEADER = "meridian-device"

/**
 * The answer header of `GET /v1/sync/manifests/{sha256}`: `Manifest` (the whole encoding) or
 * `Delta` (against the `base` asked for).
 *
 * @since 0.1.0
 * @category headers
 */
export const CONTENT_HEADER = "meridian-sync-content"

const Count = Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())

/**
 * `GET /v1/sync/changes`: after which number, how many at most.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChangesQuery = Schema.Struct({
  after: Schema.optionalWith(Count, { default: () => 0 }),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 100_000)))
})

/**
 * `GET /v1/sync/events`: after which number (`Last-Event-ID` wins when both are given).
 *
 * @since 0.1.0
 * @category schemas
 */
export const EventsQuery = Schema.Struct({ after: Schema.optionalWith(Count, { default: () => 0 }) })

/**
 * `GET /v1/sync/versions`: whose kept versions.
 *
 * @since 0.1.0
 * @category schemas
 */
export const VersionsQuery = Schema.Struct({ path: Schema.String })

/**
 * `GET /v1/sync/manifests/{sha256}`: the base manifest the device holds, for a delta.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ManifestQuery = Schema.Struct({ base: Schema.optional(Schema.String) })

const invalid = (reason: string) => new SyncInvalid({ reason })

/** What the module does not know is the body's: over its limit (413), or unreadable (400). */
const bodyRefusal = (e: unknown): Answer.Refusal => {
  const refusal = Answer.bodyRefusalOf(e)
  return refusal === undefined || refusal.status === 413
    ? (refusal ?? { status: 400, error: "SyncInvalid", message: "unreadable request body", headers: {} })
    : { ...refusal, error: "SyncInvalid" }
}

const encodeEvent = Schema.encodeSync(Event)
const encodeError = Schema.encodeSync(SyncError)
const isSyncError = Schema.is(SyncError)

/**
 * A wire error's refusal: `{ error, message }` as every refusal, and `detail`, the error encoded
 * (`SyncError`), so that a device learns the fields it acts on (a conflict's current version, the
 * missing chunks).
 *
 * @since 0.1.0
 * @category answers
 */
export const refuse = (error: SyncError): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
  const refusal = Answer.refusalOf(error)!
  return Effect.succeed(
    HttpServerResponse.unsafeJson(
      { error: refusal.error, message: refusal.message, detail: encodeError(error) },
      { status: refusal.status, headers: refusal.headers }
    )
  )
}

/**
 * One server-sent event of a live change or head: a change's `id` is its sequence number.
 *
 * @since 0.1.0
 * @category encoding
 */
export const sse = (event: Event): string =>
  event._tag === "Changed"
    ? `event: changed\nid: ${event.change.seq}\ndata: ${JSON.stringify(encodeEvent(event))}\n\n`
    : `event: head\ndata: ${JSON.stringify(encodeEvent(event))}\n\n`

/**
 * The routes over `service`, authenticated with `identity`.
 *
 * @since 0.1.0
 * @category routes
 */
export const routes = (
  identity: IdentityService,
  settings: Settings,
  service: SyncService
): Layer.Layer<never, never, HttpLayerRouter.HttpRouter> => {
  const authenticate = Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const token = Answer.bearerToken(request.headers["authorization"])
    if (token === undefined) {
      return yield* new Refusals.Unauthorized({ message: "an Authorization: Bearer token is required" })
    }
    return yield* identity
      .verify(token)
      .pipe(Effect.mapError((e) => new Refusals.Unauthorized({ message: `token ${e.reason}` })))
  })

  const decodeDevice = Schema.decodeUnknownOption(DeviceName)
  /** The request's session: its account from the token, its device from the header. */
  const session = Effect.gen(function* () {
    const principal = yield* authenticate
    const request = yield* HttpServerRequest.HttpServerRequest
    const device = decodeDevice(request.headers[DEVICE_HEADER])
    if (Option.isNone(device)) {
      return yield* invalid(`the ${DEVICE_HEADER} header names the device: 1 to 128 letters, digits, '.', '_' or '-'`)
    }
    return service.session(principal.name, device.value)
  })

  const json = <A, I>(schema: Schema.Schema<A, I>, value: A, status = 200) =>
    HttpServerResponse.unsafeJson(Schema.encodeSync(schema)(value), { status })
  const body = <A, I>(schema: Schema.Schema<A, I>) =>
    HttpServerRequest.schemaBodyJson(schema).pipe(
      Effect.catchTag("ParseError", (e) => Effect.fail(invalid(Answer.describeParseError(e))))
    )
  const query = <A, I extends Readonly<Record<string, string | ReadonlyArray<string> | undefined>>>(
    schema: Schema.Schema<A, I>
  ) =>
    HttpServerRequest.schemaSearchParams(schema).pipe(
      Effect.catchTag("ParseError", (e) => Effect.fail(invalid(Answer.describeParseError(e))))
    )
  const hashParam = Effect.flatMap(HttpRouter.params, ({ sha256 }) =>
    sha256 !== undefined && /^[0-9a-f]{64}$/.test(sha256)
      ? Effect.succeed(sha256)
      : Effect.fail(invalid("a chunk or manifest is named by its SHA-256: 64 lowercase hex digits"))
  )
  const bytes = (data: Uint8Array, headers: Record<string, string> = {}) =>
    HttpServerResponse.uint8Array(data, { contentType: "application/octet-stream", headers })

  const route = <E, R>(
    method: "GET" | "POST" | "PUT",
    path: `/${string}`,
    handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  ) => HttpLayerRouter.route(method, path, Answer.answer(Effect.catchIf(handler, isSyncError, refuse), bodyRefusal))

  /** Room for base64 and the JSON around the largest manifest a commit may carry. */
  const commitBodyBytes = Math.ceil((settings.maxContentBytes * 4) / 3) + 64 * 1024

  const frameLimits: Frames.Limits = { maxChunks: settings.maxBatchChunks, maxChunkBytes: settings.maxChunkBytes }
  const encodeOutcomes = Schema.encodeSync(CommitManyResponse)

  return HttpLayerRouter.addAll([
    route(
      "GET",
      "/v1/sync/head",
      Effect.gen(function* () {
        const s = yield* session
        return json(Schema.Struct({ indexId: Schema.String, head: Schema.Number }), yield* s.head)
      })
    ),
    route(
      "GET",
      "/v1/sync/changes",
      Effect.gen(function* () {
        const s = yield* session
        const q = yield* query(ChangesQuery)
        return HttpServerResponse.unsafeJson(yield* s.changes(q.after, q.limit))
      })
    ),
    route(
      "POST",
      "/v1/sync/chunks/missing",
      Effect.gen(function* () {
        const s = yield* session
        const request = yield* body(MissingRequest)
        return HttpServerResponse.unsafeJson({ missing: yield* s.missing(request.chunks) })
      }).pipe(HttpIncomingMessage.withMaxBodySize(Option.some(MAX_MISSING_QUERY * 70 + 1024)))
    ),
    route(
      "PUT",
      "/v1/sync/chunks/:sha256",
      Effect.gen(function* () {
        const s = yield* session
        const hash = yield* hashParam
        const request = yield* HttpServerRequest.HttpServerRequest
        const data = new Uint8Array(yield* request.arrayBuffer)
        yield* s.putChunk(hash, data)
        return HttpServerResponse.empty({ status: 204 })
      }).pipe(HttpIncomingMessage.withMaxBodySize(Option.some(settings.maxChunkBytes)))
    ),
    route(
      "POST",
      "/v1/sync/chunks",
      Effect.gen(function* () {
        const s = yield* session
        const request = yield* HttpServerRequest.HttpServerRequest
        const data = new Uint8Array(yield* request.arrayBuffer)
        const chunks = Frames.decode(data, frameLimits)
        if (Either.isLeft(chunks)) return yield* invalid(`the batch: ${chunks.left}`)
        yield* s.putChunks(chunks.right)
        return HttpServerResponse.empty({ status: 204 })
      }).pipe(
        HttpIncomingMessage.withMaxBodySize(
          Option.some(settings.maxBatchBytes + settings.maxBatchChunks * Frames.FRAME_OVERHEAD)
        )
      )
    ),
    route(
      "POST",
      "/v1/sync/chunks/fetch",
      Effect.gen(function* () {
        const s = yield* session
        const request = yield* body(FetchChunksRequest)
        return bytes(Frames.encode(yield* s.getChunks(request.chunks, request.maxBytes)))
      }).pipe(HttpIncomingMessage.withMaxBodySize(Option.some(settings.maxBatchChunks * 70 + 1024)))
    ),
    route(
      "POST",
      "/v1/sync/commits",
      Effect.gen(function* () {
        const s = yield* session
        const request = yield* body(CommitManyRequest)
        return HttpServerResponse.unsafeJson(encodeOutcomes({ outcomes: yield* s.commitMany(request.commits) }))
      }).pipe(HttpIncomingMessage.withMaxBodySize(Option.some(Math.max(commitBodyBytes, settings.maxBatchBytes))))
    ),
    route(
      "GET",
      "/v1/sync/chunks/:sha256",
      Effect.gen(function* () {
        const s = yield* session
        return bytes(yield* s.getChunk(yield* hashParam))
      })
    ),
    route(
      "GET",
      "/v1/sync/manifests/:sha256",
      Effect.gen(function* () {
        const s = yield* session
        const digest = yield* hashParam
        const q = yield* query(ManifestQuery)
        const content = yield* s.manifest(digest, q.base)
        return bytes(content.bytes, { [CONTENT_HEADER]: content._tag })
      })
    ),
    route(
      "POST",
      "/v1/sync/commit",
      Effect.gen(function* () {
        const s = yield* session
        const request = yield* body(CommitRequest)
        return HttpServerResponse.unsafeJson(yield* s.commit(request), { status: 201 })
      }).pipe(HttpIncomingMessage.withMaxBodySize(Option.some(commitBodyBytes)))
    ),
    route(
      "GET",
      "/v1/sync/versions",
      Effect.gen(function* () {
        const s = yield* session
        const q = yield* query(VersionsQuery)
        return HttpServerResponse.unsafeJson({ versions: yield* s.versions(q.path) })
      })
    ),
    route(
      "POST",
      "/v1/sync/restore",
      Effect.gen(function* () {
        const s = yield* session
        const request = yield* body(RestoreRequest)
        return HttpServerResponse.unsafeJson(yield* s.restore(request.path, request.version), { status: 201 })
      })
    ),
    route(
      "GET",
      "/v1/sync/events",
      Effect.gen(function* () {
        const s = yield* session
        const request = yield* HttpServerRequest.HttpServerRequest
        const q = yield* query(EventsQuery)
        const lastEventId = request.headers["last-event-id"]
        let after = q.after
        if (lastEventId !== undefined) {
          if (!/^\d{1,15}$/.test(lastEventId)) return yield* invalid("Last-Event-ID is a sequence number")
          after = Number(lastEventId)
        }
        // Refusals that a status says (the device, the home, the bounds) before the stream opens.
        yield* s.head
        const events = s.events(after).pipe(
          Stream.map(sse),
          Stream.catchAll((e) =>
            Stream.make(
              `event: error\ndata: ${JSON.stringify({ error: e._tag, message: e.message, detail: encodeError(e) })}\n\n`
            )
          )
        )
        return HttpServerResponse.stream(Stream.encodeText(Stream.concat(Stream.make(": open\n\n"), events)), {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
        })
      })
    )
  ])
}
