import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { createHash } from "node:crypto"
import * as Chunker from "../src/sync/Chunker.js"
import * as Hasher from "../src/sync/Hasher.js"
import * as Manifest from "../src/sync/Manifest.js"

const MiB = 1024 * 1024

/** Seeded pseudo-random bytes (xorshift32): the same input on every run. */
const seeded = (size: number, seed: number): Uint8Array => {
  const bytes = new Uint8Array(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    bytes[i] = x & 0xff
  }
  return bytes
}

/** A seeded sequence of integers in [0, bound). */
const positions = (count: number, bound: number, seed: number): Array<number> => {
  const noise = seeded(count * 4, seed)
  const view = new DataView(noise.buffer)
  return Array.from({ length: count }, (_, i) => view.getUint32(i * 4) % bound)
}

const chunker = (settings: Parameters<typeof Chunker.make>[0] = {}) => Either.getOrThrow(Chunker.make(settings))
const chunksOf = (bytes: Uint8Array, settings: Parameters<typeof Chunker.make>[0] = {}) =>
  Either.getOrThrow(Chunker.chunk(bytes, settings))
const manifestOf = (bytes: Uint8Array) => Either.getOrThrow(Manifest.fromBytes(bytes, chunker()))

/** Feeds `bytes` in pieces of the given sizes (cycled). */
const chunkInPieces = (bytes: Uint8Array, sizes: ReadonlyArray<number>) => {
  const c = chunker()
  const out: Array<Chunker.Chunk> = []
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const size = sizes[k % sizes.length]!
    out.push(...c.push(bytes.subarray(at, at + size)))
    at += size
  }
  return [...out, ...c.finish()]
}

/** The entries of `after` whose hash `before` does not have. */
const newChunks = (before: ReadonlyArray<Chunker.Chunk>, after: ReadonlyArray<Chunker.Chunk>) => {
  const known = new Set(before.map((c) => c.hash))
  return after.filter((c) => !known.has(c.hash))
}

const insertedEntries = (delta: Manifest.Delta) =>
  delta.ops.reduce((n, op) => n + (op._tag === "Insert" ? op.chunks.length : 0), 0)

/** Encodes, decodes and applies: what a receiver of the delta gets. */
const roundTrip = (base: Manifest.Manifest, delta: Manifest.Delta) =>
  Either.flatMap(Manifest.decodeDelta(Manifest.encodeDelta(delta)), (decoded) => Manifest.apply(base, decoded))

const data = seeded(4 * MiB, 0x5eed)

describe("Chunker settings", () => {
  it("defaults to 16 KiB / 64 KiB / 256 KiB, normalization 2", () => {
    expect(Chunker.defaults).toEqual({ minSize: 16384, avgSize: 65536, maxSize: 262144, normalization: 2 })
  })

  it("refuses settings that are out of bounds or inconsistent, saying why", () => {
    const refused = (input: Parameters<typeof Chunker.make>[0]) => {
      const result = Chunker.make(input)
      if (Either.isRight(result)) throw new Error(`accepted ${JSON.stringify(input)}`)
      expect(result.left._tag).toBe("InvalidChunkerSettings")
      return result.left.message
    }
    expect(refused({ avgSize: 60000 })).toContain("power of two")
    expect(refused({ minSize: 65536 })).toContain("minSize < avgSize < maxSize")
    expect(refused({ maxSize: 32768 })).toContain("minSize < avgSize < maxSize")
    expect(refused({ maxSize: 64 * MiB })).toContain(String(Chunker.MAX_CHUNK_CEILING))
    expect(refused({ minSize: 16, avgSize: 64, maxSize: 128 })).toContain(String(Chunker.MIN_CHUNK_FLOOR))
    expect(refused({ normalization: 4 })).toContain(String(Chunker.MAX_NORMALIZATION))
    expect(Either.isRight(Chunker.make({ minSize: 2048, avgSize: 8192, maxSize: 32768, normalization: 1 }))).toBe(true)
  })
})

