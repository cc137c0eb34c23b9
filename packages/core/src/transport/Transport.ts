/**
 * The Transport service: frames between *neighbouring* sites (those a topology link joins). It
 * knows nothing of routing, heartbeats or acknowledgements — the router in the kernel builds
 * those on top, so that they behave the same over the simulated network and over TCP.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Name } from "../kernel/Address.js"
import { Envelope } from "../kernel/Envelope.js"

/**
 * An end-to-end acknowledgement of durable envelopes, routed back to the site that sent them.
 *
 * @since 0.1.0
 * @category frames
 */
export class AckFrame extends Schema.TaggedClass<AckFrame>()("Ack", {
  /** The site that applied (or rejected for good) the envelopes. */
  from: Name,
  /** The site whose outbox holds them. */
  to: Name,
  ids: Schema.Array(Schema.String).pipe(Schema.maxItems(1024)),
  hops: Schema.Int.pipe(Schema.nonNegative())
}) {}

/**
 * An envelope on its way (possibly through other sites).
 *
 * @since 0.1.0
 * @category frames
 */
export class EnvelopeFrame extends Schema.TaggedClass<EnvelopeFrame>()("Envelope", {
  envelope: Envelope
}) {}

/**
 * Liveness probe between neighbours; any frame counts as a sign of life, heartbeats make sure
 * there is one every interval.
 *
 * @since 0.1.0
 * @category frames
 */
export class HeartbeatFrame extends Schema.TaggedClass<HeartbeatFrame>()("Heartbeat", {
  seq: Schema.Int
}) {}

/**
 * A link-state advertisement: which of `origin`'s links are up. Flooded to every site so that
 * each can compute paths around links that are down.
 *
 * @since 0.1.0
 * @category frames
 */
export class LinkStateFrame extends Schema.TaggedClass<LinkStateFrame>()("LinkState", {
  origin: Name,
  seq: Schema.Int,
  up: Schema.Array(Name)
}) {}

/**
 * Everything a link carries.
 *
 * @since 0.1.0
 * @category frames
 */
export const Frame = Schema.Union(EnvelopeFrame, AckFrame, HeartbeatFrame, LinkStateFrame)
export type Frame = typeof Frame.Type

/**
 * The link to `peer` cannot take the frame now (not connected, or its bounded buffer is full).
 * Frames are best-effort: durable delivery retransmits.
 *
 * @since 0.1.0
 * @category errors
 */
export class LinkUnavailable extends Schema.TaggedError<LinkUnavailable>()("LinkUnavailable", {
  peer: Schema.String,
  reason: Schema.String
}) {}

/**
 * A frame received from a neighbour.
 *
 * @since 0.1.0
 * @category models
 */
export interface Inbound {
  readonly from: string
  readonly frame: Frame
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TransportService {
  /** The site this transport belongs to. */
  readonly site: string
  /** The neighbours it has links to (from the topology). */
  readonly peers: ReadonlyArray<string>
  /** Hands a frame to the link toward `peer`. Does not wait for the network. */
  readonly send: (peer: string, frame: Frame) => Effect.Effect<void, LinkUnavailable>
  /**
   * The next frames from any neighbour — at least one, as many as are waiting (bounded) — in the
   * order each link delivered them. A batch lets the router handle a burst in one wake-up.
   */
  readonly receive: Effect.Effect<ReadonlyArray<Inbound>>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Transport extends Context.Tag("@meridian/core/Transport")<Transport, TransportService>() {}
