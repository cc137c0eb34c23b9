/**
 * HTTP in memory for the simulated host: a client request handed to an `HttpApp` as a server
 * request, and the app's response handed back as a client response, without promises or web
 * streams (the engine runs synchronously on virtual time).
 *
 * @since 0.1.0
 */
import * as Cookies from "@effect/platform/Cookies"
import * as Headers from "@effect/platform/Headers"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import type { HttpMethod } from "@effect/platform/HttpMethod"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Multipart from "@effect/platform/Multipart"
import type * as Socket from "@effect/platform/Socket"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import type { ReadonlyRecord } from "effect/Record"
import * as Stream from "effect/Stream"
import { concatBytes } from "@noble/hashes/utils.js"

// ---------------------------------------------------------------------------------------------
// Web globals. Every runtime Effect runs on has them (Effect itself uses them); core compiles
// without the DOM library, so this is the typed view of the few this module needs.

export interface WebUrl {
  readonly protocol: string
  readonly hostname: string
  readonly port: string
  readonly host: string
  readonly pathname: string
  readonly search: string
}

export const web = globalThis as unknown as {
  readonly TextEncoder: new () => { encode(input: string): Uint8Array }
  readonly TextDecoder: new () => { decode(input: Uint8Array): string }
  readonly URLSearchParams: new (init: string) => Iterable<readonly [string, string]>
}
export const utf8Encoder = new web.TextEncoder()
export const utf8Decoder = new web.TextDecoder()

/** The server's side of an HTTP exchange: runs the app for one request in the server's context. */
export type HttpHandler = (
  request: HttpServerRequest.HttpServerRequest,
  onResponse: (response: HttpServerResponse.HttpServerResponse) => void
) => Fiber.RuntimeFiber<void>

// ---------------------------------------------------------------------------------------------
// HTTP in memory

/** A body as both sides see it: bytes at hand, a stream to pull, or one that cannot be carried. */
type BodySource =
  | { readonly _tag: "Bytes"; readonly bytes: Uint8Array }
  | { readonly _tag: "Stream"; readonly stream: Stream.Stream<Uint8Array, unknown> }
  | { readonly _tag: "Unsupported"; readonly description: string }

const emptyBytes = new Uint8Array(0)

const rawSource = (body: unknown): BodySource =>
  body instanceof Uint8Array
    ? { _tag: "Bytes", bytes: body }
    : typeof body === "string"
      ? { _tag: "Bytes", bytes: utf8Encoder.encode(body) }
      : { _tag: "Unsupported", description: "a Raw body that is neither a Uint8Array nor a string is not simulated" }

/**
 * Reading of a {@link BodySource}: `stream` pulls it (a stream body from its source, each run),
 * `bytes` reads it whole once (bounded) and keeps the result.
 */
class BodyReader<E> {
  private whole: Exit.Exit<Uint8Array, E> | undefined = undefined

  constructor(
    readonly source: BodySource,
    readonly maxBytes: number,
    readonly fail: (reason: "Decode" | "EmptyBody", description: string | undefined, cause: unknown) => E
  ) {}

  get stream(): Stream.Stream<Uint8Array, E> {
    const source = this.source
    switch (source._tag) {
      case "Bytes":
        return source.bytes.length === 0 ? Stream.empty : Stream.succeed(source.bytes)
      case "Stream":
        return this.whole?._tag === "Success"
          ? Stream.succeed(this.whole.value)
          : Stream.mapError(source.stream, (cause) => this.fail("Decode", undefined, cause))
      case "Unsupported":
        return Stream.fail(this.fail("Decode", source.description, undefined))
    }
  }

  get bytes(): Effect.Effect<Uint8Array, E> {
    return Effect.suspend(() => {
      if (this.whole !== undefined) return this.whole
      const source = this.source
      if (source._tag === "Bytes") return Effect.succeed(source.bytes)
      if (source._tag === "Unsupported") return Effect.fail(this.fail("Decode", source.description, undefined))
      const parts: Array<Uint8Array> = []
      let size = 0
      return Stream.runForEachChunk(
        Stream.mapError(source.stream, (cause) => this.fail("Decode", undefined, cause)),
        (chunk) => {
          for (const part of chunk) {
            size += part.length
            parts.push(part)
          }
          return size > this.maxBytes
            ? Effect.fail(
                this.fail("Decode", `body larger than the simulator's bound of ${this.maxBytes} bytes`, undefined)
              )
            : Effect.void
        }
      ).pipe(
        Effect.map(() => concatBytes(...parts)),
        Effect.onExit((exit) => Effect.sync(() => (this.whole = exit)))
      )
    })
  }

