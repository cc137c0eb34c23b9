/**
 * A file version as its list of content-defined chunks, and the delta between two versions of one
 * file.
 *
 * A manifest is the chunk list (hash, size), the file's size and its SHA-256. It is named by its
 * {@link digest}, the SHA-256 of its encoding. A {@link Delta} is the splice that turns a base
 * chunk list into the new one — keep a run, drop a run, insert entries — so a 100-byte edit of a
 * 1 GiB file (about 16,000 chunks, 560 KiB of manifest) costs a handful of entries. A delta names
 * the digests of its base and of its result: applying it to another base, or a delta whose
 * operations do not give that result, is refused with a typed error, never a corrupt manifest.
 *
 * The encodings are binary, not JSON: a hash is its 32 bytes (JSON would spend 66 on its hex), a
 * size a varint (3 bytes for a typical chunk), so an entry is about 35 bytes instead of about 85;
 * the encoding is canonical (one encoding per manifest: varints without redundant bytes, no
 * trailing bytes), which the digest needs. Manifest: `"M" 1 size:varint sha256:32
 * count:varint (hash:32 size:varint)*`. Delta: `"D" 1 base:32 result:32 size:varint sha256:32
 * ops:varint op*`, an op being `varint(count × 4 + kind)` (kind 0 keep, 1 drop, 2 insert) and, for
 * an insert, its `count` entries.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { Reader, varintSize, Writer } from "./Binary.js"
import * as Chunker from "./Chunker.js"
import { DeltaBaseMismatch, DeltaCorrupt, MalformedEncoding, ManifestTooLarge } from "./Errors.js"
import * as Hasher from "./Hasher.js"

/**
 * One entry of a manifest: a chunk's name and length.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChunkRef {
  /** Lowercase hex SHA-256 of the chunk's bytes (its name in the blob store). */
  readonly hash: string
  readonly size: number
}

/**
 * A file version.
 *
 * @since 0.1.0
 * @category models
 */
export interface Manifest {
  /** The file's size in bytes: the sum of its chunks' sizes. */
  readonly size: number
  /** Lowercase hex SHA-256 of the whole file. */
  readonly sha256: string
  readonly chunks: ReadonlyArray<ChunkRef>
}

/**
 * The bounds a manifest (built, decoded or produced by a delta) must keep.
 *
 * @since 0.1.0
 * @category config
 */
export interface Limits {
  /** Entries in one manifest: bounds its memory and encoding (about 35 bytes an entry). */
  readonly maxChunks: number
  /** The largest chunk an entry may declare. */
  readonly maxChunkSize: number
}

/**
 * Defaults: 2^20 chunks (64 GiB at the default 64 KiB average, a 36 MiB manifest) of at most the
 * chunker's ceiling.
 *
 * @since 0.1.0
 * @category config
 */
export const Limits: Limits = {
  maxChunks: 1 << 20,
  maxChunkSize: Chunker.MAX_CHUNK_CEILING
}

/**
 * Builds a manifest from a file fed in pieces: its chunks and its whole-file SHA-256 in one pass.
 *
 * @since 0.1.0
 * @category models
 */
export interface Builder {
  readonly push: (piece: Uint8Array) => void
  /** Ends the file. */
  readonly finish: () => Either.Either<Manifest, ManifestTooLarge>
}

