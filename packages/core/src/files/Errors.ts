/**
 * The file service's own refusals (tus's): the shared ones (`BadRequest`, `NotFound`...) are in
 * `api/Refusals.ts`. Each class carries its HTTP status; {@link FilesError} is every refusal the
 * service's routes answer with.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Answer from "../api/Answer.js"
import type * as Refusals from "../api/Refusals.js"

/**
 * The upload is over the size limit or its declared `Upload-Length` (413).
 *
 * @since 0.1.0
 * @category errors
 */
export class TooLarge extends Schema.TaggedError<TooLarge>()(
  "TooLarge",
  { message: Schema.String },
  Answer.annotations({ status: 413 })
) {}

/**
 * A tus request without the protocol version this server speaks (412, with `Tus-Version`).
 *
 * @since 0.1.0
 * @category errors
 */
export class PreconditionFailed extends Schema.TaggedError<PreconditionFailed>()(
  "PreconditionFailed",
  { message: Schema.String },
  Answer.annotations({ status: 412, headers: { "tus-version": "1.0.0" } })
) {}

/**
 * A chunk whose `Upload-Checksum` does not match its bytes: discarded (460, tus's checksum status).
 *
 * @since 0.1.0
 * @category errors
 */
export class ChecksumMismatch extends Schema.TaggedError<ChecksumMismatch>()(
  "ChecksumMismatch",
  { message: Schema.String },
  Answer.annotations({ status: 460 })
) {}

/**
 * The uploader's quota on this file server is used up (507).
 *
 * @since 0.1.0
 * @category errors
 */
export class QuotaExceeded extends Schema.TaggedError<QuotaExceeded>()(
  "QuotaExceeded",
  { message: Schema.String },
  Answer.annotations({ status: 507 })
) {}

/**
 * A tus PATCH whose body is not `application/offset+octet-stream` (415).
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()(
  "UnsupportedMediaType",
  { message: Schema.String },
  Answer.annotations({ status: 415 })
) {}

/**
 * The region holding a file does not answer now; try again (503, `Retry-After: 5`).
 *
 * @since 0.1.0
 * @category errors
 */
export class HolderUnavailable extends Schema.TaggedError<HolderUnavailable>()(
  "HolderUnavailable",
  { message: Schema.String },
  Answer.annotations({ status: 503, headers: { "retry-after": "5" } })
) {}

/**
 * Everything the file service's routes refuse with.
 *
 * @since 0.1.0
 * @category errors
 */
export type FilesError =
  | Refusals.BadRequest
  | Refusals.Unauthorized
  | Refusals.Forbidden
  | Refusals.NotFound
  | Refusals.Conflict
  | Refusals.Gone
  | Refusals.Unavailable
  | Refusals.StorageFull
  | TooLarge
  | PreconditionFailed
  | ChecksumMismatch
  | QuotaExceeded
  | UnsupportedMediaType
  | HolderUnavailable
  | Answer.WithHeaders<FilesError>

const filesErrorTags: ReadonlySet<string> = new Set<FilesError["_tag"]>([
  "BadRequest",
  "Unauthorized",
  "Forbidden",
  "NotFound",
  "Conflict",
  "Gone",
  "Unavailable",
  "StorageFull",
  "TooLarge",
  "PreconditionFailed",
  "ChecksumMismatch",
  "QuotaExceeded",
  "UnsupportedMediaType",
  "HolderUnavailable",
  "WithHeaders"
])

/**
 * Fails with a refusal, typed as every refusal of the service (so that branches agree).
 *
 * @since 0.1.0
 * @category constructors
 */
export const refuse = (error: FilesError): Effect.Effect<never, FilesError> => Effect.fail(error)

/**
 * One of the file service's own refusals (rather than a kernel error still to put into words).
 *
 * @since 0.1.0
 * @category refinements
 */
export const isFilesError = (e: { readonly _tag: string }): e is FilesError => filesErrorTags.has(e._tag)
