/**
 * The folder-sync content layer (`packages/core/src/sync/`): what content-defined chunking costs
 * and what a small change costs on the wire.
 *
 * - Chunking throughput: a seeded buffer of `BENCH_CHUNKER_MB` MiB (default 64) fed to the FastCDC
 *   chunker in 1 MiB pieces, every chunk named by its SHA-256; the baseline is SHA-256 alone (the
 *   same @noble/hashes implementation) over the same bytes, so the ratio is chunking's cost next to
 *   the hashing it cannot avoid. `BENCH_ROUNDS` rounds (default 3), interleaved, median reported.
 * - Delta bytes: a seeded buffer of `BENCH_DELTA_MB` MiB (default 256) and its manifest; then a
 *   100-byte in-place edit at a seeded place, and a 1-byte insertion at the start: the encoded
 *   delta from the old manifest to the new one, against the new manifest's full encoding.
 *
 * - Native: the same chunking with chunks named by Node's `node:crypto` SHA-256 (the `Hasher` a
 *   daemon passes), against native SHA-256 alone, and the whole manifest (chunks and the file's
 *   SHA-256) with each hasher, as MB/s.
 *
 * Prints one JSON object per line (name, value, unit, baseline, ratio = value/baseline, better);
 * MB is 10^6 bytes.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import * as Either from "effect/Either"
import { createHash } from "node:crypto"
import * as Chunker from "../packages/core/src/sync/Chunker.js"
import * as Hasher from "../packages/core/src/sync/Hasher.js"
import * as Manifest from "../packages/core/src/sync/Manifest.js"
import { line } from "./support.js"

const MiB = 1024 * 1024
const THROUGHPUT_BYTES = Number(process.env.BENCH_CHUNKER_MB ?? 64) * MiB
const DELTA_BYTES = Number(process.env.BENCH_DELTA_MB ?? 256) * MiB
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const PIECE = MiB
const EDIT = 100

/** Seeded pseudo-random bytes (xorshift32, four bytes a step). */
const seeded = (size: number, seed: number): Uint8Array => {
  const words = new Uint32Array(Math.ceil(size / 4))
  let x = seed >>> 0 || 1
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    words[i] = x
  }
  return new Uint8Array(words.buffer, 0, size)
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** MB/s of `run` over `bytes`. */
const timed = (bytes: number, run: () => void) => {
  const start = performance.now()
  run()
  return bytes / 1e6 / ((performance.now() - start) / 1000)
}

const chunker = Either.getOrThrow(Chunker.make())

/** The manifest of `pieces` fed one after the other, in pieces of at most {@link PIECE}. */
const manifestOf = (...pieces: ReadonlyArray<Uint8Array>) => {
  const builder = Manifest.builder(chunker)
  for (const bytes of pieces)
    for (let at = 0; at < bytes.length; at += PIECE) builder.push(bytes.subarray(at, at + PIECE))
  return Either.getOrThrow(builder.finish())
}

// Throughput.
{
  const bytes = seeded(THROUGHPUT_BYTES, 0x5eed)
  const hashing: Array<number> = []
  const chunking: Array<number> = []
  let chunks = 0
  for (let round = 0; round < ROUNDS; round++) {
    hashing.push(timed(bytes.length, () => sha256(bytes)))
    chunking.push(
      timed(bytes.length, () => {
        chunks = 0
        for (let at = 0; at < bytes.length; at += PIECE) chunks += chunker.push(bytes.subarray(at, at + PIECE)).length
        chunks += chunker.finish().length
      })
    )
  }
  console.error(
    `chunker: ${chunks} chunks in ${THROUGHPUT_BYTES / MiB} MiB (${Math.round(bytes.length / chunks)} B avg)`
  )
  line("chunker-throughput", median(chunking), "MB/s", median(hashing), "higher")

  const native = Hasher.fromCreateHash(() => createHash("sha256"))
  const nativeChunker = Either.getOrThrow(Chunker.make({}, native))
  const manifest = (c: Chunker.Chunker) => () => {
    const builder = Manifest.builder(c)
    for (let at = 0; at < bytes.length; at += PIECE) builder.push(bytes.subarray(at, at + PIECE))
    Either.getOrThrow(builder.finish())
  }
  const nativeHashing: Array<number> = []
  const nativeChunking: Array<number> = []
  const nobleManifest: Array<number> = []
  const nativeManifest: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    nativeHashing.push(timed(bytes.length, () => native.sha256(bytes)))
    nativeChunking.push(
      timed(bytes.length, () => {
        for (let at = 0; at < bytes.length; at += PIECE) nativeChunker.push(bytes.subarray(at, at + PIECE))
        nativeChunker.finish()
      })
    )
    nobleManifest.push(timed(bytes.length, manifest(chunker)))
    nativeManifest.push(timed(bytes.length, manifest(nativeChunker)))
  }
  line("chunker-throughput-native-sha256", median(nativeChunking), "MB/s", median(nativeHashing), "higher")
  line("manifest-throughput-native-vs-noble", median(nativeManifest), "MB/s", median(nobleManifest), "higher")
}

// Delta bytes.
{
  const bytes = seeded(DELTA_BYTES, 0x1dea)
  const base = manifestOf(bytes)
  const full = Manifest.encodedSize(base)
  const report = (name: string, next: Manifest.Manifest) => {
    const delta = Manifest.diff(base, next)
    const applied = Either.getOrThrow(
      Manifest.apply(base, Either.getOrThrow(Manifest.decodeDelta(Manifest.encodeDelta(delta))))
    )
    if (Manifest.digest(applied) !== Manifest.digest(next))
      throw new Error(`${name}: the delta did not give the manifest`)
    const inserted = delta.ops.reduce((n, op) => n + (op._tag === "Insert" ? op.chunks.length : 0), 0)
    console.error(`${name}: ${delta.ops.length} operations, ${inserted} new entries of ${next.chunks.length}`)
    line(name, Manifest.deltaEncodedSize(delta), "bytes", Manifest.encodedSize(next), "lower", 0)
  }
  console.error(`delta: ${base.chunks.length} chunks in ${DELTA_BYTES / MiB} MiB, full manifest ${full} bytes`)

  report("chunker-delta-insert-1-byte", manifestOf(new Uint8Array([0x42]), bytes))

  const at = Number(new DataView(seeded(4, 0xed17).buffer).getUint32(0) % (bytes.length - EDIT))
  bytes.set(seeded(EDIT, 7), at)
  report("chunker-delta-edit-100-bytes", manifestOf(bytes))
}
