/**
 * The one HTTP client of the client commands: `@effect/platform`'s `HttpClient` on `node:http`
 * (`NodeHttpClient`), one layer for every command (the site API's derived client sits on it too),
 * one retry policy (`retry.ts`). Small answers are read whole, within a bound; bodies that may be
 * larger than memory are streamed both ways by the commands that move them, under an idle timeout
 * rather than a total one.
 *
 * A server's answer never ends the process: a broken connection, a truncated or oversized body
 * or a silence is `Unreachable` (retried), an error status a sentence with an exit code.
 *
 * @since 0.1.0
 */
import type * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { ClientFailed } from "./client.js"
import { policy, retryAfterOf, type Retrying } from "./retry.js"
import { formatBytes } from "./units.js"

// ---------------------------------------------------------------------------------------------
// limits
// ---------------------------------------------------------------------------------------------

/**
 * The largest small answer read (JSON, error messages); a larger one is a broken server.
 *
 * @since 0.1.0
 * @category limits
 */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024

/**
 * A small answer not arrived whole within this long counts as the server being unreachable.
 *
 * @since 0.1.0
 * @category limits
 */
export const ANSWER_TIMEOUT = Duration.seconds(30)

/**
 * A streamed transfer that moves no byte for this long is given up (and retried).
 *
 * @since 0.1.0
 * @category limits
 */
export const IDLE_TIMEOUT = Duration.seconds(60)

// ---------------------------------------------------------------------------------------------
// the client
// ---------------------------------------------------------------------------------------------

/**
 * The HTTP client of every client command: `node:http`, no trace headers.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<HttpClient.HttpClient> = Layer.effect(
  HttpClient.HttpClient,
  Effect.map(
    HttpClient.HttpClient,
    HttpClient.withTracerDisabledWhen(() => true)
  )
).pipe(Layer.provide(NodeHttpClient.layer))

/**
 * The server could not be reached, the connection broke, or the answer was not one: retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unreachable extends Data.TaggedError("Unreachable")<{
  readonly url: string
  readonly reason: string
  /**
   * Nothing has ever answered at this address in this run and the connection was refused (or the
   * name not found): a wrong address or a site that is not running, said at once, not retried.
   */
  readonly firstContact?: boolean | undefined
}> {}

/**
 * The addresses (origins) that have answered in this process. A connection refused by one of
 * them is a site that went away (retried); by any other, a wrong `--url` or a site not running
 * (not retried). One entry per site a command talks to.
 */
const answered = new Set<string>()

const originOf = (url: string) => {
  try {
    return new URL(url).origin
  } catch {
    return url
  }
}

/** The errors of a connection that was never made (as opposed to one that broke). */
const NEVER_CONNECTED = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"])

/**
 * Whether a request failed before any connection was made (refused, name not found).
 *
 * @since 0.1.0
 * @category errors
 */
export const neverConnected = (error: HttpClientError.HttpClientError) => {
  let cause: unknown = error.cause
  for (let depth = 0; depth < 5 && cause instanceof Error; depth++) {
    const code = (cause as { code?: unknown }).code
    if (typeof code === "string" && NEVER_CONNECTED.has(code)) return true
    cause = cause.cause
  }
  return false
}

/**
 * The sentence for an address where nothing answers.
 *
 * @since 0.1.0
 * @category errors
 */
export const nothingAnswers = (url: string, detail: string) =>
  `nothing answers at ${originOf(url)} (${detail}): is the site running? ` +
  "Check --url, or --topology and --site (`meridian status` asks the same site)"

/**
 * A small answer: status, headers and body.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reply {
  readonly status: number
  readonly headers: Headers.Headers
  readonly body: string
}

/**
 * Why a request failed, for people: the deepest cause (ECONNREFUSED, other side closed...).
 *
 * @since 0.1.0
 * @category errors
 */
export const reasonOf = (error: HttpClientError.HttpClientError) => {
  let cause: unknown = error.cause
  for (let depth = 0; depth < 4 && cause instanceof Error && cause.cause instanceof Error; depth++) cause = cause.cause
  const detail = cause instanceof Error ? cause.message : error.message
  return error._tag === "RequestError" ? `cannot connect (${detail})` : `the connection broke (${detail})`
}

