/**
 * Offline file transfers from the command line: `files send FILE --to USER…`, `files inbox`,
 * `files get ID`. Each command asks the directory (`GET /v1/locate` on the site it is pointed at)
 * for the client's regional file server and talks to that one; `--direct` skips the question.
 *
 * Files can be larger than memory, so bytes are streamed with `node:http` and hashed with
 * `node:crypto`: an upload reads one chunk at a time (tus PATCH with `Upload-Checksum`), a
 * download streams into `PATH.part`. Both survive interruptions: the upload's address is kept in
 * `$XDG_CONFIG_HOME/meridian/uploads/` and a rerun continues from the server's `Upload-Offset`; a
 * rerun of a download continues its `.part` with `Range`/`If-Range`.
 *
 * Exit codes are the client commands' (see `client.ts`): 0 done, 1 refused, 2 bad usage, 3 the
 * server could not be reached (after the retries), 4 not logged in.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Transfer } from "@meridian/core/files/Protocol"
import type * as Module from "@meridian/core/site/Module"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { createHash, type Hash } from "node:crypto"
import { once } from "node:events"
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync
} from "node:fs"
import { open as openFile } from "node:fs/promises"
import { type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import { basename, dirname, join, resolve } from "node:path"
import { pipeline } from "node:stream/promises"
import { baseUrl, ClientFailed, loadToken, print, targetOptions, tokenPath } from "./client.js"

// ---------------------------------------------------------------------------------------------
// HTTP with streamed bodies
// ---------------------------------------------------------------------------------------------

/** The server could not be reached, or the connection broke: retried with back-off. */
class Unreachable extends Data.TaggedError("Unreachable")<{ readonly url: string; readonly reason: string }> {}

interface Reply {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/** A socket silent this long is given up (and the request retried). */
const IDLE_MILLIS = 60_000
/** Uploads are written in slices this large, for progress and the rate limit. */
const SLICE = 64 * 1024

type BodyWriter = (request: ClientRequest) => Promise<void>

const open = (method: string, url: string, headers: Record<string, string>, signal: AbortSignal, body?: BodyWriter) =>
  new Promise<IncomingMessage>((resolve, reject) => {
    const target = new URL(url)
    const request = (target.protocol === "https:" ? httpsRequest : httpRequest)(target, {
      method,
      headers,
      signal,
      timeout: IDLE_MILLIS
    })
    request.on("response", resolve)
    request.on("error", reject)
    request.on("timeout", () => request.destroy(new Error(`no answer for ${IDLE_MILLIS / 1000} s`)))
    if (body === undefined) request.end()
    else
      body(request).then(
        () => request.end(),
        (error: unknown) => request.destroy(error instanceof Error ? error : new Error(String(error)))
      )
  })

/** A small answer's body (JSON, error messages); bounded. */
const readText = async (response: IncomingMessage) => {
  const chunks: Array<Buffer> = []
  let size = 0
  for await (const chunk of response) {
    size += (chunk as Buffer).length
    if (size > 4 * 1024 * 1024) {
      response.destroy()
      throw new Error("the answer is too large")
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString("utf8")
}

const reasonOf = (error: unknown) => {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : undefined
  const message = error instanceof Error ? error.message : String(error)
  return code === undefined || message.includes(code) ? message : `${code}: ${message}`
}

/** One request whose answer is small: status, headers and body. */
const exchange = (method: string, url: string, headers: Record<string, string>, body?: BodyWriter) =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await open(method, url, headers, signal, body)
      return { status: response.statusCode ?? 0, headers: response.headers, body: await readText(response) }
    },
    catch: (error) => new Unreachable({ url, reason: reasonOf(error) })
  })

