/**
 * `meridian files send FILE --to USER…`: a tus upload to the regional file server, streamed from
 * the file a slice at a time (each PATCH checked with its `Upload-Checksum`), resumable: the
 * upload's address is kept in `$XDG_CONFIG_HOME/meridian/uploads/` and a rerun continues from the
 * server's `Upload-Offset`.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { existsSync, readFileSync, rmSync, statSync } from "node:fs"
import { basename, join, resolve } from "node:path"
import { ClientFailed, loadToken, print, usage } from "../client.js"
import {
  ask,
  decodeJson,
  execute,
  explainReply,
  IDLE_TIMEOUT,
  readReply,
  refused,
  Unreachable,
  whileMoving
} from "../http.js"
import { modeFor, progress } from "../progress.js"
import * as Report from "../report.js"
import { driver } from "../retry.js"
import { formatBytes, parseDuration } from "../units.js"
import {
  commonOptions,
  fileServer,
  hashFile,
  Inbox,
  limitRateOption,
  pacer,
  readRange,
  retryingOf,
  sizeOption,
  SLICE,
  stateDir,
  writeAtomically
} from "./common.js"
import type { Modules } from "../modules.js"

const UploadState = Schema.parseJson(
  Schema.Struct({
    upload: Schema.String,
    file: Schema.String,
    createdAt: Schema.Number
  })
)

/** A chunk that arrives damaged this many times in a row ends the send. */
const MAX_DAMAGED = 3

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")

/** Where an upload stands on the server. */
type UploadAt = { readonly _tag: "At"; readonly offset: number } | { readonly _tag: "Gone"; readonly status: number }

/** How one chunk went: confirmed up to an offset, or what to do instead. */
type ChunkResult =
  | { readonly _tag: "Advanced"; readonly offset: number; readonly transfer: string | undefined }
  | { readonly _tag: "Checksum" }
  | { readonly _tag: "Resync"; readonly why: string }
  | { readonly _tag: "Gone"; readonly why: string }

/**
 * @since 0.1.0
 * @category commands
 */
