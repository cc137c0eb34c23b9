/**
 * Content-defined chunking with FastCDC (Xia et al., "FastCDC: a Fast and Efficient
 * Content-Defined Chunking Approach for Data Deduplication", USENIX ATC 2016; extended in IEEE
 * TPDS 2020). A cut point depends only on the bytes since the previous cut, so an insertion or a
 * deletion moves the boundaries of the chunk it falls in and no later one: a small edit of a large
 * file sends a chunk or two, not everything after it.
 *
 * The algorithm, as the paper gives it:
 * - a gear rolling hash, `fp = (fp << 1) + GEAR[byte]`, here on 32 bits: each bit of `fp` depends
 *   on at most the last 32 bytes, and the masks test its top bits, the ones with the widest window;
 * - cut-point skipping: the first `minSize` bytes of a chunk are not hashed at all;
 * - normalized chunking: before `avgSize` the mask has `log2(avgSize) + normalization` bits (a cut
 *   is rarer), from `avgSize` on `log2(avgSize) - normalization` (a cut is likelier), which
 *   gathers the chunk sizes around `avgSize`; `maxSize` cuts regardless.
 *
 * Devices and servers must cut identically, so everything that decides a cut is fixed here and
 * versioned ({@link GEAR_SEED}); chunks are named by the lowercase hex SHA-256 of their bytes, the
 * blob store's naming.
 *
 * @since 0.1.0
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { utf8ToBytes } from "@noble/hashes/utils.js"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { InvalidChunkerSettings } from "./Errors.js"
import * as Hasher from "./Hasher.js"

/**
 * The smallest `minSize` a setting may have: below it the per-chunk costs (a manifest entry, a
 * blob, a request) outweigh what a finer cut saves.
 *
 * @since 0.1.0
 * @category config
 */
export const MIN_CHUNK_FLOOR = 256

/**
 * The largest `maxSize` a setting may have: one chunk is read, hashed and sent whole, so this
 * bounds the memory a chunk takes on either side.
 *
 * @since 0.1.0
 * @category config
 */
export const MAX_CHUNK_CEILING = 16 * 1024 * 1024

/**
 * The largest normalization level: `log2(avgSize) ± level` mask bits must stay within the 32-bit
 * hash, and past 3 the paper measures no better deduplication.
 *
 * @since 0.1.0
 * @category config
 */
export const MAX_NORMALIZATION = 3

/**
 * The chunker's settings, with their defaults (16 KiB / 64 KiB / 256 KiB, level 2: a 1 GiB file
 * is about 16,000 chunks). Every device and server of a folder must use the same ones.
 *
 * @since 0.1.0
 * @category config
 */
export const Settings = Schema.Struct({
  /** No cut before this many bytes (the last chunk of a file may be shorter). */
  minSize: Schema.optionalWith(Schema.Int.pipe(Schema.between(MIN_CHUNK_FLOOR, MAX_CHUNK_CEILING)), {
    default: () => 16 * 1024
  }),
  /** The normal size, where the stricter mask gives way to the looser one: a power of two. */
  avgSize: Schema.optionalWith(Schema.Int.pipe(Schema.between(MIN_CHUNK_FLOOR, MAX_CHUNK_CEILING)), {
    default: () => 64 * 1024
  }),
  /** A chunk is cut here whatever its content. */
  maxSize: Schema.optionalWith(Schema.Int.pipe(Schema.between(MIN_CHUNK_FLOOR, MAX_CHUNK_CEILING)), {
    default: () => 256 * 1024
  }),
  /** Normalized chunking's level: mask bits added before `avgSize` and taken away after it. */
  normalization: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, MAX_NORMALIZATION)), { default: () => 2 })
}).pipe(
  Schema.filter((s) => {
    if (!isPowerOfTwo(s.avgSize)) return `avgSize must be a power of two (got ${s.avgSize})`
    if (!(s.minSize < s.avgSize && s.avgSize < s.maxSize))
      return `sizes must satisfy minSize < avgSize < maxSize (got ${s.minSize}, ${s.avgSize}, ${s.maxSize})`
    if (Math.log2(s.avgSize) - s.normalization < 1) return `normalization ${s.normalization} is too high for avgSize`
    return true
  })
)

/**
 * Decoded chunker settings.
 *
 * @since 0.1.0
 * @category config
 */
export interface Settings extends Schema.Schema.Type<typeof Settings> {}

/**
 * The default settings.
 *
 * @since 0.1.0
 * @category config
 */
export const defaults: Settings = Schema.decodeSync(Settings)({})

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0
}

/**
 * Checks settings (filling in the defaults) and says what is wrong with them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const settings = (
  input: Schema.Schema.Encoded<typeof Settings> = {}
): Either.Either<Settings, InvalidChunkerSettings> =>
  Schema.decodeUnknownEither(Settings)(input).pipe(
    Either.mapLeft((error) => new InvalidChunkerSettings({ message: ParseResult.TreeFormatter.formatErrorSync(error) }))
  )

/**
 * What seeds the gear table. `GEAR[i]` is the first 4 bytes, big-endian, of
 * `SHA-256(utf8(GEAR_SEED) ‖ [i])`: any implementation with a SHA-256 rebuilds it exactly. Changing
 * the seed changes every cut point, so it carries a version.
 *
 * @since 0.1.0
 * @category constants
 */