describe("FastCDC chunking", () => {
  const whole = chunksOf(data)

  it("covers the input with chunks named by the SHA-256 of their bytes", () => {
    let at = 0
    for (const c of whole) {
      expect(c.offset).toBe(at)
      expect(c.hash).toBe(bytesToHex(sha256(data.subarray(c.offset, c.offset + c.size))))
      at += c.size
    }
    expect(at).toBe(data.length)
    expect(chunksOf(new Uint8Array(0))).toEqual([])
  })

  it("cuts the same however the input is split into pieces", () => {
    expect(chunkInPieces(data, [1 * MiB])).toEqual(whole)
    expect(
      chunkInPieces(
        data,
        positions(64, 100_000, 7).map((n) => n + 1)
      )
    ).toEqual(whole)
    // Pieces that end exactly at, and one byte around, the minimum, average and maximum sizes.
    expect(chunkInPieces(data, [16383, 1, 16384, 47_000, 65537, 262143, 3])).toEqual(whole)
    // Byte by byte, over a prefix long enough to hold several chunks.
    const prefix = data.subarray(0, 400_000)
    expect(chunkInPieces(prefix, [1])).toEqual(chunksOf(prefix))
  })

  it("keeps chunk sizes within min/max, with an average near the setting", () => {
    const check = (settings: Chunker.Settings, chunks: ReadonlyArray<Chunker.Chunk>) => {
      const sizes = chunks.map((c) => c.size)
      for (const size of sizes.slice(0, -1)) {
        expect(size).toBeGreaterThanOrEqual(settings.minSize)
        expect(size).toBeLessThanOrEqual(settings.maxSize)
      }
      expect(sizes.at(-1)!).toBeLessThanOrEqual(settings.maxSize)
      const average = sizes.reduce((a, b) => a + b, 0) / sizes.length
      expect(average).toBeGreaterThan(0.8 * settings.avgSize)
      expect(average).toBeLessThan(1.25 * settings.avgSize)
    }
    check(Chunker.defaults, whole)
    const small = { minSize: 2048, avgSize: 8192, maxSize: 32768, normalization: 2 }
    check(small, chunksOf(data, small))
    // Content with no cut point at all (zeros) is cut at the maximum size.
    const zeros = chunksOf(new Uint8Array(MiB))
    expect(zeros.map((c) => c.size)).toEqual([262144, 262144, 262144, 262144])
    expect(new Set(zeros.map((c) => c.hash)).size).toBe(1)
  })

  it("an insertion of one byte at the start shifts no later boundary", () => {
    const inserted = new Uint8Array(data.length + 1)
    inserted[0] = 0x42
    inserted.set(data, 1)
    const after = chunksOf(inserted)
    expect(newChunks(whole, after).length).toBeLessThanOrEqual(2)
    // Every boundary after the first chunk or two is the old one, one byte later.
    const shifted = new Set(whole.map((c) => c.offset + c.size + 1))
    const moved = after.filter((c) => !shifted.has(c.offset + c.size))
    expect(moved.length).toBeLessThanOrEqual(2)
    expect(after.indexOf(moved.at(-1)!)).toBeLessThanOrEqual(1)
  })

  it("an in-place edit of 100 bytes changes at most two chunks", () => {
    // Random places, and one across a cut point.
    const places = [...positions(12, data.length - 100, 11), whole[10]!.offset - 50]
    for (const at of places) {
      const edited = data.slice()
      edited.set(seeded(100, at + 1), at)
      const after = chunksOf(edited)
      expect(newChunks(whole, after).length).toBeLessThanOrEqual(2)
      expect(newChunks(after, whole).length).toBeLessThanOrEqual(2)
    }
  })

  it("uses a fixed gear table and cuts a fixed input the same in every version", () => {
    // Devices and servers of different versions must agree: a change here is a format change.
    expect(Chunker.GEAR.length).toBe(256)
    expect(new Set(Chunker.GEAR).size).toBe(256)
    expect(Array.from(Chunker.GEAR.subarray(0, 4), (w) => w.toString(16).padStart(8, "0"))).toEqual(
      Array.from({ length: 4 }, (_, i) =>
        bytesToHex(sha256(new Uint8Array([...new TextEncoder().encode(Chunker.GEAR_SEED), i])).subarray(0, 4))
      )
    )
    expect(chunksOf(seeded(MiB, 1)).map((c) => c.offset + c.size)).toEqual(GOLDEN_CUTS)
  })
})

