/**
 * `meridian files get ID`: a download through the regional file server (which brokers the
 * address from the region holding the file), streamed into `PATH.part` and verified against the
 * transfer's SHA-256 before it takes its name. A rerun continues the `.part` with
 * `Range`/`If-Range`.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Transfer } from "@meridian/core/files/Protocol"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync
} from "node:fs"
import { join, resolve } from "node:path"
import { ClientFailed, loadToken, print, usage } from "../client.js"
import {
  ask,
  decodeJson,
  executeScoped,
  explainReply,
  IDLE_TIMEOUT,
  readReply,
  reasonOf,
  refused,
  Unreachable,
  whileMoving
} from "../http.js"
import { modeFor, progress } from "../progress.js"
import * as Report from "../report.js"
import { driver } from "../retry.js"
import { formatBytes } from "../units.js"
import {
  commonOptions,
  fileServer,
  hashFile,
  limitRateOption,
  pacer,
  retryingOf,
  sizeOption,
  stateDir,
  writeAtomically
} from "./common.js"
import type { Modules } from "../modules.js"

/**
 * A received file's name made safe to create in a directory: no path separators, no `..`, no
 * control characters, not hidden, at most 255 bytes; the transfer id when nothing is left.
 *
 * @since 0.1.0
 * @category parsing
 */
export const safeFilename = (name: string, fallback: string) => {
  // eslint-disable-next-line no-control-regex
  let safe = name.replace(/[/\\\u0000-\u001f\u007f]/g, "_").replace(/\.{2,}/g, ".")
  safe = safe.replace(/^[.\s]+/, "").trim()
  while (Buffer.byteLength(safe) > 255) safe = safe.slice(0, -1)
  return safe === "" ? fallback : safe
}

const DownloadAddress = Schema.Struct({
  url: Schema.String,
  address: Schema.String,
  holder: Schema.String,
  expiresAt: Schema.Number,
  transfer: Transfer
})

const DownloadState = Schema.parseJson(Schema.Struct({ id: Schema.String, etag: Schema.String }))

/** How one download attempt ended. */
type Fetched =
  | { readonly _tag: "Done" }
  | { readonly _tag: "Restart"; readonly why: string }
  | { readonly _tag: "Readdress"; readonly why: string }
  | { readonly _tag: "Broken"; readonly why: string; readonly progressed: boolean }

/**
 * @since 0.1.0
 * @category commands
 */
