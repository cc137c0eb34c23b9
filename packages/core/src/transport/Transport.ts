/**
 * The Transport service: frames between *neighbouring* sites (those a topology link joins). It
 * knows nothing of routing, heartbeats or acknowledgements — the router in the kernel builds
 * those on top, so that they behave the same over the simulated network and over TCP.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { Address, Name, NAME_PATTERN } from "../kernel/Address.js"
import { Envelope, TraceContext } from "../kernel/Envelope.js"
import { Mailbox } from "../kernel/Mailbox.js"

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
 * there is one every interval. `hears: false` says the sender hears nothing from the receiver
 * (its link is down at the sender's end): a receiver that still hears the sender knows the link
 * carries frames one way only (half-open) and resets it — the two-way check of an OSPF hello
 * or a BFD session. Absent means it hears (and is how every heartbeat of a healthy link looks).
 *
 * @since 0.1.0
 * @category frames
 */
export class HeartbeatFrame extends Schema.TaggedClass<HeartbeatFrame>()("Heartbeat", {
  seq: Schema.Int,
  hears: Schema.optional(Schema.Boolean)
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
 * The address `site`/`actor` as `Schema.decode(Address)` builds it, or `undefined` when either is
 * not a valid name — for codecs that read the two strings off the wire themselves.
 *
 * @since 0.1.0
 * @category codecs
 */
export const wireAddress = (site: string, actor: string): Address | undefined => {
  if (!NAME_PATTERN.test(site) || !NAME_PATTERN.test(actor)) return undefined
  // Built by stores rather than through an object literal: this runs twice per frame received.
  const out = Object.create(Address.prototype) as { site: string; actor: string }
  out.site = site
  out.actor = actor
  return out as Address
}

/**
 * The envelope frame `Schema.decode(Frame)` builds from these fields, already checked: the
 * fields in the Schema's order, optional ones absent when `undefined`.
 *
 * @since 0.1.0
 * @category codecs
 */
export const checkedEnvelopeFrame = (
  version: number,
  id: string,
  from: Address,
  to: Address,
  kind: Envelope["kind"],
  correlationId: string | undefined,
  deadline: number | undefined,
  hops: number,
  durable: boolean,
  trace: { readonly traceId: string; readonly spanId: string } | undefined,
  payload: unknown
): EnvelopeFrame => {
  const envelope = Object.create(Envelope.prototype) as Record<string, unknown>
  envelope.version = version
  envelope.id = id
  envelope.from = from
  envelope.to = to
  envelope.kind = kind
  if (correlationId !== undefined) envelope.correlationId = correlationId
  if (deadline !== undefined) envelope.deadline = deadline
  envelope.hops = hops
  envelope.durable = durable
  if (trace !== undefined) envelope.trace = instance(TraceContext, { traceId: trace.traceId, spanId: trace.spanId })
  envelope.payload = payload
  const frame = Object.create(EnvelopeFrame.prototype) as Record<string, unknown>
  frame.envelope = envelope
  frame._tag = "Envelope"
  return frame as unknown as EnvelopeFrame
}

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
 * `JSON.stringify(encodeFrame(frame))`: the JSON text of a frame.
 *
 * @since 0.1.0
 * @category codecs
 */
export const frameJson = (frame: Frame): string => JSON.stringify(encodeFrame(frame))

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
   * `send` without an effect: `undefined` once the frame is handed to the link, else why not
   * (nothing was sent). Optional: a transport that can hand frames over synchronously offers it,
   * and the router's hot paths (asks, replies, relaying) use it instead of running an effect per
   * frame.
   */
  readonly offer?: (peer: string, frame: Frame) => LinkUnavailable | undefined
  /**
   * The next frames from any neighbour — at least one, as many as are waiting (bounded) — in the
   * order each link delivered them. A batch lets the router handle a burst in one wake-up.
   */
  readonly receive: Effect.Effect<ReadonlyArray<Inbound>>
  /**
   * Optional: lets the router take frames as they arrive (see {@link Inbox}). Returns the
   * function that takes the handler away again.
   */
  readonly setDirect?: (handler: DirectHandler) => () => void
  /**
   * Optional: drops the link to `peer` and connects it afresh (over TCP: closes the connection,
   * and the dialing end dials again). The router calls it on a link that carries frames one way
   * only; frames in flight on it may be lost (durable delivery retransmits).
   */
  readonly reset?: (peer: string) => void
}

/**
 * Takes a frame synchronously as it arrives, or declines it (`false`, having done nothing) so
 * that it waits for `receive` like any other.
 *
 * @since 0.1.0
 * @category models
 */
export type DirectHandler = (inbound: Inbound) => boolean

/**
 * The receiving end of a transport: a bounded queue that the router empties with `receive`, one
 * batch per wake-up — and, when the router registered a direct handler and nothing is ahead of
 * a frame (none queued, no batch still being handled), the handler gets the frame at once, at
 * arrival. That takes a fiber wake-up off every frame of the hot paths (a reply settling its
 * ask, an ask entering a mailbox, a frame relayed), while order per link holds: a frame is
 * handled directly only when every frame before it has been handled. What the handler declines
 * is queued as usual.
 *
 * @since 0.1.0
 * @category models
 */
export class Inbox {
  private readonly queue: Mailbox<Inbound>
  private direct: DirectHandler | undefined = undefined
  /** The consumer holds a batch that `receive` gave it and has not come back for more. */
  private holding = false

  constructor(
    /** Frames waiting at most; beyond it `offer` answers `false` (the transport pauses reading or drops). */
    capacity: number,
    /** Frames handed to the router at most per batch. */
    maxBatch: number
  ) {
    this.queue = new Mailbox<Inbound>(capacity, maxBatch)
  }

  /** Whether a frame offered now is taken (room in the queue, or the inbox is closed and drops it). */
  hasRoom(): boolean {
    return this.queue.isClosed || this.queue.size < this.queue.capacity
  }

  /** Completes when there may be room again. */
  get awaitRoom(): Effect.Effect<void> {
    return this.queue.awaitRoom
  }

  /**
   * A frame arrived: to the direct handler when nothing is ahead of it, else (or when declined)
   * into the queue. `false` when the queue is full or closed.
   */
  offer(inbound: Inbound): boolean {
    const direct = this.direct
    if (direct !== undefined && !this.holding && this.queue.size === 0 && !this.queue.isClosed) {
      let taken = false
      try {
        taken = direct(inbound)
      } catch {
        // A defect in the handler: the frame takes the queued path, where it is logged.
      }
      if (taken) return true
    }
    return this.queue.offer(inbound)
  }

  /** Registers the router's direct handler; the returned function removes it (if still current). */
  setDirect(handler: DirectHandler): () => void {
    this.direct = handler
    return () => {
      if (this.direct === handler) this.direct = undefined
    }
  }

  /**
   * The next batch (at least one frame, waiting while there is none). Taking a batch and
   * marking it held is one synchronous step, so no frame can be handled directly ahead of it.
   */
  readonly receive: Effect.Effect<ReadonlyArray<Inbound>> = Effect.suspend(() => {
    this.holding = false
    const batch = this.queue.pollBatch()
    if (batch.length > 0 || this.queue.isClosed) {
      this.holding = batch.length > 0
      return Effect.succeed(batch)
    }
    return Effect.flatMap(this.queue.awaitItems, () => this.receive)
  })

  /** Drops what waits (a crashed site loses its inbox) and forgets the held batch and the handler. */
  reset(): void {
    this.queue.drainAll()
    this.holding = false
    this.direct = undefined
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Transport extends Context.Tag("@meridian/core/Transport")<Transport, TransportService>() {}