/** The cut points (chunk ends) of `seeded(1 MiB, 1)` with the default settings, as version 1 cuts them. */
const GOLDEN_CUTS = [
  77523, 172232, 259586, 312312, 415101, 491181, 562307, 628738, 704085, 787999, 894680, 962398, 1033196, 1048576
]

describe("Manifest", () => {
  const base = manifestOf(data)

  it("lists the chunks with the file's size and SHA-256, and round-trips its encoding", () => {
    expect(base.size).toBe(data.length)
    expect(base.sha256).toBe(bytesToHex(sha256(data)))
    expect(base.chunks).toEqual(chunksOf(data).map((c) => ({ hash: c.hash, size: c.size })))
    const encoded = Manifest.encode(base)
    expect(encoded.length).toBe(Manifest.encodedSize(base))
    // About 35 bytes an entry: a raw hash and a varint size.
    expect(encoded.length).toBeLessThan(2 + 4 + 32 + 2 + 36 * base.chunks.length)
    expect(Either.getOrThrow(Manifest.decode(encoded))).toEqual(base)
    const empty = manifestOf(new Uint8Array(0))
    expect(empty).toEqual({ size: 0, sha256: bytesToHex(sha256(new Uint8Array(0))), chunks: [] })
    expect(Either.getOrThrow(Manifest.decode(Manifest.encode(empty)))).toEqual(empty)
  })

  it("refuses an encoding that is truncated, padded, over its bounds or does not add up", () => {
    const encoded = Manifest.encode(base)
    const malformed = (bytes: Uint8Array, limits?: Manifest.Limits) => {
      const result = Manifest.decode(bytes, limits)
      if (Either.isRight(result)) throw new Error("decoded")
      expect(result.left._tag).toBe("MalformedEncoding")
      return result.left.message
    }
    expect(malformed(encoded.subarray(0, encoded.length - 1))).toContain("truncated")
    expect(malformed(new Uint8Array([...encoded, 0]))).toContain("after the manifest")
    expect(malformed(encoded, { ...Manifest.Limits, maxChunks: 10 })).toContain("over the bound")
    const wrongSize = Manifest.encode({ ...base, size: base.size + 1 })
    expect(malformed(wrongSize)).toContain("add up")
    expect(malformed(Manifest.encodeDelta(Manifest.diff(base, base)))).toContain("not a manifest")
  })

  it("refuses to build a manifest over its chunk bound", () => {
    const result = Manifest.fromBytes(data, chunker(), { ...Manifest.Limits, maxChunks: 10 })
    expect(Either.isLeft(result) && result.left._tag).toBe("ManifestTooLarge")
  })
})

describe("Hasher", () => {
  it("names chunks, files and manifests the same with Node's native SHA-256 as with the pure-JS one", () => {
    const native = Hasher.fromCreateHash(() => createHash("sha256"))
    const bytes = seeded(3 * MiB + 17, 0xabc)
    const build = (hasher: Hasher.Hasher) => {
      const builder = Manifest.builder(Either.getOrThrow(Chunker.make({}, hasher)))
      for (let at = 0; at < bytes.length; at += 100_000) builder.push(bytes.subarray(at, at + 100_000))
      return Either.getOrThrow(builder.finish())
    }
    const [pure, fast] = [build(Hasher.noble), build(native)]
    expect(fast).toEqual(pure)
    expect(pure.sha256).toBe(bytesToHex(sha256(bytes)))
    expect(Manifest.digest(fast, native)).toBe(Manifest.digest(pure, Hasher.noble))
  })
})

