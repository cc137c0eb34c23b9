/**
 * What crosses a site boundary: a message with its routing and delivery metadata. The payload is
 * the message in its *encoded* form; the receiving site decodes it with the target actor's
 * protocol, so a peer can never hand an actor a value its Schema did not accept.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { Address } from "./Address.js"

/**
 * The envelope format version this kernel speaks. A receiver rejects (dead-letters) any other.
 *
 * @since 0.1.0
 * @category constants
 */
export const PROTOCOL_VERSION = 1

/**
 * Span context carried across sites so that one trace spans the whole path of a message.
 *
 * @since 0.1.0
 * @category models
 */
export class TraceContext extends Schema.Class<TraceContext>("TraceContext")({
  traceId: Schema.String,
  spanId: Schema.String
}) {}

/**
 * `tell`: fire and forget; `ask`: a request that expects a `reply` carrying the same
 * correlation id.
 *
 * @since 0.1.0
 * @category models
 */
export const Kind = Schema.Literal("tell", "ask", "reply")
export type Kind = typeof Kind.Type

/**
 * What an envelope id matches: printable ASCII, 1 to 128 characters.
 *
 * @since 0.1.0
 * @category models
 */
export const ENVELOPE_ID_PATTERN = /^[\x21-\x7e]{1,128}$/

/**
 * @since 0.1.0
 * @category models
 */
export class Envelope extends Schema.Class<Envelope>("Envelope")({
  /** Envelope format version ({@link PROTOCOL_VERSION}). */
  version: Schema.Int,
  /** Unique id: a receiver that sees an id twice applies it once. Printable ASCII only. */
  id: Schema.String.pipe(Schema.pattern(ENVELOPE_ID_PATTERN)),
  from: Address,
  to: Address,
  kind: Kind,
  /** Set on `ask` (the id the reply must carry) and on `reply`. */
  correlationId: Schema.optional(Schema.String),
  /** Epoch milliseconds after which the message is dropped as expired. */
  deadline: Schema.optional(Schema.Number),
  /** Sites traversed so far; the router refuses to forward past its hop limit. */
  hops: Schema.Int.pipe(Schema.nonNegative()),
  /** Durable sends are kept in the sender's outbox until acknowledged end to end. */
  durable: Schema.Boolean,
  trace: Schema.optional(TraceContext),
  /** The message, encoded by the target actor's protocol Schema. */
  payload: Schema.Unknown
}) {}

/**
 * Decodes an envelope from its wire form (JSON-compatible value).
 *
 * @since 0.1.0
 * @category codecs
 */
export const decodeUnknown = Schema.decodeUnknown(Envelope)

/**
 * @since 0.1.0
 * @category codecs
 */
export const encode = Schema.encode(Envelope)
