/**
 * Assembles one site of a topology: its actor system, the root supervisor, the built-in accounts
 * module, and every module the topology gives the site, each under a supervisor of its own, with
 * its settings decoded by its own Schema and the host's services (`Host.Services`) provided.
 * Every problem is reported at once, before anything starts.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Accounts from "../accounts/Accounts.js"
import * as AccountsModule from "../accounts/Module.js"
import * as ActorSystem from "../kernel/ActorSystem.js"
import * as DeadLetters from "../kernel/DeadLetters.js"
import { isolated, Router } from "../kernel/Router.js"
import * as Routing from "../kernel/Routing.js"
import * as Supervisor from "../kernel/Supervisor.js"
import { Blobs } from "../stores/Blobs.js"
import { Dedupe } from "../stores/Dedupe.js"
import { Identity, validateRegistration } from "../stores/Identity.js"
import { KeyValue } from "../stores/KeyValue.js"
import { Outbox } from "../stores/Outbox.js"
import { SyncIndexes } from "../stores/SyncIndex.js"
import { Staging } from "../stores/Staging.js"
import { direct as directUnitOfWork, UnitOfWork } from "../stores/UnitOfWork.js"
import { problemsFromParseError, type Problem, type Topology } from "../topology/Topology.js"
import type { TransportService } from "../transport/Transport.js"
import type * as Host from "./Host.js"
import type * as Module from "./Module.js"

/**
 * The site could not start; `problems` lists every reason.
 *
 * @since 0.1.0
 * @category errors
 */
export class SiteStartError extends Data.TaggedError("SiteStartError")<{
  readonly site: string
  readonly problems: ReadonlyArray<Problem>
}> {
  override get message(): string {
    return `site ${this.site} cannot start:\n${this.problems.map((p) => `  ${p.path}: ${p.message}`).join("\n")}`
  }
}

/**
 * @since 0.1.0
 * @category config
 */
export interface Options {
  readonly topology: Topology
  readonly site: string
  /** The modules this binary knows. */
  readonly modules: Module.Registry
  /** Dead letters kept for listing (counts are kept for all). */
  readonly deadLetterCapacity?: number
  readonly maxPendingAsks?: number
  /** Bound on draining mailboxes at shutdown. */
  readonly drainTimeout?: Duration.DurationInput
  /** Supervision of the root supervisor, whose children are the module supervisors. */
  readonly rootSupervision?: Partial<Supervisor.Config>
  /** Supervision of each module supervisor, whose children are the module's actors. */
  readonly moduleSupervision?: Partial<Supervisor.Config>
  /** Links to neighbouring sites; without one the site is isolated (remote addresses are `Unreachable`). */
  readonly transport?: TransportService
  /** Heartbeat, link state, retransmission settings of the router. */
  readonly routing?: Partial<Routing.Config>
  /** Observer of the router's events (the simulator's trace). */
  readonly onRouterEvent?: (event: Routing.Event) => void
}

/**
 * A running site.
 *
 * @since 0.1.0
 * @category models
 */
export type RunningSite = Module.RunningSite

/**
 * The stores a site runs on.
 *
 * @since 0.1.0
 * @category models
 */
export type SiteStores = Outbox | Dedupe | KeyValue | Blobs | Staging | Identity | SyncIndexes

