/**
 * The stores of a site process: one SQLite database (outbox, dedupe window, key-value, accounts)
 * and a blob directory, under the site's data directory; identity tokens signed with a key
 * derived from the topology's shared secret, so every site verifies every other site's tokens.
 * The data directory is locked first ({@link DataLock}): one process at a time opens it.
 *
 * @since 0.1.0
 */
import * as Identity from "@meridian/core/stores/Identity"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createHmac, scrypt } from "node:crypto"
import { join } from "node:path"
import * as DiskBlobs from "../blobs/DiskBlobs.js"
import * as DiskStaging from "../files/DiskStaging.js"
import * as Sqlite from "../sqlite/index.js"
import * as DataLock from "./DataLock.js"

/**
 * The token signing key of a deployment (HMAC-SHA256 of the shared secret).
 *
 * @since 0.1.0
 * @category identity
 */
export const signingKey = (secret: string): Uint8Array =>
  new Uint8Array(createHmac("sha256", secret).update("meridian/identity/token-signing-key/v1").digest())

/**
 * The blob store's bound in a site process: 100 GiB unless `$MERIDIAN_BLOB_MAX_BYTES` says
 * otherwise (a full store answers 507; it never fills the disk past its bound).
 *
 * @since 0.1.0
 * @category config
 */
export const defaultBlobMaxBytes = (() => {
  const text = process.env.MERIDIAN_BLOB_MAX_BYTES
  const n = text === undefined ? NaN : Number(text)
  return Number.isSafeInteger(n) && n > 0 ? n : 100 * 1024 ** 3
})()

/**
 * The stores of the data directory `dataDir`, held locked ({@link DataLock.SITE_LOCK}) from
 * before the database opens until after it closes; fails with {@link DataLock.Locked} while
 * another running process has it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: {
  readonly dataDir: string
  readonly secret: string
  /** The most bytes the blob store holds (default {@link defaultBlobMaxBytes}). */
  readonly blobMaxBytes?: number
}) => {
  const sql = Sqlite.layerStores({ filename: join(options.dataDir, "site.db") })
  const identity = Identity.layer({ signingKey: signingKey(options.secret) }).pipe(
    Layer.provide(Layer.merge(sql, Identity.layerScryptHasher({}, { derive: nativeScrypt })))
  )
  const stores = Layer.mergeAll(
    sql,
    identity,
    // Large chunks: a download streams a file in 1 MiB reads, not 64 KiB ones.
    DiskBlobs.layer({
      directory: join(options.dataDir, "blobs"),
      chunkSize: 1024 * 1024,
      maxBytes: options.blobMaxBytes ?? defaultBlobMaxBytes
    }),
    DiskStaging.layer({ directory: join(options.dataDir, "uploads") })
  )
  // Taken in the layer's scope before the stores are built, so released after they close.
  return Layer.unwrapScoped(
    Effect.as(DataLock.acquire(join(options.dataDir, DataLock.SITE_LOCK), "meridian site data directory"), stores)
  )
}

/**
 * scrypt on Node's thread pool: a login or registration never stops the site's event loop (its
 * heartbeats, its other requests) for the derivation's few hundred milliseconds.
 *
 * @since 0.1.0
 * @category identity
 */
export const nativeScrypt: Identity.ScryptDerive = (password, salt, { N, dkLen, p, r }) =>
  new Promise((resolve, reject) =>
    scrypt(password, salt, dkLen, { N, r, p, maxmem: 128 * N * r * p + 16 * 1024 * 1024 }, (error, key) =>
      error === null ? resolve(new Uint8Array(key.buffer, key.byteOffset, key.length)) : reject(error)
    )
  )
