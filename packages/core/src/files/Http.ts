/**
 * The file service's HTTP helpers: header reading, tus `Upload-Metadata`, `Range`, HTTP dates,
 * bearer tokens, and the one way its routes are registered (failures answered by `api/Answer.ts`).
 *
 * @since 0.1.0
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import { answer, bearerToken } from "../api/Answer.js"
import * as Refusals from "../api/Refusals.js"
import type { IdentityService, Principal } from "../stores/Identity.js"
import { type FilesError, refuse } from "./Errors.js"

/**
 * An upload's or transfer's id, as a path names it.
 *
 * @since 0.1.0
 * @category validation
 */
export const idPattern = /^[A-Za-z0-9_-]{16,64}$/

/**
 * A request header, when it is there once.
 *
 * @since 0.1.0
 * @category headers
 */
export const header = (request: HttpServerRequest.HttpServerRequest, name: string): string | undefined => {
  const value = request.headers[name]
  return typeof value === "string" ? value : undefined
}

/**
 * A request header that is a whole number of at most 16 digits (tus's offsets and lengths).
 *
 * @since 0.1.0
 * @category headers
 */
export const intHeader = (request: HttpServerRequest.HttpServerRequest, name: string) => {
  const text = header(request, name)
  return text !== undefined && /^\d{1,16}$/.test(text) ? Number(text) : undefined
}

/**
 * tus `Upload-Metadata`: `key base64,key base64`; keys unique, values optional.
 *
 * @since 0.1.0
 * @category headers
 */
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

/**
 * One `Range: bytes=…` range over a body of `size` bytes (several ranges: the whole body).
 *
 * @since 0.1.0
 * @category headers
 */
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

/**
 * An HTTP date (`Upload-Expires`).
 *
 * @since 0.1.0
 * @category headers
 */
export const httpDate = (millis: number) => new Date(millis).toUTCString()

/**
 * The request's user, from its `Authorization: Bearer` token (401 without a valid one).
 *
 * @since 0.1.0
 * @category auth
 */
export const authenticate = (
  identity: IdentityService
): Effect.Effect<Principal, FilesError, HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const token = bearerToken(header(request, "authorization"))
    if (token === undefined) {
      return yield* Effect.fail(new Refusals.Unauthorized({ message: "an Authorization: Bearer token is required" }))
    }
    return yield* identity
      .verify(token)
      .pipe(Effect.catchAll((e) => refuse(new Refusals.Unauthorized({ message: `token ${e.reason}` }))))
  })

/**
 * A route's handler: what it answers, refused with the service's errors.
 *
 * @since 0.1.0
 * @category routes
 */
export type Handler = Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  FilesError,
  HttpServerRequest.HttpServerRequest | HttpServerRequest.ParsedSearchParams | HttpRouter.RouteContext
>

/**
 * A route of the service, its failures answered by their classes' statuses.
 *
 * @since 0.1.0
 * @category routes
 */
export const route = (
  method: "GET" | "POST" | "PATCH" | "DELETE" | "OPTIONS",
  path: HttpLayerRouter.PathInput,
  handler: Handler
) => HttpLayerRouter.route(method, path, answer(handler))
