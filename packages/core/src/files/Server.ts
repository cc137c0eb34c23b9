/**
 * What the parts of one site's file server share (its stores, addresses, peers and records),
 * built once in the module's `start` and handed to each part: no part keeps state of its own at
 * module level, so that every site (and every incarnation of a site in the simulator) has its own.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Actor from "../kernel/Actor.js"
import * as Address from "../kernel/Address.js"
import type * as Module from "../site/Module.js"
import type { BlobsService } from "../stores/Blobs.js"
import type { IdentityService, Principal } from "../stores/Identity.js"
import type { KeyValueLimit, KeyValueService } from "../stores/KeyValue.js"
import type { StagingService } from "../stores/Staging.js"
import * as Addresses from "./Addresses.js"
import type { FilesError } from "./Errors.js"
import type { Settings } from "./Files.js"
import { authenticate } from "./Http.js"
import { ACTOR, FilesProtocol, type Message, Transfer, Upload } from "./Protocol.js"

/**
 * The module's key-value namespace.
 *
 * @since 0.1.0
 * @category keys
 */
export const NAMESPACE = "files"

/**
 * An upload in progress.
 *
 * @since 0.1.0
 * @category keys
 */
export const uploadKey = (id: string) => `upload/${id}`

/**
 * A transfer's record (every file server keeps one of every transfer).
 *
 * @since 0.1.0
 * @category keys
 */
export const transferKey = (id: string) => `transfer/${id}`

/**
 * A pulled-through copy of another region's file is held here (pull-through mode).
 *
 * @since 0.1.0
 * @category keys
 */
export const copyKey = (id: string) => `copy/${id}`

/**
 * A transfer its sender deleted: an offer of it arriving later is ignored (the value: until when,
 * epoch ms; the cleanup drops it then).
 *
 * @since 0.1.0
 * @category keys
 */
export const withdrawnKey = (id: string) => `withdrawn/${id}`

/**
 * The bytes of a deleted transfer, still to be released from the blob store by the cleanup (the
 * value: the blob's hash). A withdrawal received from another server is applied as one unit of
 * work over the key-value store, which the blob store is not part of.
 *
 * @since 0.1.0
 * @category keys
 */
export const orphanKey = (id: string) => `orphan/${id}`

/**
 * A transfer whose offers to the other file servers are not all in the outbox yet.
 *
 * @since 0.1.0
 * @category keys
 */
export const unofferedKey = (id: string) => `unoffered/${id}`

const encodeTransfer = Schema.encodeSync(Schema.parseJson(Transfer))
const decodeTransfer = Schema.decodeUnknownOption(Schema.parseJson(Transfer))

/**
 * An upload's record, as kept under {@link uploadKey}.
 *
 * @since 0.1.0
 * @category codecs
 */
export const encodeUpload = Schema.encodeSync(Schema.parseJson(Upload))
const decodeUpload = Schema.decodeUnknownOption(Schema.parseJson(Upload))

/**
 * One site's file server, as its parts share it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Server {
  readonly context: Module.SiteContext
  readonly settings: Settings
  readonly site: string
  readonly region: string
  readonly kv: KeyValueService
  readonly blobs: BlobsService
  readonly staging: StagingService
  readonly identity: IdentityService
  /** The module's scope: what must outlive the request that started it (a pull) is forked in it. */
  readonly moduleScope: Scope.Scope
  readonly httpClient: HttpClient.HttpClient
  readonly addresses: Addresses.Addresses
  /** The sites that run this module (a fallback of the directory route sorts it in place). */
  readonly fileServers: Array<string>
  readonly now: Effect.Effect<number>
  /** The file server actor of site `target`. */
  readonly ref: (target: string) => Actor.ActorRef<Message>
  /** The request's user, from its bearer token. */
  readonly authenticate: Effect.Effect<Principal, FilesError, HttpServerRequest.HttpServerRequest>
  readonly getTransfer: (id: string) => Effect.Effect<Option.Option<Transfer>>
  readonly putTransfer: (transfer: Transfer) => Effect.Effect<void, KeyValueLimit>
  readonly listTransfers: Effect.Effect<ReadonlyArray<Transfer>>
  readonly getUpload: (id: string) => Effect.Effect<Option.Option<Upload>>
  readonly listUploads: Effect.Effect<ReadonlyArray<Upload>>
  /** The file's bytes are here: this site holds it, or keeps a pulled-through copy. */
  readonly storedHere: (transfer: Transfer) => Effect.Effect<boolean>
  /** `user` may list and fetch the transfer: its sender or one of its recipients. */
  readonly mayFetch: (transfer: Transfer, user: string) => boolean
}

/**
 * The file server of the site `context` is, in the module's scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  context: Module.SiteContext,
  settings: Settings
): Effect.Effect<Server, never, Scope.Scope | HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const { kv, blobs, staging, identity } = context.stores
    const site = context.site
    const moduleScope = yield* Effect.scope
    const httpClient = yield* HttpClient.HttpClient
    const clock = yield* Effect.clock
    return {
      context,
      settings,
      site,
      region: context.siteInfo.region,
      kv,
      blobs,
      staging,
      identity,
      moduleScope,
      httpClient,
      addresses: Addresses.make(context.siteInfo, clock),
      fileServers: Object.keys(context.topology.sites).filter(
        (name) => context.topology.sites[name]!.modules.files !== undefined
      ),
      now: Effect.clockWith((clock) => clock.currentTimeMillis),
      ref: (target) => context.system.ref(FilesProtocol, Address.make(target, ACTOR)),
      authenticate: authenticate(identity),
      getTransfer: (id) => Effect.map(kv.get(NAMESPACE, transferKey(id)), Option.flatMap(decodeTransfer)),
      putTransfer: (transfer) => kv.set(NAMESPACE, transferKey(transfer.id), encodeTransfer(transfer)),
      listTransfers: Effect.map(kv.list(NAMESPACE, "transfer/"), (entries) =>
        entries.flatMap((e) => Option.toArray(decodeTransfer(e.value)))
      ),
      getUpload: (id) => Effect.map(kv.get(NAMESPACE, uploadKey(id)), Option.flatMap(decodeUpload)),
      listUploads: Effect.map(kv.list(NAMESPACE, "upload/"), (entries) =>
        entries.flatMap((e) => Option.toArray(decodeUpload(e.value)))
      ),
      storedHere: (transfer) =>
        transfer.holder === site
          ? Effect.succeed(true)
          : Effect.map(kv.get(NAMESPACE, copyKey(transfer.id)), Option.isSome),
      mayFetch: (transfer, user) => transfer.recipients.includes(user) || transfer.sender === user
    }
  })
