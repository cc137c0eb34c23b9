/**
 * Client and operator commands: `account create|login|logout|token`, `status`, `link down|up`,
 * `deadletters list|replay|purge`. They find a site through the topology (`--topology FILE`, else
 * `$MERIDIAN_TOPOLOGY`, else `./meridian.yaml`, else the bundled example; `--site NAME`, default
 * the first site by name) or take `--url URL` directly, and call the site API with a client
 * derived from its definition. `login` keeps the token in `$XDG_CONFIG_HOME/meridian/token.json`
 * (mode 0600).
 *
 * Exit codes: 0 done, 1 refused (the site answered with an error), 2 bad usage, 3 the site could
 * not be reached, 4 not logged in (no token, or it expired).
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Prompt from "@effect/cli/Prompt"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Accounts from "@meridian/core/accounts/Accounts"
import { SiteApi } from "@meridian/core/api/SiteApi"
import type * as Module from "@meridian/core/site/Module"
import { Identity } from "@meridian/core/stores/Identity"
import { KeyValue } from "@meridian/core/stores/KeyValue"
import { parseHostPort, type Topology } from "@meridian/core/topology/Topology"
import * as CryptoRandom from "@meridian/node/site/CryptoRandom"
import * as SiteNode from "@meridian/node/site/SiteNode"
import * as Stores from "@meridian/node/site/Stores"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { localSecret, topologyFile, TOPOLOGY_ENV } from "./run.js"
import { loadFile } from "./topology.js"

/**
 * A client command failed; `code` is the process exit code.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClientFailed extends Data.TaggedError("ClientFailed")<{
  readonly message: string
  readonly code: 1 | 2 | 3 | 4
}> {}

/**
 * Where `login` keeps the token.
 *
 * @since 0.1.0
 * @category config
 */
export const tokenPath = () => {
  const base = process.env.XDG_CONFIG_HOME
  return join(base !== undefined && base !== "" ? base : join(homedir(), ".config"), "meridian", "token.json")
}

const Saved = Schema.parseJson(
  Schema.Struct({
    token: Schema.String,
    name: Schema.String,
    roles: Schema.Array(Schema.String),
    expiresAt: Schema.Number,
    url: Schema.String
  })
)
type Saved = typeof Saved.Type

/**
 * The saved token, or why there is none (exit code 4).
 *
 * @since 0.1.0
 * @category config
 */
export const loadToken = Effect.suspend(() => {
  let text: string
  try {
    text = readFileSync(tokenPath(), "utf8")
  } catch {
    return Effect.fail(new ClientFailed({ message: "not logged in (meridian account login NAME)", code: 4 }))
  }
  return Schema.decodeUnknown(Saved)(text).pipe(
    Effect.mapError(() => new ClientFailed({ message: `${tokenPath()} is unreadable; log in again`, code: 4 })),
    Effect.filterOrFail(
      (saved) => saved.expiresAt > Date.now(),
      () => new ClientFailed({ message: "the saved token has expired; log in again", code: 4 })
    )
  )
})

const saveToken = (saved: Saved) =>
  Effect.sync(() => {
    const file = tokenPath()
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    writeFileSync(file, JSON.stringify(saved) + "\n", { mode: 0o600 })
    chmodSync(file, 0o600)
  })

// ---------------------------------------------------------------------------------------------
// finding the site
// ---------------------------------------------------------------------------------------------

/**
 * `--topology/--site/--url/--json`: how every client command names the site it talks to.
 *
 * @since 0.1.0
 * @category options
 */
export const targetOptions = {
  topology: Options.file("topology").pipe(
    Options.optional,
    Options.withDescription(`topology file (default $${TOPOLOGY_ENV}, ./meridian.yaml, the bundled example)`)
  ),
  site: Options.text("site").pipe(
    Options.optional,
    Options.withDescription("the site to talk to (default: the first by name)")
  ),
  url: Options.text("url").pipe(
    Options.optional,
    Options.withDescription("the site's HTTP address, instead of --topology/--site")
  ),
  json: Options.boolean("json").pipe(Options.withDescription("print the answer as JSON"))
}

