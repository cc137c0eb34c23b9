/**
 * Runs a scenario in the simulator: every site of the topology in one process, on the simulated
 * network, under the deterministic engine (virtual clock, controlled scheduler, one seeded random
 * source). The same system code as in production; only the transport, clock and stores differ.
 * Records a JSONL trace (every send, arrival, drop, duplicate, delivery, fault and restart) and
 * its SHA-256, then checks the scenario's invariants.
 *
 * @since 0.1.0
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { utf8ToBytes } from "@noble/hashes/utils.js"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type * as Routing from "../kernel/Routing.js"
import type * as Host from "../site/Host.js"
import type * as Module from "../site/Module.js"
import * as Site from "../site/Site.js"
import * as MemoryStores from "../stores/Memory.js"
import type { Topology } from "../topology/Topology.js"
import * as Engine from "./Engine.js"
import type { Scenario } from "./Scenario.js"
import { millis } from "./Scenario.js"
import { makeFileSystem } from "./SimFileSystem.js"
import * as SimHost from "./SimHost.js"
import * as SimNetwork from "./SimNetwork.js"
import * as Trace from "./Trace.js"

/**
 * The kernel's own invariant: every accepted durable message was delivered to its recipient
 * exactly once — none lost, none applied twice.
 *
 * @since 0.1.0
 * @category invariants
 */
export const exactlyOnce: Module.Invariant = (_context, tally) =>
  Effect.sync(() => {
    const lost: Array<string> = []
    const twice: Array<string> = []
    for (const id of tally.accepted) {
      const n = tally.delivered.get(id) ?? 0
      if (n === 0) lost.push(id)
      else if (n > 1) twice.push(id)
    }
    if (lost.length === 0 && twice.length === 0) return undefined
    return `${lost.length} accepted message(s) never delivered${lost.length > 0 ? ` (first: ${lost[0]})` : ""}, ${twice.length} delivered more than once${twice.length > 0 ? ` (first: ${twice[0]})` : ""}`
  })

/**
 * The routers' own invariant: at the end of the run, the two ends of every link between running
 * sites agree on whether it is down — neither believes in a link that carries its frames nowhere
 * (a half-open link left as it is).
 *
 * @since 0.1.0
 * @category invariants
 */
export const linksAgree: Module.Invariant = (context) =>
  Effect.sync(() => {
    const disagree: Array<string> = []
    for (const link of context.topology.links) {
      const [a, b] = link.between
      const atA = context.site(a)?.routing?.links()[b]
      const atB = context.site(b)?.routing?.links()[a]
      if (atA === undefined || atB === undefined) continue
      if ((atA === "down") !== (atB === "down")) disagree.push(`${a} sees ${b} ${atA} while ${b} sees ${a} ${atB}`)
    }
    return disagree.length === 0 ? undefined : `the ends of ${disagree.length} link(s) disagree: ${disagree.join("; ")}`
  })

/**
 * Invariants every scenario can name.
 *
 * @since 0.1.0
 * @category invariants
 */
export const builtinInvariants: Readonly<Record<string, Module.Invariant>> = {
  "exactly-once": exactlyOnce,
  "links-agree": linksAgree
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Result {
  readonly seed: number
  readonly events: number
  readonly simulatedMillis: number
  readonly accepted: number
  readonly delivered: number
  /** SHA-256 of the JSONL trace. */
  readonly traceHash: string
  readonly trace: ReadonlyArray<string>
  /** Violated invariants, in the scenario's order (empty: all hold). */
  readonly violations: ReadonlyArray<{ readonly invariant: string; readonly message: string }>
  readonly stoppedBy: Engine.StoppedBy
}

/** One run's simulator plug-ins, by module name (each made once per run). */
type Plugins = ReadonlyMap<string, Module.Simulation<never>>

const pluginsOf = (modules: Module.Registry): Plugins =>
  new Map(modules.flatMap((m) => (m.simulation === undefined ? [] : [[m.name, m.simulation()] as const])))

/**
 * Name lookup of a generator or invariant, `module/name`: the module's name and the entry.
 */
const lookup = <A>(
  plugins: Plugins,
  name: string,
  pick: (simulation: Module.Simulation<never>) => Readonly<Record<string, A>> | undefined
): { readonly module: string; readonly entry: A } | undefined => {
  const slash = name.indexOf("/")
  if (slash <= 0) return undefined
  const module = name.slice(0, slash)
  const plugin = plugins.get(module)
  const entry = plugin === undefined ? undefined : pick(plugin)?.[name.slice(slash + 1)]
  return entry === undefined ? undefined : { module, entry }
}

/**
 * Problems that stop a scenario before it runs: unknown generators, invariants or sites.
 *
 * @since 0.1.0
 * @category validation
 */
export const problems = (scenario: Scenario, topology: Topology, modules: Module.Registry): ReadonlyArray<string> => {
  const out: Array<string> = []
  const plugins = pluginsOf(modules)
  scenario.workload.forEach((w, i) => {
    const generator = lookup(plugins, w.generator, (s) => s.generators)
    if (generator === undefined) out.push(`workload[${i}].generator: no generator named ${w.generator}`)
    else {
      const decoded = Schema.decodeUnknownEither(generator.entry.params)(w.params ?? {})
      if (Either.isLeft(decoded)) out.push(`workload[${i}].params: ${decoded.left.message}`)
    }
  })
  scenario.invariants.forEach((name, i) => {
    if (builtinInvariants[name] === undefined && lookup(plugins, name, (s) => s.invariants) === undefined) {
      out.push(`invariants[${i}]: no invariant named ${name}`)
    }
  })
  scenario.faults.forEach((fault, i) => {
    for (const site of Object.entries(fault).flatMap(([k, v]) => (k === "at" ? [] : Array.isArray(v) ? v : [v]))) {
      if (topology.sites[site as string] === undefined) out.push(`faults[${i}]: no site named ${String(site)}`)
    }
    if ("replay" in fault) {
      const [a, b] = fault.replay
      if (!topology.links.some(({ between: [x, y] }) => (x === a && y === b) || (x === b && y === a)))
        out.push(`faults[${i}]: replay needs a link between ${a} and ${b}`)
    }
  })
  return out
}

const routingConfig = (scenario: Scenario): Partial<Routing.Config> => {
  const r = scenario.routing
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(r)) {
    if (value === undefined) continue
    out[key] = typeof value === "string" || (typeof value === "number" && key !== "maxHops") ? millis(value) : value
  }
  return out as Partial<Routing.Config>
}

