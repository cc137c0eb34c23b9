/**
 * The refusals any module's raw HTTP routes share: `Schema.TaggedError`s with a `message`, each
 * class carrying its HTTP status (and headers of its own), answered by `Answer.answer` as
 * `{ "error": tag, "message": ... }`. A module's own domain errors are declared the same way,
 * beside its protocol.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Answer from "./Answer.js"

/**
 * The request is malformed or names something that cannot be (400).
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { message: Schema.String },
  Answer.annotations({ status: 400 })
) {}

/**
 * No valid bearer token (401, with `WWW-Authenticate: Bearer`).
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  Answer.annotations({ status: 401, headers: { "www-authenticate": "Bearer" } })
) {}

/**
 * The caller is known but may not do this (403).
 *
 * @since 0.1.0
 * @category errors
 */
export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { message: Schema.String },
  Answer.annotations({ status: 403 })
) {}

/**
 * Nothing is there (404).
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { message: Schema.String },
  Answer.annotations({ status: 404 })
) {}

/**
 * The request conflicts with the state of what it names (409).
 *
 * @since 0.1.0
 * @category errors
 */
export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  { message: Schema.String },
  Answer.annotations({ status: 409 })
) {}

/**
 * It was there and is not any more (410: expired, terminated).
 *
 * @since 0.1.0
 * @category errors
 */
export class Gone extends Schema.TaggedError<Gone>()(
  "Gone",
  { message: Schema.String },
  Answer.annotations({ status: 410 })
) {}

/**
 * The body is over a size limit (413).
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  { message: Schema.String },
  Answer.annotations({ status: 413 })
) {}

/**
 * A site this request needs did not answer; try again later (503).
 *
 * @since 0.1.0
 * @category errors
 */
export class Unavailable extends Schema.TaggedError<Unavailable>()(
  "Unavailable",
  { message: Schema.String },
  Answer.annotations({ status: 503 })
) {}

/**
 * Storage is full, or the caller's quota is used up (507).
 *
 * @since 0.1.0
 * @category errors
 */
export class StorageFull extends Schema.TaggedError<StorageFull>()(
  "StorageFull",
  { message: Schema.String },
  Answer.annotations({ status: 507 })
) {}
