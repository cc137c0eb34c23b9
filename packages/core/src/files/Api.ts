/**
 * The file service's HTTP API, as the site's OpenAPI document (`/openapi.json`, `/docs`) shows
 * it. The routes themselves are raw `HttpLayerRouter` routes (`Files.ts`): tus PATCH streams its
 * body into the staging store, downloads stream from the blob store with `Range`, a download is a
 * redirect; none of them can be an `HttpApi` endpoint without losing that. This description names
 * the same paths, methods, headers and bodies, and a test checks it against the routes a site
 * really serves (`Routes.check`).
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import * as Answer from "../api/Answer.js"
import { Authentication } from "../api/SiteApi.js"
import { DownloadAddress, Transfer } from "./Protocol.js"

const Id = Schema.Struct({
  id: Schema.String.annotations({ description: "the upload's or transfer's id (they are the same)" })
})
const Tus = Schema.Literal("1.0.0").annotations({ description: "tus protocol version" })
const Bytes = (description: string) => HttpApiSchema.Uint8Array().annotations({ description })

const Located = Schema.Struct({
  ip: Schema.String,
  region: Schema.String,
  rule: Schema.String.annotations({ description: "what placed the client: cidr, geoip, default" }),
  server: Schema.Struct({ site: Schema.String, region: Schema.String, name: Schema.String, url: Schema.String })
})

const Listed = Schema.extend(Transfer, Schema.Struct({ direction: Schema.Literal("sent", "received") }))

/** An empty answer of `status` (its meaning in the endpoint's summary). */
const empty = (status: number) => HttpApiSchema.Empty(status)

/**
 * @since 0.1.0
 * @category http
 */
