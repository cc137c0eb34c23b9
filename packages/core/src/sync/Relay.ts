/**
 * The account's home and the relay to it. An account's changes are numbered by one writer: the
 * first site by name that runs `sync` in the account's home region. Any other site that runs
 * `sync` serves the account's devices by relaying each {@link Protocol.Session} operation to the
 * home's sync actor over the kernel (Schema-checked asks; a chunk rides in its ask, under the
 * 4 MiB frame bound; a commit's manifest is bounded by `maxContentBytes` for the same reason).
 *
 * Relay rather than redirect: a device often cannot reach another region's address (a private
 * network, a firewall, a region published only to its own clients), as for the files module's
 * brokered downloads; the sites reach each other over the kernel's links in any case. Event
 * streams are relayed as polls ("changes after N") every `relayPollMillis`: the home's actor
 * answers asks one at a time, so a long poll would hold it for every other device of its accounts.
 *
 * A home that does not answer is {@link SyncHomeUnreachable} (503: the device retries); a full
 * mailbox is {@link SyncBusy}.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Actor from "../kernel/Actor.js"
import * as Address from "../kernel/Address.js"
import type { AskError } from "../kernel/Errors.js"
import * as KernelProtocol from "../kernel/Protocol.js"
import type * as Module from "../site/Module.js"
import {
  ChangesPage,
  type ChunkData,
  CommitOutcome,
  CommitRequest,
  CommitResult,
  Content,
  DeviceName,
  type Event,
  MissingRequest,
  MissingResponse,
  type Session,
  Sha256,
  SyncBusy,
  SyncError,
  SyncHomeUnreachable,
  SyncInvalid,
  SyncPath,
  Version
} from "./Protocol.js"
import type { Counters, Local, Settings } from "./Server.js"

/**
 * The name of the sync actor on every site that runs the module.
 *
 * @since 0.1.0
 * @category protocol
 */
export const ACTOR = "sync"

const Who = { account: Schema.String, device: DeviceName }
const Count = Schema.Int.pipe(Schema.nonNegative())

/**
 * @since 0.1.0
 * @category protocol
 */
export class Head extends Schema.TaggedRequest<Head>()("SyncHead", {
  failure: SyncError,
  success: Schema.Struct({ indexId: Schema.String, head: Count }),
  payload: Who
}) {}

/**
 * @since 0.1.0
 * @category protocol
 */
export class Changes extends Schema.TaggedRequest<Changes>()("SyncChanges", {
  failure: SyncError,
  success: ChangesPage,
  payload: { ...Who, after: Count, limit: Schema.optional(Schema.Int.pipe(Schema.positive())) }
}) {}

/**
 * @since 0.1.0
 * @category protocol
 */
export class Missing extends Schema.TaggedRequest<Missing>()("SyncMissing", {
  failure: SyncError,
  success: MissingResponse,
  payload: { ...Who, ...MissingRequest.fields }
}) {}

/**
 * @since 0.1.0
 * @category protocol
 */
export class PutChunk extends Schema.TaggedRequest<PutChunk>()("SyncPutChunk", {
  failure: SyncError,
  success: Schema.Void,
  payload: { ...Who, hash: Sha256, bytes: Schema.Uint8ArrayFromBase64 }
}) {}

/**
 * @since 0.1.0
 * @category protocol
 */
export class GetChunk extends Schema.TaggedRequest<GetChunk>()("SyncGetChunk", {
  failure: SyncError,
  success: Schema.Struct({ bytes: Schema.Uint8ArrayFromBase64 }),
  payload: { ...Who, hash: Sha256 }
}) {}

/**
 * @since 0.1.0
 * @category protocol
 */
export class GetManifest extends Schema.TaggedRequest<GetManifest>()("SyncGetManifest", {
  failure: SyncError,
  success: Content,
  payload: { ...Who, digest: Sha256, base: Schema.optional(Sha256) }
}) {}

/**
 * @since 0.1.0
 * @category protocol
 */
export class Commit extends Schema.TaggedRequest<Commit>()("SyncCommit", {
  failure: SyncError,
  success: CommitResult,
  payload: { ...Who, request: CommitRequest }
}) {}

const Chunk = Schema.Struct({ hash: Sha256, bytes: Schema.Uint8ArrayFromBase64 })

/**
 * A part of a batch upload (at most `relayBatchBytes` of chunks).
 *
 * @since 0.1.0
 * @category protocol
 */
export class PutChunks extends Schema.TaggedRequest<PutChunks>()("SyncPutChunks", {
  failure: SyncError,
  success: Schema.Void,
  payload: { ...Who, chunks: Schema.Array(Chunk) }
}) {}

/**
 * A batch download: the home answers as many as fit in `maxBytes` (at least one).
 *
 * @since 0.1.0
 * @category protocol
 */
export class GetChunks extends Schema.TaggedRequest<GetChunks>()("SyncGetChunks", {
  failure: SyncError,
  success: Schema.Struct({ chunks: Schema.Array(Chunk) }),
  payload: { ...Who, hashes: Schema.Array(Sha256), maxBytes: Schema.Int.pipe(Schema.positive()) }
}) {}

