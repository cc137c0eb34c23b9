/**
 * The way out of a site: the actor system hands every envelope addressed to another site to the
 * router. A site without links (a single-site deployment, or a unit test) uses {@link isolated},
 * where every remote address is a typed `Unreachable`; the routing layer replaces it without
 * changing how actors address each other.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Envelope } from "./Envelope.js"
import type { OutboxFull } from "../stores/Outbox.js"
import { Unreachable } from "./Errors.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface RouterService {
  /** Forwards an envelope toward `envelope.to.site` (at most once). */
  readonly send: (envelope: Envelope) => Effect.Effect<void, Unreachable>
  /**
   * `send` without an effect, when the envelope can go to a link at once (a route, a link that
   * takes frames synchronously): `true` once it left. `false` having done nothing; `send` then
   * takes it (local delivery, falling back around a link found down, `Unreachable`).
   */
  readonly trySend: (envelope: Envelope) => boolean
  /**
   * Accepts a durable envelope: once this succeeds it is in the outbox, and it is retransmitted
   * until the target site acknowledges it. `OutboxFull` means busy: nothing was accepted.
   */
  readonly sendDurable: (envelope: Envelope) => Effect.Effect<void, OutboxFull | Unreachable>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Router extends Context.Tag("@meridian/core/Router")<Router, RouterService>() {}

/**
 * A site with no links: every other site is unreachable.
 *
 * @since 0.1.0
 * @category constructors
 */
export const isolated: RouterService = {
  send: (envelope) => Effect.fail(noLinks(envelope)),
  trySend: () => false,
  sendDurable: (envelope) => Effect.fail(noLinks(envelope))
}

const noLinks = (envelope: Envelope) =>
  new Unreachable({ site: envelope.to.site, reason: "this site has no router (no links to other sites)" })

/**
 * @since 0.1.0
 * @category layers
 */
export const layerIsolated: Layer.Layer<Router> = Layer.succeed(Router, isolated)
