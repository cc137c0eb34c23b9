/**
 * Transfers: a stored file recorded as a transfer held here and offered (durably) to every other
 * file server, the offers those servers receive, each user's inbox, and the cleanup of what has
 * expired.
 *
 * @since 0.1.0
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Refusals from "../api/Refusals.js"
import { type FilesError, refuse } from "./Errors.js"
import type { Handler } from "./Http.js"
import { Offer, type Transfer } from "./Protocol.js"
import { copyKey, NAMESPACE, type Server, transferKey, unofferedKey, uploadKey } from "./Server.js"

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
  /** Keeps another server's offered record (a full store fails: the offer is not acknowledged, comes again). */
  readonly accept: (offer: Offer) => Effect.Effect<void>
  /**
   * Every `cleanupIntervalSeconds`: unfinished uploads and transfers past their expiry dropped
   * (the blob with its last reference), offers not yet sent sent again. Runs until interrupted.
   */
  readonly cleanupLoop: Effect.Effect<never>
  /** `GET /v1/files/inbox`: the user's live transfers, sent and received, newest first. */
  readonly inbox: Handler
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

  const cleanup = Effect.gen(function* () {
    yield* offerPending
    const at = yield* now
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
    accept: (offer) => Effect.orDie(putTransfer(offer.transfer)),
    cleanupLoop: Effect.forever(
      Effect.zipRight(
        Effect.sleep(Duration.seconds(settings.cleanupIntervalSeconds)),
        cleanup.pipe(Effect.catchAllCause((cause) => Effect.logWarning("files: cleanup failed", cause)))
      )
    ),
    inbox
  }
}