const headerOf = (headers: IncomingHttpHeaders, name: string) => {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** The server's `{ error, message }`, else the status line. */
export const explainReply = (reply: Reply) => {
  try {
    const body = JSON.parse(reply.body) as { error?: unknown; message?: unknown; _tag?: unknown }
    const tag = typeof body.error === "string" ? body.error : typeof body._tag === "string" ? body._tag : undefined
    if (typeof body.message === "string") return `${reply.status} ${tag ?? "error"}: ${body.message}`
  } catch {
    // not JSON: the status says it all
  }
  return `HTTP ${reply.status}${reply.body.trim() === "" ? "" : `: ${reply.body.trim().slice(0, 200)}`}`
}

/** A refusal the user can act on; 401 means the saved token no longer works. */
export const refused = (what: string, reply: Reply) =>
  new ClientFailed({
    message:
      reply.status === 401
        ? `${what}: the server refused the saved token (${explainReply(reply)}); log in again`
        : `${what}: ${explainReply(reply)}`,
    code: reply.status === 401 ? 4 : 1
  })

export const decodeJson =
  <A, I>(schema: Schema.Schema<A, I>, what: string) =>
  (reply: Reply) =>
    Schema.decodeUnknown(Schema.parseJson(schema))(reply.body).pipe(
      Effect.mapError(
        () => new ClientFailed({ message: `${what}: unexpected answer ${reply.body.slice(0, 200)}`, code: 1 })
      )
    )

// ---------------------------------------------------------------------------------------------
// retries, rate limits, progress
// ---------------------------------------------------------------------------------------------

/** Back-off before retry `attempt` (1, 2, …): 1 s, 2 s, 4 s … at most 30 s, with jitter. */
export const backoff = (attempt: number) => Math.min(30_000, 1000 * 2 ** (attempt - 1)) * (0.75 + Math.random() / 2)

const sleep = (millis: number) => new Promise((r) => setTimeout(r, millis))

/** Paces a transfer to at most `bytesPerSecond` (none: as fast as it goes). */
const pacer = (bytesPerSecond: number | undefined) => {
  const start = Date.now()
  let moved = 0
  return async (bytes: number) => {
    if (bytesPerSecond === undefined) return
    moved += bytes
    const ahead = (moved / bytesPerSecond) * 1000 - (Date.now() - start)
    if (ahead > 0) await sleep(ahead)
  }
}

type ProgressMode = "tty" | "lines" | "none"

const units = ["B", "KiB", "MiB", "GiB", "TiB"]

/** A size for people: `6.0 MiB`. */
const formatBytes = (bytes: number) => {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`
}

interface Progress {
  /** Bytes moved so far (redraws the bar on a terminal). */
  readonly live: (done: number) => void
  /** A point worth a line when stderr is not a terminal: a confirmed chunk, a second gone by. */
  readonly step: (done: number) => void
  /** A line of its own (resuming, retrying). */
  readonly note: (line: string) => void
  readonly end: () => void
}

/**
 * Progress on stderr: a bar redrawn in place on a terminal (bytes, %, rate), plain lines at most
 * once a second otherwise (logs, CI), nothing with `--json`.
 */
const progress = (mode: ProgressMode, label: string, total: number, from: number): Progress => {
  const start = Date.now()
  let drawn = 0
  let lined = 0
  let open = false
  // The rate over the last few seconds: a stall shows at once, not averaged away.
  const samples: Array<readonly [number, number]> = [[start, from]]
  const line = (done: number) => {
    const now = Date.now()
    if (now - samples[samples.length - 1]![0] >= 250) samples.push([now, done])
    while (samples.length > 2 && now - samples[0]![0] > 5000) samples.shift()
    const [since, base] = samples[0]!
    const rate = ((done - base) * 1000) / Math.max(now - since, 1)
    const percent = total === 0 ? 100 : Math.floor((done / total) * 100)
    return `${label}  ${formatBytes(done)} / ${formatBytes(total)}  ${percent}%  ${formatBytes(Math.max(0, rate))}/s`
  }
  const draw = (done: number) => {
    const width = Math.max(20, (process.stderr.columns || 80) - 1)
    const text = line(done)
    const cells = 20
    const filled = Math.round((cells * done) / Math.max(total, 1))
    const bar = text.length + cells + 3 <= width ? ` [${"#".repeat(filled).padEnd(cells, " ")}]` : ""
    process.stderr.write(`\r${(text + bar).slice(0, width)}\x1b[K`)
    open = true
  }
  return {
    live: (done) => {
      if (mode !== "tty") return
      const now = Date.now()
      if (now - drawn < 100 && done < total) return
      drawn = now
      draw(done)
    },
    step: (done) => {
      if (mode === "tty") return draw(done)
      if (mode !== "lines") return
      const now = Date.now()
      if (lined !== 0 && now - lined < 1000 && done < total) return
      lined = now
      process.stderr.write(line(done) + "\n")
    },
    note: (text) => {
      if (mode === "none") return
      if (open) process.stderr.write("\n")
      open = false
      process.stderr.write(text + "\n")
    },
    end: () => {
      if (open) process.stderr.write("\n")
      open = false
    }
  }
}

// ---------------------------------------------------------------------------------------------
// parsing options
// ---------------------------------------------------------------------------------------------

const usage = (message: string) => new ClientFailed({ message, code: 2 })

/**
 * A lifetime: `90s`, `30m`, `12h`, `7d`, `2w`, or plain seconds.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseDuration = (text: string): Option.Option<number> => {
  const match = /^\s*(\d+)\s*([smhdw]?)\s*$/i.exec(text)
  if (match === null) return Option.none()
  const factor = { "": 1, s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 }[match[2]!.toLowerCase()] ?? 1
  const seconds = Number(match[1]) * factor
  return seconds > 0 && Number.isSafeInteger(seconds) ? Option.some(seconds) : Option.none()
}

/**
 * A size: `65536`, `512K`, `8M`, `1G` (binary units; `KiB`, `MB` and the like are read alike).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseSize = (text: string): Option.Option<number> => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])i?)?b?\s*$/i.exec(text)
  if (match === null) return Option.none()
  const power = match[2] === undefined ? 0 : "kmgt".indexOf(match[2].toLowerCase()) + 1
  const bytes = Math.floor(Number(match[1]) * 1024 ** power)
  return bytes > 0 && Number.isSafeInteger(bytes) ? Option.some(bytes) : Option.none()
}

const sizeOption = (value: Option.Option<string>, name: string, min: number, max: number) =>
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

// ---------------------------------------------------------------------------------------------
// the regional file server
// ---------------------------------------------------------------------------------------------

const Located = Schema.Struct({
  ip: Schema.String,
  region: Schema.String,
  rule: Schema.String,
  server: Schema.Struct({ site: Schema.String, region: Schema.String, name: Schema.String, url: Schema.String })
})

const Inbox = Schema.Struct({
  user: Schema.String,
  transfers: Schema.Array(Schema.extend(Transfer, Schema.Struct({ direction: Schema.Literal("sent", "received") })))
})

interface Server {
  readonly url: string
  /** The site and region, when the directory named them. */
  readonly site?: string
  readonly region?: string
}

interface Common {
  readonly topology: Option.Option<string>
  readonly site: Option.Option<string>
  readonly url: Option.Option<string>
  readonly json: boolean
  readonly direct: boolean
  readonly retries: number
}

const commonOptions = {
  ...targetOptions,
  direct: Options.boolean("direct").pipe(
    Options.withDescription("the site named by --url/--site is the file server: do not ask it for the regional one")
  ),
  retries: Options.integer("retries").pipe(
    Options.withDefault(6),
    Options.withDescription("how often a broken connection or an unavailable server is retried (with back-off)")
  )
}

/** Retries `effect` while the server is unreachable, with back-off; then exit code 3. */
const retrying = <A, E>(
  common: Pick<Common, "retries">,
  notes: Progress,
  effect: Effect.Effect<A, E>
): Effect.Effect<A, Exclude<E, Unreachable> | ClientFailed> => {
  const go = (attempt: number): Effect.Effect<A, Exclude<E, Unreachable> | ClientFailed> =>
    Effect.catchAll(effect, (e) => {
      if (!(e instanceof Unreachable)) return Effect.fail(e as Exclude<E, Unreachable>)
      if (attempt > common.retries) {
        return Effect.fail(new ClientFailed({ message: `cannot reach ${e.url}: ${e.reason}`, code: 3 }))
      }
      const wait = backoff(attempt)
      notes.note(`${e.reason}; retrying in ${(wait / 1000).toFixed(1)} s`)
      return Effect.zipRight(Effect.sleep(wait), go(attempt + 1))
    })
  return go(1)
}

/**
 * The file server to use: the directory's answer for this client, asked at `--url`/`--site`
 * (else where the user logged in), or that site itself with `--direct`.
 */
const fileServer = (common: Common, modules: Module.Registry, loggedInAt: string, notes: Progress) =>
  Effect.gen(function* () {
    const named = Option.isSome(common.url) || Option.isSome(common.site) || Option.isSome(common.topology)
    const directory = named ? yield* baseUrl(common, modules) : loggedInAt.replace(/\/+$/, "")
    if (common.direct) return { url: directory } satisfies Server
    const reply = yield* retrying(common, notes, exchange("GET", `${directory}/v1/locate`, {}))
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
// send
// ---------------------------------------------------------------------------------------------

const UploadState = Schema.parseJson(
  Schema.Struct({
    upload: Schema.String,
    file: Schema.String,
    createdAt: Schema.Number
  })
)

const uploadsDir = () => join(dirname(tokenPath()), "uploads")

/** Writes a small file whole or not at all (temp, rename), readable by the user only. */
const writeAtomically = (file: string, text: string) => {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const temp = `${file}.${process.pid}.tmp`
  writeFileSync(temp, text, { mode: 0o600 })
  renameSync(temp, file)
}

/** Streams a file (its first `end` bytes) through SHA-256. */
const hashFile = async (path: string, end: number | undefined, onBytes?: (bytes: number) => void) => {
  const hash = createHash("sha256")
  if (end === 0) return hash
  for await (const chunk of createReadStream(path, end === undefined ? {} : { end: end - 1 })) {
    hash.update(chunk as Buffer)
    onBytes?.((chunk as Buffer).length)
  }
  return hash
}

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")

/** Where an upload stands on the server. */
type UploadAt = { readonly _tag: "At"; readonly offset: number } | { readonly _tag: "Gone"; readonly status: number }

/** How one chunk went: confirmed up to an offset, or what to do instead. */
type ChunkResult =
  | { readonly _tag: "Advanced"; readonly offset: number; readonly transfer: string | undefined }
  | { readonly _tag: "Checksum" }
  | { readonly _tag: "Resync"; readonly why: string }
  | { readonly _tag: "Gone"; readonly why: string }

const sendCommand = (modules: Module.Registry) =>
  Command.make(
    "send",
    {
      ...commonOptions,
      file: Args.file({ name: "FILE", exists: "yes" }),
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
      limitRate: Options.text("limit-rate").pipe(
        Options.optional,
        Options.withDescription("send at most this many bytes per second (e.g. 1M)")
      )
    },
    (args) =>
      Effect.gen(function* () {
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
        const mode: ProgressMode = args.json ? "none" : process.stderr.isTTY ? "tty" : "lines"

        const server = yield* fileServer(args, modules, saved.url, progress(mode, "", 0, 0))

        // The whole file's SHA-256 first: the server checks it on arrival, and it names the upload.
        const hashing = progress(mode === "tty" ? "tty" : "none", `hashing ${filename}`, size, 0)
        let hashed = 0
        const sha256 = yield* Effect.tryPromise({
          try: () =>
            hashFile(path, undefined, (n) => {
              hashed += n
              hashing.live(hashed)
            }),
          catch: (e) => new ClientFailed({ message: `cannot read ${path}: ${reasonOf(e)}`, code: 2 })
        }).pipe(
          Effect.map((hash) => hash.digest("hex")),
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
        const stateFile = join(uploadsDir(), `${key}.json`)
        const forget = Effect.sync(() => rmSync(stateFile, { force: true }))
        const auth = { authorization: `Bearer ${saved.token}`, "tus-resumable": "1.0.0" }
        const bar = progress(mode, `send ${filename}`, size, 0)
        // Interrupted (Ctrl-C): end the bar's line; the state file stays for the rerun.
        yield* Effect.addFinalizer(() => Effect.sync(() => bar.end()))

        /** The upload's offset on the server; none when it is gone (expired, or finished). */
        const offsetOf = (upload: string) =>
          retrying(
            args,
            bar,
            Effect.flatMap(
              exchange("HEAD", upload, auth),
              (reply): Effect.Effect<UploadAt, Unreachable | ClientFailed> => {
                const offset = Number(headerOf(reply.headers, "upload-offset"))
                const length = Number(headerOf(reply.headers, "upload-length"))
                if (reply.status === 200 && Number.isSafeInteger(offset) && length === size) {
                  return Effect.succeed({ _tag: "At", offset })
                }
                if (reply.status === 404 || reply.status === 410 || reply.status === 200) {
                  return Effect.succeed({ _tag: "Gone", status: reply.status })
                }
                if (reply.status >= 500)
                  return Effect.fail(new Unreachable({ url: upload, reason: explainReply(reply) }))
                return Effect.fail(refused(`HEAD ${upload}`, reply))
              }
            )
          )

        /** A finished upload whose last answer was lost: its transfer (same id) is in the sender's list. */
        const finishedAs = (upload: string) =>
          Effect.gen(function* () {
            const id = upload.slice(upload.lastIndexOf("/") + 1)
            const reply = yield* retrying(args, bar, exchange("GET", `${server.url}/v1/files/inbox`, auth))
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
          const endpoint = `${server.url}/v1/files/uploads`
          const reply = yield* retrying(
            args,
            bar,
            Effect.flatMap(
              exchange("POST", endpoint, { ...auth, "upload-length": String(size), "upload-metadata": metadata }),
              (reply) =>
                reply.status >= 500 && reply.status !== 507
                  ? Effect.fail(new Unreachable({ url: endpoint, reason: explainReply(reply) }))
                  : Effect.succeed(reply)
            )
          )
          const location = headerOf(reply.headers, "location")
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

        const buffer = Buffer.allocUnsafe(Math.min(chunkSize, Math.max(size, 1)))
        const pace = pacer(rate)
        const handle = yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: () => openFile(path, "r"),
            catch: (e) => new ClientFailed({ message: `cannot read ${path}: ${reasonOf(e)}`, code: 2 })
          }),
          (h) => Effect.promise(() => h.close())
        )
        const readChunk = (from: number) =>
          Effect.tryPromise({
            try: async () => {
              const length = Math.min(chunkSize, size - from)
              let filled = 0
              while (filled < length) {
                const { bytesRead } = await handle.read(buffer, filled, length - filled, from + filled)
                if (bytesRead === 0) throw new Error("the file became shorter")
                filled += bytesRead
              }
              return buffer.subarray(0, length)
            },
            catch: (e) => new ClientFailed({ message: `cannot read ${path}: ${reasonOf(e)}; send it again`, code: 1 })
          })

        const patch = (target: string, from: number, chunk: Buffer): Effect.Effect<ChunkResult, ClientFailed> =>
          exchange(
            "PATCH",
            target,
            {
              ...auth,
              "content-type": "application/offset+octet-stream",
              "content-length": String(chunk.length),
              "upload-offset": String(from),
              "upload-checksum": `sha256 ${createHash("sha256").update(chunk).digest("base64")}`
            },
            async (request) => {
              for (let at = 0; at < chunk.length; at += SLICE) {
                const slice = chunk.subarray(at, at + SLICE)
                if (!request.write(slice)) await once(request, "drain")
                bar.live(from + at + slice.length)
                await pace(slice.length)
              }
            }
          ).pipe(
            Effect.flatMap((reply): Effect.Effect<ChunkResult, ClientFailed> => {
              const confirmed = Number(headerOf(reply.headers, "upload-offset"))
              switch (reply.status) {
                case 204:
                  return Number.isSafeInteger(confirmed)
                    ? Effect.succeed({
                        _tag: "Advanced",
                        offset: confirmed,
                        transfer: headerOf(reply.headers, "meridian-transfer")
                      })
                    : Effect.fail(refused(`PATCH ${target}`, reply))
                case 460:
                  // With an offset: this chunk arrived damaged. Without: the whole file's hash differs.
                  return Number.isSafeInteger(confirmed)
                    ? Effect.succeed({ _tag: "Checksum" })
                    : Effect.zipRight(forget, Effect.fail(refused(`upload of ${filename}`, reply)))
                case 409:
                  return Effect.succeed({ _tag: "Resync", why: "the server is at another offset" })
                case 400:
                  return Effect.succeed({ _tag: "Resync", why: explainReply(reply) })
                case 404:
                case 410:
                  return Effect.succeed({ _tag: "Gone", why: explainReply(reply) })
                default:
                  return reply.status >= 500 && reply.status !== 507
                    ? Effect.succeed({ _tag: "Resync", why: explainReply(reply) })
                    : Effect.fail(refused(`upload of ${filename}`, reply))
              }
            }),
            Effect.catchTag("Unreachable", (e) => Effect.succeed<ChunkResult>({ _tag: "Resync", why: e.reason }))
          )

        if (upload !== undefined && transfer === undefined) {
          const target = upload
          let failures = 0
          let damaged = 0
          while (transfer === undefined) {
            if (offset >= size) {
              // Every byte is there, yet no transfer came back: the last answer was lost, or the
              // server stopped completing it when the last run went away. An empty PATCH at the
              // end completes it; else the transfer (same id) is already in the sender's list.
              const closing = yield* patch(target, size, Buffer.alloc(0))
              transfer =
                closing._tag === "Advanced" && closing.transfer !== undefined
                  ? closing.transfer
                  : (yield* finishedAs(target))?.id
              if (transfer === undefined) {
                return yield* new ClientFailed({ message: `the server did not confirm ${target}`, code: 1 })
              }
              break
            }
            const chunk = yield* readChunk(offset)
            const answer = yield* patch(target, offset, chunk)
            const result: ChunkResult =
              answer._tag === "Advanced" && answer.offset <= offset && answer.transfer === undefined
                ? { _tag: "Resync", why: "the server took none of the chunk" }
                : answer
            if (result._tag === "Advanced") {
              failures = 0
              damaged = 0
              offset = result.offset
              transfer = result.transfer
              bar.step(offset)
              continue
            }
            if (result._tag === "Checksum") {
              if (++damaged > 3) {
                return yield* new ClientFailed({
                  message: `a chunk at offset ${offset} arrived damaged ${damaged} times; giving up (run again to resume)`,
                  code: 1
                })
              }
              bar.note(`the chunk at offset ${offset} arrived damaged; sending it again`)
              continue
            }
            if (result._tag === "Resync") {
              if (++failures > args.retries) {
                return yield* new ClientFailed({
                  message: `cannot upload to ${server.url}: ${result.why} (run again to resume)`,
                  code: 3
                })
              }
              const wait = backoff(failures)
              bar.note(`${result.why}; resuming in ${(wait / 1000).toFixed(1)} s`)
              yield* Effect.sleep(wait)
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
      }).pipe(Effect.scoped)
  ).pipe(
    Command.withDescription(
      "send a file to users (uploaded to your regional file server, resumable: run the same command again)"
    )
  )

// ---------------------------------------------------------------------------------------------
// inbox
// ---------------------------------------------------------------------------------------------

const remaining = (millis: number) => {
  const minutes = Math.max(0, Math.floor(millis / 60_000))
  if (minutes < 60) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  return hours < 48 ? `${hours}h ${minutes % 60}m` : `${Math.floor(hours / 24)}d ${hours % 24}h`
}

/** Columns padded to their widest cell. */
const table = (rows: ReadonlyArray<ReadonlyArray<string>>) => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "))
    .join("\n")
}

const inboxCommand = (modules: Module.Registry) =>
  Command.make("inbox", commonOptions, (args) =>
    Effect.gen(function* () {
      const saved = yield* loadToken
      const notes = progress(args.json ? "none" : "lines", "", 0, 0)
      const server = yield* fileServer(args, modules, saved.url, notes)
      const reply = yield* retrying(
        args,
        notes,
        exchange("GET", `${server.url}/v1/files/inbox`, { authorization: `Bearer ${saved.token}` })
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
                remaining(t.expiresAt - now)
              ])
            ])
      )
    })
  ).pipe(Command.withDescription("list the files waiting for you, and those you sent"))

// ---------------------------------------------------------------------------------------------
// get
// ---------------------------------------------------------------------------------------------

const DownloadAddress = Schema.Struct({
  url: Schema.String,
  address: Schema.String,
  holder: Schema.String,
  expiresAt: Schema.Number,
  transfer: Transfer
})

const DownloadState = Schema.parseJson(Schema.Struct({ id: Schema.String, etag: Schema.String }))

const downloadsDir = () => join(dirname(tokenPath()), "downloads")

/** How one download attempt ended. */
type Fetched =
  | { readonly _tag: "Done" }
  | { readonly _tag: "Restart"; readonly why: string }
  | { readonly _tag: "Readdress"; readonly why: string }
  | { readonly _tag: "Broken"; readonly why: string; readonly progressed: boolean }

const getCommand = (modules: Module.Registry) =>
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
      limitRate: Options.text("limit-rate").pipe(
        Options.optional,
        Options.withDescription("receive at most this many bytes per second (e.g. 1M)")
      )
    },
    (args) =>
      Effect.gen(function* () {
        const saved = yield* loadToken
        const rate = yield* sizeOption(args.limitRate, "limit-rate", 1024, Number.MAX_SAFE_INTEGER)
        if (!/^[A-Za-z0-9_-]{1,128}$/.test(args.id)) return yield* usage(`${args.id} is not a transfer id`)
        const mode: ProgressMode = args.json ? "none" : process.stderr.isTTY ? "tty" : "lines"
        const notes = progress(mode, "", 0, 0)
        const server = yield* fileServer(args, modules, saved.url, notes)

        /** The download address from our regional server, waiting out a holder that is away. */
        const address = Effect.gen(function* () {
          const endpoint = `${server.url}/v1/files/transfers/${encodeURIComponent(args.id)}/download`
          for (let attempt = 1; ; attempt++) {
            const reply = yield* retrying(
              args,
              notes,
              exchange("GET", endpoint, { authorization: `Bearer ${saved.token}`, accept: "application/json" })
            )
            if (reply.status === 200) return yield* decodeJson(DownloadAddress, endpoint)(reply)
            if (reply.status === 404) {
              return yield* new ClientFailed({
                message: `no transfer ${args.id} for ${saved.name} (${explainReply(reply)})`,
                code: 1
              })
            }
            if (reply.status !== 503) return yield* refused(`download of ${args.id}`, reply)
            if (attempt > args.retries) {
              // The holding region is away: like an unreachable server, worth trying later.
              return yield* new ClientFailed({ message: `download of ${args.id}: ${explainReply(reply)}`, code: 3 })
            }
            const after = Number(headerOf(reply.headers, "retry-after"))
            const wait = Number.isFinite(after) && after >= 0 ? Math.min(after, 60) * 1000 : backoff(attempt)
            notes.note(`${explainReply(reply)}; asking again in ${(wait / 1000).toFixed(1)} s`)
            yield* Effect.sleep(wait)
          }
        })

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
        const stateFile = join(downloadsDir(), `${createHash("sha256").update(part).digest("hex").slice(0, 32)}.json`)
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

        /** One GET from the part's end; the hash covers the part and what arrives. */
        const attempt = (url: string) =>
          Effect.tryPromise({
            try: async (signal): Promise<Fetched> => {
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
              const response = await open("GET", url, headers, signal)
              const status = response.statusCode ?? 0
              if (status === 416 && have === size) {
                response.resume()
                return { _tag: "Done" }
              }
              if (status === 403 || status === 404) {
                const reply = { status, headers: response.headers, body: await readText(response) }
                return { _tag: "Readdress", why: explainReply(reply) }
              }
              if (status !== 200 && status !== 206) {
                const reply = { status, headers: response.headers, body: await readText(response) }
                return status === 416
                  ? { _tag: "Restart", why: explainReply(reply) }
                  : { _tag: "Broken", why: explainReply(reply), progressed: false }
              }
              const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headerOf(response.headers, "content-range") ?? "")
              if (status === 206 && (range === null || Number(range[1]) !== have || Number(range[3]) !== size)) {
                response.destroy()
                return { _tag: "Restart", why: "the server sent another range" }
              }
              const from = status === 206 ? have : 0
              const newTag = headerOf(response.headers, "etag")
              if (newTag !== undefined)
                writeAtomically(stateFile, JSON.stringify({ id: transfer.id, etag: newTag }) + "\n")
              const pace = pacer(rate)
              let done = from
              await pipeline(
                response,
                async function* (source: AsyncIterable<Buffer>) {
                  for await (const chunk of source) {
                    done += chunk.length
                    bar.live(done)
                    bar.step(done)
                    await pace(chunk.length)
                    yield chunk
                  }
                },
                createWriteStream(part, { flags: from === 0 ? "w" : "a" })
              ).catch((error: unknown) => {
                throw Object.assign(new Error(reasonOf(error)), { progressed: done > from })
              })
              return partSize() === size
                ? { _tag: "Done" }
                : { _tag: "Broken", why: "the connection closed early", progressed: done > from }
            },
            catch: (error) => {
              const progressed =
                typeof error === "object" && error !== null && "progressed" in error && error.progressed === true
              return { _tag: "Broken" as const, why: reasonOf(error), progressed }
            }
          }).pipe(Effect.merge)

        let failures = 0
        let restarted = false
        for (;;) {
          const result: Fetched = partSize() === size && size > 0 ? { _tag: "Done" } : yield* attempt(given.url)
          if (result._tag === "Done") {
            // The whole file's SHA-256 against the transfer's, before it takes the final name.
            bar.end()
            const actual = yield* Effect.tryPromise({
              try: () => hashFile(part, undefined),
              catch: (e) => new ClientFailed({ message: `cannot read ${part}: ${reasonOf(e)}`, code: 1 })
            }).pipe(Effect.map((h: Hash) => h.digest("hex")))
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
          if (result._tag === "Broken" && result.progressed) failures = 0
          if (++failures > args.retries) {
            return yield* new ClientFailed({
              message: `cannot download ${args.id}: ${result.why} (run again to resume)`,
              code: result._tag === "Readdress" ? 1 : 3
            })
          }
          const wait = backoff(failures)
          bar.note(`${result.why}; retrying in ${(wait / 1000).toFixed(1)} s`)
          yield* Effect.sleep(wait)
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
      }).pipe(Effect.scoped)
  ).pipe(
    Command.withDescription(
      "download a file sent to you (verified against its SHA-256; resumable: run the same command again)"
    )
  )

/**
 * `meridian files send|inbox|get`: offline file transfers through the regional file servers.
 *
 * @since 0.1.0
 * @category commands
 */
export const makeFilesCommand = (modules: Module.Registry) =>
  Command.make("files").pipe(
    Command.withDescription("offline file transfers: send a file to users, list your inbox, get a file"),
    Command.withSubcommands([sendCommand(modules), inboxCommand(modules), getCommand(modules)])
  )
