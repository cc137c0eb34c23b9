/**
 * The module contract. A system is a module: a name, a settings Schema and a `start` that
 * receives the site's context, spawns its actors under its own supervisor and returns its
 * service (with its HTTP routes and metrics). What it needs from the machine (an HTTP client, a
 * file system, TCP listeners) it states in the requirements of `start`, from {@link Host.Services}
 * only; the site provides them. Its simulator plug-in is made once per run, and its workloads and
 * invariants reach the service each site's `start` returned, through their context.
 *
 * The site layer sits above the kernel: the kernel knows nothing of modules, and this file knows
 * nothing of any system but the built-in accounts service every site runs.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpApi from "@effect/platform/HttpApi"
import type * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { Accounts } from "../accounts/Accounts.js"
import type * as Actor from "../kernel/Actor.js"
import type { ActorNameTaken, ActorSystemService } from "../kernel/ActorSystem.js"
import type { Tagged } from "../kernel/Protocol.js"
import type * as Routing from "../kernel/Routing.js"
import type * as Supervisor from "../kernel/Supervisor.js"
import type { BlobsService } from "../stores/Blobs.js"
import type { DedupeService } from "../stores/Dedupe.js"
import type { IdentityService } from "../stores/Identity.js"
import type { KeyValueService } from "../stores/KeyValue.js"
import type { OutboxService } from "../stores/Outbox.js"
import type { StagingService } from "../stores/Staging.js"
import type { SyncIndexes } from "../stores/SyncIndex.js"
import type { UnitOfWorkService } from "../stores/UnitOfWork.js"
import type { Site, Topology } from "../topology/Topology.js"
import type * as Host from "./Host.js"

/**
 * The site's stores, as every module sees them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stores {
  readonly outbox: OutboxService
  readonly dedupe: DedupeService
  /** Key-value store; use the module's name as namespace. */
  readonly kv: KeyValueService
  readonly blobs: BlobsService
  /** Uploads in progress (resumable). */
  readonly staging: StagingService
  readonly identity: IdentityService
  /** The site's sync index, opened with the bounds the module's settings give. */
  readonly syncIndexes: SyncIndexes["Type"]
  /**
   * Runs `effect` as one unit of work over the site's stores (one SQLite transaction; in
   * memory, uninterruptibly): a crash leaves all of its writes, durable sends included, or none.
   */
  readonly atomically: UnitOfWorkService["atomically"]
}

/**
 * Everything a module's `start` receives.
 *
 * @since 0.1.0
 * @category models
 */
export interface SiteContext {
  /** This site's name. */
  readonly site: string
  /** This site's entry in the topology. */
  readonly siteInfo: Site
  /** The whole deployment (other sites, regions, links). */
  readonly topology: Topology
  /** The actor system: `ref` to address any actor, local or remote. */
  readonly system: ActorSystemService
  /** The module's own supervisor, a child of the site's root supervisor. */
  readonly supervisor: Supervisor.Supervisor
  /** Spawns an actor under the module's supervisor. */
  readonly spawn: <Msg extends Tagged, R>(
    behavior: Actor.Behavior<Msg, R>,
    options?: { readonly name?: string }
  ) => Effect.Effect<Actor.ActorRef<Msg>, ActorNameTaken, Exclude<R, Scope.Scope>>
  readonly stores: Stores
  /**
   * The accounts of the whole topology (the built-in module every site starts first): register,
   * log in, revoke, find a user's home region, move a user.
   */
  readonly accounts: Accounts
}

/**
 * What a started module hands back to the site.
 *
 * @since 0.1.0
 * @category models
 */
export interface Started<A> {
  /** The module's service: what its simulator plug-in (and a test) reaches through the site. */
  readonly service: A
  /**
   * HTTP routes the node package binds on the site's HTTP server: a layer that registers
   * routes on the `HttpLayerRouter` (HttpApi groups with `HttpLayerRouter.addHttpApi`, raw
   * streaming routes with `HttpLayerRouter.add`; answer errors with `api/Answer.ts`).
   */
  readonly routes?: Layer.Layer<never, never, HttpLayerRouter.HttpRouter>
  /**
   * The module's HTTP API as `HttpApi` groups: its endpoints join the site's OpenAPI document
   * (`/openapi.json`, `/docs`). Routes built with `HttpApiBuilder` serve such an API; raw routes
   * (streams, tus, redirects) are described in one (`Answer.ErrorBody` for their refusals).
   */
  readonly api?: HttpApi.HttpApi.Any
  /**
   * Prometheus lines this module adds to `/metrics` (`name{labels} value`; the site label is
   * added), read at each scrape.
   */
  readonly metrics?: () => ReadonlyArray<string>
}

/**
 * A module. `R` is what its `start` needs: host services ({@link Host.Services}, which every site
 * provides) and anything else the binary must supply with {@link provide} before the module can be
 * registered.
 *
 * @since 0.1.0
 * @category models
 */
export interface Module<S, I = S, A = void, R = never> {
  readonly name: string
  readonly description: string
  /** Decodes the module's entry in the topology (`sites.<site>.modules.<name>`). */
  readonly settings: Schema.Schema<S, I, never>
  /** Starts the module's actors under `context.supervisor`; runs in the site's scope. */
  readonly start: (context: SiteContext, settings: S) => Effect.Effect<Started<A>, unknown, Scope.Scope | R>
  /**
   * The module's simulator plug-in, made once per run (what its workloads and invariants share
   * lives in the closure): named `<module>/<name>` in scenarios.
   */
  readonly simulation?: () => Simulation<A>
}