const profile = (p: Scenario["network"]): Partial<SimNetwork.LinkProfile> => ({
  ...(p.latency === undefined ? {} : { latency: millis(p.latency) }),
  ...(p.jitter === undefined ? {} : { jitter: millis(p.jitter) }),
  ...(p.loss === undefined ? {} : { loss: p.loss }),
  ...(p.duplicate === undefined ? {} : { duplicate: p.duplicate }),
  ...(p.reorder === undefined ? {} : { reorder: p.reorder }),
  ...(p.bandwidth === undefined ? {} : { bandwidth: p.bandwidth })
})

/**
 * The stores a simulated site runs on.
 *
 * @since 0.1.0
 * @category models
 */
export type SiteStores = Site.SiteStores

/**
 * Runs `scenario` with `seed`, synchronously, on virtual time.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (options: {
  readonly scenario: Scenario
  readonly topology: Topology
  readonly modules: Module.Registry
  readonly seed: number
  readonly maxEvents?: number
  /**
   * The SHA-256 behind `traceHash`. Default: the portable one ({@link Trace.portableHasher}); a
   * Node host can pass `node:crypto`'s, which gives the same hash about 20× faster.
   */
  readonly hasher?: Trace.MakeTraceHasher
  /**
   * Each site's stores, built once per run outside the sites' scopes (a crash keeps them, as a
   * disk would). Default: the in-memory stores; the node package passes SQLite `:memory:` ones so
   * that scenarios run with real SQL.
   */
  readonly stores?: (site: string, signingKey: Uint8Array) => Layer.Layer<SiteStores, unknown>
  /**
   * Each site's host services (file system, listeners, HTTP client), built once per run like the
   * stores. Default: the simulated ones of {@link SimHost}.
   */
  readonly host?: (site: string) => Layer.Layer<Host.Services, unknown>
}): Result => {
  const { scenario, topology, modules, seed } = options
  const trace: Array<string> = []
  const accepted: Array<string> = []
  const delivered = new Map<string, number>()
  const targets = new Map<string, string>()
  const appliedTo = new Map<string, number>()
  const violations: Array<{ invariant: string; message: string }> = []
  const duration = millis(scenario.duration)

  const program = Effect.gen(function* () {
    const clock = yield* Effect.clock
    /** `{"t":…,"type":` for the current instant (many lines share one). */
    let openMillis = Number.NaN
    let openText = ""
    /** The start of a line, `{"t":…,"type":` followed by `type` (already JSON). */
    const open = (typeJson: string) => {
      const now = clock.unsafeCurrentTimeMillis()
      if (now !== openMillis) {
        openMillis = now
        openText = `{"t":${Math.round(now * 1000) / 1000},"type":`
      }
      return openText + typeJson
    }
    /** One JSONL line: `{"t":…,"type":…,…fields}`, `type` already JSON. */
    const record = (typeJson: string, fields: object) => {
      const rest = JSON.stringify(fields)
      trace.push(`${open(typeJson)}${rest.length > 2 ? `,${rest.slice(1)}` : "}"}`)
    }
    /** `,"from":…,"to":…,"frame":` per direction of a link. */
    const directions = new Map<string, Map<string, string>>()
    const direction = (from: string, to: string): string => {
      let byTo = directions.get(from)
      if (byTo === undefined) {
        byTo = new Map()
        directions.set(from, byTo)
      }
      let text = byTo.get(to)
      if (text === undefined) {
        text = `,"from":${JSON.stringify(from)},"to":${JSON.stringify(to)},"frame":`
        byTo.set(to, text)
      }
      return text
    }
    /** Lowercase type names of the network's other events (`Drop`, `Duplicate`), as JSON. */
    const networkTypes = new Map<string, string>()

    const network = yield* SimNetwork.make({
      topology,
      config: {
        profile: { ...SimNetwork.defaultProfile, ...profile(scenario.network) },
        links: Object.fromEntries(
          Object.entries(scenario.network.links ?? {}).map(([key, p]) => {
            const [a, b] = key.split("|")
            return [SimNetwork.linkKey(a ?? "", b ?? ""), profile(p)]
          })
        )
      },
      onEvent: (e) => {
        // The most frequent lines (every frame sent and arriving), written without an
        // intermediate object; the same JSON `record` would produce.
        if (e._tag === "Send" || e._tag === "Arrive") {
          const head = `${open(e._tag === "Send" ? '"send"' : '"arrive"')}${direction(e.from, e.to)}${JSON.stringify(e.frame)}`
          trace.push(e._tag === "Send" ? `${head},"bytes":${e.bytes}}` : `${head}}`)
          return
        }
        let type = networkTypes.get(e._tag)
        if (type === undefined) {
          type = JSON.stringify(e._tag.toLowerCase())
          networkTypes.set(e._tag, type)
        }
        trace.push(open(type) + Trace.fieldsTail(e))
      }
    })

    const siteNames = Object.keys(topology.sites).sort()
    // Stores live outside the sites' scopes: a crash keeps them, as a disk would.
    const stores = new Map<string, Context.Context<SiteStores>>()
    const makeStores =
      options.stores ??
      ((_site: string, signingKey: Uint8Array) =>
        MemoryStores.layer({ signingKey, scrypt: { N: 1024, blocking: true } }))
    for (const [i, name] of siteNames.entries()) {
      const signingKey = sha256(utf8ToBytes(`meridian-sim:${seed}:${i}:${name}`))
      stores.set(name, yield* Layer.build(Layer.orDie(makeStores(name, signingKey))))
    }
    // Host services too: a site's files survive its crashes. Every site is a machine of its own
    // on the run's network (named by the site: its wildcard and loopback listeners are its own).
    const hostNetwork = SimHost.makeNetwork()
    const makeHost =
      options.host ??
      ((name: string) => SimHost.layer({ network: hostNetwork, host: name, fileSystem: SimHost.makeFileSystem() }))
    const hosts = new Map<string, Context.Context<Host.Services>>()
    for (const name of siteNames) hosts.set(name, yield* Layer.build(Layer.orDie(makeHost(name))))

    const running = new Map<string, { site: Site.RunningSite; scope: Scope.CloseableScope }>()
    const routing = routingConfig(scenario)
    /** Type names of the router's events (`LinkState` → `"linkState"`), as JSON. */
    const routerTypes = new Map<string, string>()
    const onRouterEvent = (name: string) => {
      const site = `,"site":${JSON.stringify(name)}`
      return (event: Routing.Event) => {
        switch (event._tag) {
          case "Accepted":
            accepted.push(event.envelopeId)
            targets.set(event.envelopeId, event.to)
            trace.push(
              `${open('"accepted"')}${site},"id":${JSON.stringify(event.envelopeId)},"to":${JSON.stringify(event.to)}}`
            )
            return
          case "Delivered":
            trace.push(
              `${open('"delivered"')}${site},"id":${JSON.stringify(event.envelopeId)},"result":${JSON.stringify(event.delivery)}}`
            )
            return
          case "Settled":
            // A delivery to the recipient is its handler applying the message.
            if (event.settlement === "applied") {
              delivered.set(event.envelopeId, (delivered.get(event.envelopeId) ?? 0) + 1)
              const target = targets.get(event.envelopeId)
              if (target !== undefined) appliedTo.set(target, (appliedTo.get(target) ?? 0) + 1)
            }
            trace.push(
              `${open('"settled"')}${site},"id":${JSON.stringify(event.envelopeId)},"settlement":${JSON.stringify(event.settlement)}}`
            )
            return
          case "Routes":
            record('"routes"', { site: name, nextHops: event.nextHops })
            return
          default: {
            let type = routerTypes.get(event._tag)
            if (type === undefined) {
              type = JSON.stringify(event._tag.charAt(0).toLowerCase() + event._tag.slice(1))
              routerTypes.set(event._tag, type)
            }
            if ("site" in event) {
              // Its own `site` would take the place of ours (the line as it always was).
              const { _tag, ...fields } = event as Record<string, unknown>
              record(type, { site: name, ...fields })
            } else trace.push(open(type) + site + Trace.fieldsTail(event))
          }
        }
      }
    }
    const startSite = (name: string) =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const site = yield* Site.start({
          topology,
          site: name,
          modules,
          transport: network.transport(name),
          routing,
          onRouterEvent: onRouterEvent(name)
        }).pipe(Scope.extend(scope), Effect.provide(stores.get(name)!), Effect.provide(hosts.get(name)!), Effect.orDie)
        running.set(name, { site, scope })
      })
    for (const name of siteNames) yield* startSite(name)

    const plugins = pluginsOf(modules)
    const site = (name: string) => running.get(name)?.site
    const contextOf = (module: string): Module.SimContext<never> => ({
      topology,
      site,
      service: (name) => running.get(name)?.site.modules.find((m) => m.name === module)?.service as never,
      makeDisk: () => makeFileSystem()
    })

    for (const fault of scenario.faults) {
      const apply = Effect.gen(function* () {
        if ("partition" in fault) network.setPartitioned(fault.partition[0], fault.partition[1], true)
        else if ("heal" in fault) network.setPartitioned(fault.heal[0], fault.heal[1], false)
        else if ("silence" in fault) network.setSilent(fault.silence, true)
        else if ("resume" in fault) network.setSilent(fault.resume, false)
        else if ("crash" in fault) {
          const entry = running.get(fault.crash)
          running.delete(fault.crash)
          yield* network.setCrashed(fault.crash, true)
          if (entry !== undefined) yield* Scope.close(entry.scope, Exit.die("crash"))
        } else if ("restart" in fault) {
          yield* network.setCrashed(fault.restart, false)
          if (!running.has(fault.restart)) yield* startSite(fault.restart)
        } else if ("replay" in fault) network.setHalfOpen(fault.replay[0], fault.replay[1])
        const { at: _at, ...what } = fault
        record('"fault"', what)
      })
      yield* Effect.forkScoped(Effect.delay(apply, millis(fault.at)))
    }

    const workload: Array<Fiber.RuntimeFiber<void>> = []
    for (const item of scenario.workload) {
      const generator = lookup(plugins, item.generator, (s) => s.generators)!
      const params = yield* Effect.orDie(Schema.decodeUnknown(generator.entry.params)(item.params ?? {}))
      workload.push(yield* Effect.forkScoped(generator.entry.run(contextOf(generator.module), params)))
    }

    yield* Effect.sleep(duration)
    // The workload ends with the run: an operation still under way is abandoned, as by a client
    // that gives up, so the invariants look at what the run did rather than at data still moving.
    yield* Fiber.interruptAll(workload)

    const tally: Module.Tally = { accepted, delivered, appliedTo }
    for (const name of scenario.invariants) {
      const builtin = builtinInvariants[name]
      const message =
        builtin === undefined
          ? yield* Effect.suspend(() => {
              const found = lookup(plugins, name, (s) => s.invariants)!
              return found.entry(contextOf(found.module), tally)
            })
          : yield* builtin(contextOf(""), tally)
      if (message !== undefined) violations.push({ invariant: name, message })
    }
    for (const { scope } of running.values()) yield* Scope.close(scope, Exit.void)
  })

  const result = Engine.run(Effect.scoped(program), {
    seed,
    maxSimulatedMillis: duration + 60_000,
    ...(options.maxEvents === undefined ? {} : { maxEvents: options.maxEvents })
  })
  if (result.stoppedBy !== "completed" || result.exit === undefined || Exit.isFailure(result.exit)) {
    violations.push({
      invariant: "run-completed",
      message: `the run did not complete (${result.stoppedBy})${result.exit !== undefined && Exit.isFailure(result.exit) ? `: ${String(result.exit.cause)}` : ""}`
    })
  }
  return {
    seed,
    events: result.events,
    simulatedMillis: result.simulatedMillis,
    accepted: accepted.length,
    delivered: [...delivered.values()].reduce((a, b) => a + b, 0),
    traceHash: Trace.hashLines(trace, options.hasher),
    trace,
    violations,
    stoppedBy: result.stoppedBy
  }
}

/**
 * The last line the `sim` command prints.
 *
 * @since 0.1.0
 * @category formatting
 */
export const summary = (r: Result): string =>
  `seed=${r.seed} events=${r.events} simulated=${(r.simulatedMillis / 1000).toFixed(3)}s accepted=${r.accepted} delivered=${r.delivered} trace=${r.traceHash} invariants=${r.violations.length === 0 ? "ok" : "violated"}`
