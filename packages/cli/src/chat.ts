/**
 * Group chat from the command line, against the `chat` module's HTTP API (`/v1/chat/...`):
 * `chat group create|show|edit|members`, `chat send GROUP TEXT`, `chat tail GROUP [--follow]`.
 *
 * The site: `--url`, else `--site` of the topology, else a site running `chat` in the logged-in
 * user's home region (read from the saved token), else the first site running `chat`. Requests
 * that are safe to repeat are retried with back-off while the site cannot be reached, and a 503
 * (busy, home region away) is asked again after its `Retry-After`; a message carries a client id
 * (`--id`, else a random one), so a retried send is delivered once.
 *
 * `tail --follow` prints the history, then stays on the server-sent events stream
 * (`/v1/chat/groups/:id/events`): a dropped or silent connection is reopened with `Last-Event-ID`
 * after a jittered, bounded back-off, and a message is printed only if its sequence number is
 * above the last one printed (never twice, never out of order). Ctrl-C ends it.
 *
 * Exit codes are the client commands' (see `client.ts`): 0 done, 1 refused, 2 bad usage, 3 the
 * site could not be reached (after the retries), 4 not logged in.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as Module from "@meridian/core/site/Module"
import { TokenPayload } from "@meridian/core/stores/Identity"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import type { IncomingHttpHeaders } from "node:http"
import { baseUrl, ClientFailed, loadToken, loadTopology, print, targetOptions, type Target } from "./client.js"
import { backoff, decodeJson, explainReply, refused } from "./files.js"
import { Group, Message } from "@meridian/core/chat/Protocol"

// ---------------------------------------------------------------------------------------------
// the contract
// ---------------------------------------------------------------------------------------------

const Sent = Schema.Union(
  Schema.Struct({ group: Schema.String, id: Schema.String, seq: Schema.Number }),
  Schema.Struct({ group: Schema.String, id: Schema.String, status: Schema.Literal("accepted") })
)

const Page = Schema.Struct({ group: Schema.String, messages: Schema.Array(Message), more: Schema.Boolean })

// ---------------------------------------------------------------------------------------------
// limits
// ---------------------------------------------------------------------------------------------

/** A request without an answer for this long counts as the site being unreachable. */
const REQUEST_TIMEOUT = Duration.seconds(30)
/** Messages asked per page of history (the server allows up to 1000). */
const PAGE_LIMIT = 500
/** The server comments every 15 s; an events connection silent for this long is reopened. */
const STREAM_IDLE = Duration.seconds(45)
/** At most this long is waited for a `Retry-After`. */
const MAX_RETRY_AFTER_MILLIS = 60_000
/** An event (or a line) longer than this ends the stream: the server is not speaking the contract. */
const MAX_EVENT_CHARS = 4 * 1024 * 1024

// ---------------------------------------------------------------------------------------------
// requests
// ---------------------------------------------------------------------------------------------

const usage = (message: string) => new ClientFailed({ message, code: 2 })

/** The site could not be reached, or the connection broke: retried with back-off. */
class Unreachable extends Data.TaggedError("Unreachable")<{ readonly reason: string }> {}

/** An answer: what `refused`, `explainReply` and `decodeJson` of `files.ts` read. */
interface Reply {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/** Where and as whom a command talks, and how it reports retries. */
interface Session {
  readonly url: string
  readonly token: string
  readonly retries: number
  readonly note: (line: string) => Effect.Effect<void>
}

/** Why a request failed, for people: the deepest cause (ECONNREFUSED, other side closed...). */
const reasonOf = (error: HttpClientError.HttpClientError) => {
  let cause: unknown = error.cause
  for (let depth = 0; depth < 4 && cause instanceof Error && cause.cause instanceof Error; depth++) cause = cause.cause
  const detail = cause instanceof Error ? cause.message : error.message
  return error._tag === "RequestError" ? `cannot connect (${detail})` : `the connection broke (${detail})`
}

/** One request with a small JSON answer. */
const exchange = (session: Session, request: HttpClientRequest.HttpClientRequest) =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    client.execute(request.pipe(HttpClientRequest.bearerToken(session.token), HttpClientRequest.acceptJson)).pipe(
      Effect.flatMap((response) =>
        Effect.map(response.text, (body): Reply => ({ status: response.status, headers: response.headers, body }))
      ),
      Effect.timeoutFail({
        duration: REQUEST_TIMEOUT,
        onTimeout: () => new Unreachable({ reason: `no answer within ${Duration.format(REQUEST_TIMEOUT)}` })
      }),
      Effect.catchTags({
        RequestError: (e) => Effect.fail(new Unreachable({ reason: reasonOf(e) })),
        ResponseError: (e) => Effect.fail(new Unreachable({ reason: reasonOf(e) }))
      })
    )
  )