describe("Manifest deltas", () => {
  const base = manifestOf(data)
  const fullBytes = Manifest.encodedSize(base)

  it("an in-place edit of 100 bytes costs a few entries, not the whole manifest", () => {
    for (const at of positions(5, data.length - 100, 23)) {
      const edited = data.slice()
      edited.set(seeded(100, at + 3), at)
      const next = manifestOf(edited)
      const delta = Manifest.diff(base, next)
      expect(Either.getOrThrow(roundTrip(base, delta))).toEqual(next)
      expect(insertedEntries(delta)).toBeLessThanOrEqual(2)
      expect(delta.ops.length).toBeLessThanOrEqual(4)
      const bytes = Manifest.deltaEncodedSize(delta)
      expect(bytes).toBe(Manifest.encodeDelta(delta).length)
      expect(bytes).toBeLessThan(250)
      expect(bytes).toBeLessThan(fullBytes / 10)
    }
  })

  it("an insertion at the start costs a few entries", () => {
    const inserted = new Uint8Array(data.length + 1)
    inserted.set(data, 1)
    const next = manifestOf(inserted)
    const delta = Manifest.diff(base, next)
    expect(Either.getOrThrow(roundTrip(base, delta))).toEqual(next)
    expect(insertedEntries(delta)).toBeLessThanOrEqual(2)
    expect(Manifest.deltaEncodedSize(delta)).toBeLessThan(250)
  })

  it("round-trips unrelated, grown, shrunk and emptied files", () => {
    const other = manifestOf(seeded(MiB, 99))
    const longer = new Uint8Array(data.length + MiB)
    longer.set(data)
    longer.set(seeded(MiB, 5), data.length)
    const grown = manifestOf(longer)
    const shrunk = manifestOf(data.subarray(MiB, 3 * MiB))
    const empty = manifestOf(new Uint8Array(0))
    for (const [from, to] of [
      [base, other],
      [base, grown],
      [grown, base],
      [base, shrunk],
      [base, empty],
      [empty, base],
      [base, base]
    ] as const) {
      expect(Either.getOrThrow(roundTrip(from, Manifest.diff(from, to)))).toEqual(to)
    }
    const appended = Manifest.diff(base, grown)
    expect(appended.ops[0]).toEqual({ _tag: "Keep", count: base.chunks.length - 1 })
    expect(Manifest.diff(base, base).ops).toEqual([{ _tag: "Keep", count: base.chunks.length }])
  })

  it("refuses a corrupted delta, and a delta for another base, instead of a wrong manifest", () => {
    const edited = data.slice()
    edited.set(seeded(100, 1), 2 * MiB)
    const next = manifestOf(edited)
    const encoded = Manifest.encodeDelta(Manifest.diff(base, next))
    // Every single-byte corruption is refused, when decoded or when applied.
    for (let at = 0; at < encoded.length; at++) {
      const corrupted = encoded.slice()
      corrupted[at]! ^= 0x01
      const result = Either.flatMap(Manifest.decodeDelta(corrupted), (delta) => Manifest.apply(base, delta))
      if (Either.isRight(result)) throw new Error(`a flipped byte ${at} was applied`)
      expect(["MalformedEncoding", "DeltaBaseMismatch", "DeltaCorrupt"]).toContain(result.left._tag)
    }
    const truncated = Manifest.decodeDelta(encoded.subarray(0, encoded.length - 5))
    expect(Either.isLeft(truncated) && truncated.left._tag).toBe("MalformedEncoding")
    const delta = Either.getOrThrow(Manifest.decodeDelta(encoded))
    const elsewhere = Manifest.apply(manifestOf(seeded(MiB, 3)), delta)
    expect(Either.isLeft(elsewhere) && elsewhere.left._tag).toBe("DeltaBaseMismatch")
    // Consistent-looking operations that overrun or skip part of the base.
    const overrun = Manifest.apply(base, { ...delta, ops: [{ _tag: "Keep", count: base.chunks.length + 1 }] })
    expect(Either.isLeft(overrun) && overrun.left.message).toContain("past the base")
    const short = Manifest.apply(base, { ...delta, ops: [{ _tag: "Keep", count: 1 }] })
    expect(Either.isLeft(short) && short.left.message).toContain("unread")
    // The right shape but another result than promised (a forged entry).
    const forged = Manifest.apply(base, {
      ...delta,
      ops: delta.ops.map((op) =>
        op._tag === "Insert" ? { _tag: "Insert", chunks: [{ ...op.chunks[0]!, hash: "0".repeat(64) }] } : op
      )
    })
    expect(Either.isLeft(forged) && forged.left._tag).toBe("DeltaCorrupt")
  })
})
