/**
 * SHA-256 as a value passed in: the chunker, the manifests and the client's checks name content by
 * it, and the fastest implementation depends on where the code runs. Core (the simulator, the
 * browser) uses the pure-JS `@noble/hashes` ({@link noble}); a Node daemon passes one over
 * `node:crypto` (native, several times faster), built in the node package or the CLI. Every
 * implementation gives the same lowercase hex digests: only the speed differs.
 *
 * @since 0.1.0
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"

/**
 * One incremental hash: feed bytes, then read the digest once.
 *
 * @since 0.1.0
 * @category models
 */
export interface HashState {
  readonly update: (bytes: Uint8Array) => void
  /** The lowercase hex SHA-256 of everything fed; the state is spent after it. */
  readonly digest: () => string
}

/**
 * A SHA-256 implementation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Hasher {
  /** The lowercase hex SHA-256 of `bytes`. */
  readonly sha256: (bytes: Uint8Array) => string
  /** A new incremental SHA-256. */
  readonly create: () => HashState
}

/**
 * The pure-JS SHA-256 of `@noble/hashes`: runs anywhere, deterministic, about 200 MB/s.
 *
 * @since 0.1.0
 * @category implementations
 */
export const noble: Hasher = {
  sha256: (bytes) => bytesToHex(sha256(bytes)),
  create: () => {
    const state = sha256.create()
    return {
      update: (bytes) => {
        state.update(bytes)
      },
      digest: () => bytesToHex(state.digest())
    }
  }
}

/**
 * A hasher over a `createHash("sha256")` of Node's `crypto` (or anything shaped like it), so that
 * core needs no Node types: `Hasher.fromCreateHash(() => createHash("sha256"))`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCreateHash = (
  createHash: () => { update: (bytes: Uint8Array) => unknown; digest: (encoding: "hex") => string }
): Hasher => ({
  sha256: (bytes) => {
    const h = createHash()
    h.update(bytes)
    return h.digest("hex")
  },
  create: () => {
    const h = createHash()
    return {
      update: (bytes) => {
        h.update(bytes)
      },
      digest: () => h.digest("hex")
    }
  }
})
