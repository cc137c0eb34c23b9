/**
 * The module contract: a system is a module with a name, a settings Schema and a `start`
 * function. The kernel never imports a system; a site is assembled from a registry of modules
 * that the caller passes in (the CLI, a test, the simulator).
 *
 * @since 0.1.0
 */
import type * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { BlobsService } from "../stores/Blobs.js"
import type { DedupeService } from "../stores/Dedupe.js"
import type { IdentityService } from "../stores/Identity.js"
import type { KeyValueService } from "../stores/KeyValue.js"
import type { OutboxService } from "../stores/Outbox.js"
import type { StagingService } from "../stores/Staging.js"
import type { UnitOfWorkService } from "../stores/UnitOfWork.js"
import type { Simulation } from "../sim/Scenario.js"
import type { Site, Topology } from "../topology/Topology.js"
import type * as Actor from "./Actor.js"
import type { ActorNameTaken, ActorSystemService } from "./ActorSystem.js"
import type { Tagged } from "./Protocol.js"
import type * as Supervisor from "./Supervisor.js"

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
  readonly stores: {
    readonly outbox: OutboxService
    readonly dedupe: DedupeService
    /** Key-value store; use the module's name as namespace. */
    readonly kv: KeyValueService
    readonly blobs: BlobsService
    /** Uploads in progress (resumable). */
    readonly staging: StagingService
    readonly identity: IdentityService
    /**
     * Runs `effect` as one unit of work over the site's stores (one SQLite transaction; in
     * memory, uninterruptibly): a crash leaves all of its writes, durable sends included, or none.
     */
    readonly atomically: UnitOfWorkService["atomically"]
  }
}

/**
 * What a started module hands back to the site.
 *
 * @since 0.1.0
 * @category models
 */
export interface Started {
  /**
   * HTTP routes the node package binds on the site's HTTP server: a layer that registers
   * routes on the `HttpLayerRouter` (HttpApi groups with `HttpLayerRouter.addHttpApi`, raw
   * streaming routes with `HttpLayerRouter.add`).
   */
  readonly routes?: Layer.Layer<never, never, HttpLayerRouter.HttpRouter>
  /**
   * Prometheus lines this module adds to `/metrics` (`name{labels} value`; the site label is
   * added), read at each scrape.
   */
  readonly metrics?: () => ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Module<S, I = S> {
  readonly name: string
  readonly description: string
  /** Decodes the module's entry in the topology (`sites.<site>.modules.<name>`). */
  readonly settings: Schema.Schema<S, I, never>
  /** Starts the module's actors under `context.supervisor`; runs in the site's scope. */
  readonly start: (context: SiteContext, settings: S) => Effect.Effect<Started, unknown, Scope.Scope>
  /** Workload generators and invariants this module adds to the simulator (`<module>/<name>`). */
  readonly simulation?: Simulation
}

/**
 * A module of any settings type, as kept in a registry.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any {
  readonly name: string
  readonly description: string
  readonly settings: Schema.Schema.AnyNoContext
  readonly start: (context: SiteContext, settings: never) => Effect.Effect<Started, unknown, Scope.Scope>
  readonly simulation?: Simulation
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <S, I>(module: Module<S, I>): Module<S, I> => module

/**
 * A registry: the modules a binary knows, by name.
 *
 * @since 0.1.0
 * @category models
 */
export type Registry = ReadonlyArray<Any>