/** How long to wait before asking again after a 503: its `Retry-After`, else the back-off. */
const retryDelay = (reply: Reply, attempt: number) => {
  const header = reply.headers["retry-after"]
  const after = Number(header)
  return typeof header === "string" && header !== "" && Number.isFinite(after) && after >= 0
    ? Math.min(after * 1000, MAX_RETRY_AFTER_MILLIS)
    : backoff(attempt)
}

/**
 * A request until it is answered: an unreachable site is retried if the request is safe to
 * repeat, a 503 always (nothing was done); then exit code 3. Any other error status is a refusal.
 */
const ask = (
  session: Session,
  what: string,
  request: HttpClientRequest.HttpClientRequest,
  options: { readonly repeatable: boolean }
): Effect.Effect<Reply, ClientFailed, HttpClient.HttpClient> => {
  const go = (attempt: number): Effect.Effect<Reply, ClientFailed, HttpClient.HttpClient> =>
    exchange(session, request).pipe(
      Effect.matchEffect({
        onFailure: (e) =>
          !options.repeatable || attempt > session.retries
            ? Effect.fail(new ClientFailed({ message: `cannot reach ${session.url}: ${e.reason}`, code: 3 }))
            : Effect.suspend(() => {
                const wait = backoff(attempt)
                return session
                  .note(`${e.reason}; retrying in ${(wait / 1000).toFixed(1)} s`)
                  .pipe(Effect.zipRight(Effect.sleep(wait)), Effect.zipRight(go(attempt + 1)))
              }),
        onSuccess: (reply) => {
          if (reply.status >= 200 && reply.status < 300) return Effect.succeed(reply)
          if (reply.status !== 503) return Effect.fail(refused(what, reply))
          if (attempt > session.retries) {
            return Effect.fail(new ClientFailed({ message: `${what}: ${explainReply(reply)}`, code: 3 }))
          }
          const wait = retryDelay(reply, attempt)
          return session
            .note(`${explainReply(reply)}; asking again in ${(wait / 1000).toFixed(1)} s`)
            .pipe(Effect.zipRight(Effect.sleep(wait)), Effect.zipRight(go(attempt + 1)))
        }
      })
    )
  return go(1)
}

const groupPath = (session: Session, group: string, rest = "") =>
  `${session.url}/v1/chat/groups/${encodeURIComponent(group)}${rest}`

const getGroup = (session: Session, group: string) =>
  ask(session, `group ${group}`, HttpClientRequest.get(groupPath(session, group)), { repeatable: true }).pipe(
    Effect.flatMap(decodeJson(Group, `group ${group}`))
  )

// ---------------------------------------------------------------------------------------------
// the site
// ---------------------------------------------------------------------------------------------

/** The home region named in a token (its payload is readable; only the sites check it). */
const homeRegionOf = (token: string): Option.Option<string> =>
  Option.map(
    Schema.decodeUnknownOption(Schema.parseJson(TokenPayload))(
      Buffer.from(token.split(".")[0] ?? "", "base64url").toString("utf8")
    ),
    (payload) => payload.region
  )