export const sendCommand = (modules: Modules) =>
  Command.make(
    "send",
    {
      ...commonOptions,
      file: Args.file({ name: "FILE", exists: "yes" }).pipe(Args.withDescription("the file to send")),
      to: Options.text("to").pipe(
        Options.atLeast(1),
        Options.withDescription("a recipient's user name (repeat --to, or separate names with commas)")
      ),
      expires: Options.text("expires").pipe(
        Options.optional,
        Options.withDescription("how long the file waits for its recipients: 90s, 30m, 12h, 7d (default: the server's)")
      ),
      chunkSize: Options.text("chunk-size").pipe(
        Options.withDefault("8M"),
        Options.withDescription("bytes per PATCH request, each checked with its SHA-256")
      ),
      limitRate: limitRateOption("send")
    },
    (args) => {
      /** The unfinished upload's id, for the word said when Ctrl-C interrupts the send. */
      let pending: string | undefined
      return Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const saved = yield* loadToken
        const recipients = [...new Set(args.to.flatMap((to) => to.split(",")).map((to) => to.trim()))].filter(
          (to) => to !== ""
        )
        if (recipients.length === 0) return yield* usage("--to: name at least one recipient")
        let ttl: number | undefined
        if (Option.isSome(args.expires)) {
          const parsed = parseDuration(args.expires.value)
          if (Option.isNone(parsed)) {
            return yield* usage(`--expires ${args.expires.value}: use 90s, 30m, 12h, 7d or seconds`)
          }
          ttl = parsed.value
        }
        const chunkSize = (yield* sizeOption(Option.some(args.chunkSize), "chunk-size", 1024, 1024 ** 3))!
        const rate = yield* sizeOption(args.limitRate, "limit-rate", 1024, Number.MAX_SAFE_INTEGER)

        const path = resolve(args.file)
        const before = statSync(path)
        if (!before.isFile()) return yield* usage(`${args.file} is not a regular file`)
        const size = before.size
        const filename = basename(path)
        const mode = modeFor(args.json)

        const server = yield* fileServer(args, modules, saved.url, progress(mode, "", 0, 0))

        // The whole file's SHA-256 first: the server checks it on arrival, and it names the upload.
        const hashing = progress(mode === "tty" ? "tty" : "none", `hashing ${filename}`, size, 0)
        let hashed = 0
        const sha256 = yield* hashFile(path, {}, (n) =>
          Effect.sync(() => {
            hashed += n
            hashing.live(hashed)
          })
        ).pipe(
          Effect.map((hash) => hash.digest("hex")),
          Effect.mapError((e) => new ClientFailed({ message: `cannot read ${path}: ${e.reason}`, code: 2 })),
          Effect.ensuring(Effect.sync(() => hashing.end()))
        )
        const after = statSync(path)
        if (after.size !== size || after.mtimeMs !== before.mtimeMs) {
          return yield* new ClientFailed({ message: `${path} changed while it was read; try again`, code: 1 })
        }

        const key = createHash("sha256")
          .update(JSON.stringify([path, size, before.mtimeMs, sha256, [...recipients].sort(), saved.name, ttl ?? null]))
          .digest("hex")
          .slice(0, 32)
        const stateFile = join(stateDir("uploads"), `${key}.json`)
        const forget = Effect.sync(() => rmSync(stateFile, { force: true }))
        const auth = { authorization: `Bearer ${saved.token}`, "tus-resumable": "1.0.0" }
        const bar = progress(mode, `send ${filename}`, size, 0)
        const retrying = retryingOf(args, bar)
        // Interrupted (Ctrl-C): end the bar's line; the state file stays for the rerun.
        yield* Effect.addFinalizer(() => Effect.sync(() => bar.end()))

        /** The upload's offset on the server; none when it is gone (expired, or finished). */
        const offsetOf = (upload: string) =>
          ask(retrying, HttpClientRequest.head(upload).pipe(HttpClientRequest.setHeaders(auth)), {
            what: `HEAD ${upload}`,
            unavailable: (status) => status >= 500
          }).pipe(
            Effect.flatMap((reply): Effect.Effect<UploadAt, ClientFailed> => {
              const offset = Number(reply.headers["upload-offset"])
              const length = Number(reply.headers["upload-length"])
              if (reply.status === 200 && Number.isSafeInteger(offset) && length === size) {
                return Effect.succeed({ _tag: "At", offset })
              }
              if (reply.status === 404 || reply.status === 410 || reply.status === 200) {
                return Effect.succeed({ _tag: "Gone", status: reply.status })
              }
              return Effect.fail(refused(`HEAD ${upload}`, reply))
            })
          )

        /** A finished upload whose last answer was lost: its transfer (same id) is in the sender's list. */
        const finishedAs = (upload: string) =>
          Effect.gen(function* () {
            const id = upload.slice(upload.lastIndexOf("/") + 1)
            const reply = yield* ask(
              retrying,
              HttpClientRequest.get(`${server.url}/v1/files/inbox`).pipe(HttpClientRequest.setHeaders(auth)),
              { what: "the inbox" }
            )
            if (reply.status !== 200) return undefined
            const inbox = yield* decodeJson(Inbox, "the inbox")(reply)
            return inbox.transfers.find((t) => t.id === id && t.direction === "sent" && t.sha256 === sha256)
          })

        const create = Effect.gen(function* () {
          const metadata = [
            `filename ${b64(filename)}`,
            `recipients ${b64(recipients.join(","))}`,
            `sha256 ${b64(sha256)}`,
            ...(ttl === undefined ? [] : [`expires ${b64(String(ttl))}`])
          ].join(",")
          const reply = yield* ask(
            retrying,
            HttpClientRequest.post(`${server.url}/v1/files/uploads`).pipe(
              HttpClientRequest.setHeaders({ ...auth, "upload-length": String(size), "upload-metadata": metadata })
            ),
            { what: `upload to ${server.url}`, unavailable: (status) => status >= 500 && status !== 507 }
          )
          const location = reply.headers["location"]
          if (reply.status !== 201 || location === undefined) return yield* refused(`upload to ${server.url}`, reply)
          const upload = new URL(location, `${server.url}/`).toString()
          yield* Effect.sync(() =>
            writeAtomically(stateFile, JSON.stringify({ upload, file: path, createdAt: Date.now() }) + "\n")
          )
          return upload
        })

        // A rerun continues the upload the last run left, if the server still has it.
        let upload: string | undefined
        let offset = 0
        let transfer: string | undefined
        const previous = Schema.decodeUnknownOption(UploadState)(
          existsSync(stateFile) ? readFileSync(stateFile, "utf8") : ""
        )
        if (Option.isSome(previous)) {
          const at = yield* offsetOf(previous.value.upload)
          if (at._tag === "At") {
            upload = previous.value.upload
            offset = at.offset
            bar.note(`resuming upload at ${offset} of ${size} bytes (${upload})`)
          } else if (at.status === 410) {
            transfer = (yield* finishedAs(previous.value.upload))?.id
            if (transfer === undefined) yield* forget
          } else yield* forget
        }
        if (upload === undefined && transfer === undefined) {
          upload = yield* create
          // An empty file is complete when created; its transfer has the upload's id.
          if (size === 0) transfer = upload.slice(upload.lastIndexOf("/") + 1)
        }

        const pace = yield* pacer(rate)
        // At the lowest rate a slice is a second's worth: the idle timeout never mistakes pacing for a stall.
        const slice = Math.min(SLICE, rate ?? SLICE)
        const unreadable = (reason: string) =>
          new ClientFailed({ message: `cannot read ${path}: ${reason}; send it again`, code: 1 })

        /** One PATCH of `length` bytes from `from`, streamed from the file (read twice: hashed, then sent). */
        const patch = (
          target: string,
          from: number,
          length: number
        ): Effect.Effect<ChunkResult, ClientFailed, HttpClient.HttpClient | FileSystem.FileSystem> =>
          Effect.gen(function* () {
            const checksum = (yield* Effect.mapError(hashFile(path, { offset: from, length }), (e) =>
              unreadable(e.reason)
            )).digest("base64")
            const reply = yield* whileMoving(
              IDLE_TIMEOUT,
              () => new Unreachable({ url: target, reason: `no answer for ${Duration.format(IDLE_TIMEOUT)}` }),
              (touch) => {
                let sent = 0
                const body = readRange(path, { offset: from, length, slice }).pipe(
                  Stream.mapError((e) => unreadable(e.reason)),
                  Stream.provideService(FileSystem.FileSystem, fs),
                  Stream.tap((chunk) => {
                    sent += chunk.length
                    bar.live(from + sent)
                    return touch.pipe(Effect.zipRight(pace(chunk.length)), Effect.zipRight(touch))
                  })
                )
                return execute(
                  HttpClientRequest.patch(target).pipe(
                    HttpClientRequest.bodyStream(body, {
                      contentType: "application/offset+octet-stream",
                      contentLength: length
                    }),
                    HttpClientRequest.setHeaders({
                      ...auth,
                      "content-length": String(length),
                      "upload-offset": String(from),
                      "upload-checksum": `sha256 ${checksum}`
                    })
                  )
                ).pipe(Effect.flatMap(readReply))
              }
            )
            const confirmed = Number(reply.headers["upload-offset"])
            switch (reply.status) {
              case 204:
                return Number.isSafeInteger(confirmed)
                  ? ({
                      _tag: "Advanced",
                      offset: confirmed,
                      transfer: reply.headers["meridian-transfer"]
                    } satisfies ChunkResult)
                  : yield* refused(`PATCH ${target}`, reply)
              case 460:
                // With an offset: this chunk arrived damaged. Without: the whole file's hash differs.
                if (Number.isSafeInteger(confirmed)) return { _tag: "Checksum" } satisfies ChunkResult
                yield* forget
                return yield* refused(`upload of ${filename}`, reply)
              case 409:
                return { _tag: "Resync", why: "the server is at another offset" } satisfies ChunkResult
              case 400:
                return { _tag: "Resync", why: explainReply(reply) } satisfies ChunkResult
              case 404:
              case 410:
                return { _tag: "Gone", why: explainReply(reply) } satisfies ChunkResult
              default:
                if (reply.status >= 500 && reply.status !== 507) {
                  return { _tag: "Resync", why: explainReply(reply) } satisfies ChunkResult
                }
                return yield* refused(`upload of ${filename}`, reply)
            }
          }).pipe(Effect.catchTag("Unreachable", (e) => Effect.succeed<ChunkResult>({ _tag: "Resync", why: e.reason })))

        if (upload !== undefined && transfer === undefined) {
          const target = upload
          pending = target.slice(target.lastIndexOf("/") + 1)
          const resync = yield* driver(retrying)
          let damaged = 0
          while (transfer === undefined) {
            if (offset >= size) {
              // Every byte is there, yet no transfer came back: the last answer was lost, or the
              // server stopped completing it when the last run went away. An empty PATCH at the
              // end completes it; else the transfer (same id) is already in the sender's list.
              const closing = yield* patch(target, size, 0)
              transfer =
                closing._tag === "Advanced" && closing.transfer !== undefined
                  ? closing.transfer
                  : (yield* finishedAs(target))?.id
              if (transfer === undefined) {
                return yield* new ClientFailed({ message: `the server did not confirm ${target}`, code: 1 })
              }
              break
            }
            const answer = yield* patch(target, offset, Math.min(chunkSize, size - offset))
            const result: ChunkResult =
              answer._tag === "Advanced" && answer.offset <= offset && answer.transfer === undefined
                ? { _tag: "Resync", why: "the server took none of the chunk" }
                : answer
            if (result._tag === "Advanced") {
              yield* resync.reset
              damaged = 0
              offset = result.offset
              transfer = result.transfer
              bar.step(offset)
              continue
            }
            if (result._tag === "Checksum") {
              if (++damaged > MAX_DAMAGED) {
                return yield* new ClientFailed({
                  message: `a chunk at offset ${offset} arrived damaged ${damaged} times; giving up (run again to resume)`,
                  code: 1
                })
              }
              bar.note(`the chunk at offset ${offset} arrived damaged; sending it again`)
              continue
            }
            if (result._tag === "Resync") {
              const why = result.why
              yield* Effect.mapError(
                resync.next({ reason: why, again: "resuming" }),
                () =>
                  new ClientFailed({
                    message: `cannot upload to ${server.url}: ${why} (run again to resume)`,
                    code: 3
                  })
              )
              const at = yield* offsetOf(target)
              if (at._tag === "At") {
                offset = at.offset
                continue
              }
            }
            // Gone: finished already (its last answer lost), else expired or removed.
            transfer = (yield* finishedAs(target))?.id
            if (transfer === undefined) {
              yield* forget
              return yield* new ClientFailed({
                message: "the upload is gone from the server (expired?); send the file again",
                code: 1
              })
            }
          }
        }
        bar.end()
        yield* forget
        const result = {
          transfer: transfer!,
          filename,
          size,
          sha256,
          recipients,
          server: { url: server.url, ...(server.site === undefined ? {} : { site: server.site }) }
        }
        if (!args.json) {
          process.stderr.write(
            `sent ${filename} (${formatBytes(size)}) to ${recipients.join(", ")} via ${server.site ?? server.url}\n`
          )
        }
        return yield* print(args.json, result, () => result.transfer)
      }).pipe(
        Effect.scoped,
        Report.resumable(args.json, () =>
          pending === undefined ? undefined : `(or cancel it: meridian files rm ${pending})`
        )
      )
    }
  ).pipe(
    Command.withDescription(
      "send a file to users (uploaded to your regional file server, resumable: run the same command again)"
    )
  )
