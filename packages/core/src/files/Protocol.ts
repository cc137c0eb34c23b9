/**
 * The regional file service's records and the messages file servers exchange over the kernel.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Protocol from "../kernel/Protocol.js"

/**
 * An offline transfer: a stored file, its sender, who may fetch it, and until when. It lives in
 * the uploader's region (`holder`); every other file server keeps a copy of the record, so a
 * recipient's own regional server can list it and broker its download.
 *
 * @since 0.1.0
 * @category models
 */
export const Transfer = Schema.Struct({
  id: Schema.String,
  sender: Schema.String,
  recipients: Schema.Array(Schema.String),
  filename: Schema.String,
  size: Schema.Number,
  /** Lowercase hex SHA-256 of the content (its blob's name). */
  sha256: Schema.String,
  /** The site whose blob store holds the file. */
  holder: Schema.String,
  holderRegion: Schema.String,
  createdAt: Schema.Number,
  expiresAt: Schema.Number
})
export type Transfer = typeof Transfer.Type

/**
 * An upload in progress (tus), kept until it completes, is terminated or expires.
 *
 * @since 0.1.0
 * @category models
 */
export const Upload = Schema.Struct({
  id: Schema.String,
  owner: Schema.String,
  length: Schema.Number,
  filename: Schema.String,
  /** The whole-file SHA-256 the client announced (hex), checked at completion. */
  sha256: Schema.optional(Schema.String),
  recipients: Schema.Array(Schema.String),
  /** The transfer's expiry once complete (epoch ms). */
  transferExpiresAt: Schema.Number,
  /** tus `Upload-Expires`: an unfinished upload is dropped then (epoch ms). */
  expiresAt: Schema.Number,
  /** The raw `Upload-Metadata` header, echoed by HEAD. */
  metadata: Schema.String,
  createdAt: Schema.Number
})
export type Upload = typeof Upload.Type

/**
 * No such transfer on the server asked, or it has expired.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransferNotFound extends Schema.TaggedError<TransferNotFound>()("TransferNotFound", {
  id: Schema.String
}) {}

/**
 * The user is not a recipient (nor the sender) of the transfer.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotARecipient extends Schema.TaggedError<NotARecipient>()("NotARecipient", {
  id: Schema.String,
  user: Schema.String
}) {}

/**
 * A download address: a URL of the holding server's least loaded address, with a signed,
 * expiring token for one recipient.
 *
 * @since 0.1.0
 * @category models
 */
export const DownloadAddress = Schema.Struct({
  url: Schema.String,
  /** The holder's address (carrier) it names. */
  address: Schema.String,
  holder: Schema.String,
  expiresAt: Schema.Number
})
export type DownloadAddress = typeof DownloadAddress.Type

/**
 * Ask (server to server): a download address of a transfer this server holds, for `user`.
 *
 * @since 0.1.0
 * @category protocol
 */
export class RequestDownload extends Schema.TaggedRequest<RequestDownload>()("RequestDownload", {
  failure: Schema.Union(TransferNotFound, NotARecipient),
  success: DownloadAddress,
  payload: { id: Schema.String, user: Schema.String }
}) {}

/**
 * Ask (from a directory): this server's least loaded HTTP address.
 *
 * @since 0.1.0
 * @category protocol
 */
export class RequestAddress extends Schema.TaggedRequest<RequestAddress>()("RequestAddress", {
  failure: Schema.Never,
  success: Schema.Struct({ name: Schema.String, url: Schema.String }),
  payload: {}
}) {}

/**
 * Tell (durable, to every other file server): a transfer completed at its holder.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Offer extends Schema.TaggedClass<Offer>()("Offer", { transfer: Transfer }) {}

/**
 * Tell (durable, to every other file server): the sender deleted the transfer. Each forgets it
 * (its record, and its bytes if held there) and ignores an offer of it that arrives later, until
 * `expiresAt`.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Withdraw extends Schema.TaggedClass<Withdraw>()("Withdraw", {
  id: Schema.String,
  expiresAt: Schema.Number
}) {}

/**
 * @since 0.1.0
 * @category protocol
 */
export const FilesProtocol = Protocol.make("files", 1, RequestDownload, RequestAddress, Offer, Withdraw)

/**
 * @since 0.1.0
 * @category protocol
 */
export type Message = RequestDownload | RequestAddress | Offer | Withdraw

/**
 * The name of the file server actor on every site that runs the module.
 *
 * @since 0.1.0
 * @category protocol
 */
export const ACTOR = "files"
