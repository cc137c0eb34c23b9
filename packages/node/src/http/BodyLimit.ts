/**
 * Request bodies read within a bound without killing the connection. The platform reads a body
 * (`text`, `json`, `arrayBuffer`, `urlParamsBody`) until it is over `MaxBodySize`, then destroys
 * the request, and with it the socket: the client got a reset instead of its 413. Here a body
 * whose `Content-Length` is over the bound is refused before a byte is read, and one sent in
 * chunks is refused at the first byte over it; the rest is read and discarded, and the answer
 * closes the connection (`Connection: close`). The bound is the one in force where the body is
 * read, so a route that takes large bodies (tus's PATCH streams them) keeps its own.
 *
 * @since 0.1.0
 */
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerError from "@effect/platform/HttpServerError"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as UrlParams from "@effect/platform/UrlParams"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/**
 * What the cause of a body refused for its size says (`Answer.bodyRefusalOf` and the site's last
 * resort read it, as they read the platform's own).
 *
 * @since 0.1.0
 * @category errors
 */
export const OVER_LIMIT = "maxBytes exceeded"

const overLimit = (request: HttpServerRequest.HttpServerRequest, max: number) =>
  new HttpServerError.RequestError({
    request,
    reason: "Decode",
    cause: new Error(`${OVER_LIMIT}: the request body is over ${max} bytes`),
    description: `the request body is over ${max} bytes`
  })

/**
 * `request` with its body read within the `MaxBodySize` in force; `onOver` is called when a body
 * is refused for its size (the answer should close the connection).
 *
 * @since 0.1.0
 * @category constructors
 */
export const guard = (
  request: HttpServerRequest.HttpServerRequest,
  onOver: () => void
): HttpServerRequest.HttpServerRequest => {
  const source = NodeHttpServerRequest.toIncomingMessage(request)
  let bytes: Effect.Effect<Buffer, HttpServerError.RequestError> | undefined

  const read = Effect.flatMap(HttpIncomingMessage.MaxBodySize, (size) => {
    const max = Option.match(size, { onNone: () => Infinity, onSome: Number })
    const declared = Number(source.headers["content-length"] ?? NaN)
    if (declared > max) {
      onOver()
      return Effect.fail(overLimit(request, max))
    }
    return Effect.async<Buffer, HttpServerError.RequestError>((resume) => {
      const chunks: Array<Buffer> = []
      let total = 0
      const cleanup = () => {
        source.off("data", onData)
        source.off("end", onEnd)
        source.off("error", onError)
      }
      const onData = (chunk: Buffer) => {
        total += chunk.length
        if (total <= max) return void chunks.push(chunk)
        cleanup()
        onOver()
        // Read on and dropped until the answer closes the connection: never destroyed under the client.
        source.resume()
        resume(Effect.fail(overLimit(request, max)))
      }
      const onEnd = () => {
        cleanup()
        resume(Effect.succeed(Buffer.concat(chunks)))
      }
      const onError = (cause: Error) => {
        cleanup()
        resume(Effect.fail(new HttpServerError.RequestError({ request, reason: "Transport", cause })))
      }
      source.on("data", onData)
      source.on("end", onEnd)
      source.on("error", onError)
      return Effect.sync(cleanup)
    })
  })
  // Read once: every way of reading the body sees the same bytes.
  const body = Effect.suspend(() => (bytes ??= Effect.runSync(Effect.cached(read))))
  const decode = <A>(f: (buffer: Buffer) => A) =>
    Effect.flatMap(body, (buffer) =>
      Effect.try({
        try: () => f(buffer),
        catch: (cause) => new HttpServerError.RequestError({ request, reason: "Decode", cause })
      })
    )
  const text = Effect.map(body, (buffer) => buffer.toString("utf8"))

  return new Proxy(request, {
    get: (target, property) => {
      switch (property) {
        case "text":
          return text
        case "json":
          return decode((buffer): unknown => (buffer.length === 0 ? null : JSON.parse(buffer.toString("utf8"))))
        case "arrayBuffer":
          return Effect.map(body, (buffer) => buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.length))
        case "urlParamsBody":
          return decode((buffer) => UrlParams.fromInput(new URLSearchParams(buffer.toString("utf8"))))
        case "modify":
          return (options: Parameters<HttpServerRequest.HttpServerRequest["modify"]>[0]) =>
            guard(target.modify(options), onOver)
        default:
          return Reflect.get(target, property, target)
      }
    }
  })
}
