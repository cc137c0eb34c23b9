/**
 * Every store of a site, in memory: for tests, the simulator and single-process experiments.
 * Build the layer once per site *outside* the site's scope and a simulated crash (closing that
 * scope) keeps what the stores hold, as a disk would.
 *
 * @since 0.1.0
 */
import * as Layer from "effect/Layer"
import * as Blobs from "./Blobs.js"
import * as Staging from "./Staging.js"
import * as SyncIndex from "./SyncIndex.js"
import * as Dedupe from "./Dedupe.js"
import * as Identity from "./Identity.js"
import * as KeyValue from "./KeyValue.js"
import * as Outbox from "./Outbox.js"

/**
 * @since 0.1.0
 * @category config
 */
export interface Options {
  /** Key that signs identity tokens (at least 32 bytes). */
  readonly signingKey: Uint8Array
  readonly outbox?: Partial<Outbox.OutboxConfig>
  readonly dedupe?: Partial<Dedupe.DedupeConfig>
  readonly keyValue?: Partial<KeyValue.KeyValueConfig>
  readonly blobs?: Partial<Blobs.BlobsConfig>
  /** Most bytes of uploads in progress (default 1 GiB). */
  readonly stagingBytes?: number
  /** scrypt cost; tests and the simulator use a small N. */
  readonly scrypt?: Partial<Identity.ScryptParams>
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<
  | Outbox.Outbox
  | Dedupe.Dedupe
  | KeyValue.KeyValue
  | Blobs.Blobs
  | Staging.Staging
  | Identity.Identity
  | Identity.IdentityStore
  | SyncIndex.SyncIndexes
> =>
  Layer.mergeAll(
    Outbox.layerMemory(options.outbox ?? {}),
    Dedupe.layerMemory(options.dedupe ?? {}),
    KeyValue.layerMemory(options.keyValue ?? {}),
    Blobs.layerMemory(options.blobs ?? {}),
    Staging.layerMemory({ maxBytes: options.stagingBytes ?? 1024 ** 3 }),
    Identity.layerMemory({ signingKey: options.signingKey, scrypt: options.scrypt ?? {} }),
    SyncIndex.layerMemoryIndexes
  )