/**
 * A manifest builder over a chunker (which it resets at {@link Builder.finish}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const builder = (
  chunker: Chunker.Chunker,
  limits: Limits = Limits,
  hasher: Hasher.Hasher = chunker.hasher
): Builder => {
  const file = hasher.create()
  const chunks: Array<ChunkRef> = []
  let size = 0
  let count = 0
  const add = (cut: ReadonlyArray<Chunker.Chunk>) => {
    for (const c of cut) {
      // Past the bound, count on but keep nothing: the memory stays bounded.
      if (++count <= limits.maxChunks) chunks.push({ hash: c.hash, size: c.size })
    }
  }
  return {
    push: (piece) => {
      file.update(piece)
      size += piece.length
      add(chunker.push(piece))
    },
    finish: () => {
      add(chunker.finish())
      if (count > limits.maxChunks) return Either.left(new ManifestTooLarge({ chunks: count, limit: limits.maxChunks }))
      return Either.right({ size, sha256: file.digest(), chunks })
    }
  }
}

/**
 * The manifest of a whole file at once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromBytes = (
  bytes: Uint8Array,
  chunker: Chunker.Chunker,
  limits: Limits = Limits
): Either.Either<Manifest, ManifestTooLarge> => {
  const b = builder(chunker, limits)
  b.push(bytes)
  return b.finish()
}

const MANIFEST_TAG = 0x4d // "M"
const DELTA_TAG = 0x44 // "D"
const VERSION = 1

const entrySize = (c: ChunkRef) => 32 + varintSize(c.size)

/**
 * The size of a manifest's encoding, in bytes.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodedSize = (manifest: Manifest): number => {
  let n = 2 + varintSize(manifest.size) + 32 + varintSize(manifest.chunks.length)
  for (const c of manifest.chunks) n += entrySize(c)
  return n
}

/**
 * A manifest's canonical binary encoding.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (manifest: Manifest): Uint8Array => {
  const w = new Writer(encodedSize(manifest))
  w.byte(MANIFEST_TAG)
  w.byte(VERSION)
  w.varint(manifest.size)
  w.hash(manifest.sha256)
  w.varint(manifest.chunks.length)
  for (const c of manifest.chunks) {
    w.hash(c.hash)
    w.varint(c.size)
  }
  return w.done()
}

/** Checks the header (tag, version) of an encoding. */
const header = (r: Reader, tag: number, what: string) => {
  const t = r.byte()
  const v = r.byte()
  if (t !== tag) r.fail(`not a ${what} (format byte ${t})`)
  else if (v !== VERSION) r.fail(`${what} format version ${v}, this reader knows ${VERSION}`)
}

/** Reads `count` entries, each within the limits. */
const entries = (r: Reader, count: number, limits: Limits): Array<ChunkRef> => {
  const out: Array<ChunkRef> = []
  for (let i = 0; i < count && r.problem === undefined; i++) {
    const hash = r.hash()
    const size = r.varint()
    if (r.problem === undefined && (size < 1 || size > limits.maxChunkSize))
      r.fail(`entry ${i} has size ${size}, outside 1..${limits.maxChunkSize}`)
    out.push({ hash, size })
  }
  return out
}

const sumSizes = (chunks: ReadonlyArray<ChunkRef>) => {
  let total = 0
  for (const c of chunks) total += c.size
  return total
}

/**
 * Decodes a manifest, checking its bounds and that its size is the sum of its chunks.
 *
 * @since 0.1.0
 * @category encoding
 */
export const decode = (bytes: Uint8Array, limits: Limits = Limits): Either.Either<Manifest, MalformedEncoding> => {
  const r = new Reader(bytes)
  header(r, MANIFEST_TAG, "manifest")
  const size = r.varint()
  const fileHash = r.hash()
  const count = r.varint()
  if (r.problem === undefined && count > limits.maxChunks)
    r.fail(`${count} chunks, over the bound of ${limits.maxChunks}`)
  const chunks = entries(r, count, limits)
  if (r.problem === undefined && r.remaining > 0) r.fail(`${r.remaining} bytes after the manifest`)
  if (r.problem === undefined && sumSizes(chunks) !== size)
    r.fail(`the chunks add up to ${sumSizes(chunks)} bytes, the manifest says ${size}`)
  if (r.problem !== undefined) return Either.left(new MalformedEncoding({ what: "manifest", message: r.problem }))
  return Either.right({ size, sha256: fileHash, chunks })
}

const digests = new WeakMap<Manifest, string>()

/**
 * A manifest's name: the lowercase hex SHA-256 of its encoding (remembered per manifest object,
 * which is immutable).
 *
 * @since 0.1.0
 * @category encoding
 */
export const digest = (manifest: Manifest, hasher: Hasher.Hasher = Hasher.noble): string => {
  let d = digests.get(manifest)
  if (d === undefined) {
    d = hasher.sha256(encode(manifest))
    digests.set(manifest, d)
  }
  return d
}

/**
 * One splice operation over the base's chunk list, read front to back.
 *
 * @since 0.1.0
 * @category models
 */
export type Op =
  /** The next `count` base entries are in the result. */
  | { readonly _tag: "Keep"; readonly count: number }
  /** The next `count` base entries are not. */
  | { readonly _tag: "Drop"; readonly count: number }
  /** These entries come next in the result. */
  | { readonly _tag: "Insert"; readonly chunks: ReadonlyArray<ChunkRef> }

/**
 * The change from one version of a file to the next.
 *
 * @since 0.1.0
 * @category models
 */
