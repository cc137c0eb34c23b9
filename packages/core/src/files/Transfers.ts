/**
 * Transfers: a stored file recorded as a transfer held here and offered (durably) to every other
 * file server, the offers those servers receive, each user's inbox, a sender's deletion (withdrawn
 * at every server, durably), and the cleanup of what has expired.
 *
 * @since 0.1.0
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Refusals from "../api/Refusals.js"
import { type FilesError, refuse } from "./Errors.js"
import { type Handler, idPattern } from "./Http.js"
import { Offer, type Transfer, Withdraw } from "./Protocol.js"
import {
  copyKey,
  NAMESPACE,
  orphanKey,
  type Server,
  transferKey,
  unofferedKey,
  uploadKey,
  withdrawnKey
} from "./Server.js"

/**
 * The transfers of one file server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transfers {
  /**
   * Records a stored file as a transfer and offers it to every other file server. The
   * `unoffered` marker is written first and removed once every offer is in the outbox, so
   * offers a crash cut short are sent again when the module starts.
   */
  readonly publish: (
    meta: Pick<Transfer, "id" | "sender" | "recipients" | "filename" | "expiresAt">,
    blob: { readonly hash: string; readonly size: number }
  ) => Effect.Effect<Transfer, FilesError>
  /** Sends the offers a crash cut short. */
  readonly offerPending: Effect.Effect<void>
  /**
   * Keeps another server's offered record (a full store fails: the offer is not acknowledged,
   * comes again), unless its sender has deleted it.
   */
  readonly accept: (offer: Offer) => Effect.Effect<void>
  /**
   * Forgets a transfer its sender deleted at another server: one unit of work over the key-value
   * store (the actor is transactional); bytes held here are released by the cleanup.
   */
  readonly forget: (withdraw: Withdraw) => Effect.Effect<void>
  /**
   * Every `cleanupIntervalSeconds`: unfinished uploads and transfers past their expiry dropped
   * (the blob with its last reference), offers not yet sent sent again. Runs until interrupted.
   */
  readonly cleanupLoop: Effect.Effect<never>
  /** `GET /v1/files/inbox`: the user's live transfers, sent and received, newest first. */
  readonly inbox: Handler
  /**
   * `DELETE /v1/files/transfers/:id`: the sender deletes a transfer, here at once and at every
   * other file server by durable message; its recipients can no longer list or fetch it.
   */
  readonly remove: Handler
}

