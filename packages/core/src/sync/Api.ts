/**
 * The `sync` module's HTTP API, as the site's OpenAPI document (`/openapi.json`, `/docs`) shows
 * it. The routes are raw `HttpLayerRouter` routes (`Http.ts`: chunks and manifests are raw bytes,
 * the events a server-sent stream); this description names the same paths, methods, headers and
 * bodies, and a test checks it against the routes a site really serves (`Routes.check`).
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
import { ChangesQuery, EventsQuery, ManifestQuery, VersionsQuery } from "./Http.js"
import {
  ChangesPage,
  CommitManyRequest,
  CommitManyResponse,
  CommitRequest,
  CommitResult,
  FetchChunksRequest,
  MissingRequest,
  MissingResponse,
  RestoreRequest,
  Version
} from "./Protocol.js"

const Device = Schema.Struct({
  "meridian-device": Schema.String.annotations({
    description: "the device's name: 1 to 128 letters, digits, '.', '_' or '-' (registered at its first request)"
  })
})
const Hash = Schema.Struct({
  sha256: Schema.String.annotations({ description: "the chunk's or manifest's SHA-256, 64 lowercase hex digits" })
})
const Bytes = (description: string) => HttpApiSchema.Uint8Array().annotations({ description })

/**
 * @since 0.1.0
 * @category http
 */
export const Api = HttpApi.make("sync").add(
  HttpApiGroup.make("sync")
    .add(
      HttpApiEndpoint.get("head", "/v1/sync/head")
        .setHeaders(Device)
        .addSuccess(Schema.Struct({ indexId: Schema.String, head: Schema.Int }))
        .annotate(OpenApi.Summary, "Where the account's numbering stands: its index id and last sequence number")
    )
    .add(
      HttpApiEndpoint.get("changes", "/v1/sync/changes")
        .setHeaders(Device)
        .setUrlParams(ChangesQuery)
        .addSuccess(ChangesPage)
        .annotate(OpenApi.Summary, "The current versions numbered after `after`, in order (a page)")
    )
    .add(
      HttpApiEndpoint.post("missing", "/v1/sync/chunks/missing")
        .setHeaders(Device)
        .setPayload(MissingRequest)
        .addSuccess(MissingResponse)
        .annotate(OpenApi.Summary, "Which of these chunks the account has not uploaded")
    )
    .add(
      HttpApiEndpoint.put("putChunk", "/v1/sync/chunks/:sha256")
        .setPath(Hash)
        .setHeaders(Device)
        .setPayload(Bytes("the chunk's bytes; they must hash to its name"))
        .addSuccess(HttpApiSchema.Empty(204))
        .annotate(OpenApi.Summary, "Upload one chunk (kept for the account until a commit names it, or it expires)")
    )
    .add(
      HttpApiEndpoint.post("putChunks", "/v1/sync/chunks")
        .setHeaders(Device)
        .setPayload(
          Bytes(
            "many chunks, each framed as its 32-byte SHA-256, its length as an unsigned LEB128 varint, then its " +
              "bytes; at most maxBatchChunks (default 1024) chunks and maxBatchBytes (default 16 MiB) of bytes (413 " +
              "past it). Each is checked on its own: the good ones are kept, the others named in one 400"
          )
        )
        .addSuccess(HttpApiSchema.Empty(204))
        .annotate(OpenApi.Summary, "Upload many chunks in one request")
    )
    .add(
      HttpApiEndpoint.post("getChunks", "/v1/sync/chunks/fetch")
        .setHeaders(Device)
        .setPayload(FetchChunksRequest)
        .addSuccess(
          Bytes(
            "the chunks in the order asked, framed as the upload's: as many as fit in maxBytes (and the site's " +
              "maxBatchBytes), at least one; ask again for the rest"
          )
        )
        .annotate(OpenApi.Summary, "Many chunks the account holds in one answer")
    )
    .add(
      HttpApiEndpoint.post("commitMany", "/v1/sync/commits")
        .setHeaders(Device)
        .setPayload(CommitManyRequest)
        .addSuccess(CommitManyResponse)
        .annotate(
          OpenApi.Summary,
          "Many commits (at most maxBatchCommits, default 1000), each its own unit: one outcome each, " +
            "Committed or Refused with its error; one refused undoes no other"
        )
    )
    .add(
      HttpApiEndpoint.get("getChunk", "/v1/sync/chunks/:sha256")
        .setPath(Hash)
        .setHeaders(Device)
        .addSuccess(Bytes("the chunk's bytes"))
        .annotate(OpenApi.Summary, "One chunk the account holds")
    )
    .add(
      HttpApiEndpoint.get("manifest", "/v1/sync/manifests/:sha256")
        .setPath(Hash)
        .setHeaders(Device)
        .setUrlParams(ManifestQuery)
        .addSuccess(
          Bytes(
            "the manifest's canonical encoding, or its delta against `base` when smaller: " +
              "the meridian-sync-content header says Manifest or Delta"
          )
        )
        .annotate(OpenApi.Summary, "A version's manifest, whole or as a delta against a base the device holds")
    )
    .add(
      HttpApiEndpoint.post("commit", "/v1/sync/commit")
        .setHeaders(Device)
        .setPayload(CommitRequest)
        .addSuccess(CommitResult, { status: 201 })
        .annotate(
          OpenApi.Summary,
          "Record a path's new version, deletion or rename on the version it edits (409 when that is not current)"
        )
    )
    .add(
      HttpApiEndpoint.get("versions", "/v1/sync/versions")
        .setHeaders(Device)
        .setUrlParams(VersionsQuery)
        .addSuccess(Schema.Struct({ versions: Schema.Array(Version) }))
        .annotate(OpenApi.Summary, "A path's kept older versions, newest first")
    )
    .add(
      HttpApiEndpoint.post("restore", "/v1/sync/restore")
        .setHeaders(Device)
        .setPayload(RestoreRequest)
        .addSuccess(CommitResult, { status: 201 })
        .annotate(OpenApi.Summary, "Make a kept version the path's newest (a new number)")
    )
    .add(
      HttpApiEndpoint.get("events", "/v1/sync/events")
        .setHeaders(
          Schema.Struct({
            ...Device.fields,
            "last-event-id": Schema.optional(
              Schema.String.annotations({ description: "resume after this sequence number" })
            )
          })
        )
        .setUrlParams(EventsQuery)
        .addSuccess(
          HttpApiSchema.Text({ contentType: "text/event-stream" }).annotations({
            description:
              "server-sent events: `event: head` first and after each silence, `event: changed` with " +
              "`id: SEQ` per change, `event: error` when the stream ends on a failure; data is JSON"
          })
        )
        .annotate(OpenApi.Summary, "The changes after `after`, then each as it is committed (server-sent events)")
    )
    .middleware(Authentication)
    .addError(Answer.ErrorBody, { status: 400 })
    .addError(Answer.ErrorBody, { status: 403 })
    .addError(Answer.ErrorBody, { status: 404 })
    .addError(Answer.ErrorBody, { status: 409 })
    .addError(Answer.ErrorBody, { status: 413 })
    .addError(Answer.ErrorBody, { status: 503 })
    .addError(Answer.ErrorBody, { status: 507 })
    .annotate(OpenApi.Description, "Folder sync: a device's session with its account's numbered index")
)
