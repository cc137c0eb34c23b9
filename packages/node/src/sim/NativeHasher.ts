/**
 * The simulator's trace hashed with `node:crypto` (the same SHA-256 as the portable one in core,
 * about 20× faster): what a Node host passes as `Runner.run({ hasher })`.
 *
 * @since 0.1.0
 */
import type { MakeTraceHasher } from "@meridian/core/sim/Trace"
import { createHash } from "node:crypto"

/**
 * @since 0.1.0
 * @category hashing
 */
export const nativeHasher: MakeTraceHasher = () => {
  const hash = createHash("sha256")
  return { update: (text) => void hash.update(text), digest: () => hash.digest("hex") }
}
