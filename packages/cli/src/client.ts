/**
 * What every client command shares: how it names the site it talks to (`--topology FILE`, else
 * `$MERIDIAN_TOPOLOGY`, else `./meridian.yaml`, else the bundled example; `--site NAME`, default
 * the first site by name; or `--url URL` directly), the token `login` keeps in
 * `$XDG_CONFIG_HOME/meridian/token.json` (mode 0600), how it prints an answer, and how it fails.
 * The commands are in `account.ts`, `status.ts`, `link.ts`, `deadletters.ts`, `chat/` and
 * `files/`; they all talk HTTP through `http.ts`.
 *
 * Exit codes: 0 done, 1 refused (the site answered with an error), 2 bad usage, 3 the site could
 * not be reached (after the retries), 4 not logged in (no token, or it expired).
 *
 * @since 0.1.0
 */
import * as Options from "@effect/cli/Options"
import { parseHostPort, type Topology } from "@meridian/core/topology/Topology"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { dirname, join } from "node:path"
import { topologyFile, TOPOLOGY_ENV } from "./run.js"
import { loadFile } from "./topology.js"
import type { Modules } from "./modules.js"

/**
 * A client command failed; `code` is the process exit code.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClientFailed extends Data.TaggedError("ClientFailed")<{
  readonly message: string
  readonly code: 1 | 2 | 3 | 4
  /** The server's refusal as it answered it (`error`, `status` and its fields), printed with `--json`. */
  readonly detail?: Readonly<Record<string, unknown>> | undefined
}> {}

/**
 * Bad usage: exit code 2.
 *
 * @since 0.1.0
 * @category errors
 */
export const usage = (message: string) => new ClientFailed({ message, code: 2 })

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
/**
 * What `login` keeps: the token, whose it is, until when, and the site that issued it.
 *
 * @since 0.1.0
 * @category config
 */
export type Saved = typeof Saved.Type

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

/**
 * Keeps the token, readable by the user only.
 *
 * @since 0.1.0
 * @category config
 */
export const saveToken = (saved: Saved) =>
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

/**
 * The topology the command names (or the default one).
 *
 * @since 0.1.0
 * @category options
 */
export const loadTopology = (target: Pick<Target, "topology">, modules: Modules) =>
  Effect.gen(function* () {
    const file = yield* topologyFile(target.topology)
    return yield* loadFile(file, yield* modules).pipe(
      Effect.mapError(() => new ClientFailed({ message: `invalid topology ${file}`, code: 2 }))
    )
  })

/**
 * The site named (default: the first by name), if the topology has it.
 *
 * @since 0.1.0
 * @category options
 */
export const siteOf = (topology: Topology, site: Option.Option<string>) => {
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
export const baseUrl = (target: Target, modules: Modules) =>
  Effect.gen(function* () {
    if (Option.isSome(target.url)) return target.url.value.replace(/\/+$/, "")
    const topology = yield* loadTopology(target, modules)
    const site = yield* siteOf(topology, target.site)
    const address = parseHostPort(topology.sites[site]!.http)!
    const host = address.host === "0.0.0.0" || address.host === "::" ? "127.0.0.1" : address.host
    return `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`
  })

/**
 * The answer on standard output: JSON with `--json`, else the human form.
 *
 * @since 0.1.0
 * @category output
 */
export const print = (json: boolean, value: unknown, human: () => string) =>
  Console.log(json ? JSON.stringify(value, null, 2) : human())