/**
 * @since 0.1.0
 * @category options
 */
export interface Target {
  readonly topology: Option.Option<string>
  readonly site: Option.Option<string>
  readonly url: Option.Option<string>
}

export const loadTopology = (target: Pick<Target, "topology">, modules: Module.Registry) =>
  Effect.gen(function* () {
    const file = yield* topologyFile(target.topology)
    return yield* loadFile(file, modules).pipe(
      Effect.mapError(() => new ClientFailed({ message: `invalid topology ${file}`, code: 2 }))
    )
  })

const siteOf = (topology: Topology, site: Option.Option<string>) => {
  const name = Option.getOrElse(site, () => Object.keys(topology.sites).sort()[0]!)
  return topology.sites[name] === undefined
    ? Effect.fail(
        new ClientFailed({
          message: `no site named ${name} (sites: ${Object.keys(topology.sites).join(", ")})`,
          code: 2
        })
      )
    : Effect.succeed(name)
}

/**
 * The HTTP address of the site a command talks to: `--url`, else `--site` of the topology.
 *
 * @since 0.1.0
 * @category options
 */
export const baseUrl = (target: Target, modules: Module.Registry) =>
  Effect.gen(function* () {
    if (Option.isSome(target.url)) return target.url.value.replace(/\/+$/, "")
    const topology = yield* loadTopology(target, modules)
    const site = yield* siteOf(topology, target.site)
    const address = parseHostPort(topology.sites[site]!.http)!
    const host = address.host === "0.0.0.0" || address.host === "::" ? "127.0.0.1" : address.host
    return `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`
  })

const clientFor = (url: string, token?: string) =>
  HttpApiClient.make(SiteApi, {
    baseUrl: url,
    ...(token === undefined ? {} : { transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(token)) })
  })

/** Every failure of a call, as a message and an exit code. */
const explain =
  (url: string) =>
  (error: unknown): ClientFailed => {
    if (error instanceof ClientFailed) return error
    const tagged =
      typeof error === "object" && error !== null && "_tag" in error ? (error as { _tag: string }) : undefined
    if (tagged?._tag === "RequestError") {
      return new ClientFailed({ message: `cannot reach ${url}`, code: 3 })
    }
    const fields = tagged === undefined ? "" : JSON.stringify(Object.fromEntries(Object.entries(tagged)))
    const message =
      tagged?._tag === "ResponseError" || tagged?._tag === "ParseError"
        ? `unexpected answer from ${url}: ${String((error as { message?: unknown }).message)}`
        : `${tagged?._tag ?? "error"} ${fields}`
    return new ClientFailed({ message, code: 1 })
  }

/** Runs a call against the site with the HTTP client it needs, mapping every failure. */
const call = <A, E>(url: string, effect: Effect.Effect<A, E, HttpClient.HttpClient>) =>
  effect.pipe(Effect.mapError(explain(url)), Effect.provide(FetchHttpClient.layer))

/**
 * The answer on standard output: JSON with `--json`, else the human form.
 *
 * @since 0.1.0
 * @category output
 */
export const print = (json: boolean, value: unknown, human: () => string) =>
  Console.log(json ? JSON.stringify(value, null, 2) : human())

/** The password: prompted on a terminal, else the first line of standard input. */
const readPassword = Effect.suspend(() =>
  process.stdin.isTTY
    ? Prompt.run(Prompt.password({ message: "password" })).pipe(
        Effect.map((r) => r.toString()),
        Effect.mapError(() => new ClientFailed({ message: "no password given", code: 2 }))
      )
    : Effect.tryPromise({
        try: async () => {
          const chunks: Array<Buffer> = []
          for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
          return Buffer.concat(chunks).toString("utf8").split(/\r?\n/)[0] ?? ""
        },
        catch: () => new ClientFailed({ message: "cannot read the password from standard input", code: 2 })
      })
)

// ---------------------------------------------------------------------------------------------
// account
// ---------------------------------------------------------------------------------------------