/**
 * A part of a batch of commits (at most `relayBatchBytes` of manifests and deltas).
 *
 * @since 0.1.0
 * @category protocol
 */
export class CommitMany extends Schema.TaggedRequest<CommitMany>()("SyncCommitMany", {
  failure: SyncError,
  success: Schema.Array(CommitOutcome),
  payload: { ...Who, requests: Schema.Array(CommitRequest) }
}) {}

/**
 * @since 0.1.0
 * @category protocol
 */
export class Versions extends Schema.TaggedRequest<Versions>()("SyncVersions", {
  failure: SyncError,
  success: Schema.Array(Version),
  payload: { ...Who, path: SyncPath }
}) {}

/**
 * @since 0.1.0
 * @category protocol
 */
export class Restore extends Schema.TaggedRequest<Restore>()("SyncRestore", {
  failure: SyncError,
  success: CommitResult,
  payload: { ...Who, path: SyncPath, version: Schema.Int.pipe(Schema.positive()) }
}) {}

/**
 * The messages other sites send the account's home.
 *
 * @since 0.1.0
 * @category protocol
 */
export const SyncProtocol = KernelProtocol.make(
  "sync",
  1,
  Head,
  Changes,
  Missing,
  PutChunk,
  GetChunk,
  GetManifest,
  Commit,
  Versions,
  Restore,
  PutChunks,
  GetChunks,
  CommitMany
)

/**
 * @since 0.1.0
 * @category protocol
 */
export type Message =
  | Head
  | Changes
  | Missing
  | PutChunk
  | GetChunk
  | GetManifest
  | Commit
  | Versions
  | Restore
  | PutChunks
  | GetChunks
  | CommitMany

/**
 * The sites of `region` that run `sync`, the home (the first by name) first.
 *
 * @since 0.1.0
 * @category placement
 */
export const homeSite = (topology: Module.SiteContext["topology"], region: string): string | undefined =>
  Object.keys(topology.sites)
    .filter((site) => topology.sites[site]!.region === region && "sync" in topology.sites[site]!.modules)
    .sort()[0]

/**
 * The sync actor of a site: answers relayed operations from the home's {@link Local} sessions.
 *
 * @since 0.1.0
 * @category actors
 */
export const actor = (local: Local, settings: Settings) =>
  Actor.make(
    ACTOR,
    SyncProtocol,
    () =>
      Effect.succeed({
        SyncHead: (m: Head) => local.session(m.account, m.device).head,
        SyncChanges: (m: Changes) => local.session(m.account, m.device).changes(m.after, m.limit),
        SyncMissing: (m: Missing) =>
          Effect.map(local.session(m.account, m.device).missing(m.chunks), (missing) => ({ missing })),
        SyncPutChunk: (m: PutChunk) => local.session(m.account, m.device).putChunk(m.hash, m.bytes),
        SyncGetChunk: (m: GetChunk) =>
          Effect.map(local.session(m.account, m.device).getChunk(m.hash), (bytes) => ({ bytes })),
        SyncGetManifest: (m: GetManifest) => local.session(m.account, m.device).manifest(m.digest, m.base),
        SyncCommit: (m: Commit) => local.session(m.account, m.device).commit(m.request),
        SyncVersions: (m: Versions) => local.session(m.account, m.device).versions(m.path),
        SyncRestore: (m: Restore) => local.session(m.account, m.device).restore(m.path, m.version),
        SyncPutChunks: (m: PutChunks) => local.session(m.account, m.device).putChunks(m.chunks),
        SyncGetChunks: (m: GetChunks) =>
          Effect.map(local.session(m.account, m.device).getChunks(m.hashes, m.maxBytes), (chunks) => ({ chunks })),
        SyncCommitMany: (m: CommitMany) => local.session(m.account, m.device).commitMany(m.requests)
      }),
    { mailboxCapacity: settings.mailboxCapacity }
  )

/** `items` in order, in parts of at most `budget` by `size` (an item larger alone is a part alone). */
const parts = <A>(items: ReadonlyArray<A>, size: (item: A) => number, budget: number): Array<Array<A>> => {
  const out: Array<Array<A>> = []
  let part: Array<A> = []
  let used = 0
  for (const item of items) {
    const n = size(item)
    if (part.length > 0 && used + n > budget) {
      out.push(part)
      part = []
      used = 0
    }
    part.push(item)
    used += n
  }
  if (part.length > 0) out.push(part)
  return out
}

const isAskError = (e: unknown): e is AskError =>
  typeof e === "object" &&
  e !== null &&
  "_tag" in e &&
  [
    "MailboxFull",
    "AskTimeout",
    "Unreachable",
    "ActorNotFound",
    "ActorStopped",
    "ActorCrashed",
    "PendingAsksFull",
    "MalformedMessage"
  ].includes(String(e._tag))

