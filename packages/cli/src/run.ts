/**
 * `meridian run --topology FILE --site NAME`: one site of a deployment in this process, until
 * SIGINT/SIGTERM (then: stop accepting, drain mailboxes within a bound, close the links and the
 * database). `meridian up [FILE]`: every site of a topology as its own process, logs prefixed by
 * site, a site that exits restarted with back-off while the others keep running, all stopped on
 * Ctrl-C or by `meridian down` from another terminal.
 *
 * Both keep a deployment's data under `./.meridian/<topology name>/<site>/` (two topologies with
 * sites of the same names never share files) and take the shared secret from the topology, else
 * `$MERIDIAN_SECRET`, else `./.meridian/secret` (which `up` writes when there is none).
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import type { Topology } from "@meridian/core/topology/Topology"
import * as CryptoRandom from "@meridian/node/site/CryptoRandom"
import * as DataLock from "@meridian/node/site/DataLock"
import * as Secret from "@meridian/node/site/Secret"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
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
import { parseDuration } from "./units.js"
import type { Modules } from "./modules.js"

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

/**
 * Where a deployment's data lives unless `--data-dir` says otherwise: `./.meridian/<topology
 * name>`, one directory per site under it. Named after the topology, so that the three-region
 * and the four-region examples (both with sites n1, s1, w1) never open each other's databases.
 *
 * @since 0.1.0
 * @category config
 */
export const deploymentDir = (topology: Topology, given: Option.Option<string> = Option.none()): string =>
  resolve(Option.getOrElse(given, () => join(".meridian", topology.name)))

/**
 * The data directory of `site` in the deployment directory `root`.
 *
 * @since 0.1.0
 * @category config
 */
export const siteDataDir = (root: string, site: string): string => join(root, site)

/**
 * The pid file of a running `up`, in its deployment directory: it locks the deployment (a second
 * `up` of it fails at once) and tells `meridian down` whom to stop.
 *
 * @since 0.1.0
 * @category config
 */
export const UP_PID = "up.pid"

/**
 * The shared secret of a deployment: the topology's `secret:`, else `$MERIDIAN_SECRET`, else
 * the one `up` generated in {@link LOCAL_SECRET}.
 *
 * @since 0.1.0
 * @category config
 */
export const secretFor = (topology: Topology): string | undefined =>
  Secret.secretOf(topology, process.env) ?? localSecret()

/**
 * What to say when {@link secretFor} finds none: every place it looked, and how to set one.
 *
 * @since 0.1.0
 * @category config
 */
export const noSecretMessage = (file: string) =>
  `no shared secret: looked for \`secret:\` in ${file}, for $${Secret.SECRET_ENV}, and for the file ` +
  `${resolve(LOCAL_SECRET)} (none there); set one of them, the same for every site ` +
  `(e.g. ${Secret.SECRET_ENV}=$(openssl rand -hex 24)), or run \`meridian up\` in this directory once to generate the file`

/**
 * How `up` restarts a site that exited: the first restart after `initialDelay`, each next one
 * twice as late up to `maxDelay`; at most `maxRestarts` restarts within `window`, after which
 * `up` gives up on that site (the others keep running).
 *
 * @since 0.1.0
 * @category models
 */
export interface RestartPolicy {
  readonly initialDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
  readonly maxRestarts: number
  readonly window: Duration.Duration
}

/**
 * `up`'s restart policy unless told otherwise (`--restart-delay`, `--restart-delay-max`,
 * `--max-restarts`, `--restart-window`): 1 s, 2 s, 4 s, 8 s, 16 s, then it gives up on the site
 * when it exits a sixth time within a minute.
 *
 * @since 0.1.0
 * @category limits
 */
export const RESTART_DEFAULTS: RestartPolicy = {
  initialDelay: Duration.seconds(1),
  maxDelay: Duration.seconds(30),
  maxRestarts: 5,
  window: Duration.seconds(60)
}

/**
 * The wait before the `n`-th restart (1-based) of a site within the policy's window.
 *
 * @since 0.1.0
 * @category limits
 */
export const restartDelay = (policy: RestartPolicy, n: number): Duration.Duration =>
  Duration.min(Duration.times(policy.initialDelay, 2 ** Math.min(Math.max(n - 1, 0), 30)), policy.maxDelay)

/**
 * How long `up` gives a site to stop after SIGTERM before it kills it (`--stop-grace`).
 *
 * @since 0.1.0
 * @category limits
 */
export const STOP_GRACE = Duration.seconds(15)

/**
 * How long `meridian down` waits for `up` to exit (`--timeout`): longer than {@link STOP_GRACE},
 * which `up` may spend on each site (all at once).
 *
 * @since 0.1.0
 * @category limits
 */
export const DOWN_TIMEOUT = Duration.seconds(30)

