/**
 * The stores every site uses: interfaces, in-memory implementations (that survive a simulated
 * crash) and their layers. SQLite and disk implementations live in the node package.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Blobs from "./Blobs.js"
/** @since 0.1.0 */
export * as Dedupe from "./Dedupe.js"
/** @since 0.1.0 */
export * as Identity from "./Identity.js"
/** @since 0.1.0 */
export * as KeyValue from "./KeyValue.js"
/** @since 0.1.0 */
export * as Outbox from "./Outbox.js"
/** @since 0.1.0 */
export * as MemoryStores from "./Memory.js"
/** @since 0.1.0 */
export * as SyncIndex from "./SyncIndex.js"
/** @since 0.1.0 */
export * as UnitOfWork from "./UnitOfWork.js"