export interface Delta {
  /** The digest of the manifest the delta applies to. */
  readonly base: string
  /** The digest of the manifest it gives. */
  readonly result: string
  /** The new version's size and whole-file SHA-256. */
  readonly size: number
  readonly sha256: string
  /** Operations that consume the whole base, in order. */
  readonly ops: ReadonlyArray<Op>
}

/**
 * How far {@link diff} looks for a better place to resume matching.
 *
 * @since 0.1.0
 * @category config
 */
export interface DiffOptions {
  /**
   * Once a place where the two lists match again is found, up to this many more entries of the
   * new list are tried for one that costs fewer drops and inserts; bounds the work per change.
   */
  readonly lookahead: number
}

/**
 * Default: 1024 entries of lookahead.
 *
 * @since 0.1.0
 * @category config
 */
export const DiffOptions: DiffOptions = { lookahead: 1024 }

const same = (a: ChunkRef, b: ChunkRef) => a.hash === b.hash && a.size === b.size

/** The first position in `sorted` at or after `from`. */
const firstAtOrAfter = (sorted: ReadonlyArray<number> | undefined, from: number): number | undefined => {
  if (sorted === undefined) return undefined
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! < from) lo = mid + 1
    else hi = mid
  }
  return sorted[lo]
}

/**
 * The delta from `base` to `next`. Greedy: runs that match are kept; at a difference it resumes at
 * the matching pair (one entry of each list, in order) that drops and inserts the fewest entries
 * within the lookahead. An in-place edit or an insertion costs one drop and one insert of the
 * chunks it touched; a block moved within the file costs its entries once (there is no copy from
 * elsewhere in the base).
 *
 * @since 0.1.0
 * @category delta
 */
export const diff = (base: Manifest, next: Manifest, options: DiffOptions = DiffOptions): Delta => {
  const a = base.chunks
  const b = next.chunks
  const positions = new Map<string, Array<number>>()
  a.forEach((c, i) => {
    const list = positions.get(c.hash)
    if (list === undefined) positions.set(c.hash, [i])
    else list.push(i)
  })
  const ops: Array<Op> = []
  const keep = (count: number) => count > 0 && ops.push({ _tag: "Keep", count })
  const drop = (count: number) => count > 0 && ops.push({ _tag: "Drop", count })
  const insert = (chunks: ReadonlyArray<ChunkRef>) => chunks.length > 0 && ops.push({ _tag: "Insert", chunks })
  let i = 0
  let j = 0
  while (j < b.length) {
    if (i < a.length && same(a[i]!, b[j]!)) {
      const from = i
      while (i < a.length && j < b.length && same(a[i]!, b[j]!)) {
        i++
        j++
      }
      keep(i - from)
      continue
    }
    let best = Infinity
    let atI = a.length
    let atJ = b.length
    let scanned = 0
    for (let k = j; k < b.length && k - j < best && scanned <= options.lookahead; k++) {
      if (best !== Infinity) scanned++
      const p = firstAtOrAfter(positions.get(b[k]!.hash), i)
      if (p === undefined || !same(a[p]!, b[k]!)) continue
      const cost = p - i + (k - j)
      if (cost < best) {
        best = cost
        atI = p
        atJ = k
      }
    }
    drop(atI - i)
    insert(b.slice(j, atJ))
    i = atI
    j = atJ
  }
  drop(a.length - i)
  return { base: digest(base), result: digest(next), size: next.size, sha256: next.sha256, ops }
}

/**
 * Applies a delta to its base: the new manifest, or a refusal when the delta was made against
 * another base ({@link DeltaBaseMismatch}) or does not give the manifest it names
 * ({@link DeltaCorrupt}).
 *
 * @since 0.1.0
 * @category delta
 */