/**
 * The chat site to use: `--url`, `--site`, else a site running `chat` in the user's home region
 * (the first by name: the region's service center), else the first site running `chat`.
 */
const chatSite = (target: Target, modules: Module.Registry, token: string) =>
  Effect.gen(function* () {
    if (Option.isSome(target.url) || Option.isSome(target.site)) return yield* baseUrl(target, modules)
    const topology = yield* loadTopology(target, modules)
    const chatSites = Object.keys(topology.sites)
      .sort()
      .filter((site) => "chat" in topology.sites[site]!.modules)
    const home = homeRegionOf(token)
    const site = chatSites.find((s) => Option.isSome(home) && topology.sites[s]!.region === home.value) ?? chatSites[0]
    if (site === undefined) {
      return yield* new ClientFailed({
        message: "no site of the topology runs chat; name one with --site or --url",
        code: 2
      })
    }
    return yield* baseUrl({ ...target, site: Option.some(site) }, modules)
  })

interface Common extends Target {
  readonly json: boolean
  readonly retries: number
}

const commonOptions = {
  ...targetOptions,
  site: Options.text("site").pipe(
    Options.optional,
    Options.withDescription("the site to talk to (default: a chat site of your home region, else the first chat site)")
  ),
  retries: Options.integer("retries").pipe(
    Options.withDefault(4),
    Options.withDescription("how often an unreachable or busy site is asked again (with back-off)")
  )
}

/** The saved token and the site; then `body` with an HTTP client. */
const session = <A>(
  common: Common,
  modules: Module.Registry,
  body: (session: Session) => Effect.Effect<A, ClientFailed, HttpClient.HttpClient>
) =>
  Effect.gen(function* () {
    if (common.retries < 0) return yield* usage("--retries must not be negative")
    const saved = yield* loadToken
    const url = yield* chatSite(common, modules, saved.token)
    return yield* body({
      url,
      token: saved.token,
      retries: common.retries,
      note: (line) => (common.json ? Effect.void : Console.error(line))
    }).pipe(Effect.provide(FetchHttpClient.layer))
  })

// ---------------------------------------------------------------------------------------------
// output
// ---------------------------------------------------------------------------------------------

/** C0 and C1 control characters but tab and newline. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g

/** Text from other people, made safe for a terminal: control characters shown, not obeyed. */
const visible = (text: string) => text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

const formatMessage = (message: Message) => `#${message.seq} ${visible(message.from)}: ${visible(message.text)}`

const formatSetting = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value))

const formatGroup = (group: Group) =>
  [
    `${group.id}  ${visible(group.name)}`,
    `owner:    ${group.owner}`,
    `home:     ${group.home}`,
    `notice:   ${visible(group.notice)}`,
    `settings: ${
      Object.entries(group.settings)
        .map(([k, v]) => `${visible(k)}=${visible(formatSetting(v))}`)
        .join(", ") || "-"
    }`,
    `members:  ${group.members.map((m) => `${m.user} (${m.home})`).join(", ")}`,
    `last seq: ${group.seq}`,
    `created:  ${new Date(group.createdAt).toISOString()}`
  ].join("\n")

const formatMembers = (group: Group) => {
  const width = Math.max(4, ...group.members.map((m) => m.user.length))
  return [
    `${"USER".padEnd(width)}  HOME`,
    ...group.members.map((m) => `${m.user.padEnd(width)}  ${m.home}${m.user === group.owner ? "  (owner)" : ""}`)
  ].join("\n")
}

/** `--member a --member b,c` → `[a, b, c]`, without repeats. */
const names = (given: ReadonlyArray<string>) =>
  [...new Set(given.flatMap((n) => n.split(",")).map((n) => n.trim()))].filter((n) => n !== "")

/** `--set KEY=VALUE...` as settings (the value may contain `=`; an empty one is allowed). */
const settingsOf = (given: ReadonlyArray<string>) =>
  Effect.forEach(given, (pair) => {
    const at = pair.indexOf("=")
    return at <= 0
      ? Effect.fail(usage(`--set ${pair}: use KEY=VALUE`))
      : Effect.succeed([pair.slice(0, at), pair.slice(at + 1)] as const)
  }).pipe(Effect.map((pairs) => Object.fromEntries(pairs)))

