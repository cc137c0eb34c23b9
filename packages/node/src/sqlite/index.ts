/**
 * The kernel's stores (outbox, dedupe window, key-value, identity) over one SQLite database per
 * site. {@link layerStores} is what a site runs on; {@link layerMemoryStores} runs the same SQL on
 * a private in-memory database, so system scenarios run with real SQL under the simulator.
 *
 * @since 0.1.0
 */
import type { DedupeConfig, Dedupe } from "@meridian/core/stores/Dedupe"
import type { IdentityStore, IdentityStoreConfig } from "@meridian/core/stores/Identity"
import type { KeyValue, KeyValueConfig } from "@meridian/core/stores/KeyValue"
import type { Outbox, OutboxConfig } from "@meridian/core/stores/Outbox"
import type { SyncIndexes } from "@meridian/core/stores/SyncIndex"
import type { UnitOfWork } from "@meridian/core/stores/UnitOfWork"
import * as Layer from "effect/Layer"
import * as Database from "./Database.js"
import * as SqliteDedupe from "./SqliteDedupe.js"
import * as SqliteIdentityStore from "./SqliteIdentityStore.js"
import * as SqliteKeyValue from "./SqliteKeyValue.js"
import * as SqliteLocalIndex from "./SqliteLocalIndex.js"
import * as SqliteOutbox from "./SqliteOutbox.js"
import * as SqliteSyncIndex from "./SqliteSyncIndex.js"
import * as SqliteUnitOfWork from "./SqliteUnitOfWork.js"

export {
  SqliteUnitOfWork,
  /** @since 0.1.0 */
  Database,
  /** @since 0.1.0 */
  SqliteDedupe,
  /** @since 0.1.0 */
  SqliteIdentityStore,
  /** @since 0.1.0 */
  SqliteKeyValue,
  /** @since 0.1.0 */
  SqliteLocalIndex,
  /** @since 0.1.0 */
  SqliteOutbox,
  /** @since 0.1.0 */
  SqliteSyncIndex
}

/**
 * The bounds of every store; each defaults to the kernel's defaults.
 *
 * @since 0.1.0
 * @category config
 */
export interface StoresConfig {
  readonly outbox?: Partial<OutboxConfig>
  readonly dedupe?: Partial<DedupeConfig>
  readonly keyValue?: Partial<KeyValueConfig>
  readonly identityStore?: Partial<IdentityStoreConfig>
}

/**
 * Every store the kernel uses.
 *
 * @since 0.1.0
 * @category models
 */
export type Stores = Outbox | Dedupe | KeyValue | IdentityStore | UnitOfWork | SyncIndexes

/**
 * The kernel's stores over one SQLite database file (created and migrated if needed, WAL mode).
 * The database closes with the layer's scope; its content outlives it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStores = (options: Database.DatabaseOptions & StoresConfig): Layer.Layer<Stores> =>
  Layer.mergeAll(
    SqliteOutbox.layer(options.outbox ?? {}),
    SqliteDedupe.layer(options.dedupe ?? {}),
    SqliteKeyValue.layer(options.keyValue ?? {}),
    SqliteIdentityStore.layer(options.identityStore ?? {}),
    SqliteUnitOfWork.layer,
    SqliteSyncIndex.layerIndexes
  ).pipe(Layer.provide(Database.layer({ filename: options.filename })))

/**
 * The kernel's stores over a fresh in-memory SQLite database: real SQL, nothing on disk. Every
 * build of the layer is a new, empty database — to model a site that crashes and restarts with
 * its data, build it once outside the site's scope (e.g. `Layer.memoize`, or `Layer.build` in an
 * outer scope) and hand the resulting context to each incarnation.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemoryStores = (options: StoresConfig = {}): Layer.Layer<Stores> =>
  layerStores({ ...options, filename: ":memory:" })