export const getCommand = (modules: Modules) =>
  Command.make(
    "get",
    {
      ...commonOptions,
      id: Args.text({ name: "ID" }),
      output: Options.text("output").pipe(
        Options.withAlias("o"),
        Options.optional,
        Options.withDescription("where to save the file (default: its name, in the current directory)")
      ),
      force: Options.boolean("force").pipe(Options.withDescription("overwrite the output file if it exists")),
      limitRate: limitRateOption("receive")
    },
    (args) =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const saved = yield* loadToken
        const rate = yield* sizeOption(args.limitRate, "limit-rate", 1024, Number.MAX_SAFE_INTEGER)
        if (!/^[A-Za-z0-9_-]{1,128}$/.test(args.id)) return yield* usage(`${args.id} is not a transfer id`)
        const mode = modeFor(args.json)
        const notes = progress(mode, "", 0, 0)
        const server = yield* fileServer(args, modules, saved.url, notes)

        /** The download address from our regional server; a holder that is away is waited for. */
        const endpoint = `${server.url}/v1/files/transfers/${encodeURIComponent(args.id)}/download`
        const address = ask(
          retryingOf(args, notes),
          HttpClientRequest.get(endpoint).pipe(
            HttpClientRequest.bearerToken(saved.token),
            HttpClientRequest.acceptJson
          ),
          // The holding region away (503) is like an unreachable server: worth asking again.
          { what: `download of ${args.id}`, busy: true }
        ).pipe(
          Effect.flatMap((reply) => {
            if (reply.status === 200) return decodeJson(DownloadAddress, endpoint)(reply)
            if (reply.status === 404) {
              return Effect.fail(
                new ClientFailed({
                  message: `no transfer ${args.id} for ${saved.name} (${explainReply(reply)})`,
                  code: 1
                })
              )
            }
            return Effect.fail(refused(`download of ${args.id}`, reply))
          })
        )

        let given = yield* address
        const transfer = given.transfer
        const named = safeFilename(transfer.filename, transfer.id)
        const wanted = Option.isSome(args.output) ? resolve(args.output.value) : resolve(named)
        const path = existsSync(wanted) && statSync(wanted).isDirectory() ? join(wanted, named) : wanted
        const refuseExisting = Effect.suspend(() =>
          existsSync(path) && !args.force
            ? Effect.fail(usage(`${path} exists; pass --force to overwrite it`))
            : Effect.void
        )
        yield* refuseExisting
        const part = `${path}.part`
        const size = transfer.size
        const stateFile = join(
          stateDir("downloads"),
          `${createHash("sha256").update(part).digest("hex").slice(0, 32)}.json`
        )
        const remembered = () =>
          Option.filter(
            Schema.decodeUnknownOption(DownloadState)(existsSync(stateFile) ? readFileSync(stateFile, "utf8") : ""),
            (s) => s.id === transfer.id
          )
        const partSize = () => (existsSync(part) ? statSync(part).size : 0)
        const startedAt = partSize()
        const bar = progress(mode, `get ${named}`, size, Math.min(startedAt, size))
        yield* Effect.addFinalizer(() => Effect.sync(() => bar.end()))
        if (startedAt > 0 && startedAt <= size) bar.note(`resuming download at ${startedAt} of ${size} bytes`)
        const pace = yield* pacer(rate)

        /** One GET from the part's end, streamed onto it. */
        const attempt = (url: string) =>
          Effect.suspend(() => {
            let have = partSize()
            if (have > size) {
              truncateSync(part, 0)
              have = 0
            }
            const etag = Option.map(remembered(), (s) => s.etag)
            const headers: Record<string, string> =
              have > 0
                ? {
                    range: `bytes=${have}-`,
                    ...Option.match(etag, { onNone: () => ({}), onSome: (e) => ({ "if-range": e }) })
                  }
                : {}
            let from = 0
            let done = 0
            const broken = (why: string): Fetched => ({ _tag: "Broken", why, progressed: done > from })
            return whileMoving(
              IDLE_TIMEOUT,
              () => new Unreachable({ url, reason: `nothing received for ${Duration.format(IDLE_TIMEOUT)}` }),
              (touch) =>
                Effect.gen(function* () {
                  const response = yield* executeScoped(
                    HttpClientRequest.get(url).pipe(HttpClientRequest.setHeaders(headers))
                  )
                  const status = response.status
                  if (status === 416 && have === size) return { _tag: "Done" } satisfies Fetched
                  if (status === 403 || status === 404) {
                    return { _tag: "Readdress", why: explainReply(yield* readReply(response)) } satisfies Fetched
                  }
                  if (status !== 200 && status !== 206) {
                    const why = explainReply(yield* readReply(response))
                    return status === 416 ? ({ _tag: "Restart", why } satisfies Fetched) : broken(why)
                  }
                  const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers["content-range"] ?? "")
                  if (status === 206 && (range === null || Number(range[1]) !== have || Number(range[3]) !== size)) {
                    return { _tag: "Restart", why: "the server sent another range" } satisfies Fetched
                  }
                  from = status === 206 ? have : 0
                  done = from
                  const newTag = response.headers["etag"]
                  if (newTag !== undefined) {
                    writeAtomically(stateFile, JSON.stringify({ id: transfer.id, etag: newTag }) + "\n")
                  }
                  const written = yield* response.stream.pipe(
                    Stream.mapError((e) => reasonOf(e)),
                    Stream.tap((chunk) => {
                      done += chunk.length
                      bar.live(done)
                      bar.step(done)
                      return touch.pipe(Effect.zipRight(pace(chunk.length)), Effect.zipRight(touch))
                    }),
                    Stream.run(
                      Sink.mapError(
                        fs.sink(part, { flag: from === 0 ? "w" : "a" }),
                        (e) => `cannot write ${part}: ${e.message}`
                      )
                    ),
                    Effect.either
                  )
                  if (written._tag === "Left") return broken(written.left)
                  return partSize() === size
                    ? ({ _tag: "Done" } satisfies Fetched)
                    : broken("the connection closed early")
                })
            ).pipe(
              Effect.scoped,
              Effect.catchAll((e) => Effect.succeed(broken(e._tag === "Unreachable" ? e.reason : e.message)))
            )
          })

        const retry = yield* driver({ retries: args.retries, note: bar.say })
        let restarted = false
        for (;;) {
          const result: Fetched = partSize() === size && size > 0 ? { _tag: "Done" } : yield* attempt(given.url)
          if (result._tag === "Done") {
            // The whole file's SHA-256 against the transfer's, before it takes the final name.
            bar.end()
            const actual = yield* hashFile(part).pipe(
              Effect.map((hash) => hash.digest("hex")),
              Effect.mapError((e) => new ClientFailed({ message: `cannot read ${part}: ${e.reason}`, code: 1 }))
            )
            if (actual === transfer.sha256) break
            rmSync(part, { force: true })
            rmSync(stateFile, { force: true })
            if (restarted || startedAt === 0) {
              return yield* new ClientFailed({
                message: `the download's SHA-256 is ${actual}, not ${transfer.sha256}; the partial file was removed`,
                code: 1
              })
            }
            restarted = true
            bar.note(`the resumed file does not match its SHA-256; downloading it again from the start`)
            continue
          }
          if (result._tag === "Restart") {
            bar.note(`${result.why}; starting over`)
            rmSync(part, { force: true })
            rmSync(stateFile, { force: true })
            if (restarted)
              return yield* new ClientFailed({ message: `cannot download ${args.id}: ${result.why}`, code: 1 })
            restarted = true
            continue
          }
          if (result._tag === "Broken" && result.progressed) yield* retry.reset
          yield* Effect.mapError(
            retry.next({ reason: result.why, again: "retrying" }),
            () =>
              new ClientFailed({
                message: `cannot download ${args.id}: ${result.why} (run again to resume)`,
                code: result._tag === "Readdress" ? 1 : 3
              })
          )
          // A new address: the old one may have expired, or the holder may serve elsewhere now.
          given = yield* address
        }

        yield* refuseExisting
        yield* Effect.sync(() => {
          const fd = openSync(part, "r+")
          try {
            fsyncSync(fd)
          } finally {
            closeSync(fd)
          }
          renameSync(part, path)
          rmSync(stateFile, { force: true })
        })
        const result = {
          id: transfer.id,
          path,
          filename: transfer.filename,
          size,
          sha256: transfer.sha256,
          sender: transfer.sender,
          holder: transfer.holder,
          resumedAt: startedAt <= size ? startedAt : 0
        }
        return yield* print(
          args.json,
          result,
          () => `saved ${path} (${formatBytes(size)} from ${transfer.sender}, SHA-256 verified)`
        )
      }).pipe(Effect.scoped, Report.resumable(args.json))
  ).pipe(
    Command.withDescription(
      "download a file sent to you (verified against its SHA-256; resumable: run the same command again)"
    )
  )