export const Api = HttpApi.make("files")
  .add(
    HttpApiGroup.make("files-directory")
      .add(
        HttpApiEndpoint.get("locate", "/v1/locate")
          .setUrlParams(
            Schema.Struct({ ip: Schema.optional(Schema.String.annotations({ description: "locate this address" })) })
          )
          .addSuccess(Located)
          .annotate(
            OpenApi.Summary,
            "The client's region (CIDR ranges, GeoIP, else the default) and that region's file server"
          )
      )
      .addError(Answer.ErrorBody, { status: 503 })
      .annotate(OpenApi.Description, "Which regional file server a client should use (no token needed)")
  )
  .add(
    HttpApiGroup.make("files-uploads")
      .add(
        HttpApiEndpoint.options("capabilities", "/v1/files/uploads")
          .addSuccess(empty(204))
          .annotate(OpenApi.Summary, "tus: the version, extensions, largest size and checksum algorithms")
      )
      .add(
        HttpApiEndpoint.post("create", "/v1/files/uploads")
          .setHeaders(
            Schema.Struct({
              "tus-resumable": Tus,
              "upload-length": Schema.NumberFromString.annotations({ description: "the file's size in bytes" }),
              "upload-metadata": Schema.String.annotations({
                description:
                  "`key base64,…`: recipients (comma-separated user names, required), filename, sha256 (hex), " +
                  "expires (seconds)"
              })
            })
          )
          .addSuccess(empty(201))
          .annotate(OpenApi.Summary, "tus creation: a new upload for its recipients (the Location header names it)")
      )
      .add(
        HttpApiEndpoint.head("offset", "/v1/files/uploads/:id")
          .setPath(Id)
          .setHeaders(Schema.Struct({ "tus-resumable": Tus }))
          .addSuccess(empty(200))
          .annotate(OpenApi.Summary, "tus: the upload's Upload-Offset and Upload-Length, to resume")
      )
      .add(
        HttpApiEndpoint.get("offsetGet", "/v1/files/uploads/:id")
          .setPath(Id)
          .setHeaders(Schema.Struct({ "tus-resumable": Tus }))
          .addSuccess(empty(200))
          .annotate(OpenApi.Summary, "Answered like HEAD (headers, no body)")
      )
      .add(
        HttpApiEndpoint.patch("append", "/v1/files/uploads/:id")
          .setPath(Id)
          .setHeaders(
            Schema.Struct({
              "tus-resumable": Tus,
              "upload-offset": Schema.NumberFromString,
              "upload-checksum": Schema.optional(
                Schema.String.annotations({ description: "`sha1 BASE64` or `sha256 BASE64` of this chunk" })
              )
            })
          )
          .setPayload(
            HttpApiSchema.Uint8Array({ contentType: "application/offset+octet-stream" }).annotations({
              description: "the bytes at Upload-Offset"
            })
          )
          .addSuccess(empty(204))
          .annotate(
            OpenApi.Summary,
            "tus: bytes at the offset (streamed); the last ones complete the transfer (Meridian-Transfer header)"
          )
      )
      .add(
        HttpApiEndpoint.del("terminate", "/v1/files/uploads/:id")
          .setPath(Id)
          .setHeaders(Schema.Struct({ "tus-resumable": Tus }))
          .addSuccess(empty(204))
          .annotate(OpenApi.Summary, "tus termination: the unfinished upload dropped")
      )
      .middleware(Authentication)
      .addError(Answer.ErrorBody, { status: 400 })
      .addError(Answer.ErrorBody, { status: 404 })
      .addError(Answer.ErrorBody, { status: 409 })
      .addError(Answer.ErrorBody, { status: 410 })
      .addError(Answer.ErrorBody, { status: 412 })
      .addError(Answer.ErrorBody, { status: 413 })
      .addError(Answer.ErrorBody, { status: 415 })
      .addError(Answer.ErrorBody, { status: 460 })
      .addError(Answer.ErrorBody, { status: 503 })
      .addError(Answer.ErrorBody, { status: 507 })
      .annotate(
        OpenApi.Description,
        "Uploads with tus 1.0 (creation, expiration, termination, checksum): any tus client works"
      )
  )
  .add(
    HttpApiGroup.make("files-transfers")
      .add(
        HttpApiEndpoint.get("inbox", "/v1/files/inbox")
          .addSuccess(Schema.Struct({ user: Schema.String, transfers: Schema.Array(Listed) }))
          .annotate(OpenApi.Summary, "The user's live transfers, sent and received, newest first")
      )
      .add(
        HttpApiEndpoint.del("delete", "/v1/files/transfers/:id")
          .setPath(Id)
          .addSuccess(empty(204))
          .annotate(
            OpenApi.Summary,
            "The sender deletes a transfer: at once here, at every other file server by durable message"
          )
      )
      .add(
        HttpApiEndpoint.get("download", "/v1/files/transfers/:id/download")
          .setPath(Id)
          .addSuccess(Schema.Struct({ ...DownloadAddress.fields, transfer: Transfer }))
          .addSuccess(empty(307))
          .annotate(
            OpenApi.Summary,
            "A signed, expiring download address at the holder's least loaded address: 307 to it, or JSON " +
              "with Accept: application/json"
          )
      )
      .middleware(Authentication)
      .addError(Answer.ErrorBody, { status: 403 })
      .addError(Answer.ErrorBody, { status: 404 })
      .addError(Answer.ErrorBody, { status: 503 })
      .annotate(OpenApi.Description, "Offline transfers: the inbox, and where to download a transfer")
  )
  .add(
    HttpApiGroup.make("files-data")
      .add(
        HttpApiEndpoint.get("data", "/v1/files/data/:id")
          .setPath(Id)
          .setUrlParams(
            Schema.Struct({
              user: Schema.String.annotations({ description: "the recipient the address was made for" }),
              expires: Schema.NumberFromString.annotations({ description: "until when it is valid (epoch ms)" }),
              sig: Schema.String.annotations({ description: "the site's signature of id, user and expires" })
            })
          )
          .setHeaders(
            Schema.Struct({
              range: Schema.optional(Schema.String.annotations({ description: "`bytes=FROM-TO`, one range" })),
              "if-range": Schema.optional(Schema.String),
              "if-none-match": Schema.optional(Schema.String)
            })
          )
          .addSuccess(Bytes("the file"))
          .addSuccess(Bytes("the range asked for"), { status: 206 })
          .addSuccess(empty(304))
          .annotate(
            OpenApi.Summary,
            "The file, streamed (HEAD too): Range/206, ETag, If-None-Match, If-Range; the signature is the permission"
          )
      )
      .addError(Answer.ErrorBody, { status: 403 })
      .addError(Answer.ErrorBody, { status: 404 })
      .addError(Answer.ErrorBody, { status: 416 })
      .annotate(OpenApi.Description, "Downloads at a download address (from `download`; no bearer token)")
  )
  .annotate(OpenApi.Description, "Regional file servers: offline transfers")