export const apply = (
  base: Manifest,
  delta: Delta,
  limits: Limits = Limits
): Either.Either<Manifest, DeltaBaseMismatch | DeltaCorrupt> => {
  const baseDigest = digest(base)
  if (baseDigest !== delta.base) return Either.left(new DeltaBaseMismatch({ expected: delta.base, actual: baseDigest }))
  const corrupt = (message: string) => Either.left(new DeltaCorrupt({ message }))
  const a = base.chunks
  const chunks: Array<ChunkRef> = []
  let i = 0
  for (const [n, op] of delta.ops.entries()) {
    const count = op._tag === "Insert" ? op.chunks.length : op.count
    if (!Number.isSafeInteger(count) || count < 1) return corrupt(`operation ${n} has count ${count}`)
    if (op._tag === "Insert") {
      if (chunks.length + count > limits.maxChunks) return corrupt(`the result has over ${limits.maxChunks} chunks`)
      for (const c of op.chunks) {
        if (!Number.isSafeInteger(c.size) || c.size < 1 || c.size > limits.maxChunkSize)
          return corrupt(`operation ${n} inserts a chunk of size ${c.size}`)
        chunks.push(c)
      }
      continue
    }
    if (i + count > a.length)
      return corrupt(`operation ${n} goes ${i + count - a.length} entries past the base's ${a.length}`)
    if (op._tag === "Keep") {
      if (chunks.length + count > limits.maxChunks) return corrupt(`the result has over ${limits.maxChunks} chunks`)
      for (let k = i; k < i + count; k++) chunks.push(a[k]!)
    }
    i += count
  }
  if (i !== a.length) return corrupt(`the operations leave ${a.length - i} of the base's entries unread`)
  const total = sumSizes(chunks)
  if (total !== delta.size) return corrupt(`the chunks add up to ${total} bytes, the delta says ${delta.size}`)
  const result: Manifest = { size: delta.size, sha256: delta.sha256, chunks }
  const resultDigest = digest(result)
  if (resultDigest !== delta.result)
    return corrupt(`the result is manifest ${resultDigest}, the delta promises ${delta.result}`)
  return Either.right(result)
}

const KIND = { Keep: 0, Drop: 1, Insert: 2 } as const

const opHead = (op: Op) => (op._tag === "Insert" ? op.chunks.length * 4 + KIND.Insert : op.count * 4 + KIND[op._tag])

/**
 * The size of a delta's encoding, in bytes.
 *
 * @since 0.1.0
 * @category encoding
 */
export const deltaEncodedSize = (delta: Delta): number => {
  let n = 2 + 32 + 32 + varintSize(delta.size) + 32 + varintSize(delta.ops.length)
  for (const op of delta.ops) {
    n += varintSize(opHead(op))
    if (op._tag === "Insert") for (const c of op.chunks) n += entrySize(c)
  }
  return n
}

/**
 * A delta's binary encoding.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeDelta = (delta: Delta): Uint8Array => {
  const w = new Writer(deltaEncodedSize(delta))
  w.byte(DELTA_TAG)
  w.byte(VERSION)
  w.hash(delta.base)
  w.hash(delta.result)
  w.varint(delta.size)
  w.hash(delta.sha256)
  w.varint(delta.ops.length)
  for (const op of delta.ops) {
    w.varint(opHead(op))
    if (op._tag === "Insert")
      for (const c of op.chunks) {
        w.hash(c.hash)
        w.varint(c.size)
      }
  }
  return w.done()
}

/**
 * Decodes a delta, checking its bounds (whether it fits its base is {@link apply}'s part).
 *
 * @since 0.1.0
 * @category encoding
 */
export const decodeDelta = (bytes: Uint8Array, limits: Limits = Limits): Either.Either<Delta, MalformedEncoding> => {
  const r = new Reader(bytes)
  header(r, DELTA_TAG, "delta")
  const base = r.hash()
  const result = r.hash()
  const size = r.varint()
  const fileHash = r.hash()
  const opCount = r.varint()
  // Every operation keeps, drops or inserts at least one entry of a bounded base or result.
  const maxOps = 2 * limits.maxChunks + 1
  if (r.problem === undefined && opCount > maxOps) r.fail(`${opCount} operations, over the bound of ${maxOps}`)
  const ops: Array<Op> = []
  let inserted = 0
  for (let n = 0; n < opCount && r.problem === undefined; n++) {
    const head = r.varint()
    const kind = head % 4
    const count = Math.floor(head / 4)
    if (r.problem !== undefined) break
    if (count < 1) r.fail(`operation ${n} has count 0`)
    else if (kind === KIND.Keep) ops.push({ _tag: "Keep", count })
    else if (kind === KIND.Drop) ops.push({ _tag: "Drop", count })
    else if (kind === KIND.Insert) {
      inserted += count
      if (inserted > limits.maxChunks) r.fail(`over ${limits.maxChunks} inserted entries`)
      else ops.push({ _tag: "Insert", chunks: entries(r, count, limits) })
    } else r.fail(`operation ${n} has unknown kind ${kind}`)
  }
  if (r.problem === undefined && r.remaining > 0) r.fail(`${r.remaining} bytes after the delta`)
  if (r.problem !== undefined) return Either.left(new MalformedEncoding({ what: "delta", message: r.problem }))
  return Either.right({ base, result, size, sha256: fileHash, ops })
}