/**
 * The transfers of `server`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (server: Server): Transfers => {
  const { kv, blobs, staging, settings, site, now, getTransfer, putTransfer, listTransfers, mayFetch } = server

  const offer = (transfer: Transfer) =>
    Effect.gen(function* () {
      for (const target of server.fileServers) {
        if (target === site) continue
        yield* server.ref(target).tellDurable(new Offer({ transfer }))
      }
      yield* kv.delete(NAMESPACE, unofferedKey(transfer.id))
    }).pipe(Effect.catchAll((e) => Effect.logWarning(`files: offers of ${transfer.id} not all sent yet: ${e.message}`)))

  const offerPending = Effect.gen(function* () {
    for (const entry of yield* kv.list(NAMESPACE, "unoffered/")) {
      const transfer = yield* getTransfer(entry.key.slice("unoffered/".length))
      if (Option.isSome(transfer)) yield* offer(transfer.value)
      else yield* kv.delete(NAMESPACE, entry.key)
    }
  })

  const publish: Transfers["publish"] = (meta, blob) =>
    Effect.gen(function* () {
      const transfer: Transfer = {
        ...meta,
        size: blob.size,
        sha256: blob.hash,
        holder: site,
        holderRegion: server.region,
        createdAt: yield* now
      }
      yield* kv.set(NAMESPACE, unofferedKey(transfer.id), "").pipe(
        Effect.zipRight(putTransfer(transfer)),
        Effect.catchAll((e) => refuse(new Refusals.StorageFull({ message: e.message })))
      )
      yield* offer(transfer)
      return transfer
    })

  /**
   * Drops the transfer's records here and marks it withdrawn; answers the blob to release when the
   * bytes are here (this site holds them, or keeps a pulled-through copy).
   */
  const forgetHere = (id: string, expiresAt: number) =>
    Effect.gen(function* () {
      const transfer = yield* getTransfer(id)
      const copy = Option.isSome(yield* kv.get(NAMESPACE, copyKey(id)))
      yield* kv.set(NAMESPACE, withdrawnKey(id), String(expiresAt))
      yield* kv.delete(NAMESPACE, transferKey(id))
      yield* kv.delete(NAMESPACE, copyKey(id))
      yield* kv.delete(NAMESPACE, unofferedKey(id))
      return Option.isSome(transfer) && (transfer.value.holder === site || copy)
        ? Option.some(transfer.value.sha256)
        : Option.none<string>()
    })

  const forget = (withdraw: Withdraw) =>
    Effect.orDie(
      Effect.flatMap(forgetHere(withdraw.id, withdraw.expiresAt), (blob) =>
        Option.isSome(blob) ? kv.set(NAMESPACE, orphanKey(withdraw.id), blob.value) : Effect.void
      )
    )

  const remove = Effect.gen(function* () {
    const principal = yield* server.authenticate
    const { id } = yield* HttpRouter.params
    const found = id === undefined || !idPattern.test(id) ? Option.none() : yield* getTransfer(id)
    if (Option.isNone(found) || (yield* now) >= found.value.expiresAt || !mayFetch(found.value, principal.name)) {
      return yield* refuse(new Refusals.NotFound({ message: "no such transfer" }))
    }
    const transfer = found.value
    if (transfer.sender !== principal.name) {
      return yield* refuse(
        new Refusals.Forbidden({ message: `only its sender, ${transfer.sender}, can delete this transfer` })
      )
    }
    // The records and the withdrawals to every other server in one unit of work: all or none.
    const blob = yield* server.context.stores
      .atomically(
        Effect.gen(function* () {
          const blob = yield* forgetHere(transfer.id, transfer.expiresAt)
          for (const target of server.fileServers) {
            if (target === site) continue
            yield* server.ref(target).tellDurable(new Withdraw({ id: transfer.id, expiresAt: transfer.expiresAt }))
          }
          return blob
        })
      )
      .pipe(
        Effect.catchAll((e) =>
          refuse(new Refusals.Unavailable({ message: `cannot delete the transfer now (${e.message}); try again` }))
        )
      )
    // After the records: a crash in between leaves the bytes unreleased, never released twice.
    if (Option.isSome(blob)) yield* Effect.ignore(blobs.release(blob.value))
    return HttpServerResponse.empty({ status: 204 })
  })

  const cleanup = Effect.gen(function* () {
    yield* offerPending
    for (const entry of yield* kv.list(NAMESPACE, "orphan/")) {
      yield* kv.delete(NAMESPACE, entry.key)
      yield* Effect.ignore(blobs.release(entry.value))
    }
    const at = yield* now
    for (const entry of yield* kv.list(NAMESPACE, "withdrawn/")) {
      if (Number(entry.value) <= at) yield* kv.delete(NAMESPACE, entry.key)
    }
    for (const upload of yield* server.listUploads) {
      if (upload.expiresAt > at) continue
      yield* staging.remove(upload.id)
      yield* kv.delete(NAMESPACE, uploadKey(upload.id))
    }
    for (const transfer of yield* listTransfers) {
      if (transfer.expiresAt > at) continue
      const copy = Option.isSome(yield* kv.get(NAMESPACE, copyKey(transfer.id)))
      yield* kv.delete(NAMESPACE, transferKey(transfer.id))
      yield* kv.delete(NAMESPACE, copyKey(transfer.id))
      if (transfer.holder === site || copy) yield* Effect.ignore(blobs.release(transfer.sha256))
    }
  })

  const inbox = Effect.gen(function* () {
    const principal = yield* server.authenticate
    const at = yield* now
    const mine = (yield* listTransfers)
      .filter((t) => t.expiresAt > at && mayFetch(t, principal.name))
      .sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, settings.maxListed)
    return HttpServerResponse.unsafeJson({
      user: principal.name,
      transfers: mine.map((t) => ({ ...t, direction: t.sender === principal.name ? "sent" : "received" }))
    })
  })

  return {
    publish,
    offerPending,
    accept: (offer) =>
      Effect.orDie(
        Effect.flatMap(kv.get(NAMESPACE, withdrawnKey(offer.transfer.id)), (withdrawn) =>
          Option.isSome(withdrawn) ? Effect.void : putTransfer(offer.transfer)
        )
      ),
    forget,
    cleanupLoop: Effect.forever(
      Effect.zipRight(
        Effect.sleep(Duration.seconds(settings.cleanupIntervalSeconds)),
        cleanup.pipe(Effect.catchAllCause((cause) => Effect.logWarning("files: cleanup failed", cause)))
      )
    ),
    inbox,
    remove
  }
}
