/**
 * One way for a module's raw HTTP routes to answer a failure: a domain error is a
 * `Schema.TaggedError` whose class carries its HTTP status (the `HttpApiSchema` status annotation,
 * the one the site's `HttpApi` reads) and any headers of its own (`Retry-After`...); {@link answer}
 * turns whatever a route fails with into `{ "error": tag, "message": ... }` with that status. The
 * kernel's errors (timeouts, full mailboxes, unreachable sites, undecodable input) have their
 * statuses here, so that no module keeps a table of its own.
 *
 * @since 0.1.0
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"

const AnnotationHeaders: unique symbol = Symbol.for("@meridian/core/api/Answer/AnnotationHeaders")

/**
 * The annotations of an error class that routes answer with: its status and headers of its own.
 *
 * @since 0.1.0
 * @category annotations
 */
export const annotations = <A>(options: {
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
}): Schema.Annotations.Schema<A> => {
  const result: Record<string | symbol, unknown> = { ...HttpApiSchema.annotations<A>({ status: options.status }) }
  if (options.headers !== undefined) result[AnnotationHeaders] = options.headers
  return result as Schema.Annotations.Schema<A>
}

/**
 * The body of every refusal, `{ "error": tag, "message": ... }`: what a module's `HttpApi`
 * description of a raw route names as its errors (`.addError(Answer.ErrorBody, { status: 404 })`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorBody = Schema.Struct({
  error: Schema.String.annotations({ description: "the error's name, e.g. NotFound, AskTimeout" }),
  message: Schema.String.annotations({ description: "what went wrong, as a sentence" })
}).annotations({ identifier: "Refusal", description: "Why the request was refused" })

/**
 * The token of an `Authorization: Bearer TOKEN` header; the scheme's name in any case (RFC 7235).
 *
 * @since 0.1.0
 * @category headers
 */
export const bearerToken = (authorization: string | undefined): string | undefined => {
  const match = authorization === undefined ? null : /^bearer +(\S+) *$/i.exec(authorization)
  return match === null ? undefined : match[1]
}

/**
 * The longest sentence a refusal says about input it could not decode.
 *
 * @since 0.1.0
 * @category config
 */
export const MAX_DECODE_MESSAGE = 500

/**
 * One decoding issue's message without the value it refused: Schema says `..., actual "…"`, and a
 * refusal never echoes what it refused (a 1 MB password would come back twice, a password at all).
 *
 * @since 0.1.0
 * @category reflection
 */
export const withoutValue = (message: string): string => message.replace(/,? actual [\s\S]*$/, "").slice(0, 200)

/**
 * What is wrong with input that did not decode, by field, in words and without its values
 * (`password: Expected a string at most 4096 character(s) long`).
 *
 * @since 0.1.0
 * @category reflection
 */
export const describeIssues = (
  issues: ReadonlyArray<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>
): string =>
  issues
    .map((issue) => {
      const path = issue.path.map((key) => String(key).slice(0, 64)).join(".")
      return `${path === "" ? "" : `${path}: `}${withoutValue(issue.message)}`
    })
    .join("; ")
    .slice(0, MAX_DECODE_MESSAGE) || "the input does not decode"

/**
 * {@link describeIssues} of a Schema `ParseError`.
 *
 * @since 0.1.0
 * @category reflection
 */
export const describeParseError = (error: ParseResult.ParseError): string =>
  describeIssues(ParseResult.ArrayFormatter.formatErrorSync(error))

/**
 * The statuses of the kernel's errors (and of Schema's `ParseError`), which know nothing of HTTP.
 *
 * @since 0.1.0
 * @category statuses
 */
export const kernelStatuses: Readonly<Record<string, number>> = {
  AskTimeout: 504,
  MailboxFull: 503,
  PendingAsksFull: 503,
  OutboxFull: 503,
  Unreachable: 502,
  ParseError: 400
}

/**
 * An error answered with extra headers for this one answer (a `Retry-After` that depends on the
 * bound that refused it).
 *
 * @since 0.1.0
 * @category errors
 */
export class WithHeaders<E> extends Data.TaggedError("WithHeaders")<{
  readonly error: E
  readonly headers: Readonly<Record<string, string>>
}> {}

/**
 * `error`, answered with `headers` added to its own.
 *
 * @since 0.1.0
 * @category constructors
 */