/**
 * A module of any settings and service type, as kept in a registry: its `start` needs nothing
 * but host services.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any {
  readonly name: string
  readonly description: string
  readonly settings: Schema.Schema.AnyNoContext
  readonly start: (
    context: SiteContext,
    settings: never
  ) => Effect.Effect<Started<unknown>, unknown, Scope.Scope | Host.Services>
  readonly simulation?: () => Simulation<never>
}

/**
 * Declares a module.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <S, I, A = void, R = never>(module: Module<S, I, A, R>): Module<S, I, A, R> => module

/**
 * Supplies some of what a module's `start` needs with `layer`, built in the site's scope (so what
 * it holds lives as long as the site): how a binary plugs in a part only it has, such as a GeoIP
 * database reader.
 *
 * @since 0.1.0
 * @category combinators
 */
export const provide = <S, I, A, R, ROut, E2, RIn>(
  module: Module<S, I, A, R>,
  layer: Layer.Layer<ROut, E2, RIn>
): Module<S, I, A, Exclude<R, ROut> | RIn> => ({
  ...module,
  start: (context, settings) =>
    Effect.flatMap(Layer.build(layer), (built) => Effect.provide(module.start(context, settings), built))
})

/**
 * A registry: the modules a binary knows, by name.
 *
 * @since 0.1.0
 * @category models
 */
export type Registry = ReadonlyArray<Any>

/**
 * The settings of a module that has none to set: an empty object (or nothing) in the topology.
 *
 * @since 0.1.0
 * @category schemas
 */
export const NoSettings = Schema.Struct({})

/**
 * A running site, as its host, tests and the simulator see it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunningSite {
  readonly name: string
  readonly system: ActorSystemService
  /** The modules started, in order, with what each returned. */
  readonly modules: ReadonlyArray<{
    readonly name: string
    readonly service: unknown
    readonly routes: Layer.Layer<never, never, HttpLayerRouter.HttpRouter> | undefined
    readonly api: HttpApi.HttpApi.Any | undefined
    readonly metrics: (() => ReadonlyArray<string>) | undefined
  }>
  /**
   * The service `module` started on this site (`undefined` if this site does not run it):
   * `site.service(Chat.module)` is a `ChatService`.
   */
  readonly service: <A>(module: Serving<A>) => A | undefined
  /** The router, when the site has a transport. */
  readonly routing: Routing.Routing | undefined
  /** Registration, login and revocation across the topology (the built-in accounts module). */
  readonly accounts: Accounts
  /** Fails when the root supervisor gives up (the site can no longer serve). */
  readonly awaitEscalation: Effect.Effect<never, Supervisor.Escalated>
  /** Stops every actor, draining mailboxes within `timeout`. Also runs when the scope closes. */
  readonly shutdown: (timeout?: Duration.DurationInput) => Effect.Effect<void>
}

/**
 * Any module whose service is an `A` (whatever its settings and host needs).
 *
 * @since 0.1.0
 * @category models
 */
export interface Serving<A> {
  readonly name: string
  readonly start: (context: SiteContext, settings: never) => Effect.Effect<Started<A>, unknown, unknown>
}

/**
 * What a module's workload generators and invariants see of the running simulation.
 *
 * @since 0.1.0
 * @category simulation
 */
export interface SimContext<A = unknown> {
  readonly topology: Topology
  /** The running incarnation of a site, or `undefined` while it is crashed. */
  readonly site: (name: string) => RunningSite | undefined
  /** The module's service on the running incarnation of site `name` (`undefined`: down, or not run there). */
  readonly service: (name: string) => A | undefined
  /**
   * A fresh simulated disk (in memory, with a watcher, times from the simulated clock) for a
   * machine of the workload's own, such as a device that syncs a folder: it lives as long as the
   * run, whatever the workload stops and starts on it.
   */
  readonly makeDisk: () => FileSystem.FileSystem
}

/**
 * Counts the runner keeps from the trace, for invariants.
 *
 * @since 0.1.0
 * @category simulation
 */
export interface Tally {
  /** Durable envelope ids accepted (in an outbox), in order. */
  readonly accepted: ReadonlyArray<string>
  /** Deliveries applied to recipients, per envelope id. */
  readonly delivered: ReadonlyMap<string, number>
  /** Accepted durable messages applied, per recipient address (`actor@site`). */
  readonly appliedTo: ReadonlyMap<string, number>
}

/**
 * A workload generator: runs during the scenario, forked at its start and interrupted at its end
 * (before the invariants are checked), so an operation still retried then is abandoned.
 *
 * @since 0.1.0
 * @category simulation
 */
export interface Generator<A = unknown> {
  readonly params: Schema.Schema<unknown, unknown, never>
  readonly run: (context: SimContext<A>, params: unknown) => Effect.Effect<void>
}

/**
 * An invariant checked when the run ends: `undefined` holds, a string says what was violated.
 *
 * @since 0.1.0
 * @category simulation
 */
export type Invariant<A = unknown> = (context: SimContext<A>, tally: Tally) => Effect.Effect<string | undefined>

/**
 * What a module contributes to one simulator run.
 *
 * @since 0.1.0
 * @category simulation
 */
export interface Simulation<A = unknown> {
  readonly generators?: Readonly<Record<string, Generator<A>>>
  readonly invariants?: Readonly<Record<string, Invariant<A>>>
}

/**
 * Declares a generator with typed parameters (decoded from the scenario's `params`).
 *
 * @since 0.1.0
 * @category simulation
 */
export const generator = <P, I, A = unknown>(
  params: Schema.Schema<P, I, never>,
  run: (context: SimContext<A>, params: P) => Effect.Effect<void>
): Generator<A> => ({
  params: params as unknown as Schema.Schema<unknown, unknown, never>,
  run: run as (context: SimContext<A>, params: unknown) => Effect.Effect<void>
})