/**
 * Sends a request; the answer's body is left to read. A request body that could not be read
 * from its source fails with the source's own `ClientFailed`.
 *
 * @since 0.1.0
 * @category requests
 */
export const execute = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.flatMap(HttpClient.HttpClient, (client) => client.execute(request)).pipe(mapFailure(request))

/**
 * `execute`, the connection closed when the scope closes: for answers read as a stream, which a
 * command may leave half read.
 *
 * @since 0.1.0
 * @category requests
 */
export const executeScoped = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.flatMap(HttpClient.HttpClient, (client) => HttpClient.withScope(client).execute(request)).pipe(
    mapFailure(request)
  )

const mapFailure =
  (request: HttpClientRequest.HttpClientRequest) =>
  <A, R>(effect: Effect.Effect<A, HttpClientError.HttpClientError, R>) =>
    effect.pipe(
      Effect.tap(() => Effect.sync(() => answered.add(originOf(request.url)))),
      Effect.catchTags({
        RequestError: (e) =>
          Effect.fail(
            e.reason === "Encode" && e.cause instanceof ClientFailed
              ? e.cause
              : new Unreachable({
                  url: request.url,
                  reason: reasonOf(e),
                  firstContact: neverConnected(e) && !answered.has(originOf(request.url))
                })
          ),
        ResponseError: (e) => Effect.fail(new Unreachable({ url: request.url, reason: reasonOf(e) }))
      })
    )

/**
 * A small answer read whole, at most `MAX_ANSWER_BYTES`.
 *
 * @since 0.1.0
 * @category requests
 */
export const readReply = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<Reply, Unreachable> =>
  Effect.suspend(() => {
    const url = response.request.url
    const chunks: Array<Uint8Array> = []
    let size = 0
    return response.stream.pipe(
      Stream.mapError((e) => new Unreachable({ url, reason: reasonOf(e) })),
      Stream.runForEach((chunk) => {
        size += chunk.length
        if (size > MAX_ANSWER_BYTES) {
          return Effect.fail(new Unreachable({ url, reason: `the answer is over ${formatBytes(MAX_ANSWER_BYTES)}` }))
        }
        chunks.push(chunk)
        return Effect.void
      }),
      Effect.map(() => ({
        status: response.status,
        headers: response.headers,
        body: Buffer.concat(chunks).toString("utf8")
      }))
    )
  })

/**
 * One request with a small answer, within `ANSWER_TIMEOUT`.
 *
 * @since 0.1.0
 * @category requests
 */
export const exchange = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.flatMap(execute(request), readReply).pipe(
    Effect.timeoutFail({
      duration: ANSWER_TIMEOUT,
      onTimeout: () =>
        new Unreachable({ url: request.url, reason: `no answer within ${Duration.format(ANSWER_TIMEOUT)}` })
    })
  )

/**
 * Runs `use` with `touch` (call it whenever bytes move), failing with `onIdle()` once `touch` has
 * not been called for `timeout`: a transfer may take hours, a silence only so long.
 *
 * @since 0.1.0
 * @category requests
 */