  get text(): Effect.Effect<string, E> {
    return Effect.map(this.bytes, (bytes) => utf8Decoder.decode(bytes))
  }

  json(emptyIsNull: boolean): Effect.Effect<unknown, E> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({
        try: (): unknown => (emptyIsNull && text === "" ? null : JSON.parse(text)),
        catch: (cause) => this.fail("Decode", undefined, cause)
      })
    )
  }

  get urlParams(): Effect.Effect<UrlParams.UrlParams, E> {
    return Effect.map(this.text, (text) => UrlParams.fromInput(new web.URLSearchParams(text)))
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, E> {
    return Effect.map(this.bytes, (bytes) => bytes.slice().buffer)
  }
}

/** The body half of an `HttpIncomingMessage` over a {@link BodyReader}: the same on both sides. */
abstract class IncomingBody<E> extends Inspectable.Class {
  readonly [HttpIncomingMessage.TypeId]: HttpIncomingMessage.TypeId = HttpIncomingMessage.TypeId
  protected abstract readonly body: BodyReader<E>
  /** An empty body read as JSON: `null` on the client (as the platform's clients give), a failure on the server. */
  protected abstract readonly emptyJsonIsNull: boolean

  get stream(): Stream.Stream<Uint8Array, E> {
    return this.body.stream
  }

  get text(): Effect.Effect<string, E> {
    return this.body.text
  }