/**
 * Starts a site in the current scope. Closing the scope drains and stops it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (
  options: Options
): Effect.Effect<RunningSite, SiteStartError, Scope.Scope | SiteStores | Host.Services> =>
  Effect.gen(function* () {
    const { site, topology } = options
    const fail = (problems: ReadonlyArray<Problem>) => new SiteStartError({ site, problems })
    const siteInfo = topology.sites[site]
    if (siteInfo === undefined) {
      return yield* fail([{ path: "site", message: `no site named ${site} in topology ${topology.name}` }])
    }

    const problems: Array<Problem> = []
    const plan: Array<{ module: Module.Any; settings: unknown }> = []
    for (const [name, raw] of Object.entries(siteInfo.modules)) {
      const path = `sites.${site}.modules.${name}`
      if (name === AccountsModule.module.name) {
        problems.push({ path, message: `${name} is built in: every site runs it, with no settings to give` })
        continue
      }
      const module = options.modules.find((m) => m.name === name)
      if (module === undefined) {
        problems.push({ path, message: `no module named ${name} is registered in this binary` })
        continue
      }
      const decoded = Schema.decodeUnknownEither(module.settings, { errors: "all" })(raw ?? {})
      if (Either.isLeft(decoded)) {
        for (const p of problemsFromParseError(decoded.left)) {
          problems.push({ path: p.path === "" ? path : `${path}.${p.path}`, message: p.message })
        }
        continue
      }
      plan.push({ module, settings: decoded.right })
    }
    if (problems.length > 0) return yield* fail(problems)

    const deadLetters = DeadLetters.make(options.deadLetterCapacity ?? DeadLetters.defaultCapacity)
    const routing =
      options.transport === undefined
        ? undefined
        : yield* Routing.make({
            site,
            topology,
            transport: options.transport,
            deadLetters,
            ...(options.routing === undefined ? {} : { config: options.routing }),
            ...(options.onRouterEvent === undefined ? {} : { onEvent: options.onRouterEvent })
          })
    const system = yield* ActorSystem.make({
      site,
      ...(options.maxPendingAsks === undefined ? {} : { maxPendingAsks: options.maxPendingAsks }),
      ...(options.drainTimeout === undefined ? {} : { drainTimeout: options.drainTimeout }),
      ...(options.rootSupervision === undefined ? {} : { supervision: options.rootSupervision })
    }).pipe(
      Effect.provideService(DeadLetters.DeadLetters, deadLetters),
      Effect.provideService(Router, routing?.router ?? isolated)
    )
    if (routing !== undefined) yield* routing.start(system)

    const root = yield* Effect.forkScoped(system.root.run)
    // Registered after the root fiber, so it runs first at scope close: drain, then interrupt.
    // A scope closed with a failure is a crash: nothing is drained, mailboxes are lost.
    yield* Effect.addFinalizer((exit) => (Exit.isSuccess(exit) ? system.shutdown() : Effect.void))

    const stores = {
      outbox: yield* Outbox,
      dedupe: yield* Dedupe,
      kv: yield* KeyValue,
      blobs: yield* Blobs,
      staging: yield* Staging,
      syncIndexes: yield* SyncIndexes,
      identity: yield* Identity,
      atomically: Option.getOrElse(yield* Effect.serviceOption(UnitOfWork), () => directUnitOfWork).atomically
    }

    const accounts = Accounts.client({
      site,
      topology,
      system,
      identity: stores.identity,
      validate: (name, password) => validateRegistration(name, password)
    })

    // The built-in accounts module runs on every site, before any module of the topology. Its
    // supervisor keeps the id it had when accounts were part of the kernel (the status page shows it).
    const builtins = [{ module: AccountsModule.module as Module.Any, settings: {}, supervisorId: "kernel:accounts" }]
    const started: Array<RunningSite["modules"][number]> = []
    for (const { module, settings, supervisorId } of [
      ...builtins,
      ...plan.map((p) => ({ ...p, supervisorId: `module:${p.module.name}` }))
    ]) {
      const supervisor = Supervisor.make(supervisorId, options.moduleSupervision ?? {})
      yield* system.root.add(Supervisor.asChild(supervisor))
      const context: Module.SiteContext = {
        site,
        siteInfo,
        topology,
        system,
        supervisor,
        spawn: (behavior, spawnOptions) =>
          system.spawn(behavior, {
            supervisor,
            ...(spawnOptions?.name === undefined ? {} : { name: spawnOptions.name })
          }),
        stores,
        accounts
      }
      const result = yield* Effect.either(Effect.catchAllDefect(module.start(context, settings as never), Effect.fail))
      if (Either.isLeft(result)) {
        return yield* fail([
          {
            path: `sites.${site}.modules.${module.name}`,
            message: `failed to start: ${describe(result.left)}`
          }
        ])
      }
      started.push({
        name: module.name,
        service: result.right.service,
        routes: result.right.routes,
        api: result.right.api,
        metrics: result.right.metrics
      })
    }
    const services = new Map(started.map((m) => [m.name, m.service]))

    return {
      name: site,
      system,
      modules: started.slice(builtins.length),
      service: <A>(module: Module.Serving<A>) => services.get(module.name) as A | undefined,
      routing,
      accounts,
      awaitEscalation: Fiber.join(root),
      shutdown: (timeout) => system.shutdown(timeout)
    }
  })

const describe = (error: unknown): string =>
  Cause.isCause(error)
    ? Cause.pretty(error)
    : error instanceof Error
      ? error.message
      : typeof error === "object" && error !== null && "message" in error
        ? String(error.message)
        : String(error)
