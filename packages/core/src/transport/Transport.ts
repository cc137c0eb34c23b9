/**
 * The Transport service: frames between *neighbouring* sites (those a topology link joins). It
 * knows nothing of routing, heartbeats or acknowledgements — the router in the kernel builds
 * those on top, so that they behave the same over the simulated network and over TCP.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { Address, Name } from "../kernel/Address.js"
import { Envelope, TraceContext } from "../kernel/Envelope.js"

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
 * The wire form of a frame (JSON-compatible), as `Schema.encode(Frame)` gives it.
 *
 * @since 0.1.0
 * @category codecs
 */
export type WireFrame = typeof Frame.Encoded

/**
 * The encoded side of {@link Frame} with every check of its fields (names, ids, integers…) but
 * none of its class constructions: what a frame must look like on the wire.
 */
const WireFrame = Schema.encodedBoundSchema(Frame)
const checkWire = Schema.decodeUnknownEither(WireFrame)

/**
 * An instance of a Schema class holding `fields`, as its constructor makes it with validation
 * disabled (`Object.assign` of the fields onto an object of the class) — without the constructor's
 * copies and default handling, which cost more than the checks on this path. `fields` must be
 * the class's fields in its constructor's order, already checked.
 */
const instance = <A>(Class: { readonly prototype: A }, fields: object): A =>
  Object.assign(Object.create(Class.prototype as object) as object, fields) as A

/**
 * A checked wire value as the frame classes: what `Schema.decode(Frame)` builds after its checks
 * (every field of a frame is its own encoding except the nested classes: addresses, trace
 * context), without running them a second time. The tests compare the two on every frame kind.
 */
const fromWire = (wire: WireFrame): Frame => {
  switch (wire._tag) {
    case "Envelope": {
      const encoded = wire.envelope
      const envelope = instance(Envelope, encoded) as { -readonly [K in keyof Envelope]: Envelope[K] }
      envelope.from = instance(Address, encoded.from)
      envelope.to = instance(Address, encoded.to)
      if (encoded.trace !== undefined) envelope.trace = instance(TraceContext, encoded.trace)
      return instance(EnvelopeFrame, { envelope, _tag: wire._tag })
    }
    case "Ack":
      return instance(AckFrame, wire)
    case "Heartbeat":
      return instance(HeartbeatFrame, wire)
    case "LinkState":
      return instance(LinkStateFrame, wire)
  }
}

/**
 * Decodes a frame that arrived from a peer (a parsed JSON value), with every check of
 * {@link Frame}; the same result as `Schema.decodeUnknownEither(Frame)`, at a fraction of its cost
 * (each value is checked once, and the classes are built without checking it again).
 *
 * @since 0.1.0
 * @category codecs
 */
export const decodeFrame = (input: unknown): Either.Either<Frame, ParseResult.ParseError> =>
  Either.map(checkWire(input), fromWire)

/**
 * The wire form of a frame, for `JSON.stringify`. Frames are made by the kernel from checked
 * values and none of their fields transforms on encoding, so a frame is its own wire form:
 * `JSON.stringify(encodeFrame(f))` equals `JSON.stringify(Schema.encodeSync(Frame)(f))` without
 * walking the Schema. The receiver checks every frame with {@link decodeFrame}.
 *
 * @since 0.1.0
 * @category codecs
 */
export const encodeFrame = (frame: Frame): WireFrame => frame

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