  get json(): Effect.Effect<unknown, E> {
    return this.body.json(this.emptyJsonIsNull)
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, E> {
    return this.body.urlParams
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, E> {
    return this.body.arrayBuffer
  }
}

/** The server's view of a simulated client request. */
class SimServerRequest
  extends IncomingBody<HttpServerError.RequestError>
  implements HttpServerRequest.HttpServerRequest
{
  readonly [HttpServerRequest.TypeId]: HttpServerRequest.TypeId = HttpServerRequest.TypeId
  protected readonly body: BodyReader<HttpServerError.RequestError>
  protected readonly emptyJsonIsNull = false

  constructor(
    readonly source: HttpClientRequest.HttpClientRequest,
    readonly url: string,
    readonly originalUrl: string,
    readonly headers: Headers.Headers,
    private readonly from: string | undefined,
    body: BodySource | BodyReader<HttpServerError.RequestError>,
    maxBytes: number
  ) {
    super()
    this.body =
      body instanceof BodyReader
        ? body
        : new BodyReader(
            body,
            maxBytes,
            (_reason, description, cause) =>
              new HttpServerError.RequestError({
                request: this,
                reason: "Decode",
                cause,
                ...(description === undefined ? {} : { description })
              })
          )
  }

  get method(): HttpMethod {
    return this.source.method
  }

  get remoteAddress(): Option.Option<string> {
    return Option.fromNullable(this.from)
  }

  get cookies(): ReadonlyRecord<string, string> {
    return Cookies.parseHeader(this.headers.cookie ?? "")
  }

  get multipartStream(): Stream.Stream<Multipart.Part, Multipart.MultipartError> {
    return Stream.pipeThroughChannel(
      Stream.mapError(this.stream, (cause) => new Multipart.MultipartError({ reason: "InternalError", cause })),
      Multipart.makeChannel(this.headers)
    )
  }

  get multipart() {
    return Multipart.toPersisted(this.multipartStream)
  }

  get upgrade(): Effect.Effect<Socket.Socket, HttpServerError.RequestError> {
    return Effect.fail(
      new HttpServerError.RequestError({
        request: this,
        reason: "Decode",
        description: "HTTP upgrades are not simulated"
      })
    )
  }

  modify(options: {
    readonly url?: string
    readonly headers?: Headers.Headers
    readonly remoteAddress?: string
  }): HttpServerRequest.HttpServerRequest {
    return new SimServerRequest(
      this.source,
      options.url ?? this.url,
      this.originalUrl,
      options.headers ?? this.headers,
      options.remoteAddress ?? this.from,
      this.body,
      this.body.maxBytes
    )
  }

  toJSON(): unknown {
    return { _id: "@effect/platform/HttpServerRequest", method: this.method, url: this.originalUrl }
  }
}

/** The client's view of a simulated server response. */
class SimClientResponse
  extends IncomingBody<HttpClientError.ResponseError>
  implements HttpClientResponse.HttpClientResponse
{
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  readonly headers: Headers.Headers
  protected readonly body: BodyReader<HttpClientError.ResponseError>
  protected readonly emptyJsonIsNull = true

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly response: HttpServerResponse.HttpServerResponse,
    maxBytes: number
  ) {
    super()
    this.headers = Cookies.isEmpty(response.cookies)
      ? response.headers
      : Headers.set(response.headers, "set-cookie", Cookies.toSetCookieHeaders(response.cookies).join(", "))
    const body = response.body
    const source: BodySource =
      request.method === "HEAD" || body._tag === "Empty"
        ? { _tag: "Bytes", bytes: emptyBytes }
        : body._tag === "Uint8Array"
          ? { _tag: "Bytes", bytes: body.body }
          : body._tag === "Raw"
            ? rawSource(body.body)
            : body._tag === "Stream"
              ? { _tag: "Stream", stream: body.stream }
              : { _tag: "Unsupported", description: "FormData response bodies are not simulated" }
    this.body = new BodyReader(
      source,
      maxBytes,
      (reason, description, cause) =>
        new HttpClientError.ResponseError({
          request,
          response: this,
          reason,
          cause,
          ...(description === undefined ? {} : { description })
        })
    )
  }

  get status(): number {
    return this.response.status
  }

  get cookies(): Cookies.Cookies {
    return this.response.cookies
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  get formData(): Effect.Effect<never, HttpClientError.ResponseError> {
    return Effect.fail(
      new HttpClientError.ResponseError({
        request: this.request,
        response: this,
        reason: "Decode",
        description: "FormData bodies are not simulated"
      })
    )
  }

  toJSON(): unknown {
    return { _id: "@effect/platform/HttpClientResponse", request: this.request.toJSON(), status: this.status }
  }
}

/** One request through the app served at its address, in memory. */
export const exchange = (
  handle: HttpHandler,
  request: HttpClientRequest.HttpClientRequest,
  url: WebUrl,
  from: string | undefined,
  maxBodyBytes: number
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> => {
  const body = request.body
  let source: BodySource
  switch (body._tag) {
    case "Empty":
      source = { _tag: "Bytes", bytes: emptyBytes }
      break
    case "Uint8Array":
      source = { _tag: "Bytes", bytes: body.body }
      break
    case "Raw":
      source = rawSource(body.body)
      break
    case "Stream":
      source = { _tag: "Stream", stream: body.stream }
      break
    case "FormData":
      source = { _tag: "Unsupported", description: "FormData request bodies are not simulated" }
      break
  }
  if (source._tag === "Unsupported") {
    return Effect.fail(new HttpClientError.RequestError({ request, reason: "Encode", description: source.description }))
  }
  let headers = request.headers
  if (headers.host === undefined) headers = Headers.set(headers, "host", url.host)
  if (body.contentType !== undefined && headers["content-type"] === undefined) {
    headers = Headers.set(headers, "content-type", body.contentType)
  }
  if (body.contentLength !== undefined) headers = Headers.set(headers, "content-length", String(body.contentLength))
  const path = url.pathname + url.search
  const serverRequest = new SimServerRequest(request, path, path, headers, from, source, maxBodyBytes)

  return Effect.suspend(() => {
    let response: HttpServerResponse.HttpServerResponse | undefined
    const fiber = handle(serverRequest, (r) => (response = r))
    return Fiber.await(fiber).pipe(
      Effect.onInterrupt(() => Effect.sync(() => fiber.unsafeInterruptAsFork(HttpServerError.clientAbortFiberId))),
      Effect.flatMap((exit) =>
        response !== undefined
          ? Effect.succeed(new SimClientResponse(request, response, maxBodyBytes))
          : Effect.fail(
              new HttpClientError.RequestError({
                request,
                reason: "Transport",
                cause: exit,
                description: "the simulated server ended without a response (it stopped serving)"
              })
            )
      )
    )
  })
}
