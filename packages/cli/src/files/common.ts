/**
 * What the `files` commands share: their options, the regional file server (asked of the
 * directory), the state kept between runs, and reading, hashing and pacing the bytes.
 *
 * @since 0.1.0
 */
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Transfer } from "@meridian/core/files/Protocol"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { mkdirSync, renameSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { baseUrl, ClientFailed, targetOptions, tokenPath, usage } from "../client.js"
import { ask, decodeJson, refused } from "../http.js"
import type { Progress } from "../progress.js"
import type { Retrying } from "../retry.js"
import { formatBytes, parseSize } from "../units.js"
import * as Flags from "../flags.js"
import type { Modules } from "../modules.js"

// ---------------------------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------------------------

/**
 * The options of every `files` command.
 *
 * @since 0.1.0
 * @category options
 */
export interface Common {
  readonly topology: Option.Option<string>
  readonly site: Option.Option<string>
  readonly url: Option.Option<string>
  readonly json: boolean
  readonly direct: boolean
  readonly retries: number
}

/**
 * @since 0.1.0
 * @category options
 */
export const commonOptions = {
  ...targetOptions,
  direct: Options.boolean("direct").pipe(
    Options.withDescription("the site named by --url/--site is the file server: do not ask it for the regional one")
  ),
  retries: Flags.integer("retries").pipe(
    Options.withDefault(6),
    Options.withDescription("how often a broken connection or an unavailable server is retried (with back-off)")
  )
}

/**
 * `--limit-rate`: at most this many bytes per second.
 *
 * @since 0.1.0
 * @category options
 */
export const limitRateOption = (direction: "send" | "receive") =>
  Options.text("limit-rate").pipe(
    Options.optional,
    Options.withDescription(`${direction} at most this many bytes per second (e.g. 1M)`)
  )

/**
 * A size option read with the one size grammar, between `min` and `max`.
 *
 * @since 0.1.0
 * @category options
 */
export const sizeOption = (value: Option.Option<string>, name: string, min: number, max: number) =>
  Option.match(value, {
    onNone: () => Effect.succeed(undefined),
    onSome: (text) =>
      Option.match(
        Option.filter(parseSize(text), (n) => n >= min && n <= max),
        {
          onNone: () =>
            Effect.fail(usage(`--${name} ${text}: a size from ${formatBytes(min)} to ${formatBytes(max)} (e.g. 8M)`)),
          onSome: (n) => Effect.succeed<number | undefined>(n)
        }
      )
  })

/**
 * How a `files` command retries, saying so through `notes`.
 *
 * @since 0.1.0
 * @category options
 */
export const retryingOf = (common: Pick<Common, "retries">, notes: Progress): Retrying => ({
  retries: common.retries,
  note: notes.say
})

// ---------------------------------------------------------------------------------------------
// the regional file server
// ---------------------------------------------------------------------------------------------

const Located = Schema.Struct({
  ip: Schema.String,
  region: Schema.String,
  rule: Schema.String,
  server: Schema.Struct({ site: Schema.String, region: Schema.String, name: Schema.String, url: Schema.String })
})

/**
 * A user's transfers, sent and received, as the file server lists them.
 *
 * @since 0.1.0
 * @category models
 */
export const Inbox = Schema.Struct({
  user: Schema.String,
  transfers: Schema.Array(Schema.extend(Transfer, Schema.Struct({ direction: Schema.Literal("sent", "received") })))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Server {
  readonly url: string
  /** The site and region, when the directory named them. */
  readonly site?: string
  readonly region?: string
}

/**
 * The file server to use: the directory's answer for this client, asked at `--url`/`--site`
 * (else where the user logged in), or that site itself with `--direct`.
 *
 * @since 0.1.0
 * @category servers
 */
export const fileServer = (common: Common, modules: Modules, loggedInAt: string, notes: Progress) =>
  Effect.gen(function* () {
    const named = Option.isSome(common.url) || Option.isSome(common.site) || Option.isSome(common.topology)
    const directory = named ? yield* baseUrl(common, modules) : loggedInAt.replace(/\/+$/, "")
    if (common.direct) return { url: directory } satisfies Server
    const reply = yield* ask(retryingOf(common, notes), HttpClientRequest.get(`${directory}/v1/locate`), {
      what: `the directory at ${directory}`
    })
    if (reply.status === 404) {
      return yield* new ClientFailed({
        message: `${directory} runs no file service (GET /v1/locate: 404); name a site that does with --site or --url`,
        code: 1
      })
    }
    if (reply.status !== 200) return yield* refused(`the directory at ${directory}`, reply)
    const located = yield* decodeJson(Located, `the directory at ${directory}`)(reply)
    return {
      url: located.server.url.replace(/\/+$/, ""),
      site: located.server.site,
      region: located.server.region
    } satisfies Server
  })

// ---------------------------------------------------------------------------------------------
// state between runs
// ---------------------------------------------------------------------------------------------

/**
 * Where a command keeps what a rerun continues from (`uploads`, `downloads`).
 *
 * @since 0.1.0
 * @category state
 */
export const stateDir = (kind: "uploads" | "downloads") => join(dirname(tokenPath()), kind)

/**
 * Writes a small file whole or not at all (temp, rename), readable by the user only.
 *
 * @since 0.1.0
 * @category state
 */
export const writeAtomically = (file: string, text: string) => {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const temp = `${file}.${process.pid}.tmp`
  writeFileSync(temp, text, { mode: 0o600 })
  renameSync(temp, file)
}

// ---------------------------------------------------------------------------------------------
// bytes
// ---------------------------------------------------------------------------------------------

/**
 * Bytes are read from disk, and sent, in slices this large at most: for progress and the rate
 * limit.
 *
 * @since 0.1.0
 * @category limits
 */
export const SLICE = 64 * 1024

/**
 * A file could not be read, or held fewer bytes than expected.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReadFailed extends Data.TaggedError("ReadFailed")<{ readonly reason: string }> {}

/**
 * A file's bytes from `offset`, exactly `length` of them (all to the end when not given), in
 * slices of at most `slice` bytes; a file shorter than that fails.
 *
 * @since 0.1.0
 * @category bytes
 */
export const readRange = (
  path: string,
  range: { readonly offset?: number; readonly length?: number; readonly slice?: number }
): Stream.Stream<Uint8Array, ReadFailed, FileSystem.FileSystem> =>
  range.length === 0
    ? Stream.empty
    : Stream.unwrap(
        Effect.map(FileSystem.FileSystem, (fs) => {
          let read = 0
          return fs
            .stream(path, {
              offset: range.offset ?? 0,
              chunkSize: range.slice ?? SLICE,
              ...(range.length === undefined ? {} : { bytesToRead: range.length })
            })
            .pipe(
              Stream.mapError((e) => new ReadFailed({ reason: e.message })),
              Stream.tap((chunk) =>
                Effect.sync(() => {
                  read += chunk.length
                })
              ),
              Stream.concat(
                Stream.suspend(() =>
                  range.length !== undefined && read < range.length
                    ? Stream.fail(new ReadFailed({ reason: "the file became shorter" }))
                    : Stream.empty
                )
              )
            )
        })
      )

/**
 * The SHA-256 of a file (or of a range of it), streamed; `onBytes` hears of every slice.
 *
 * @since 0.1.0
 * @category bytes
 */
export const hashFile = (
  path: string,
  range: { readonly offset?: number; readonly length?: number } = {},
  onBytes: (bytes: number) => Effect.Effect<void> = () => Effect.void
) =>
  Effect.suspend(() => {
    const hash = createHash("sha256")
    return readRange(path, range).pipe(
      Stream.runForEach((chunk) => {
        hash.update(chunk)
        return onBytes(chunk.length)
      }),
      Effect.as(hash)
    )
  })

/**
 * Paces a transfer to at most `bytesPerSecond` over its whole run (none: as fast as it goes).
 *
 * @since 0.1.0
 * @category bytes
 */
export const pacer = (bytesPerSecond: number | undefined) =>
  Effect.map(Clock.currentTimeMillis, (start) => {
    let moved = 0
    return (bytes: number): Effect.Effect<void> =>
      bytesPerSecond === undefined
        ? Effect.void
        : Effect.flatMap(Clock.currentTimeMillis, (now) => {
            moved += bytes
            const ahead = (moved / bytesPerSecond) * 1000 - (now - start)
            return ahead > 0 ? Effect.sleep(ahead) : Effect.void
          })
  })