// ---------------------------------------------------------------------------------------------
// group
// ---------------------------------------------------------------------------------------------

const groupArg = Args.text({ name: "GROUP" }).pipe(Args.withDescription("the group's id"))
const noticeOption = Options.text("notice").pipe(Options.optional, Options.withDescription("the group's notice"))
const setOption = Options.text("set").pipe(
  Options.repeated,
  Options.withDescription("a setting, KEY=VALUE (repeat --set for more)")
)

const groupCreate = (modules: Module.Registry) =>
  Command.make(
    "create",
    {
      ...commonOptions,
      name: Args.text({ name: "NAME" }).pipe(Args.withDescription("the group's name")),
      member: Options.text("member").pipe(
        Options.repeated,
        Options.withDescription("a member besides you (repeat --member, or separate names with commas)")
      ),
      notice: noticeOption,
      set: setOption,
      home: Options.text("home").pipe(
        Options.optional,
        Options.withDescription("the region that numbers the group's messages (default: the site's region)")
      )
    },
    (args) =>
      Effect.flatMap(settingsOf(args.set), (settings) =>
        session(args, modules, (s) =>
          Effect.gen(function* () {
            const members = names(args.member)
            const payload = {
              name: args.name,
              ...(Option.isSome(args.notice) ? { notice: args.notice.value } : {}),
              ...(args.set.length > 0 ? { settings } : {}),
              ...(members.length > 0 ? { members } : {}),
              ...(Option.isSome(args.home) ? { home: args.home.value } : {})
            }
            // Not repeated after a lost connection: the group may have been made (a 503 made nothing).
            const reply = yield* ask(
              s,
              `creating group ${args.name}`,
              HttpClientRequest.post(`${s.url}/v1/chat/groups`).pipe(HttpClientRequest.bodyUnsafeJson(payload)),
              { repeatable: false }
            )
            const group = yield* decodeJson(Group, `creating group ${args.name}`)(reply)
            return yield* print(args.json, group, () => group.id)
          })
        )
      )
  ).pipe(Command.withDescription("create a group (you are its owner and a member); prints its id"))

const groupShow = (modules: Module.Registry) =>
  Command.make("show", { ...commonOptions, group: groupArg }, (args) =>
    session(args, modules, (s) =>
      Effect.flatMap(getGroup(s, args.group), (group) => print(args.json, group, () => formatGroup(group)))
    )
  ).pipe(Command.withDescription("show a group: name, notice, settings, members (members only)"))

const groupEdit = (modules: Module.Registry) =>
  Command.make(
    "edit",
    {
      ...commonOptions,
      group: groupArg,
      name: Options.text("name").pipe(Options.optional, Options.withDescription("a new name")),
      notice: noticeOption,
      set: setOption
    },
    (args) =>
      Effect.gen(function* () {
        if (Option.isNone(args.name) && Option.isNone(args.notice) && args.set.length === 0) {
          return yield* usage("nothing to change: give --name, --notice or --set")
        }
        const changed = yield* settingsOf(args.set)
        return yield* session(args, modules, (s) =>
          Effect.gen(function* () {
            // The settings sent are the group's with these changed, so the others stay as they are
            // whether the server replaces or merges them.
            const settings =
              args.set.length === 0 ? undefined : { ...(yield* getGroup(s, args.group)).settings, ...changed }
            const payload = {
              ...(Option.isSome(args.name) ? { name: args.name.value } : {}),
              ...(Option.isSome(args.notice) ? { notice: args.notice.value } : {}),
              ...(settings === undefined ? {} : { settings })
            }
            const reply = yield* ask(
              s,
              `editing group ${args.group}`,
              HttpClientRequest.patch(groupPath(s, args.group)).pipe(HttpClientRequest.bodyUnsafeJson(payload)),
              { repeatable: true }
            )
            const group = yield* decodeJson(Group, `editing group ${args.group}`)(reply)
            return yield* print(args.json, group, () => formatGroup(group))
          })
        )
      })
  ).pipe(Command.withDescription("change a group's name, notice or settings (owner only)"))