export const withHeaders = <E>(error: E, headers: Readonly<Record<string, string>>): WithHeaders<E> =>
  new WithHeaders({ error, headers })

/**
 * Fails with `error`, answered with `headers` added to its own.
 *
 * @since 0.1.0
 * @category constructors
 */
export const failWithHeaders = <E>(error: E, headers: Readonly<Record<string, string>>) =>
  Effect.fail(withHeaders(error, headers))

/**
 * What an answer to `error` says: its status, name, message and headers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Refusal {
  readonly status: number
  readonly error: string
  readonly message: string
  readonly headers: Readonly<Record<string, string>>
}

const astOf = (error: object): AST.AST | undefined => {
  const ast = (error.constructor as { readonly ast?: AST.AST } | undefined)?.ast
  return ast !== undefined && typeof ast === "object" && "_tag" in ast ? ast : undefined
}

const annotationsOf = (ast: AST.AST): Record<symbol, unknown> =>
  ast._tag === "Transformation" ? { ...ast.to.annotations, ...ast.annotations } : ast.annotations

/**
 * The refusal of `error`, or `undefined` when nothing says what its status is.
 *
 * @since 0.1.0
 * @category reflection
 */
export const refusalOf = (error: unknown): Refusal | undefined => {
  if (error instanceof WithHeaders) {
    const inner = refusalOf(error.error)
    return inner === undefined ? undefined : { ...inner, headers: { ...inner.headers, ...error.headers } }
  }
  if (typeof error !== "object" || error === null || !("_tag" in error)) return undefined
  const tag = String(error._tag)
  const message = ParseResult.isParseError(error)
    ? describeParseError(error)
    : "message" in error
      ? String(error.message)
      : tag
  const ast = astOf(error)
  const status = ast === undefined ? undefined : HttpApiSchema.getStatus(ast, 0) || undefined
  if (status !== undefined) {
    const headers = (annotationsOf(ast!)[AnnotationHeaders] as Readonly<Record<string, string>> | undefined) ?? {}
    return { status, error: tag, message, headers }
  }
  const kernel = kernelStatuses[tag]
  return kernel === undefined ? undefined : { status: kernel, error: tag, message, headers: {} }
}

/**
 * The JSON answer of a refusal.
 *
 * @since 0.1.0
 * @category answers
 */
export const respond = (refusal: Refusal): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(
    { error: refusal.error, message: refusal.message },
    { status: refusal.status, headers: refusal.headers }
  )

/**
 * The platform's failure to read a request's body (`RequestError`): over the site's size limit
 * (413), or unreadable (400). `undefined` for anything else.
 *
 * @since 0.1.0
 * @category reflection
 */
export const bodyRefusalOf = (error: unknown): Refusal | undefined => {
  if (typeof error !== "object" || error === null || !("_tag" in error) || error._tag !== "RequestError") {
    return undefined
  }
  const { cause, description } = error as { readonly cause?: unknown; readonly description?: unknown }
  // The host says how large a body may be where it knows (`description`).
  return String(cause).includes("maxBytes")
    ? {
        status: 413,
        error: "PayloadTooLarge",
        message: typeof description === "string" ? description : "the request body is over the site's limit",
        headers: {}
      }
    : { status: 400, error: "BadRequest", message: "unreadable request body", headers: {} }
}

const internal = (error: unknown): Refusal => ({
  status: 500,
  error: typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "InternalError",
  message: typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error),
  headers: {}
})

/**
 * Answers a route's failures: each error by its class's status (or the kernel's), an unreadable
 * or oversized body by {@link bodyRefusalOf}, anything else by `otherwise` (a module's word for
 * what it does not know), or 500 — logged, since it is a bug to fix rather than a refusal.
 *
 * @since 0.1.0
 * @category answers
 */
export const answer = <E, R>(
  route: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
  otherwise?: (error: unknown) => Refusal
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  Effect.catchAll(route, (error) => {
    const refusal = refusalOf(error) ?? otherwise?.(error) ?? bodyRefusalOf(error)
    return refusal === undefined
      ? Effect.as(
          Effect.logError("http: a route failed with an error that has no status", error),
          respond(internal(error))
        )
      : Effect.succeed(respond(refusal))
  })
