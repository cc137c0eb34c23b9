/**
 * What the `chat` commands share: the contract's answers, the site (`--url`, `--site`, else a
 * site running `chat` in the logged-in user's home region, else the first site running `chat`),
 * the session a command talks in, and how groups and messages are printed.
 *
 * Requests that are safe to repeat are retried by the retry policy while the site cannot be
 * reached, and a 503 (busy, home region away) is asked again after its `Retry-After`.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Options from "@effect/cli/Options"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Group, Message } from "@meridian/core/chat/Protocol"
import { TokenPayload } from "@meridian/core/stores/Identity"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { baseUrl, ClientFailed, loadToken, loadTopology, targetOptions, usage, type Target } from "../client.js"
import { ask, decodeJson, refused, type Reply } from "../http.js"
import type { Retrying } from "../retry.js"
import { retriesOption } from "../retry.js"
import type { Modules } from "../modules.js"

// ---------------------------------------------------------------------------------------------
// the contract
// ---------------------------------------------------------------------------------------------

/**
 * A sent message's answer: numbered, or accepted for its home region to number.
 *
 * @since 0.1.0
 * @category models
 */
export const Sent = Schema.Union(
  Schema.Struct({ group: Schema.String, id: Schema.String, seq: Schema.Number }),
  Schema.Struct({ group: Schema.String, id: Schema.String, status: Schema.Literal("accepted") })
)

/**
 * A page of a group's history.
 *
 * @since 0.1.0
 * @category models
 */
export const Page = Schema.Struct({ group: Schema.String, messages: Schema.Array(Message), more: Schema.Boolean })

// ---------------------------------------------------------------------------------------------
// the session
// ---------------------------------------------------------------------------------------------

/**
 * Where and as whom a command talks, and how it retries (saying so on stderr, not with `--json`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Session {
  readonly url: string
  readonly token: string
  readonly retrying: Retrying
}

/**
 * A request until it is answered (see `http.ask`); an error status is a refusal.
 *
 * @since 0.1.0
 * @category requests
 */
export const request = (
  session: Session,
  what: string,
  request: HttpClientRequest.HttpClientRequest,
  options: { readonly repeatable: boolean }
): Effect.Effect<Reply, ClientFailed, HttpClient.HttpClient> =>
  ask(session.retrying, request.pipe(HttpClientRequest.bearerToken(session.token), HttpClientRequest.acceptJson), {
    what,
    where: session.url,
    repeatable: options.repeatable,
    busy: true
  }).pipe(
    Effect.filterOrFail(
      (reply) => reply.status >= 200 && reply.status < 300,
      (reply) => refused(what, reply)
    )
  )

/**
 * A group's address on the site, and below it.
 *
 * @since 0.1.0
 * @category requests
 */
export const groupPath = (session: Session, group: string, rest = "") =>
  `${session.url}/v1/chat/groups/${encodeURIComponent(group)}${rest}`

/**
 * A group, as its members see it.
 *
 * @since 0.1.0
 * @category requests
 */
export const getGroup = (session: Session, group: string) =>
  request(session, `group ${group}`, HttpClientRequest.get(groupPath(session, group)), { repeatable: true }).pipe(
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
export const chatSite = (target: Target, modules: Modules, token: string) =>
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

/**
 * The options of every `chat` command.
 *
 * @since 0.1.0
 * @category options
 */
export interface Common extends Target {
  readonly json: boolean
  readonly retries: number
}

/**
 * @since 0.1.0
 * @category options
 */
export const commonOptions = {
  ...targetOptions,
  site: Options.text("site").pipe(
    Options.optional,
    Options.withDescription("the site to talk to (default: a chat site of your home region, else the first chat site)")
  ),
  retries: retriesOption
}

/**
 * The saved token and the site; then `body` in that session.
 *
 * @since 0.1.0
 * @category requests
 */
export const session = <A, R>(
  common: Common,
  modules: Modules,
  body: (session: Session) => Effect.Effect<A, ClientFailed, R>
) =>
  Effect.gen(function* () {
    if (common.retries < 0) return yield* usage("--retries must not be negative")
    const saved = yield* loadToken
    const url = yield* chatSite(common, modules, saved.token)
    return yield* body({
      url,
      token: saved.token,
      retrying: { retries: common.retries, note: (line) => (common.json ? Effect.void : Console.error(line)) }
    })
  })

// ---------------------------------------------------------------------------------------------
// output
// ---------------------------------------------------------------------------------------------

/** C0 and C1 control characters but tab and newline. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g

/** Text from other people, made safe for a terminal: control characters shown, not obeyed. */
export const visible = (text: string) =>
  text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** A message as `#seq from: text`. */
export const formatMessage = (message: Message) => `#${message.seq} ${visible(message.from)}: ${visible(message.text)}`

const formatSetting = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value))

/** A group, a field a line. */
export const formatGroup = (group: Group) =>
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

/** A group's members and their home regions, as columns. */
export const formatMembers = (group: Group) => {
  const width = Math.max(4, ...group.members.map((m) => m.user.length))
  return [
    `${"USER".padEnd(width)}  HOME`,
    ...group.members.map((m) => `${m.user.padEnd(width)}  ${m.home}${m.user === group.owner ? "  (owner)" : ""}`)
  ].join("\n")
}

/** `--member a --member b,c` → `[a, b, c]`, without repeats. */
export const names = (given: ReadonlyArray<string>) =>
  [...new Set(given.flatMap((n) => n.split(",")).map((n) => n.trim()))].filter((n) => n !== "")

/** `--set KEY=VALUE...` as settings (the value may contain `=`; an empty one is allowed). */
export const settingsOf = (given: ReadonlyArray<string>) =>
  Effect.forEach(given, (pair) => {
    const at = pair.indexOf("=")
    return at <= 0
      ? Effect.fail(usage(`--set ${pair}: use KEY=VALUE`))
      : Effect.succeed([pair.slice(0, at), pair.slice(at + 1)] as const)
  }).pipe(Effect.map((pairs) => Object.fromEntries(pairs)))

/**
 * The GROUP argument.
 *
 * @since 0.1.0
 * @category options
 */
export const groupArg = Args.text({ name: "GROUP" }).pipe(Args.withDescription("the group's id"))
