/**
 * The HTTP API every site serves besides its modules' routes: accounts (register, login, logout,
 * who am I) and the operator's routes (status details, link maintenance, dead letters). Defined
 * here with `HttpApi`, so the node package serves it with its OpenAPI document and the CLI calls
 * it with a client derived from the same definition.
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { AccountsUnavailable, IssuedToken } from "../accounts/Accounts.js"
import {
  AccountExists,
  AccountInfo,
  AccountInvalid,
  Forbidden,
  type IdentityService,
  InvalidCredentials,
  Principal,
  TokenInvalidReason
} from "../stores/Identity.js"

/**
 * No valid bearer token: missing, malformed, badly signed, expired or revoked.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  {
    reason: Schema.Union(TokenInvalidReason, Schema.Literal("missing"))
  },
  HttpApiSchema.annotations({ status: 401 })
) {}

/**
 * A site this request needed did not answer in time or could not be reached (`kernelError` names
 * the kernel error: AskTimeout, Unreachable, MailboxFull...).
 *
 * @since 0.1.0
 * @category errors
 */
export class Unavailable extends Schema.TaggedError<Unavailable>()(
  "Unavailable",
  {
    kernelError: Schema.String,
    message: Schema.String
  },
  HttpApiSchema.annotations({ status: 503 })
) {}

/**
 * The request names something that is not there (a peer that is not a neighbour...).
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/**
 * Who the request's bearer token speaks for (provided by {@link Authentication}).
 *
 * @since 0.1.0
 * @category tags
 */
export class CurrentPrincipal extends Context.Tag("@meridian/core/api/CurrentPrincipal")<
  CurrentPrincipal,
  Principal
>() {}

