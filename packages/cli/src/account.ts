/**
 * `meridian account create|login|logout|token`: accounts on the site API. `login` keeps the token
 * (see `client.ts`) for every other client command.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Prompt from "@effect/cli/Prompt"
import { Identity } from "@meridian/core/stores/Identity"
import { KeyValue } from "@meridian/core/stores/KeyValue"
import * as CryptoRandom from "@meridian/node/site/CryptoRandom"
import * as Secret from "@meridian/node/site/Secret"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { mkdirSync, rmSync } from "node:fs"
import { resolve } from "node:path"
import {
  baseUrl,
  ClientFailed,
  loadToken,
  loadTopology,
  print,
  saveToken,
  siteOf,
  targetOptions,
  tokenPath
} from "./client.js"
import { deploymentDir, localSecret, siteDataDir } from "./run.js"
import { call, callSite, clientFor } from "./siteApi.js"
import * as Flags from "./flags.js"
import type { Modules } from "./modules.js"

/**
 * The password: prompted on a terminal, else the first line of standard input. The prompt answers
 * a `Redacted` whose `toString` is the text `<redacted>`: the password is its `value`.
 */
const readPassword = Effect.suspend(() =>
  process.stdin.isTTY
    ? Prompt.run(Prompt.password({ message: "password" })).pipe(
        Effect.map(Redacted.value),
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

const accountCreate = (modules: Modules) =>
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
        Options.withDescription(
          "with --operator: the site's data directory (default ./.meridian/<topology name>/<site>, as up uses)"
        )
      )
    },
    (args) =>
      Effect.gen(function* () {
        const password = yield* readPassword
        if (!args.operator) {
          const url = yield* baseUrl(args, modules)
          const info = yield* call(
            url,
            `create account ${args.name}`,
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
        const secret = Secret.secretOf(topology, process.env) ?? localSecret()
        if (secret === undefined) {
          return yield* new ClientFailed({
            message: `no shared secret: set \`secret\` in the topology or ${Secret.SECRET_ENV}, or run \`meridian up\` here once`,
            code: 2
          })
        }
        const region = topology.sites[site]!.region
        const dataDir = resolve(Option.getOrElse(args.data, () => siteDataDir(deploymentDir(topology), site)))
        mkdirSync(dataDir, { recursive: true })
        // The site's stores and the accounts system, loaded only by this offline path.
        const [Accounts, Stores] = yield* Effect.promise(() =>
          Promise.all([import("@meridian/core/accounts/Accounts"), import("@meridian/node/site/Stores")])
        )
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

const accountLogin = (modules: Modules) =>
  Command.make(
    "login",
    {
      ...targetOptions,
      name: Args.text({ name: "NAME" }),
      ttl: Flags.integer("ttl-seconds").pipe(
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
          `log in as ${args.name}`,
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

const accountLogout = (modules: Modules) =>
  Command.make("logout", targetOptions, (args) =>
    Effect.gen(function* () {
      const saved = yield* loadToken
      const url = Option.isSome(args.url) || Option.isSome(args.site) ? yield* baseUrl(args, modules) : saved.url
      const result = yield* callSite(url, saved.token, `log out ${saved.name}`, (client) => client.accounts.logout())
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
export const makeAccountCommand = (modules: Modules) =>
  Command.make("account").pipe(
    Command.withDescription("accounts: create, login, logout, token"),
    Command.withSubcommands([accountCreate(modules), accountLogin(modules), accountLogout(modules), accountToken])
  )