export const GEAR_SEED = "meridian/sync/fastcdc-gear/v1"

/**
 * The gear table: 256 pseudo-random 32-bit words, one per byte value (see {@link GEAR_SEED}).
 *
 * @since 0.1.0
 * @category constants
 */
export const GEAR: Uint32Array = (() => {
  const seed = utf8ToBytes(GEAR_SEED)
  const input = new Uint8Array(seed.length + 1)
  input.set(seed)
  const table = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    input[seed.length] = i
    const digest = sha256(input)
    table[i] = ((digest[0]! << 24) | (digest[1]! << 16) | (digest[2]! << 8) | digest[3]!) >>> 0
  }
  return table
})()

/** A mask of the top `bits` bits of a 32-bit word (as a signed 32-bit integer). */
const topBits = (bits: number): number => (bits === 0 ? 0 : -1 << (32 - bits))

/**
 * A chunk of the input: where it starts, its length and its name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Chunk {
  readonly offset: number
  readonly size: number
  /** Lowercase hex SHA-256 of the chunk's bytes. */
  readonly hash: string
}

/**
 * A streaming chunker: feed the input in pieces of any size; the chunks are the same however it
 * was split.
 *
 * @since 0.1.0
 * @category models
 */
export interface Chunker {
  readonly settings: Settings
  /** The SHA-256 that names the chunks (and, by default, a manifest's whole file). */
  readonly hasher: Hasher.Hasher
  /** Feeds the next piece of input; returns the chunks it completed, in order. */
  readonly push: (piece: Uint8Array) => ReadonlyArray<Chunk>
  /** Ends the input: returns the last chunk, if any bytes remain, and starts over for a new input. */
  readonly finish: () => ReadonlyArray<Chunk>
}

/**
 * A streaming chunker with these settings, naming chunks with `hasher` (the pure-JS SHA-256 unless
 * told: a Node process passes the native one; the names are the same).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  input: Schema.Schema.Encoded<typeof Settings> = {},
  hasher: Hasher.Hasher = Hasher.noble
): Either.Either<Chunker, InvalidChunkerSettings> =>
  Either.map(settings(input), (checked) => makeUnsafe(checked, hasher))

/** The chunker itself, over settings already checked. */
const makeUnsafe = (checked: Settings, hashing: Hasher.Hasher): Chunker => {
  const { minSize, avgSize, maxSize } = checked
  const bits = Math.log2(avgSize)
  const maskS = topBits(bits + checked.normalization)
  const maskL = topBits(bits - checked.normalization)
  // The same words read as signed: V8 keeps them small integers in the hot loop, not doubles.
  const gear = new Int32Array(GEAR.buffer, GEAR.byteOffset, 256)

  /** Bytes of the current chunk seen so far. */
  let length = 0
  /** The gear hash of the current chunk's bytes since `minSize`. */
  let fp = 0
  /** Where the current chunk starts in the whole input. */
  let offset = 0
  let hasher = hashing.create()

  const cut = (): Chunk => {
    const chunk: Chunk = { offset, size: length, hash: hasher.digest() }
    offset += length
    length = 0
    fp = 0
    hasher = hashing.create()
    return chunk
  }

  const push = (piece: Uint8Array): ReadonlyArray<Chunk> => {
    const chunks: Array<Chunk> = []
    const end = piece.length
    /** The start of the bytes of this piece not yet given to the hasher. */
    let pending = 0
    let i = 0
    while (i < end) {
      if (length < minSize) {
        // Cut-point skipping: nothing before minSize can be a cut, so it is not hashed.
        const skip = Math.min(minSize - length, end - i)
        i += skip
        length += skip
        continue
      }
      const normal = length < avgSize
      const mask = normal ? maskS : maskL
      const stop = Math.min(end, i + (normal ? avgSize : maxSize) - length)
      let h = fp
      let j = i
      let found = false
      while (j < stop) {
        h = ((h << 1) + gear[piece[j]!]!) | 0
        j++
        if ((h & mask) === 0) {
          found = true
          break
        }
      }
      fp = h
      length += j - i
      i = j
      if (found || length === maxSize) {
        hasher.update(piece.subarray(pending, i))
        pending = i
        chunks.push(cut())
      }
    }
    if (pending < end) hasher.update(piece.subarray(pending, end))
    return chunks
  }

  const finish = (): ReadonlyArray<Chunk> => {
    const last = length > 0 ? [cut()] : []
    offset = 0
    return last
  }

  return { settings: checked, hasher: hashing, push, finish }
}

/**
 * The chunks of a whole input at once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const chunk = (
  bytes: Uint8Array,
  input: Schema.Schema.Encoded<typeof Settings> = {},
  hasher: Hasher.Hasher = Hasher.noble
): Either.Either<ReadonlyArray<Chunk>, InvalidChunkerSettings> =>
  Either.map(make(input, hasher), (chunker) => [...chunker.push(bytes), ...chunker.finish()])