const accountCreate = (modules: Module.Registry) =>
  Command.make(
    "create",
    {
      ...targetOptions,
      name: Args.text({ name: "NAME" }),
      region: Options.text("region").pipe(
        Options.optional,
        Options.withDescription("home region (default: the region of the site asked)")
      ),
      operator: Options.boolean("operator").pipe(
        Options.withDescription("create an operator locally, in --site's data directory (not over the network)")
      ),
      data: Options.directory("data").pipe(
        Options.optional,
        Options.withDescription("with --operator: the site's data directory (default ./.meridian/<site>)")
      )
    },
    (args) =>
      Effect.gen(function* () {
        const password = yield* readPassword
        if (!args.operator) {
          const url = yield* baseUrl(args, modules)
          const info = yield* call(
            url,
            Effect.flatMap(clientFor(url), (client) =>
              client.accounts.register({
                payload: {
                  name: args.name,
                  password,
                  ...(Option.isSome(args.region) ? { region: args.region.value } : {})
                }
              })
            )
          )
          return yield* print(args.json, info, () => `account ${info.name} created (home region ${info.homeRegion})`)
        }
        // The first operator: written straight into the site's database; its name is claimed at
        // its arbiter by a durable message the site sends when it next runs.
        const topology = yield* loadTopology(args, modules)
        if (Option.isNone(args.site)) {
          return yield* new ClientFailed({ message: "--operator needs --site (the site whose data to write)", code: 2 })
        }
        const site = yield* siteOf(topology, args.site)
        const secret = SiteNode.secretOf(topology, process.env) ?? localSecret()
        if (secret === undefined) {
          return yield* new ClientFailed({
            message: `no shared secret: set \`secret\` in the topology or ${SiteNode.SECRET_ENV}, or run \`meridian up\` here once`,
            code: 2
          })
        }
        const region = topology.sites[site]!.region
        const dataDir = resolve(Option.getOrElse(args.data, () => join(".meridian", site)))
        mkdirSync(dataDir, { recursive: true })
        const info = yield* Effect.scoped(
          Effect.gen(function* () {
            const stores = yield* Layer.build(Stores.layer({ dataDir, secret }))
            return yield* Effect.gen(function* () {
              const identity = yield* Identity
              const created = yield* identity.register(args.name, password, ["operator", "user"], region)
              yield* Accounts.markPendingClaim(yield* KeyValue, args.name, region)
              return created
            }).pipe(Effect.provide(stores))
          })
        ).pipe(
          Effect.withRandom(CryptoRandom.make()),
          Effect.mapError((e) => new ClientFailed({ message: `${e._tag}: ${e.message}`, code: 1 }))
        )
        return yield* print(
          args.json,
          info,
          () => `operator ${info.name} created on site ${site} (home region ${info.homeRegion}, data ${dataDir})`
        )
      })
  ).pipe(
    Command.withDescription(
      "create an account: a user over the network, or with --operator an operator in a site's data directory " +
        "(password from the terminal, or the first line of standard input)"
    )
  )

const accountLogin = (modules: Module.Registry) =>
  Command.make(
    "login",
    {
      ...targetOptions,
      name: Args.text({ name: "NAME" }),
      ttl: Options.integer("ttl-seconds").pipe(
        Options.optional,
        Options.withDescription("token lifetime (default 12 hours, at most 30 days)")
      )
    },
    (args) =>
      Effect.gen(function* () {
        const password = yield* readPassword
        const url = yield* baseUrl(args, modules)
        const issued = yield* call(
          url,
          Effect.flatMap(clientFor(url), (client) =>
            client.accounts.login({
              payload: {
                name: args.name,
                password,
                ...(Option.isSome(args.ttl) ? { ttlSeconds: args.ttl.value } : {})
              }
            })
          )
        )
        const { principal } = issued
        yield* saveToken({
          token: issued.token,
          name: principal.name,
          roles: principal.roles,
          expiresAt: principal.expiresAt,
          url
        })
        return yield* print(
          args.json,
          { ...principal, tokenFile: tokenPath() },
          () =>
            `logged in as ${principal.name} (${principal.roles.join(", ")}) until ${new Date(principal.expiresAt).toISOString()}; token in ${tokenPath()}`
        )
      })
  ).pipe(Command.withDescription("log in (password from the terminal or standard input) and keep the token"))

