/**
 * A device's {@link Protocol.Session} over the `sync` module's HTTP routes, with
 * `@effect/platform`'s `HttpClient` (the host gives it: Node's on a real device, the simulator's
 * otherwise). Refusals come back as the Protocol's wire errors (decoded from the refusal's
 * `detail`); what the network or the server did wrong becomes {@link SyncHomeUnreachable} (no
 * answer, a 5xx) or {@link SyncBusy} (a 503 that says so), so the client's engine retries them.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Either from "effect/Either"
import * as Frames from "./Frames.js"
import { CONTENT_HEADER, DEVICE_HEADER } from "./Http.js"
import {
  ChangesPage,
  CommitManyRequest,
  CommitManyResponse,
  CommitRequest,
  CommitResult,
  Event,
  MAX_BATCH_CHUNKS,
  MissingResponse,
  type Session,
  SyncBusy,
  SyncError,
  SyncHomeUnreachable,
  SyncInvalid,
  Version
} from "./Protocol.js"

/**
 * Where and as whom a device talks.
 *
 * @since 0.1.0
 * @category config
 */
export interface Options {
  /** The site's base URL, e.g. `https://sync.example.net` (no trailing slash needed). */
  readonly baseUrl: string
  /**
   * The account's bearer token, or how to read the current one at each request (a daemon picks
   * up a new login without a restart).
   */
  readonly token: string | (() => string)
  readonly device: string
  /** An event (or a line) of the event stream longer than this ends it: default 1 MiB. */
  readonly maxEventChars?: number
  /**
   * The largest chunk a batch download may hold, checked as it is decoded: default the chunker's
   * ceiling (16 MiB).
   */
  readonly maxChunkBytes?: number
}

const Refusal = Schema.Struct({
  error: Schema.String,
  message: Schema.String,
  detail: Schema.optional(Schema.Unknown)
})
const decodeRefusal = Schema.decodeUnknownOption(Schema.parseJson(Refusal))
const decodeError = Schema.decodeUnknownOption(SyncError)
const HeadBody = Schema.Struct({ indexId: Schema.String, head: Schema.Int })
const VersionsBody = Schema.Struct({ versions: Schema.Array(Version) })
const decodeEvent = Schema.decodeUnknownOption(Schema.parseJson(Event))

/**
 * The wire error a refusal names, or what its status means to a device that must retry.
 *
 * @since 0.1.0
 * @category decoding
 */
export const errorOf = (status: number, body: string): SyncError => {
  const refusal = decodeRefusal(body)
  if (Option.isSome(refusal)) {
    const decoded = decodeError(refusal.value.detail)
    if (Option.isSome(decoded)) return decoded.value
  }
  const said = Option.match(refusal, { onNone: () => body.slice(0, 200), onSome: (r) => `${r.error}: ${r.message}` })
  if (status === 503 && Option.isSome(refusal) && refusal.value.error === "SyncBusy") {
    return new SyncBusy({ reason: said })
  }
  if (status >= 500 || status === 0) return new SyncHomeUnreachable({ region: "?", reason: `${status} ${said}` })
  return new SyncInvalid({ reason: `${status} ${said}` })
}