const groupMembers = (modules: Module.Registry) =>
  Command.make(
    "members",
    {
      ...commonOptions,
      group: groupArg,
      add: Options.text("add").pipe(
        Options.repeated,
        Options.withDescription("add a member (repeat --add, or separate names with commas)")
      ),
      remove: Options.text("remove").pipe(
        Options.repeated,
        Options.withDescription("remove a member (repeat --remove, or separate names with commas)")
      )
    },
    (args) =>
      session(args, modules, (s) =>
        Effect.gen(function* () {
          const add = names(args.add)
          const remove = names(args.remove)
          if (add.length === 0 && remove.length === 0) {
            const group = yield* getGroup(s, args.group)
            return yield* print(args.json, group, () => formatMembers(group))
          }
          const reply = yield* ask(
            s,
            `members of ${args.group}`,
            HttpClientRequest.post(groupPath(s, args.group, "/members")).pipe(
              HttpClientRequest.bodyUnsafeJson({
                ...(add.length > 0 ? { add } : {}),
                ...(remove.length > 0 ? { remove } : {})
              })
            ),
            { repeatable: true }
          )
          const group = yield* decodeJson(Group, `members of ${args.group}`)(reply)
          return yield* print(args.json, group, () => formatMembers(group))
        })
      )
  ).pipe(
    Command.withDescription(
      "list a group's members with their home regions, or --add/--remove members (owner; anyone may remove themselves)"
    )
  )

const groupCommand = (modules: Module.Registry) =>
  Command.make("group").pipe(
    Command.withDescription("chat groups: create, show, edit, members"),
    Command.withSubcommands([groupCreate(modules), groupShow(modules), groupEdit(modules), groupMembers(modules)])
  )

// ---------------------------------------------------------------------------------------------
// send
// ---------------------------------------------------------------------------------------------

const sendCommand = (modules: Module.Registry) =>
  Command.make(
    "send",
    {
      ...commonOptions,
      group: groupArg,
      text: Args.text({ name: "TEXT" }).pipe(Args.withDescription("the message")),
      id: Options.text("id").pipe(
        Options.optional,
        Options.withDescription(
          "the message's client id: sending again with the same id delivers it once (default: random)"
        )
      )
    },
    (args) =>
      session(args, modules, (s) =>
        Effect.gen(function* () {
          const id = Option.getOrElse(args.id, () => randomUUID())
          const reply = yield* ask(
            s,
            `sending to ${args.group}`,
            HttpClientRequest.post(groupPath(s, args.group, "/messages")).pipe(
              HttpClientRequest.bodyUnsafeJson({ text: args.text, id })
            ),
            // The client id makes a repeat harmless.
            { repeatable: true }
          )
          const sent = yield* decodeJson(Sent, `sending to ${args.group}`)(reply)
          return yield* print(args.json, sent, () =>
            "seq" in sent
              ? `sent ${sent.group} #${sent.seq}`
              : `accepted ${sent.group} (home region unreachable; will be delivered)`
          )
        })
      )
  ).pipe(Command.withDescription("send a message to a group"))

// ---------------------------------------------------------------------------------------------
// tail
// ---------------------------------------------------------------------------------------------

/**
 * One server-sent event: its type (`message` when the stream names none), data and id.
 *
 * @since 0.1.0
 * @category models
 */
export interface SseEvent {
  readonly event: string
  readonly data: string
  readonly id: string | undefined
}

