/**
 * The handlers of the site API (`@meridian/core/api/SiteApi`): accounts through the site's
 * accounts client, operator routes over the running site, bearer tokens checked by the identity
 * service (no lookup), the `operator` role on every admin route.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { CurrentPrincipal, layerAuthentication, NotFound, SiteApi, Unavailable } from "@meridian/core/api/SiteApi"
import type * as Site from "@meridian/core/site/Site"
import { type IdentityService, requireRole } from "@meridian/core/stores/Identity"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** Kernel failures of the asks and tells behind a route: the route answers 503 Unavailable. */
const kernelErrors = new Set([
  "MailboxFull",
  "Unreachable",
  "ActorNotFound",
  "ActorStopped",
  "AskTimeout",
  "ActorCrashed",
  "PendingAsksFull",
  "MalformedMessage",
  "OutboxFull"
])
type KernelError = { readonly _tag: string; readonly message: string }

const orUnavailable = <A, E extends KernelError, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<
  A,
  | Exclude<
      E,
      {
        readonly _tag:
          | "MailboxFull"
          | "Unreachable"
          | "ActorNotFound"
          | "ActorStopped"
          | "AskTimeout"
          | "ActorCrashed"
          | "PendingAsksFull"
          | "MalformedMessage"
          | "OutboxFull"
      }
    >
  | Unavailable,
  R
> =>
  Effect.catchIf(
    self,
    (e) => kernelErrors.has(e._tag),
    (e) => Effect.fail(new Unavailable({ kernelError: e._tag, message: e.message }))
  ) as never

const requireOperator = Effect.flatMap(CurrentPrincipal, (principal) => requireRole(principal, "operator"))

/**
 * What the handlers need besides the site.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly site: Site.RunningSite
  readonly identity: IdentityService
  /** The detailed status document (`/v1/admin/status`). */
  readonly details: () => Effect.Effect<Record<string, unknown>>
}

/**
 * The handler layers of every group, and the authentication middleware.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options) => {
  const { identity, site } = options

  const accounts = HttpApiBuilder.group(SiteApi, "accounts", (handlers) =>
    handlers
      .handle("register", ({ payload }) =>
        orUnavailable(site.accounts.register(payload.name, payload.password, payload.region))
      )
      .handle("login", ({ payload }) =>
        orUnavailable(
          site.accounts.login(
            payload.name,
            payload.password,
            payload.ttlSeconds === undefined ? undefined : payload.ttlSeconds * 1000
          )
        )
      )
      .handle("logout", () =>
        Effect.flatMap(CurrentPrincipal, (principal) =>
          orUnavailable(
            Effect.map(site.accounts.revoke(principal), (sitesTold) => ({ tokenId: principal.tokenId, sitesTold }))
          )
        )
      )
      .handle("me", () => CurrentPrincipal)
  )

  const linkChange = (peer: string, maintenance: boolean) =>
    Effect.gen(function* () {
      const routing = site.routing
      const known = routing === undefined ? false : yield* routing.setMaintenance(peer, maintenance)
      if (routing === undefined || !known) {
        return yield* new NotFound({ message: `${peer} is not a neighbour of ${site.name}` })
      }
      yield* Effect.logInfo(
        `link: ${peer} ${maintenance ? "taken out of service for maintenance" : "back in service"} (operator request)`
      )
      return { peer, maintenance: routing.maintenance(), links: routing.links(), routes: routing.routes() }
    })

  const admin = HttpApiBuilder.group(SiteApi, "admin", (handlers) =>
    handlers
      .handle("status", () => Effect.zipRight(requireOperator, options.details()))
      .handle("linkDown", ({ path }) => Effect.zipRight(requireOperator, linkChange(path.peer, true)))
      .handle("linkUp", ({ path }) => Effect.zipRight(requireOperator, linkChange(path.peer, false)))
      .handle("deadLetters", ({ urlParams }) =>
        Effect.gen(function* () {
          yield* requireOperator
          const letters = yield* site.system.deadLetters.list(urlParams.limit ?? 100)
          return {
            letters: letters.map((l) => ({
              id: l.id,
              at: l.at,
              reason: l.reason,
              to: l.to,
              from: l.from,
              tag: l.tag,
              envelopeId: l.envelopeId ?? null,
              detail: l.detail,
              replayable: l.replay !== undefined
            })),
            counts: yield* site.system.deadLetters.counts,
            total: yield* site.system.deadLetters.total
          }
        })
      )
      .handle("replayDeadLetters", ({ payload }) =>
        Effect.zipRight(requireOperator, site.system.deadLetters.replay(payload.ids))
      )
      .handle("purgeDeadLetters", ({ payload }) =>
        Effect.zipRight(
          requireOperator,
          Effect.map(site.system.deadLetters.purge(payload.ids), (purged) => ({ purged }))
        )
      )
  )

  return Layer.mergeAll(accounts, admin).pipe(Layer.provide(layerAuthentication(identity)))
}