const accountLogout = (modules: Module.Registry) =>
  Command.make("logout", targetOptions, (args) =>
    Effect.gen(function* () {
      const saved = yield* loadToken
      const url = Option.isSome(args.url) || Option.isSome(args.site) ? yield* baseUrl(args, modules) : saved.url
      const result = yield* call(
        url,
        Effect.flatMap(clientFor(url, saved.token), (client) => client.accounts.logout())
      )
      rmSync(tokenPath(), { force: true })
      return yield* print(
        args.json,
        result,
        () => `logged out; token ${result.tokenId} revoked here and sent to ${result.sitesTold} other site(s)`
      )
    })
  ).pipe(Command.withDescription("revoke the saved token at every site and forget it"))

const accountToken = Command.make("token", {}, () =>
  Effect.flatMap(loadToken, (saved) => Console.log(saved.token))
).pipe(Command.withDescription("print the saved token (for scripts: Authorization: Bearer …)"))

/**
 * @since 0.1.0
 * @category commands
 */
export const makeAccountCommand = (modules: Module.Registry) =>
  Command.make("account").pipe(
    Command.withDescription("accounts: create, login, logout, token"),
    Command.withSubcommands([accountCreate(modules), accountLogin(modules), accountLogout(modules), accountToken])
  )

// ---------------------------------------------------------------------------------------------
// status, link, deadletters
// ---------------------------------------------------------------------------------------------

/**
 * `meridian status`: the operator's detailed status when logged in as one, else the public one.
 *
 * @since 0.1.0
 * @category commands
 */
export const makeStatusCommand = (modules: Module.Registry) =>
  Command.make("status", targetOptions, (args) =>
    Effect.gen(function* () {
      const url = yield* baseUrl(args, modules)
      const saved = yield* Effect.option(loadToken)
      const status: Record<string, unknown> =
        Option.isSome(saved) && saved.value.roles.includes("operator")
          ? yield* call(
              url,
              Effect.flatMap(clientFor(url, saved.value.token), (client) => client.admin.status())
            )
          : yield* call(
              url,
              Effect.flatMap(HttpClient.HttpClient, (client) =>
                Effect.flatMap(client.get(`${url}/status`), (r) => r.json)
              )
            ).pipe(Effect.map((v) => v as Record<string, unknown>))
      return yield* print(args.json, status, () => {
        const links = (status.links ?? {}) as Record<string, string>
        const routes = (status.routes ?? {}) as Record<string, string>
        const maintenance = (status.maintenance ?? []) as ReadonlyArray<string>
        const actors = (status.actors ?? []) as ReadonlyArray<{ name: string; mailboxDepth: number; status: string }>
        const dead = (status.deadLetters ?? {}) as Record<string, number>
        return [
          `site ${String(status.site)}: modules ${((status.modules ?? []) as ReadonlyArray<string>).join(", ")}`,
          "links:",
          ...Object.entries(links).map(
            ([peer, state]) => `  ${peer}: ${state}${maintenance.includes(peer) ? " (maintenance)" : ""}`
          ),
          "routes:",
          ...Object.entries(routes).map(([to, via]) => `  ${to} via ${via}`),
          "actors:",
          ...actors.map((a) => `  ${a.name}: ${a.status}, ${a.mailboxDepth} queued`),
          `dead letters: ${
            Object.entries(dead)
              .map(([reason, n]) => `${reason} ${n}`)
              .join(", ") || "none"
          }`
        ].join("\n")
      })
    })
  ).pipe(Command.withDescription("show a site's links, routes, actors and dead letters"))