/**
 * A server-sent events decoder: give it the text as it arrives, in any pieces; it returns the
 * events completed so far (comments and `retry` are skipped), or `Left` once a line or an event
 * is longer than `maxChars`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const sseDecoder = (maxChars: number = MAX_EVENT_CHARS) => {
  let buffer = ""
  let event = ""
  let data: Array<string> = []
  let size = 0
  let id: string | undefined
  const line = (text: string, out: Array<SseEvent>) => {
    if (text === "") {
      if (data.length > 0) out.push({ event: event === "" ? "message" : event, data: data.join("\n"), id })
      event = ""
      data = []
      size = 0
      id = undefined
      return
    }
    if (text.startsWith(":")) return
    const colon = text.indexOf(":")
    const field = colon < 0 ? text : text.slice(0, colon)
    const value = colon < 0 ? "" : text.slice(text[colon + 1] === " " ? colon + 2 : colon + 1)
    if (field === "event") event = value
    else if (field === "data") {
      data.push(value)
      size += value.length + 1
    } else if (field === "id" && !value.includes("\u0000")) id = value
  }
  return (chunk: string): Either.Either<ReadonlyArray<SseEvent>, string> => {
    buffer += chunk
    const out: Array<SseEvent> = []
    let start = 0
    for (;;) {
      const cr = buffer.indexOf("\r", start)
      const lf = buffer.indexOf("\n", start)
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf)
      if (end < 0) break
      // A CR at the very end may be the first half of CRLF: wait for the next piece.
      if (end === cr && end === buffer.length - 1) break
      line(buffer.slice(start, end), out)
      start = end + (end === cr && buffer[end + 1] === "\n" ? 2 : 1)
    }
    buffer = buffer.slice(start)
    if (buffer.length > maxChars || size > maxChars) {
      return Either.left(`an event of the stream is over ${maxChars} characters`)
    }
    return Either.right(out)
  }
}

/** An `error` event's `{error, message}` as text. */
const errorText = (data: string) =>
  Option.match(
    Schema.decodeUnknownOption(Schema.parseJson(Schema.Struct({ error: Schema.String, message: Schema.String })))(data),
    { onNone: () => data.slice(0, 200), onSome: (e) => `${e.error}: ${visible(e.message)}` }
  )

/** How one events connection ended: the stream closed or broke (reopen), or a refusal (stop). */
class StreamBroke extends Data.TaggedError("StreamBroke")<{ readonly reason: string; readonly wait?: number }> {}