/**
 * A session relayed to `site` (the account's home, in `region`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const session = (
  context: Module.SiteContext,
  settings: Settings,
  counters: Counters,
  target: { readonly site: string; readonly region: string },
  account: string,
  device: string
): Session => {
  const ref = context.system.ref(SyncProtocol, Address.make(target.site, ACTOR))
  const timeout = Duration.millis(settings.relayTimeoutMillis)
  const ask = <M extends Message>(message: M) =>
    Effect.suspend(() => {
      counters.relayedAsks++
      return ref.ask(message, { timeout })
    }).pipe(
      Effect.catchIf(isAskError, (e) =>
        Effect.fail(
          e._tag === "MailboxFull" || e._tag === "PendingAsksFull"
            ? new SyncBusy({ reason: e.message })
            : e._tag === "MalformedMessage"
              ? new SyncInvalid({ reason: e.message })
              : new SyncHomeUnreachable({ region: target.region, reason: e.message })
        )
      )
    ) as Effect.Effect<KernelProtocol.Success<M>, SyncError>
  const who = { account, device }
  const poll = Duration.millis(settings.relayPollMillis)
  const heartbeat = Duration.seconds(settings.heartbeatSeconds)
  return {
    head: ask(new Head(who)),
    changes: (after, limit) => ask(new Changes({ ...who, after, ...(limit === undefined ? {} : { limit }) })),
    missing: (chunks) => Effect.map(ask(new Missing({ ...who, chunks })), (r) => r.missing),
    putChunk: (hash, bytes) => ask(new PutChunk({ ...who, hash, bytes })),
    getChunk: (hash) => Effect.map(ask(new GetChunk({ ...who, hash })), (r) => r.bytes),
    manifest: (digest, base) => ask(new GetManifest({ ...who, digest, ...(base === undefined ? {} : { base }) })),
    commit: (request) => ask(new Commit({ ...who, request })),
    versions: (path) => ask(new Versions({ ...who, path })),
    restore: (path, version) => ask(new Restore({ ...who, path, version })),
    putChunks: (chunks) =>
      Effect.gen(function* () {
        let total = 0
        for (const c of chunks) total += c.bytes.length
        if (chunks.length > settings.maxBatchChunks || total > settings.maxBatchBytes) {
          return yield* new SyncInvalid({
            reason: `a batch is at most ${settings.maxBatchChunks} chunks and ${settings.maxBatchBytes} bytes`
          })
        }
        // In asks under the frame bound; a part refused for bad chunks does not stop the others.
        const refusals: Array<string> = []
        for (const part of parts(chunks, (c) => c.bytes.length, settings.relayBatchBytes)) {
          const done = yield* Effect.either(ask(new PutChunks({ ...who, chunks: part })))
          if (Either.isLeft(done)) {
            if (done.left._tag !== "SyncInvalid") return yield* done.left
            refusals.push(done.left.reason)
          }
        }
        if (refusals.length > 0) return yield* new SyncInvalid({ reason: refusals.join("; ") })
      }),
    getChunks: (hashes, maxBytes) =>
      Effect.map(
        ask(
          new GetChunks({
            ...who,
            hashes: [...hashes],
            maxBytes: Math.min(maxBytes ?? settings.relayBatchBytes, settings.relayBatchBytes)
          })
        ),
        (r): ReadonlyArray<ChunkData> => r.chunks
      ),
    commitMany: (requests) =>
      requests.length < 1 || requests.length > settings.maxBatchCommits
        ? Effect.fail(
            new SyncInvalid({
              reason: `a batch holds 1 to ${settings.maxBatchCommits} commits, this one ${requests.length}`
            })
          )
        : Effect.map(
            Effect.forEach(
              parts(
                requests,
                (r) => (r.op._tag === "Put" ? r.op.content.bytes.length : 0) + r.path.length,
                settings.relayBatchBytes
              ),
              (part) => ask(new CommitMany({ ...who, requests: part }))
            ),
            (outcomes) => outcomes.flat()
          ),
    events: (after) =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const out = yield* Effect.acquireRelease(Queue.bounded<Event>(settings.streamBuffer), Queue.shutdown)
          const first = yield* ask(new Head(who))
          yield* Queue.offer(out, { _tag: "Head", indexId: first.indexId, head: first.head })
          let last = after
          let quietSince = yield* Effect.clockWith((c) => c.currentTimeMillis)
          yield* Effect.forkScoped(
            Effect.gen(function* () {
              while (true) {
                const page = yield* ask(new Changes({ ...who, after: last, limit: settings.pageSize })).pipe(
                  Effect.option
                )
                const time = yield* Effect.clockWith((c) => c.currentTimeMillis)
                if (Option.isSome(page)) {
                  for (const change of page.value.entries) {
                    yield* Queue.offer(out, { _tag: "Changed", indexId: page.value.indexId, change })
                    last = change.seq
                  }
                  if (page.value.entries.length > 0) quietSince = time
                  else if (time - quietSince >= Duration.toMillis(heartbeat)) {
                    yield* Queue.offer(out, { _tag: "Head", indexId: page.value.indexId, head: page.value.head })
                    quietSince = time
                  }
                  if (page.value.entries.length > 0 && last < page.value.head) continue
                }
                yield* Effect.sleep(poll)
              }
            })
          )
          return Stream.fromQueue(out)
        })
      )
  }
}
