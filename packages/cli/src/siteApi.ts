/**
 * The site API's client, derived from its definition (`SiteApi`), on the client commands' one
 * HTTP client (`http.ts`): `account`, `status`, `link` and `deadletters` call it.
 *
 * @since 0.1.0
 */
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { SiteApi } from "@meridian/core/api/SiteApi"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { ClientFailed } from "./client.js"
import { ANSWER_TIMEOUT } from "./http.js"

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

/** Every failure of a call, as a message and an exit code. */
const explain =
  (url: string) =>
  (error: unknown): ClientFailed => {
    if (error instanceof ClientFailed) return error
    const tagged =
      typeof error === "object" && error !== null && "_tag" in error ? (error as { _tag: string }) : undefined
    if (tagged?._tag === "RequestError") {
      return new ClientFailed({ message: `cannot reach ${url}`, code: 3 })
    }
    const fields = tagged === undefined ? "" : JSON.stringify(Object.fromEntries(Object.entries(tagged)))
    const message =
      tagged?._tag === "ResponseError" || tagged?._tag === "ParseError"
        ? `unexpected answer from ${url}: ${String((error as { message?: unknown }).message)}`
        : `${tagged?._tag ?? "error"} ${fields}`
    return new ClientFailed({ message, code: 1 })
  }

/**
 * Runs a call against the site within `ANSWER_TIMEOUT`, every failure a sentence and an exit code.
 *
 * @since 0.1.0
 * @category clients
 */
export const call = <A, E, R>(url: string, effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.mapError(explain(url)),
    Effect.timeoutFail({
      duration: ANSWER_TIMEOUT,
      onTimeout: () =>
        new ClientFailed({
          message: `cannot reach ${url}: no answer within ${Duration.format(ANSWER_TIMEOUT)}`,
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
  f: (client: Effect.Effect.Success<ReturnType<typeof clientFor>>) => Effect.Effect<A, E, R>
) => call(url, Effect.flatMap(clientFor(url, token), f))
