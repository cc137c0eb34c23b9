/**
 * Errors of the actor kernel. They are `Schema.TaggedError`s because every one of them can be the
 * answer to an ask that crossed a site boundary, so they must encode onto the wire.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The target mailbox is at capacity and the caller chose not to wait (`tryTell`).
 *
 * @since 0.1.0
 * @category errors
 */
export class MailboxFull extends Schema.TaggedError<MailboxFull>()("MailboxFull", {
  address: Schema.String,
  capacity: Schema.Number
}) {
  override get message(): string {
    return `mailbox of ${this.address} is full (capacity ${this.capacity})`
  }
}

/**
 * No answer before the ask's deadline. The request may still be processed later; an ask is
 * at-most-once.
 *
 * @since 0.1.0
 * @category errors
 */
export class AskTimeout extends Schema.TaggedError<AskTimeout>()("AskTimeout", {
  address: Schema.String,
  tag: Schema.String,
  timeoutMillis: Schema.Number
}) {
  override get message(): string {
    return `ask ${this.tag} to ${this.address} timed out after ${this.timeoutMillis} ms`
  }
}

/**
 * The target site cannot be reached (no route, link down, or no router installed).
 *
 * @since 0.1.0
 * @category errors
 */
export class Unreachable extends Schema.TaggedError<Unreachable>()("Unreachable", {
  site: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `site ${this.site} is unreachable: ${this.reason}`
  }
}

/**
 * No actor of that name runs on the target site.
 *
 * @since 0.1.0
 * @category errors
 */
export class ActorNotFound extends Schema.TaggedError<ActorNotFound>()("ActorNotFound", {
  address: Schema.String
}) {
  override get message(): string {
    return `no actor at ${this.address}`
  }
}

/**
 * The actor is stopping or stopped and accepts nothing more.
 *
 * @since 0.1.0
 * @category errors
 */
export class ActorStopped extends Schema.TaggedError<ActorStopped>()("ActorStopped", {
  address: Schema.String
}) {
  override get message(): string {
    return `actor ${this.address} is stopped`
  }
}

/**
 * The handler of an ask died (a defect) instead of answering; the actor was restarted by its
 * supervisor.
 *
 * @since 0.1.0
 * @category errors
 */
export class ActorCrashed extends Schema.TaggedError<ActorCrashed>()("ActorCrashed", {
  address: Schema.String,
  tag: Schema.String,
  defect: Schema.String
}) {
  override get message(): string {
    return `actor ${this.address} crashed handling ${this.tag}: ${this.defect}`
  }
}

/**
 * Too many asks are waiting for a remote reply; the bound protects the site's memory.
 *
 * @since 0.1.0
 * @category errors
 */
export class PendingAsksFull extends Schema.TaggedError<PendingAsksFull>()("PendingAsksFull", {
  limit: Schema.Number
}) {
  override get message(): string {
    return `too many asks waiting for a reply (limit ${this.limit})`
  }
}

/**
 * A message could not be decoded with the target actor's protocol.
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedMessage extends Schema.TaggedError<MalformedMessage>()("MalformedMessage", {
  address: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `malformed message for ${this.address}: ${this.reason}`
  }
}

/**
 * Every way a `tell` can fail.
 *
 * @since 0.1.0
 * @category errors
 */
export type TellError = MailboxFull | Unreachable | ActorNotFound | ActorStopped

/**
 * Every way an `ask` can fail besides the request's own failure type.
 *
 * @since 0.1.0
 * @category errors
 */
export type AskError = TellError | AskTimeout | ActorCrashed | PendingAsksFull | MalformedMessage

/**
 * Schema of {@link AskError}, used to carry kernel failures of a remote ask back in a reply.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AskErrorSchema = Schema.Union(
  MailboxFull,
  Unreachable,
  ActorNotFound,
  ActorStopped,
  AskTimeout,
  ActorCrashed,
  PendingAsksFull,
  MalformedMessage
)