/**
 * The session of `options.device` at `options.baseUrl`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Session, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client): Session => {
    const base = options.baseUrl.replace(/\/+$/, "")
    const maxEventChars = options.maxEventChars ?? 1024 * 1024
    const frameLimits: Frames.Limits = {
      maxChunks: MAX_BATCH_CHUNKS * 100,
      maxChunkBytes: options.maxChunkBytes ?? 16 * 1024 * 1024
    }
    const encodeCommits = Schema.encodeSync(CommitManyRequest)
    const prepare = (request: HttpClientRequest.HttpClientRequest) =>
      request.pipe(
        HttpClientRequest.prependUrl(base),
        HttpClientRequest.bearerToken(typeof options.token === "string" ? options.token : options.token()),
        HttpClientRequest.setHeader(DEVICE_HEADER, options.device)
      )
    const unreachable = (e: { readonly message: string }) =>
      new SyncHomeUnreachable({ region: "?", reason: `the site did not answer: ${e.message}` })

    /** The answer when it is a success; its refusal as a wire error otherwise. */
    const send = (request: HttpClientRequest.HttpClientRequest) =>
      client.execute(prepare(request)).pipe(
        Effect.mapError(unreachable),
        Effect.flatMap(
          (response): Effect.Effect<HttpClientResponse.HttpClientResponse, SyncError> =>
            response.status < 300
              ? Effect.succeed(response)
              : Effect.flatMap(
                  Effect.orElseSucceed(response.text, () => ""),
                  (body) => Effect.fail(errorOf(response.status, body))
                )
        )
      )
    const json = <A, I>(schema: Schema.Schema<A, I>, request: HttpClientRequest.HttpClientRequest) =>
      Effect.scoped(
        Effect.flatMap(send(request), (response) =>
          response.json.pipe(
            Effect.flatMap(Schema.decodeUnknown(schema)),
            Effect.mapError(
              (e) => new SyncHomeUnreachable({ region: "?", reason: `an answer that does not decode: ${e.message}` })
            )
          )
        )
      )
    const bytes = (request: HttpClientRequest.HttpClientRequest) =>
      Effect.scoped(
        Effect.flatMap(send(request), (response) =>
          Effect.map(Effect.mapError(response.arrayBuffer, unreachable), (buffer) => ({
            bytes: new Uint8Array(buffer),
            headers: response.headers
          }))
        )
      )

    return {
      head: json(HeadBody, HttpClientRequest.get("/v1/sync/head")),
      changes: (after, limit) =>
        json(
          ChangesPage,
          HttpClientRequest.get("/v1/sync/changes", {
            urlParams: { after: String(after), ...(limit === undefined ? {} : { limit: String(limit) }) }
          })
        ),
      missing: (chunks) =>
        Effect.map(
          json(
            MissingResponse,
            HttpClientRequest.post("/v1/sync/chunks/missing").pipe(
              HttpClientRequest.bodyUnsafeJson({ chunks: [...chunks] })
            )
          ),
          (r) => r.missing
        ),
      putChunk: (hash, data) =>
        Effect.asVoid(
          bytes(
            HttpClientRequest.put(`/v1/sync/chunks/${hash}`).pipe(
              HttpClientRequest.bodyUint8Array(data, "application/octet-stream")
            )
          )
        ),
      getChunk: (hash) => Effect.map(bytes(HttpClientRequest.get(`/v1/sync/chunks/${hash}`)), (r) => r.bytes),
      manifest: (digest, baseDigest) =>
        Effect.map(
          bytes(
            HttpClientRequest.get(`/v1/sync/manifests/${digest}`, {
              urlParams: baseDigest === undefined ? {} : { base: baseDigest }
            })
          ),
          (r) =>
            r.headers[CONTENT_HEADER] === "Delta"
              ? { _tag: "Delta", bytes: r.bytes }
              : { _tag: "Manifest", bytes: r.bytes }
        ),
      putChunks: (chunks) =>
        Effect.asVoid(
          bytes(
            HttpClientRequest.post("/v1/sync/chunks").pipe(
              HttpClientRequest.bodyUint8Array(Frames.encode(chunks), Frames.CONTENT_TYPE)
            )
          )
        ),
      getChunks: (hashes, maxBytes) =>
        Effect.flatMap(
          bytes(
            HttpClientRequest.post("/v1/sync/chunks/fetch").pipe(
              HttpClientRequest.bodyUnsafeJson({ chunks: [...hashes], ...(maxBytes === undefined ? {} : { maxBytes }) })
            )
          ),
          (r) =>
            Either.match(Frames.decode(r.bytes, frameLimits), {
              onLeft: (problem) =>
                Effect.fail(
                  new SyncHomeUnreachable({ region: "?", reason: `an answer that does not decode: ${problem}` })
                ),
              onRight: (chunks) => Effect.succeed(chunks)
            })
        ),
      commitMany: (requests) =>
        Effect.map(
          json(
            CommitManyResponse,
            HttpClientRequest.post("/v1/sync/commits").pipe(
              HttpClientRequest.bodyUnsafeJson(encodeCommits({ commits: [...requests] }))
            )
          ),
          (r) => r.outcomes
        ),
      commit: (request) =>
        json(
          CommitResult,
          HttpClientRequest.post("/v1/sync/commit").pipe(
            HttpClientRequest.bodyUnsafeJson(Schema.encodeSync(CommitRequest)(request))
          )
        ),
      versions: (path) =>
        Effect.map(
          json(VersionsBody, HttpClientRequest.get("/v1/sync/versions", { urlParams: { path } })),
          (r) => r.versions
        ),
      restore: (path, version) =>
        json(
          CommitResult,
          HttpClientRequest.post("/v1/sync/restore").pipe(HttpClientRequest.bodyUnsafeJson({ path, version }))
        ),
      events: (after) =>
        Stream.unwrapScoped(
          Effect.map(
            send(
              HttpClientRequest.get("/v1/sync/events", { urlParams: { after: String(after) } }).pipe(
                HttpClientRequest.setHeader("accept", "text/event-stream")
              )
            ),
            (response) => {
              let buffer = ""
              return response.stream.pipe(
                Stream.mapError(unreachable),
                Stream.decodeText(),
                Stream.mapConcatEffect((text) => {
                  buffer += text
                  const events: Array<Event> = []
                  let end: number
                  while ((end = buffer.indexOf("\n\n")) >= 0) {
                    const block = buffer.slice(0, end)
                    buffer = buffer.slice(end + 2)
                    const parsed = parseBlock(block)
                    if (parsed === undefined) continue
                    if (parsed.event === "error") return Effect.fail(errorOf(503, parsed.data))
                    const event = decodeEvent(parsed.data)
                    if (Option.isNone(event)) {
                      return Effect.fail(
                        new SyncHomeUnreachable({ region: "?", reason: "an event that does not decode" })
                      )
                    }
                    events.push(event.value)
                  }
                  if (buffer.length > maxEventChars) {
                    return Effect.fail(
                      new SyncHomeUnreachable({ region: "?", reason: `an event over ${maxEventChars} characters` })
                    )
                  }
                  return Effect.succeed(events)
                }),
                // The server never ends the stream: an end is a cut connection, to resume from.
                Stream.concat(Stream.fail(new SyncHomeUnreachable({ region: "?", reason: "the event stream ended" })))
              )
            }
          )
        )
    }
  })

/** One event block's type and data (comments skipped), or `undefined` for none. */
const parseBlock = (block: string): { readonly event: string; readonly data: string } | undefined => {
  let event = "message"
  const data: Array<string> = []
  for (const line of block.split("\n")) {
    if (line.startsWith(":") || line === "") continue
    const colon = line.indexOf(":")
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "")
    if (field === "event") event = value
    else if (field === "data") data.push(value)
  }
  return data.length === 0 ? undefined : { event, data: data.join("\n") }
}