export const whileMoving = <A, E, R, E2>(
  timeout: Duration.Duration,
  onIdle: () => E2,
  use: (touch: Effect.Effect<void>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | E2, R> =>
  Effect.gen(function* () {
    let last = yield* Clock.currentTimeMillis
    const touch = Effect.map(Clock.currentTimeMillis, (now) => {
      last = now
    })
    const watch = Effect.gen(function* () {
      for (;;) {
        const left = last + Duration.toMillis(timeout) - (yield* Clock.currentTimeMillis)
        if (left <= 0) return yield* Effect.fail(onIdle())
        yield* Effect.sleep(left)
      }
    })
    return yield* Effect.raceFirst(use(touch), watch)
  })

// ---------------------------------------------------------------------------------------------
// answers
// ---------------------------------------------------------------------------------------------

/**
 * The server's `{ error, message }`, else the status line.
 *
 * @since 0.1.0
 * @category answers
 */
export const explainReply = (reply: Reply) => {
  try {
    const body = JSON.parse(reply.body) as { error?: unknown; message?: unknown; _tag?: unknown }
    const tag = typeof body.error === "string" ? body.error : typeof body._tag === "string" ? body._tag : undefined
    if (typeof body.message === "string") return `${reply.status} ${tag ?? "error"}: ${body.message}`
  } catch {
    // not JSON: the status says it all
  }
  return `HTTP ${reply.status}${reply.body.trim() === "" ? "" : `: ${reply.body.trim().slice(0, 200)}`}`
}

/**
 * A refusal the user can act on; 401 means the saved token no longer works.
 *
 * @since 0.1.0
 * @category answers
 */
export const refused = (what: string, reply: Reply) =>
  new ClientFailed({
    message:
      reply.status === 401
        ? `${what}: the server refused the saved token (${explainReply(reply)}); log in again`
        : `${what}: ${explainReply(reply)}`,
    code: reply.status === 401 ? 4 : 1
  })

/**
 * An answer's JSON body as `schema`, else a refusal that quotes it.
 *
 * @since 0.1.0
 * @category answers
 */
export const decodeJson =
  <A, I>(schema: Schema.Schema<A, I>, what: string) =>
  (reply: Reply) =>
    Schema.decodeUnknown(Schema.parseJson(schema))(reply.body).pipe(
      Effect.mapError(
        () => new ClientFailed({ message: `${what}: unexpected answer ${reply.body.slice(0, 200)}`, code: 1 })
      )
    )

// ---------------------------------------------------------------------------------------------
// asking until answered
// ---------------------------------------------------------------------------------------------

/** A 503: the server is busy or a region it needs is away; nothing was done. */
class Busy extends Data.TaggedError("Busy")<{ readonly reply: Reply }> {}

/**
 * @since 0.1.0
 * @category requests
 */
export interface AskOptions {
  /** What was asked, for the sentence of a 503 that outlasted the retries. */
  readonly what: string
  /** The server named when it cannot be reached (default: the request's URL). */
  readonly where?: string | undefined
  /** Whether a request whose answer was lost may be sent again (default true). */
  readonly repeatable?: boolean | undefined
  /** Whether a 503 is asked again, after its `Retry-After` (default false). */
  readonly busy?: boolean | undefined
  /** Answers that count as the server being unreachable, and are retried like a broken connection. */
  readonly unavailable?: ((status: number) => boolean) | undefined
}

/**
 * A request until it is answered, by the retry policy; then exit code 3. Any answer it does not
 * retry is returned, whatever its status.
 *
 * @since 0.1.0
 * @category requests
 */
export const ask = (
  retrying: Retrying,
  request: HttpClientRequest.HttpClientRequest,
  options: AskOptions
): Effect.Effect<Reply, ClientFailed, HttpClient.HttpClient> =>
  exchange(request).pipe(
    Effect.flatMap(
      (reply): Effect.Effect<Reply, Unreachable | Busy> =>
        options.busy === true && reply.status === 503
          ? Effect.fail(new Busy({ reply }))
          : options.unavailable?.(reply.status) === true
            ? Effect.fail(new Unreachable({ url: request.url, reason: explainReply(reply) }))
            : Effect.succeed(reply)
    ),
    Effect.retry(
      policy(retrying, (e: Unreachable | Busy | ClientFailed) =>
        e._tag === "Busy"
          ? Option.some({
              reason: explainReply(e.reply),
              again: "asking again",
              retryAfter: retryAfterOf(e.reply.headers["retry-after"])
            })
          : e._tag === "Unreachable" && options.repeatable !== false
            ? Option.some({ reason: e.reason, again: "retrying", firstContact: e.firstContact })
            : Option.none()
      )
    ),
    Effect.mapError((e) =>
      e._tag === "Busy"
        ? new ClientFailed({ message: `${options.what}: ${explainReply(e.reply)}`, code: 3 })
        : e._tag === "Unreachable"
          ? new ClientFailed({
              message:
                e.firstContact === true
                  ? nothingAnswers(options.where ?? e.url, e.reason)
                  : `cannot reach ${options.where ?? e.url}: ${e.reason}`,
              code: 3
            })
          : e
    )
  )