/**
 * Bearer-token authentication: verifies the token (signature, expiry, revocations) at this site.
 *
 * @since 0.1.0
 * @category middleware
 */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("Authentication", {
  failure: Unauthorized,
  provides: CurrentPrincipal,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

/**
 * The {@link Authentication} middleware over a site's identity service: a module that serves an
 * `HttpApi` of its own marks its endpoints `.middleware(Authentication)` and provides this layer
 * (with `context.stores.identity`), so every API authenticates the same way.
 *
 * @since 0.1.0
 * @category middleware
 */
export const layerAuthentication = (identity: IdentityService): Layer.Layer<Authentication> =>
  Layer.succeed(
    Authentication,
    Authentication.of({
      bearer: (token) => {
        const text = Redacted.value(token)
        return text === ""
          ? Effect.fail(new Unauthorized({ reason: "missing" }))
          : Effect.mapError(identity.verify(text), (e) => new Unauthorized({ reason: e.reason }))
      }
    })
  )

/**
 * Bounds of what the API accepts in one request.
 *
 * @since 0.1.0
 * @category config
 */
export const limits = {
  /** The most dead letters one list returns. */
  maxDeadLetterPage: 1000,
  /** The most ids one replay or purge names. */
  maxIds: 10_000
} as const

const Name = Schema.String.pipe(Schema.maxLength(256))
const Password = Schema.String.pipe(Schema.maxLength(4096))

/**
 * A dead letter as the API shows it.
 *
 * @since 0.1.0
 * @category models
 */
export const DeadLetterView = Schema.Struct({
  id: Schema.Int,
  at: Schema.Number,
  reason: Schema.String,
  to: Schema.String,
  from: Schema.String,
  tag: Schema.String,
  envelopeId: Schema.NullOr(Schema.String),
  detail: Schema.String,
  replayable: Schema.Boolean
})

const Ids = Schema.Struct({
  ids: Schema.optional(Schema.Array(Schema.Int).pipe(Schema.maxItems(limits.maxIds)))
})

const LinkChange = Schema.Struct({
  peer: Schema.String,
  maintenance: Schema.Array(Schema.String),
  links: Schema.Record({ key: Schema.String, value: Schema.String }),
  routes: Schema.Record({ key: Schema.String, value: Schema.String })
})

/**
 * `/v1/accounts`: registration and login are open; logout and `me` need a token.
 *
 * @since 0.1.0
 * @category groups
 */
export class AccountsGroup extends HttpApiGroup.make("accounts")
  .add(
    HttpApiEndpoint.post("register", "/v1/accounts")
      .setPayload(Schema.Struct({ name: Name, password: Password, region: Schema.optional(Schema.String) }))
      .addSuccess(AccountInfo, { status: 201 })
      .addError(AccountExists, { status: 409 })
      .addError(AccountInvalid, { status: 400 })
      .addError(AccountsUnavailable, { status: 503 })
      .addError(Unavailable, { status: 503 })
      .annotate(OpenApi.Summary, "Register a user account in a home region (default: this site's)")
  )
  .add(
    HttpApiEndpoint.post("login", "/v1/accounts/login")
      .setPayload(
        Schema.Struct({
          name: Name,
          password: Password,
          ttlSeconds: Schema.optional(Schema.Number.pipe(Schema.positive()))
        })
      )
      .addSuccess(IssuedToken)
      .addError(InvalidCredentials, { status: 401 })
      .addError(Unavailable, { status: 503 })
      .annotate(OpenApi.Summary, "Check a password at the account's home region and issue a token")
  )
  .add(
    HttpApiEndpoint.post("logout", "/v1/accounts/logout")
      .addSuccess(Schema.Struct({ tokenId: Schema.String, sitesTold: Schema.Int }))
      .addError(AccountsUnavailable, { status: 503 })
      .addError(Unavailable, { status: 503 })
      .middleware(Authentication)
      .annotate(OpenApi.Summary, "Revoke the token: here at once, at every other site by durable message")
  )
  .add(
    HttpApiEndpoint.get("me", "/v1/accounts/me")
      .addSuccess(Principal)
      .middleware(Authentication)
      .annotate(OpenApi.Summary, "Who the bearer token speaks for")
  ) {}

/**
 * `/v1/admin`: operator routes (the `operator` role).
 *
 * @since 0.1.0
 * @category groups
 */
export class AdminGroup extends HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.get("status", "/v1/admin/status")
      .addSuccess(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
      .annotate(OpenApi.Summary, "The site's status with supervision, transport and maintenance details")
  )
  .add(
    HttpApiEndpoint.post("linkDown", "/v1/admin/links/:peer/down")
      .setPath(Schema.Struct({ peer: Schema.String }))
      .addSuccess(LinkChange)
      .addError(NotFound, { status: 404 })
      .annotate(OpenApi.Summary, "Take the link to a neighbour out of service; traffic goes around it")
  )
  .add(
    HttpApiEndpoint.post("linkUp", "/v1/admin/links/:peer/up")
      .setPath(Schema.Struct({ peer: Schema.String }))
      .addSuccess(LinkChange)
      .addError(NotFound, { status: 404 })
      .annotate(OpenApi.Summary, "Put a link taken out of service back")
  )
  .add(
    HttpApiEndpoint.get("deadLetters", "/v1/admin/deadletters")
      .setUrlParams(
        Schema.Struct({
          limit: Schema.optional(
            Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, limits.maxDeadLetterPage))
          )
        })
      )
      .addSuccess(
        Schema.Struct({
          letters: Schema.Array(DeadLetterView),
          counts: Schema.Record({ key: Schema.String, value: Schema.Int }),
          total: Schema.Int
        })
      )
      .annotate(OpenApi.Summary, "The newest dead letters (newest first) and the totals per reason")
  )
  .add(
    HttpApiEndpoint.post("replayDeadLetters", "/v1/admin/deadletters/replay")
      .setPayload(Ids)
      .addSuccess(
        Schema.Struct({
          replayed: Schema.Array(Schema.Int),
          kept: Schema.Array(Schema.Struct({ id: Schema.Int, reason: Schema.String })),
          unknown: Schema.Array(Schema.Int)
        })
      )
      .annotate(OpenApi.Summary, "Send dead tells again (all replayable ones when no ids are given)")
  )
  .add(
    HttpApiEndpoint.post("purgeDeadLetters", "/v1/admin/deadletters/purge")
      .setPayload(Ids)
      .addSuccess(Schema.Struct({ purged: Schema.Int }))
      .annotate(OpenApi.Summary, "Forget dead letters (all when no ids are given)")
  )
  .addError(Forbidden, { status: 403 })
  .middleware(Authentication) {}

/**
 * The site API.
 *
 * @since 0.1.0
 * @category api
 */
export class SiteApi extends HttpApi.make("meridian")
  .add(AccountsGroup)
  .add(AdminGroup)
  .annotate(OpenApi.Title, "Meridian site API")
  .annotate(
    OpenApi.Description,
    "Accounts and operator routes of one Meridian site. Each module adds its own routes (e.g. /v1/ping/…)."
  ) {}

const text = (value: unknown) => (typeof value === "string" ? value : "")

/**
 * The sentence an error of the site API says in `message` (`{ "error": tag, "message": ... }`,
 * the one refusal shape of every route; the error's own fields come along).
 *
 * @since 0.1.0
 * @category errors
 */
export const refusalMessage = (tag: string, fields: Readonly<Record<string, unknown>>): string => {
  switch (tag) {
    case "Unauthorized":
      return fields.reason === "missing"
        ? "an Authorization: Bearer token is required"
        : `the bearer token is not accepted: ${text(fields.reason) || "invalid"}`
    case "InvalidCredentials":
      return "wrong name or password"
    case "AccountExists":
      return `the name ${text(fields.name)} is taken`
    case "AccountInvalid":
    case "AccountsUnavailable":
      return text(fields.reason) || tag
    case "Forbidden":
      return `${text(fields.name)} does not have the ${text(fields.required)} role`
    default:
      return text(fields.message) || text(fields.reason) || tag
  }
}
