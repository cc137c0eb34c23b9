/**
 * `meridian files inbox`: the files waiting for the user, and those the user sent.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import { loadToken, print } from "../client.js"
import { ask, decodeJson, refused } from "../http.js"
import { progress } from "../progress.js"
import { formatBytes, formatRemaining } from "../units.js"
import { commonOptions, fileServer, Inbox, retryingOf } from "./common.js"
import type { Modules } from "../modules.js"

/** Columns padded to their widest cell. */
const table = (rows: ReadonlyArray<ReadonlyArray<string>>) => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "))
    .join("\n")
}

/**
 * @since 0.1.0
 * @category commands
 */
export const inboxCommand = (modules: Modules) =>
  Command.make("inbox", commonOptions, (args) =>
    Effect.gen(function* () {
      const saved = yield* loadToken
      const notes = progress(args.json ? "none" : "lines", "", 0, 0)
      const server = yield* fileServer(args, modules, saved.url, notes)
      const reply = yield* ask(
        retryingOf(args, notes),
        HttpClientRequest.get(`${server.url}/v1/files/inbox`).pipe(HttpClientRequest.bearerToken(saved.token)),
        { what: `the inbox at ${server.url}` }
      )
      if (reply.status !== 200) return yield* refused(`the inbox at ${server.url}`, reply)
      const inbox = yield* decodeJson(Inbox, `the inbox at ${server.url}`)(reply)
      const now = Date.now()
      return yield* print(args.json, inbox, () =>
        inbox.transfers.length === 0
          ? `no transfers for ${inbox.user}`
          : table([
              ["ID", "FROM/TO", "FILENAME", "SIZE", "EXPIRES IN"],
              ...inbox.transfers.map((t) => [
                t.id,
                t.direction === "received" ? `from ${t.sender}` : `to ${t.recipients.join(",")}`,
                t.filename,
                formatBytes(t.size),
                formatRemaining(t.expiresAt - now)
              ])
            ])
      )
    })
  ).pipe(Command.withDescription("list the files waiting for you, and those you sent"))
