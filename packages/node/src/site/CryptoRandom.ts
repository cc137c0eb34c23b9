/**
 * Effect's `Random` backed by the operating system's CSPRNG. A site process runs with it, so the
 * salts and token ids the identity service draws from `Random` are unpredictable (the simulator
 * keeps its seeded generator for replayable runs).
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import { randomBytes } from "node:crypto"

/** Bytes drawn from the kernel at a time: one syscall serves many draws. */
const POOL_BYTES = 4096

/**
 * A `Random` service over `crypto.randomBytes`, buffered.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (): Random.Random => {
  let pool = randomBytes(POOL_BYTES)
  let offset = 0
  /** A uniform integer in [0, 2^48). */
  const next48 = (): number => {
    if (offset + 6 > pool.length) {
      pool = randomBytes(POOL_BYTES)
      offset = 0
    }
    const value = pool.readUIntBE(offset, 6)
    offset += 6
    return value
  }
  /** A uniform double in [0, 1). */
  const nextDouble = () => next48() / 2 ** 48
  /** A uniform integer in [min, max), by rejection (no modulo bias). */
  const between = (min: number, max: number): number => {
    const lo = Math.ceil(min)
    const range = Math.floor(max) - lo
    if (!(range > 0)) return lo
    if (range > 2 ** 48) return lo + Math.floor(nextDouble() * range)
    const limit = 2 ** 48 - (2 ** 48 % range)
    let value = next48()
    while (value >= limit) value = next48()
    return lo + (value % range)
  }
  return {
    [Random.RandomTypeId]: Random.RandomTypeId,
    next: Effect.sync(nextDouble),
    nextBoolean: Effect.sync(() => next48() % 2 === 0),
    nextInt: Effect.sync(() => between(-(2 ** 31), 2 ** 31)),
    nextRange: (min, max) => Effect.sync(() => min + nextDouble() * (max - min)),
    nextIntBetween: (min, max) => Effect.sync(() => between(min, max)),
    shuffle: <A>(elements: Iterable<A>) =>
      Effect.sync(() => {
        const out = Array.from(elements)
        for (let i = out.length - 1; i > 0; i--) {
          const j = between(0, i + 1)
          ;[out[i], out[j]] = [out[j]!, out[i]!]
        }
        return Chunk.fromIterable(out)
      })
  } as Random.Random
}

/**
 * Sets the CSPRNG-backed `Random` for everything built with this layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never> = Layer.suspend(() => Layer.setRandom(make()))
