/**
 * The stores of a site process: one SQLite database (outbox, dedupe window, key-value, accounts)
 * and a blob directory, under the site's data directory; identity tokens signed with a key
 * derived from the topology's shared secret, so every site verifies every other site's tokens.
 *
 * @since 0.1.0
 */
import * as Identity from "@meridian/core/stores/Identity"
import * as Layer from "effect/Layer"
import { createHmac } from "node:crypto"
import { join } from "node:path"
import * as DiskBlobs from "../blobs/DiskBlobs.js"
import * as DiskStaging from "../files/DiskStaging.js"
import * as Sqlite from "../sqlite/index.js"

/**
 * The token signing key of a deployment (HMAC-SHA256 of the shared secret).
 *
 * @since 0.1.0
 * @category identity
 */
export const signingKey = (secret: string): Uint8Array =>
  new Uint8Array(createHmac("sha256", secret).update("meridian/identity/token-signing-key/v1").digest())

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: { readonly dataDir: string; readonly secret: string }) => {
  const sql = Sqlite.layerStores({ filename: join(options.dataDir, "site.db") })
  const identity = Identity.layer({ signingKey: signingKey(options.secret) }).pipe(
    Layer.provide(Layer.merge(sql, Identity.layerScryptHasher({})))
  )
  return Layer.mergeAll(
    sql,
    identity,
    DiskBlobs.layer({ directory: join(options.dataDir, "blobs") }),
    DiskStaging.layer({ directory: join(options.dataDir, "uploads") })
  )
}
