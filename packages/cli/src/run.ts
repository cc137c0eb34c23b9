/**
 * `meridian run --topology FILE --site NAME [--data DIR]`: one site of a deployment in this
 * process, until SIGINT/SIGTERM (then: stop accepting, drain mailboxes within a bound, close the
 * links and the database). `meridian up [FILE]`: every site of a topology as its own process,
 * logs prefixed by site, all stopped on Ctrl-C.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import type * as Module from "@meridian/core/site/Module"
import * as CryptoRandom from "@meridian/node/site/CryptoRandom"
import * as SiteNode from "@meridian/node/site/SiteNode"
import * as Stores from "@meridian/node/site/Stores"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { loadFile } from "./topology.js"

/**
 * A site could not start, or a site process of `up` failed. Already reported on stderr.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunFailed extends Data.TaggedError("RunFailed")<{ readonly reason: string }> {}

/**
 * The topology `up` runs without an argument: `./meridian.yaml` if present, else the
 * three-region example shipped with the CLI.
 *
 * @since 0.1.0
 * @category config
 */
export const bundledTopology = fileURLToPath(new URL("../../../examples/three-regions.yaml", import.meta.url))

/**
 * The environment variable naming the default topology file.
 *
 * @since 0.1.0
 * @category config
 */
export const TOPOLOGY_ENV = "MERIDIAN_TOPOLOGY"

/**
 * The topology file a command uses: the one given, else `$MERIDIAN_TOPOLOGY`, else
 * `./meridian.yaml` if present, else the bundled three-region example.
 *
 * @since 0.1.0
 * @category config
 */
export const topologyFile = (given: Option.Option<string>) =>
  Effect.gen(function* () {
    if (Option.isSome(given)) return given.value
    const env = process.env[TOPOLOGY_ENV]
    if (env !== undefined && env !== "") return env
    const fs = yield* FileSystem.FileSystem
    return (yield* fs.exists("meridian.yaml").pipe(Effect.orElseSucceed(() => false)))
      ? "meridian.yaml"
      : bundledTopology
  })

/**
 * Where `up` keeps the secret it generated when the topology and the environment have none, so the
 * next `up` (and `meridian account create --operator`) use the same one: tokens stay valid.
 *
 * @since 0.1.0
 * @category config
 */
export const LOCAL_SECRET = join(".meridian", "secret")

/**
 * The secret `up` generated earlier in this directory, if any.
 *
 * @since 0.1.0
 * @category config
 */
export const localSecret = (): string | undefined => {
  try {
    const text = readFileSync(LOCAL_SECRET, "utf8").trim()
    return text === "" ? undefined : text
  } catch {
    return undefined
  }
}

const bin = fileURLToPath(new URL("../bin/meridian.js", import.meta.url))

const fail = (reason: string) =>
  Effect.zipRight(Console.error(`meridian: ${reason}`), Effect.fail(new RunFailed({ reason })))

/**
 * @since 0.1.0
 * @category commands
 */
export const makeRunCommand = (modules: Module.Registry) =>
  Command.make(
    "run",
    {
      topology: Options.file("topology").pipe(Options.withDescription("topology file")),
      site: Options.text("site").pipe(Options.withDescription("the site of the topology to run here")),
      data: Options.directory("data").pipe(
        Options.optional,
        Options.withDescription("data directory (default ./.meridian/<site>)")
      )
    },
    (args) =>
      Effect.scoped(
        Effect.gen(function* () {
          const fs = yield* FileSystem.FileSystem
          const topology = yield* loadFile(args.topology, modules).pipe(
            Effect.mapError(() => new RunFailed({ reason: "invalid topology" }))
          )
          if (topology.sites[args.site] === undefined) {
            return yield* fail(
              `no site named ${args.site} in ${args.topology} (sites: ${Object.keys(topology.sites).join(", ")})`
            )
          }
          const secret = SiteNode.secretOf(topology, process.env)
          if (secret === undefined) {
            return yield* fail(
              `no shared secret: set \`secret\` in the topology or ${SiteNode.SECRET_ENV} in the environment`
            )
          }
          const dataDir = resolve(Option.getOrElse(args.data, () => join(".meridian", args.site)))
          yield* fs
            .makeDirectory(dataDir, { recursive: true })
            .pipe(Effect.catchAll((e) => fail(`cannot create ${dataDir}: ${e.message}`)))
          // Built in this command's scope: the database stays open as long as the site runs.
          const stores = yield* Layer.build(Stores.layer({ dataDir, secret }))
          const node = yield* SiteNode.start({ topology, site: args.site, modules, secret }).pipe(
            Effect.provide(stores),
            Effect.catchAll((e) => fail(e.message))
          )
          const http = node.http.map((h) => `http://${h.host}:${h.port}`).join(" ")
          yield* Console.log(
            `site ${args.site} running: tcp ${node.transport.address.host}:${node.transport.address.port}, ${http}, data ${dataDir}`
          )
          return yield* Effect.never
        }).pipe(
          // Salts and token ids come from the OS's CSPRNG in a real process.
          Effect.withRandom(CryptoRandom.make())
        )
      )
  ).pipe(Command.withDescription("run one site of a topology in this process (until SIGINT/SIGTERM)"))

