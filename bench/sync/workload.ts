/**
 * The workloads of `npm run bench:sync`, every byte from a seed: the same files in every run and
 * for every contender.
 */
import { createHash } from "node:crypto"
import { closeSync, createReadStream, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from "node:fs"
import { join } from "node:path"

export const KiB = 1024
export const MiB = 1024 * KiB

/** mulberry32: a seeded generator of 32-bit words, for sizes, offsets and small contents. */
export const random = (seed: number) => {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
  /** An integer in [low, high]. */
  const between = (low: number, high: number) => low + (next() % (high - low + 1))
  const bytes = (size: number) => {
    const words = new Uint32Array(Math.ceil(size / 4))
    for (let i = 0; i < words.length; i++) words[i] = next()
    return Buffer.from(words.buffer, 0, size)
  }
  return { next, between, bytes }
}

export const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

/** The SHA-256 of the file at `path`, or of what it would hold with `edits` applied. */
export const sha256File = async (path: string, edits: ReadonlyArray<Edit> = []) => {
  const hash = createHash("sha256")
  let at = 0
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) {
    const piece = chunk as Buffer
    for (const edit of edits) {
      const from = Math.max(at, edit.offset)
      const to = Math.min(at + piece.length, edit.offset + edit.bytes.length)
      if (from < to) edit.bytes.copy(piece, from - at, from - edit.offset, to - edit.offset)
    }
    hash.update(piece)
    at += piece.length
  }
  return hash.digest("hex")
}

/** A file the harness wrote: its path relative to the folder, its size and SHA-256. */
export interface Written {
  readonly path: string
  readonly size: number
  readonly sha256: string
}

/**
 * `count` files of 1–8 KiB of seeded bytes under `root`, spread over `subdirs` subdirectories
 * named `prefix0`, `prefix1`, …
 */
export const smallFiles = (root: string, count: number, seed: number, prefix = "d", subdirs = 4) => {
  const rng = random(seed)
  for (let d = 0; d < subdirs; d++) mkdirSync(join(root, `${prefix}${d}`), { recursive: true })
  const written: Array<Written> = []
  for (let i = 0; i < count; i++) {
    const path = join(`${prefix}${i % subdirs}`, `f${String(i).padStart(6, "0")}.bin`)
    const bytes = rng.bytes(rng.between(1 * KiB, 8 * KiB))
    writeFileSync(join(root, path), bytes)
    written.push({ path, size: bytes.length, sha256: sha256(bytes) })
  }
  return written
}

/** A file of `size` seeded bytes (xorshift32, written in 8 MiB pieces); its SHA-256. */
export const bigFile = (path: string, size: number, seed: number) => {
  const hash = createHash("sha256")
  const fd = openSync(path, "w")
  try {
    const piece = new Uint32Array((8 * MiB) / 4)
    let x = seed >>> 0 || 1
    for (let at = 0; at < size; at += piece.byteLength) {
      for (let i = 0; i < piece.length; i++) {
        x ^= x << 13
        x ^= x >>> 17
        x ^= x << 5
        piece[i] = x >>> 0
      }
      const bytes = new Uint8Array(piece.buffer, 0, Math.min(piece.byteLength, size - at))
      hash.update(bytes)
      writeSync(fd, bytes)
    }
  } finally {
    closeSync(fd)
  }
  return hash.digest("hex")
}

/** One in-place edit: `bytes` now at `offset`. */
export interface Edit {
  readonly offset: number
  readonly bytes: Buffer
}

/** `count` edits of `length` seeded bytes at seeded offsets of a file of `size` bytes. */
export const planEdits = (size: number, seed: number, count = 10, length = 100): ReadonlyArray<Edit> => {
  const rng = random(seed)
  return Array.from({ length: count }, () => ({
    offset: Math.floor((rng.next() / 2 ** 32) * (size - length)),
    bytes: rng.bytes(length)
  }))
}

/** Writes `edits` in place into the file at `path`. */
export const applyEdits = (path: string, edits: ReadonlyArray<Edit>) => {
  const fd = openSync(path, "r+")
  try {
    for (const edit of edits) writeSync(fd, edit.bytes, 0, edit.bytes.length, edit.offset)
  } finally {
    closeSync(fd)
  }
}

/**
 * The file at `path` with `byte` inserted at its start, as an editor saves it: written whole to
 * `scratch` (outside the synced folder, same file system), then renamed over `path`. Its SHA-256.
 */
export const insertAtStart = async (path: string, scratch: string, byte: number) => {
  const hash = createHash("sha256")
  const fd = openSync(scratch, "w")
  try {
    const first = Buffer.from([byte])
    hash.update(first)
    writeSync(fd, first)
    for await (const piece of createReadStream(path, { highWaterMark: 8 * MiB })) {
      hash.update(piece as Buffer)
      writeSync(fd, piece as Buffer)
    }
  } finally {
    closeSync(fd)
  }
  renameSync(scratch, path)
  return hash.digest("hex")
}