const tailCommand = (modules: Module.Registry) =>
  Command.make(
    "tail",
    {
      ...commonOptions,
      group: groupArg,
      after: Options.integer("after").pipe(
        Options.withDefault(0),
        Options.withDescription("print messages after this sequence number")
      ),
      follow: Options.boolean("follow").pipe(
        Options.withAlias("f"),
        Options.withDescription("then wait for new messages and print them as they come (until Ctrl-C)")
      )
    },
    (args) =>
      args.after < 0
        ? Effect.fail(usage("--after must not be negative"))
        : session(args, modules, (s) =>
            Effect.gen(function* () {
              let last = args.after
              const show = (message: Message) =>
                Effect.suspend(() => {
                  if (message.seq <= last) return Effect.void
                  last = message.seq
                  return Console.log(args.json ? JSON.stringify(message) : formatMessage(message))
                })

              // The history, a page at a time.
              const what = `messages of ${args.group}`
              for (;;) {
                const reply = yield* ask(
                  s,
                  what,
                  HttpClientRequest.get(groupPath(s, args.group, "/messages"), {
                    urlParams: { after: String(last), limit: String(PAGE_LIMIT) }
                  }),
                  { repeatable: true }
                )
                const page = yield* decodeJson(Page, what)(reply)
                const before = last
                yield* Effect.forEach(page.messages, show, { discard: true })
                if (!page.more) break
                if (last === before) {
                  return yield* new ClientFailed({
                    message: `${what}: the server said there is more but sent none`,
                    code: 1
                  })
                }
              }
              if (!args.follow) return

              // Then the live stream, reopened from the last message printed whenever it breaks.
              const decodeMessage = Schema.decodeUnknownEither(Schema.parseJson(Message))
              const connect = Effect.gen(function* () {
                const client = yield* HttpClient.HttpClient
                const response = yield* client
                  .execute(
                    HttpClientRequest.get(groupPath(s, args.group, "/events"), {
                      urlParams: { after: String(last) }
                    }).pipe(
                      HttpClientRequest.bearerToken(s.token),
                      HttpClientRequest.setHeaders({
                        accept: "text/event-stream",
                        "cache-control": "no-cache",
                        "last-event-id": String(last)
                      })
                    )
                  )
                  .pipe(
                    Effect.timeoutFail({
                      duration: REQUEST_TIMEOUT,
                      onTimeout: () => new StreamBroke({ reason: "no answer" })
                    }),
                    Effect.catchTags({
                      RequestError: (e) => Effect.fail(new StreamBroke({ reason: reasonOf(e) })),
                      ResponseError: (e) => Effect.fail(new StreamBroke({ reason: reasonOf(e) }))
                    })
                  )
                if (response.status !== 200) {
                  const body = yield* Effect.orElseSucceed(response.text, () => "")
                  const reply: Reply = { status: response.status, headers: response.headers, body }
                  if (response.status === 503 || response.status >= 500) {
                    return yield* new StreamBroke({
                      reason: explainReply(reply),
                      ...(response.status === 503 && reply.headers["retry-after"] !== undefined
                        ? { wait: retryDelay(reply, 1) }
                        : {})
                    })
                  }
                  return yield* refused(`events of ${args.group}`, reply)
                }
                return response
              })

              let attempt = 0
              const connection = Effect.gen(function* () {
                const response = yield* connect
                const feed = sseDecoder()
                yield* response.stream.pipe(
                  Stream.decodeText(),
                  Stream.timeoutFail(
                    () => new StreamBroke({ reason: `nothing for ${Duration.format(STREAM_IDLE)}` }),
                    STREAM_IDLE
                  ),
                  Stream.mapError((e) => (e instanceof StreamBroke ? e : new StreamBroke({ reason: reasonOf(e) }))),
                  Stream.runForEach((text) =>
                    Effect.gen(function* () {
                      attempt = 0
                      const events = feed(text)
                      if (Either.isLeft(events)) {
                        return yield* new ClientFailed({ message: `events of ${args.group}: ${events.left}`, code: 1 })
                      }
                      for (const event of events.right) {
                        // The server ends a stream it cannot go on with by an `error` event: said, and
                        // the reconnection finds out whether it lasts (a refusal then ends the command).
                        if (event.event === "error") yield* s.note(`the stream ended: ${errorText(event.data)}`)
                        if (event.event !== "message") continue
                        const message = decodeMessage(event.data)
                        if (Either.isLeft(message)) {
                          yield* s.note(`skipped an event that is not a message: ${event.data.slice(0, 200)}`)
                          continue
                        }
                        yield* show(message.right)
                      }
                    })
                  )
                )
                return yield* new StreamBroke({ reason: "the server closed the stream" })
              }).pipe(Effect.scoped)

              for (;;) {
                const broke = yield* Effect.flip(connection)
                if (broke instanceof ClientFailed) return yield* broke
                attempt++
                const wait = broke.wait ?? backoff(attempt)
                yield* s.note(`${broke.reason}; reconnecting in ${(wait / 1000).toFixed(1)} s`)
                yield* Effect.sleep(wait)
              }
            })
          )
  ).pipe(
    Command.withDescription(
      "print a group's messages (`#seq from: text`, or JSON lines with --json); --follow then waits for new ones"
    )
  )

/**
 * `meridian chat group create|show|edit|members`, `chat send`, `chat tail`.
 *
 * @since 0.1.0
 * @category commands
 */
export const makeChatCommand = (modules: Module.Registry) =>
  Command.make("chat").pipe(
    Command.withDescription("group chat: groups, sending, reading and following messages"),
    Command.withSubcommands([groupCommand(modules), sendCommand(modules), tailCommand(modules)])
  )