/** Starts one child `meridian run`, its output prefixed with the site name. */
const child = (site: string, topology: string, secret: string): ChildProcess => {
  const proc = spawn(
    process.execPath,
    [bin, "run", "--topology", topology, "--site", site, "--data", join(".meridian", site)],
    {
      env: { ...process.env, [SiteNode.SECRET_ENV]: secret },
      stdio: ["ignore", "pipe", "pipe"]
    }
  )
  for (const stream of [proc.stdout, proc.stderr]) {
    if (stream === null) continue
    const out = stream === proc.stdout ? process.stdout : process.stderr
    createInterface({ input: stream }).on("line", (line) => out.write(`[${site}] ${line}\n`))
  }
  return proc
}

/** Stops a child: SIGTERM, then SIGKILL after `graceMillis`. */
const stop = (proc: ChildProcess, graceMillis: number) =>
  Effect.async<void>((resume) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resume(Effect.void)
    const timer = setTimeout(() => proc.kill("SIGKILL"), graceMillis)
    proc.once("exit", () => {
      clearTimeout(timer)
      resume(Effect.void)
    })
    proc.kill("SIGTERM")
  })

/**
 * @since 0.1.0
 * @category commands
 */
export const makeUpCommand = (modules: Module.Registry) =>
  Command.make(
    "up",
    {
      file: Args.file({ name: "FILE" }).pipe(
        Args.optional,
        Args.withDescription(
          "topology file (default $MERIDIAN_TOPOLOGY, else ./meridian.yaml, else the bundled three-region example)"
        )
      )
    },
    (args) =>
      Effect.scoped(
        Effect.gen(function* () {
          const file = yield* topologyFile(args.file)
          const topology = yield* loadFile(file, modules).pipe(
            Effect.mapError(() => new RunFailed({ reason: "invalid topology" }))
          )
          let secret = SiteNode.secretOf(topology, process.env) ?? localSecret()
          if (secret === undefined) {
            secret = randomBytes(24).toString("hex")
            mkdirSync(".meridian", { recursive: true, mode: 0o700 })
            writeFileSync(LOCAL_SECRET, secret + "\n", { mode: 0o600 })
            yield* Console.log(`meridian up: no shared secret configured; generated one in ${LOCAL_SECRET}`)
          }
          const sites = Object.keys(topology.sites).sort()
          yield* Console.log(`meridian up: ${topology.name} from ${file}: ${sites.join(", ")} (Ctrl-C stops all)`)
          const procs = yield* Effect.acquireRelease(
            Effect.sync(() => sites.map((site) => ({ site, proc: child(site, file, secret) }))),
            (children) =>
              Effect.forEach(children, ({ proc }) => stop(proc, 15_000), { concurrency: "unbounded", discard: true })
          )
          // Runs until interrupted (Ctrl-C), or until a site process ends by itself.
          const ended = yield* Effect.raceAll(
            procs.map(({ site, proc }) =>
              Effect.async<{ site: string; code: number | null }>((resume) => {
                proc.once("exit", (code) => resume(Effect.succeed({ site, code })))
              })
            )
          )
          return yield* fail(`site ${ended.site} exited (code ${ended.code}); stopping the others`)
        })
      )
  ).pipe(Command.withDescription("run every site of a topology, each as its own process"))