const linkCommand = (modules: Module.Registry, direction: "down" | "up") =>
  Command.make(
    direction,
    { ...targetOptions, peer: Options.text("peer").pipe(Options.withDescription("the neighbour at the other end")) },
    (args) =>
      Effect.gen(function* () {
        const saved = yield* loadToken
        const url = yield* baseUrl(args, modules)
        const result = yield* call(
          url,
          Effect.flatMap(clientFor(url, saved.token), (client) =>
            direction === "down"
              ? client.admin.linkDown({ path: { peer: args.peer } })
              : client.admin.linkUp({ path: { peer: args.peer } })
          )
        )
        return yield* print(
          args.json,
          result,
          () =>
            `link to ${args.peer} ${direction === "down" ? "taken out of service" : "back in service"}; routes: ${Object.entries(
              result.routes
            )
              .map(([to, via]) => `${to} via ${via}`)
              .join(", ")}`
        )
      })
  ).pipe(
    Command.withDescription(
      direction === "down"
        ? "take a link out of service (maintenance): traffic is routed around it"
        : "put a link back in service"
    )
  )

/**
 * @since 0.1.0
 * @category commands
 */
export const makeLinkCommand = (modules: Module.Registry) =>
  Command.make("link").pipe(
    Command.withDescription("link maintenance (operator)"),
    Command.withSubcommands([linkCommand(modules, "down"), linkCommand(modules, "up")])
  )

const ids = Args.integer({ name: "ID" }).pipe(Args.repeated)
const all = Options.boolean("all").pipe(Options.withDescription("every dead letter (when no ids are given)"))

const chosen = (given: ReadonlyArray<number>, everything: boolean) =>
  given.length > 0
    ? Effect.succeed({ ids: given })
    : everything
      ? Effect.succeed({})
      : Effect.fail(new ClientFailed({ message: "name the dead letters by id, or pass --all", code: 2 }))

/**
 * @since 0.1.0
 * @category commands
 */
export const makeDeadLettersCommand = (modules: Module.Registry) =>
  Command.make("deadletters").pipe(
    Command.withDescription("dead letters of a site (operator): list, replay, purge"),
    Command.withSubcommands([
      Command.make(
        "list",
        { ...targetOptions, limit: Options.integer("limit").pipe(Options.withDefault(100)) },
        (args) =>
          Effect.gen(function* () {
            const saved = yield* loadToken
            const url = yield* baseUrl(args, modules)
            const result = yield* call(
              url,
              Effect.flatMap(clientFor(url, saved.token), (client) =>
                client.admin.deadLetters({ urlParams: { limit: args.limit } })
              )
            )
            return yield* print(args.json, result, () =>
              result.letters.length === 0
                ? `no dead letters (${result.total} since the site started)`
                : result.letters
                    .map(
                      (l) =>
                        `${l.id}\t${new Date(l.at).toISOString()}\t${l.reason}\t${l.tag || "-"}\t${l.from || "-"} -> ${l.to}\t${l.replayable ? "replayable" : "-"}\t${l.detail}`
                    )
                    .join("\n")
            )
          })
      ).pipe(Command.withDescription("the newest dead letters, newest first")),
      Command.make("replay", { ...targetOptions, ids, all }, (args) =>
        Effect.gen(function* () {
          const saved = yield* loadToken
          const payload = yield* chosen(args.ids, args.all)
          const url = yield* baseUrl(args, modules)
          const result = yield* call(
            url,
            Effect.flatMap(clientFor(url, saved.token), (client) => client.admin.replayDeadLetters({ payload }))
          )
          return yield* print(
            args.json,
            result,
            () =>
              `replayed ${result.replayed.length}; kept ${result.kept.length}${result.kept
                .map((k) => `\n  ${k.id}: ${k.reason}`)
                .join("")}; unknown ${result.unknown.length}`
          )
        })
      ).pipe(Command.withDescription("send dead tells again")),
      Command.make("purge", { ...targetOptions, ids, all }, (args) =>
        Effect.gen(function* () {
          const saved = yield* loadToken
          const payload = yield* chosen(args.ids, args.all)
          const url = yield* baseUrl(args, modules)
          const result = yield* call(
            url,
            Effect.flatMap(clientFor(url, saved.token), (client) => client.admin.purgeDeadLetters({ payload }))
          )
          return yield* print(args.json, result, () => `purged ${result.purged}`)
        })
      ).pipe(Command.withDescription("forget dead letters"))
    ])
  )
