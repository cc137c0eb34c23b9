/**
 * The site API's client, derived from its definition (`SiteApi`), on the client commands' one
 * HTTP client (`http.ts`): `account`, `status`, `link` and `deadletters` call it.
 *
 * @since 0.1.0
 */
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { SiteApi } from "@meridian/core/api/SiteApi"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { ClientFailed } from "./client.js"
import { ANSWER_TIMEOUT, neverConnected, nothingAnswers, reasonOf } from "./http.js"

/**
 * The site API at `url`, as `token`'s holder when given.
 *
 * @since 0.1.0
 * @category clients
 */
export const clientFor = (url: string, token?: string) =>
  HttpApiClient.make(SiteApi, {
    baseUrl: url,
    ...(token === undefined ? {} : { transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(token)) })
  })

/**
 * What the CLI says about each refusal the site API can answer: what went wrong, and what to do.
 * `reason` and `todo` see the refusal's fields; `code` is the exit code.
 */
const refusals: Record<
  string,
  {
    readonly status: number
    readonly code: 1 | 3 | 4
    readonly reason: (fields: Readonly<Record<string, unknown>>) => string
    readonly todo?: (fields: Readonly<Record<string, unknown>>) => string
  }
> = {
  InvalidCredentials: {
    status: 401,
    code: 1,
    reason: () => "wrong name or password",
    todo: () => "check both and try again"
  },
  AccountExists: {
    status: 409,
    code: 1,
    reason: (f) => `the name ${String(f.name)} is taken`,
    todo: (f) => `choose another name, or log in with \`meridian account login ${String(f.name)}\``
  },
  AccountInvalid: { status: 400, code: 1, reason: (f) => String(f.reason) },
  AccountsUnavailable: {
    status: 503,
    code: 3,
    reason: (f) => `the accounts service could not answer (${String(f.reason)})`,
    todo: () => "try again in a moment"
  },
  Unavailable: {
    status: 503,
    code: 3,
    reason: (f) => `a site this needs did not answer (${String(f.kernelError)}: ${String(f.message)})`,
    todo: () => "try again in a moment; `meridian status` shows the links"
  },
  Unauthorized: {
    status: 401,
    code: 4,
    reason: (f) =>
      f.reason === "missing"
        ? "no token was sent"
        : f.reason === "expired"
          ? "the saved token has expired"
          : f.reason === "revoked"
            ? "the saved token was revoked (logged out)"
            : "the site does not accept the saved token (issued by another deployment?)",
    todo: () => "log in again with `meridian account login NAME`"
  },
  Forbidden: {
    status: 403,
    code: 1,
    reason: (f) => `${String(f.name)} is not ${/^[aeiou]/.test(String(f.required)) ? "an" : "a"} ${String(f.required)}`,
    todo: (f) => `log in as an account with the ${String(f.required)} role (\`meridian account login NAME\`)`
  },
  NotFound: { status: 404, code: 1, reason: (f) => String(f.message) },
  HttpApiDecodeError: {
    status: 400,
    code: 1,
    reason: (f) => `the site refused the request as malformed (${String(f.message)})`,
    todo: () => "check the arguments (`--help` shows them)"
  }
}

/** The fields of a tagged error, without its tag. */
const fieldsOf = (error: object): Record<string, unknown> => {
  const fields: Record<string, unknown> = {}
  for (const key of Object.keys(error)) if (key !== "_tag") fields[key] = (error as Record<string, unknown>)[key]
  // A Schema.TaggedError's message is not an own enumerable field.
  if ("message" in error && typeof error.message === "string" && error.message !== "") fields.message = error.message
  return fields
}

/**
 * Every failure of a call as a sentence — what was asked, what went wrong, what to do — and an
 * exit code; the refusal's structured form stays in `detail` for `--json`.
 *
 * @since 0.1.0
 * @category clients
 */
export const explain =
  (url: string, what: string, hints: Readonly<Record<string, string>> = {}) =>
  (error: unknown): ClientFailed => {
    if (error instanceof ClientFailed) return error
    const tag =
      typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
        ? error._tag
        : undefined
    if (tag === undefined || typeof error !== "object" || error === null) {
      return new ClientFailed({ message: `${what}: ${String(error)}`, code: 1 })
    }
    if (tag === "RequestError") {
      const failed = error as HttpClientError.RequestError
      return new ClientFailed({
        message: neverConnected(failed)
          ? nothingAnswers(url, reasonOf(failed))
          : `${what}: cannot reach ${url}: ${reasonOf(failed)}; try again`,
        code: 3
      })
    }
    if (tag === "ResponseError" || tag === "ParseError") {
      const message = "message" in error ? String(error.message) : tag
      return new ClientFailed({
        message: `${what}: unexpected answer from ${url} (${message}); is --url a Meridian site of this version?`,
        code: 1
      })
    }
    const fields = fieldsOf(error)
    const refusal = refusals[tag]
    if (refusal === undefined) {
      const said = typeof fields.message === "string" ? fields.message : JSON.stringify(fields)
      return new ClientFailed({ message: `${what}: ${said} (${tag})`, code: 1, detail: { error: tag, ...fields } })
    }
    const todo = hints[tag] ?? refusal.todo?.(fields)
    return new ClientFailed({
      message: `${what}: ${refusal.reason(fields)} (${refusal.status} ${tag})${todo === undefined ? "" : `; ${todo}`}`,
      code: refusal.code,
      detail: { error: tag, status: refusal.status, ...fields }
    })
  }

/**
 * Runs a call against the site within `ANSWER_TIMEOUT`, every failure a sentence that starts
 * with `what` (`log in as alice`), `hints` saying what to do about a refusal by its tag.
 *
 * @since 0.1.0
 * @category clients
 */
export const call = <A, E, R>(
  url: string,
  what: string,
  effect: Effect.Effect<A, E, R>,
  hints?: Readonly<Record<string, string>>
) =>
  effect.pipe(
    Effect.mapError(explain(url, what, hints)),
    Effect.timeoutFail({
      duration: ANSWER_TIMEOUT,
      onTimeout: () =>
        new ClientFailed({
          message: `${what}: no answer from ${url} within ${Duration.format(ANSWER_TIMEOUT)}; is the site overloaded?`,
          code: 3
        })
    })
  )

/**
 * Calls the site API at `url` as `token`'s holder (see `call`).
 *
 * @since 0.1.0
 * @category clients
 */
export const callSite = <A, E, R>(
  url: string,
  token: string,
  what: string,
  f: (client: Effect.Effect.Success<ReturnType<typeof clientFor>>) => Effect.Effect<A, E, R>,
  hints?: Readonly<Record<string, string>>
) => call(url, what, Effect.flatMap(clientFor(url, token), f), hints)
