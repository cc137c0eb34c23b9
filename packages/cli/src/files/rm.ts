/**
 * `meridian files rm ID`: cancels an unfinished upload (tus termination) or deletes a sent
 * transfer (at every file server: its recipients can no longer list or get it). An upload this
 * user left unfinished is cancelled where its address, kept for the rerun, names it; anything
 * else is asked of the regional file server.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { ClientFailed, loadToken, print, usage } from "../client.js"
import type { Modules } from "../modules.js"
import { ask, explainReply, refused } from "../http.js"
import { progress } from "../progress.js"
import { commonOptions, fileServer, retryingOf, stateDir } from "./common.js"

const UploadState = Schema.parseJson(Schema.Struct({ upload: Schema.String }))

/** The state files of unfinished uploads whose address ends in `/ID`. */
const keptUploads = (id: string) => {
  const dir = stateDir("uploads")
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .flatMap((name) => {
      const file = join(dir, name)
      const state = Schema.decodeUnknownOption(UploadState)(readFileSync(file, "utf8"))
      return Option.isSome(state) && state.value.upload.endsWith(`/${id}`) ? [{ file, upload: state.value.upload }] : []
    })
}

/**
 * @since 0.1.0
 * @category commands
 */
export const rmCommand = (modules: Modules) =>
  Command.make(
    "rm",
    {
      ...commonOptions,
      id: Args.text({ name: "ID" }).pipe(
        Args.withDescription("the transfer's id, as files send printed it or files inbox lists it")
      )
    },
    (args) =>
      Effect.gen(function* () {
        const saved = yield* loadToken
        const id = args.id
        if (!/^[A-Za-z0-9_-]{16,64}$/.test(id)) {
          return yield* usage(`${id} is not a transfer id (meridian files inbox lists them)`)
        }
        const notes = progress(args.json ? "none" : "lines", "", 0, 0)
        const retrying = retryingOf(args, notes)
        const tus = { authorization: `Bearer ${saved.token}`, "tus-resumable": "1.0.0" }
        const done = (removed: "upload" | "transfer", at: string) =>
          print(args.json, { id, removed, server: at }, () =>
            removed === "upload"
              ? `cancelled the upload ${id}: nothing was sent`
              : `deleted the transfer ${id}: its recipients can no longer get it`
          )

        /** tus termination at `upload`: whether it was there to cancel (404 and 410: it was not). */
        const terminate = (upload: string) =>
          Effect.flatMap(
            ask(retrying, HttpClientRequest.del(upload).pipe(HttpClientRequest.setHeaders(tus)), {
              what: `the upload ${id}`
            }),
            (reply) =>
              reply.status === 204
                ? Effect.succeed(true)
                : // No upload in progress there: none (404), expired (410), or finished (409: its
                  // transfer is what to delete).
                  reply.status === 404 || reply.status === 410 || reply.status === 409
                  ? Effect.succeed(false)
                  : Effect.fail(refused(`cancelling the upload ${id}`, reply))
          )

        // An upload sent from here and not finished: cancelled where it is, whatever server that is.
        for (const kept of keptUploads(id)) {
          const cancelled = yield* terminate(kept.upload)
          rmSync(kept.file, { force: true })
          if (cancelled) return yield* done("upload", new URL(kept.upload).origin)
        }

        const server = yield* fileServer(args, modules, saved.url, notes)
        if (yield* terminate(`${server.url}/v1/files/uploads/${encodeURIComponent(id)}`)) {
          return yield* done("upload", server.url)
        }
        const reply = yield* ask(
          retrying,
          HttpClientRequest.del(`${server.url}/v1/files/transfers/${encodeURIComponent(id)}`).pipe(
            HttpClientRequest.bearerToken(saved.token)
          ),
          { what: `the transfer ${id}` }
        )
        if (reply.status === 204) return yield* done("transfer", server.url)
        if (reply.status === 404) {
          return yield* new ClientFailed({
            message: `no upload or transfer ${id} for ${saved.name} (${explainReply(reply)})`,
            code: 1
          })
        }
        return yield* refused(`cannot delete the transfer ${id}`, reply)
      })
  ).pipe(
    Command.withDescription(
      "cancel an unfinished upload, or delete a transfer you sent (at every file server: its recipients can no longer get it)"
    )
  )