/** How often `down` looks whether `up` has exited. */
const DOWN_POLL = Duration.millis(100)

const bin = fileURLToPath(new URL("../bin/meridian.js", import.meta.url))

const fail = (reason: string) =>
  Effect.zipRight(Console.error(`meridian: ${reason}`), Effect.fail(new RunFailed({ reason })))

/** A duration as the duration options take it: `1s`, `1m`. */
const fmt = (duration: Duration.Duration) => Duration.format(duration).replace(/ /g, "")

/** `--NAME 90s` as a duration, or a usage failure naming the flag. */
const durationOption = (name: string, text: string) => {
  const seconds = parseDuration(text)
  return Option.isSome(seconds)
    ? Effect.succeed(Duration.seconds(seconds.value))
    : fail(`--${name} ${text}: use a duration such as 5s, 2m, 1h (or seconds)`)
}

const dataDirOption = Options.directory("data-dir").pipe(
  Options.optional,
  Options.withDescription(
    "the deployment's data directory, one directory per site in it (default ./.meridian/<topology name>)"
  )
)

/**
 * @since 0.1.0
 * @category commands
 */
export const makeRunCommand = (modules: Modules) =>
  Command.make(
    "run",
    {
      topology: Options.file("topology").pipe(Options.withDescription("topology file")),
      site: Options.text("site").pipe(Options.withDescription("the site of the topology to run here")),
      dataDir: dataDirOption,
      data: Options.directory("data").pipe(
        Options.optional,
        Options.withDescription("this site's own data directory (default <data-dir>/<site>, as `meridian up` uses)")
      )
    },
    (args) =>
      Effect.scoped(
        Effect.gen(function* () {
          const fs = yield* FileSystem.FileSystem
          const topology = yield* loadFile(args.topology, yield* modules).pipe(
            Effect.mapError(() => new RunFailed({ reason: "invalid topology" }))
          )
          if (topology.sites[args.site] === undefined) {
            return yield* fail(
              `no site named ${args.site} in ${args.topology} (sites: ${Object.keys(topology.sites).join(", ")})`
            )
          }
          if (Option.isSome(args.data) && Option.isSome(args.dataDir)) {
            return yield* fail("give --data (this site's directory) or --data-dir (the deployment's), not both")
          }
          const secret = secretFor(topology)
          if (secret === undefined) return yield* fail(noSecretMessage(args.topology))
          const dataDir = resolve(
            Option.getOrElse(args.data, () => siteDataDir(deploymentDir(topology, args.dataDir), args.site))
          )
          yield* fs
            .makeDirectory(dataDir, { recursive: true })
            .pipe(Effect.catchAll((e) => fail(`cannot create ${dataDir}: ${e.message}`)))
          // The site's code, loaded only by the command that runs one.
          const [SiteNode, Stores] = yield* Effect.promise(() =>
            Promise.all([import("@meridian/node/site/SiteNode"), import("@meridian/node/site/Stores")])
          )
          // Built in this command's scope: the database stays open (and its directory locked) as
          // long as the site runs.
          const stores = yield* Layer.build(Stores.layer({ dataDir, secret })).pipe(
            Effect.catchAll((e) => fail(`cannot run site ${args.site}: ${e.message}`))
          )
          const node = yield* SiteNode.start({ topology, site: args.site, modules: yield* modules, secret }).pipe(
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

/** How a child process ended. */
interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly error?: string
}

const describeEnd = (end: Ended) =>
  end.error !== undefined
    ? `could not start (${end.error})`
    : end.signal !== null
      ? `was killed (${end.signal})`
      : `exited (code ${end.code})`

interface Child {
  readonly proc: ChildProcess
  readonly ended: Promise<Ended>
}

/**
 * Starts one child `meridian run`, its output prefixed with the site name. In a process group of
 * its own: a Ctrl-C at the terminal reaches `up` alone, which stops each site once, cleanly.
 */
const child = (site: string, topology: string, dataDir: string, secret: string): Child => {
  const proc = spawn(process.execPath, [bin, "run", "--topology", topology, "--site", site, "--data", dataDir], {
    env: { ...process.env, [Secret.SECRET_ENV]: secret },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true
  })
  const ended = new Promise<Ended>((resolve) => {
    proc.once("exit", (code, signal) => resolve({ code, signal }))
    proc.once("error", (error) => resolve({ code: null, signal: null, error: error.message }))
  })
  for (const stream of [proc.stdout, proc.stderr]) {
    if (stream === null) continue
    const out = stream === proc.stdout ? process.stdout : process.stderr
    createInterface({ input: stream }).on("line", (line) => out.write(`[${site}] ${line}\n`))
  }
  return { proc, ended }
}

/** Stops a child: SIGTERM, then SIGKILL after `grace`; says how it ended. */
const stop = (site: string, { ended, proc }: Child, grace: Duration.Duration) =>
  Effect.gen(function* () {
    if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return
    const timer = setTimeout(() => proc.kill("SIGKILL"), Duration.toMillis(grace))
    proc.kill("SIGTERM")
    const end = yield* Effect.promise(() => ended)
    clearTimeout(timer)
    yield* end.signal === "SIGKILL"
      ? Console.error(`meridian up: site ${site} did not stop within ${Duration.format(grace)}; killed it`)
      : end.code === 0
        ? Console.log(`meridian up: site ${site} stopped`)
        : Console.error(`meridian up: site ${site} ${describeEnd(end)} while stopping`)
  })

/**
 * Runs `site` until interrupted: started again after each exit as `policy` says, until it exits
 * once more than the policy allows within its window (then this returns).
 */
const supervise = (options: {
  readonly site: string
  readonly start: () => Child
  readonly policy: RestartPolicy
  readonly grace: Duration.Duration
  readonly supervised: Set<string>
}) =>
  Effect.gen(function* () {
    const { policy, site } = options
    const restarts: Array<number> = []
    while (true) {
      const end = yield* Effect.scoped(
        Effect.acquireRelease(Effect.sync(options.start), (c) => stop(site, c, options.grace)).pipe(
          Effect.flatMap((c) => Effect.promise(() => c.ended))
        )
      )
      const now = yield* Clock.currentTimeMillis
      while (restarts.length > 0 && restarts[0]! <= now - Duration.toMillis(policy.window)) restarts.shift()
      const others = [...options.supervised].filter((s) => s !== site)
      const othersRun = others.length === 0 ? "no other site runs" : `${others.join(", ")} keep running`
      if (restarts.length >= policy.maxRestarts) {
        options.supervised.delete(site)
        const why =
          policy.maxRestarts === 0
            ? "not restarting it (--max-restarts 0)"
            : `gave up on it: ${restarts.length} restarts within ${Duration.format(policy.window)} already (--max-restarts, --restart-window)`
        return yield* Console.error(`meridian up: site ${site} ${describeEnd(end)}; ${why}; ${othersRun}`)
      }
      restarts.push(now)
      const delay = restartDelay(policy, restarts.length)
      yield* Console.error(
        `meridian up: site ${site} ${describeEnd(end)}; ${othersRun}; restarting ${site} in ${Duration.format(delay)} ` +
          `(restart ${restarts.length} of at most ${policy.maxRestarts} within ${Duration.format(policy.window)})`
      )
      yield* Effect.sleep(delay)
      yield* Console.log(`meridian up: restarting site ${site}`)
    }
  })

const topologyArg = Args.file({ name: "FILE" }).pipe(
  Args.optional,
  Args.withDescription(
    "topology file (default $MERIDIAN_TOPOLOGY, else ./meridian.yaml, else the bundled three-region example)"
  )
)

/**
 * @since 0.1.0
 * @category commands
 */
export const makeUpCommand = (modules: Modules) =>
  Command.make(
    "up",
    {
      file: topologyArg,
      dataDir: dataDirOption,
      restartDelay: Options.text("restart-delay").pipe(
        Options.withDefault(fmt(RESTART_DEFAULTS.initialDelay)),
        Options.withDescription(
          `wait before a site that exited is started again, doubled at each next restart (default ${fmt(RESTART_DEFAULTS.initialDelay)})`
        )
      ),
      restartDelayMax: Options.text("restart-delay-max").pipe(
        Options.withDefault(fmt(RESTART_DEFAULTS.maxDelay)),
        Options.withDescription(`the longest wait before a restart (default ${fmt(RESTART_DEFAULTS.maxDelay)})`)
      ),
      maxRestarts: Options.integer("max-restarts").pipe(
        Options.withDefault(RESTART_DEFAULTS.maxRestarts),
        Options.withDescription(
          `restarts of one site within --restart-window before up gives up on it; 0: never restart (default ${RESTART_DEFAULTS.maxRestarts})`
        )
      ),
      restartWindow: Options.text("restart-window").pipe(
        Options.withDefault(fmt(RESTART_DEFAULTS.window)),
        Options.withDescription(`the window --max-restarts counts in (default ${fmt(RESTART_DEFAULTS.window)})`)
      ),
      stopGrace: Options.text("stop-grace").pipe(
        Options.withDefault(fmt(STOP_GRACE)),
        Options.withDescription(`how long a site may take to stop before it is killed (default ${fmt(STOP_GRACE)})`)
      )
    },
    (args) =>
      Effect.scoped(
        Effect.gen(function* () {
          if (args.maxRestarts < 0) return yield* fail(`--max-restarts ${args.maxRestarts}: give 0 or more`)
          const policy: RestartPolicy = {
            initialDelay: yield* durationOption("restart-delay", args.restartDelay),
            maxDelay: yield* durationOption("restart-delay-max", args.restartDelayMax),
            maxRestarts: args.maxRestarts,
            window: yield* durationOption("restart-window", args.restartWindow)
          }
          const grace = yield* durationOption("stop-grace", args.stopGrace)
          const file = yield* topologyFile(args.file)
          const topology = yield* loadFile(file, yield* modules).pipe(
            Effect.mapError(() => new RunFailed({ reason: "invalid topology" }))
          )
          const root = deploymentDir(topology, args.dataDir)
          const pidFile = join(root, UP_PID)
          yield* DataLock.acquire(pidFile, `meridian up ${resolve(file)}`).pipe(
            Effect.catchTags({
              Locked: (e) =>
                fail(
                  `${topology.name} is already up: process ${e.pid} runs it on ${root} (pid file ${pidFile}); ` +
                    "`meridian down` stops it"
                ),
              LockFailed: (e) => fail(e.message)
            })
          )
          const sites = Object.keys(topology.sites).sort()
          for (const site of sites) {
            const lock = join(siteDataDir(root, site), DataLock.SITE_LOCK)
            const holder = DataLock.holder(lock)
            if (holder !== undefined) {
              return yield* fail(
                `site ${site}'s data directory ${siteDataDir(root, site)} is in use by process ${holder} ` +
                  "(a `meridian run` started by hand?): stop it first, or give up another --data-dir"
              )
            }
          }
          let secret = secretFor(topology)
          if (secret === undefined) {
            secret = randomBytes(24).toString("hex")
            mkdirSync(".meridian", { recursive: true, mode: 0o700 })
            writeFileSync(LOCAL_SECRET, secret + "\n", { mode: 0o600 })
            yield* Console.log(`meridian up: no shared secret configured; generated one in ${LOCAL_SECRET}`)
          }
          const shared = secret
          yield* Console.log(
            `meridian up: ${topology.name} from ${file}: ${sites.join(", ")}; data in ${root} ` +
              "(Ctrl-C or `meridian down` stops all)"
          )
          const supervised = new Set(sites)
          yield* Effect.forEach(
            sites,
            (site) =>
              supervise({
                site,
                start: () => child(site, file, siteDataDir(root, site), shared),
                policy,
                grace,
                supervised
              }),
            { concurrency: "unbounded", discard: true }
          ).pipe(Effect.onInterrupt(() => Console.log(`meridian up: ${topology.name} stopped`)))
          return yield* fail(`every site of ${topology.name} stopped and up gave up on restarting them`)
        })
      )
  ).pipe(
    Command.withDescription(
      "run every site of a topology, each as its own process, restarting a site that exits (with back-off)"
    )
  )

/**
 * @since 0.1.0
 * @category commands
 */
export const makeDownCommand = (modules: Modules) =>
  Command.make(
    "down",
    {
      file: topologyArg,
      dataDir: dataDirOption,
      timeout: Options.text("timeout").pipe(
        Options.withDefault(fmt(DOWN_TIMEOUT)),
        Options.withDescription(`how long to wait for up to stop its sites and exit (default ${fmt(DOWN_TIMEOUT)})`)
      )
    },
    (args) =>
      Effect.gen(function* () {
        const timeout = yield* durationOption("timeout", args.timeout)
        const file = yield* topologyFile(args.file)
        const topology = yield* loadFile(file, yield* modules).pipe(
          Effect.mapError(() => new RunFailed({ reason: "invalid topology" }))
        )
        const pidFile = join(deploymentDir(topology, args.dataDir), UP_PID)
        const pid = DataLock.readPid(pidFile)
        const none = `no \`meridian up\` of ${topology.name} runs here`
        if (pid === undefined) {
          return yield* fail(
            `${none}: there is no ${pidFile} (give down the topology file, or --data-dir, that up was started with)`
          )
        }
        if (!DataLock.running(pid)) return yield* fail(`${none}: ${pidFile} names process ${pid}, which has exited`)
        yield* Console.log(`meridian down: stopping ${topology.name} (meridian up, process ${pid})`)
        try {
          process.kill(pid, "SIGTERM")
        } catch {
          // Gone between the check and the signal: stopped all the same.
        }
        const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(timeout)
        while (DataLock.running(pid)) {
          if ((yield* Clock.currentTimeMillis) >= deadline) {
            return yield* fail(
              `process ${pid} did not exit within ${Duration.format(timeout)}; it may still be stopping its sites: ` +
                `run \`meridian down\` again, or kill it (kill -9 ${pid}; its sites then keep running)`
            )
          }
          yield* Effect.sleep(DOWN_POLL)
        }
        yield* Console.log(`meridian down: ${topology.name} stopped`)
      })
  ).pipe(Command.withDescription("stop a `meridian up` running in another terminal (SIGTERM, then wait for it)"))
