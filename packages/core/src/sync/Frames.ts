/**
 * The binary framing of a batch of chunks (`POST /v1/sync/chunks`, the answer of
 * `POST /v1/sync/chunks/fetch`): each chunk as its 32-byte SHA-256, its length as an unsigned
 * LEB128 varint, then its bytes; frames follow one another to the end of the body. Raw bytes
 * rather than JSON and base64: a batch of 16 MiB costs a copy, not an encoding.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { Reader, varintSize, Writer } from "./Binary.js"
import type { ChunkData } from "./Protocol.js"

/**
 * The media type of a framed batch.
 *
 * @since 0.1.0
 * @category encoding
 */
export const CONTENT_TYPE = "application/octet-stream"

/**
 * Bytes one frame adds to its chunk's at most (the hash and a varint of up to 8 bytes).
 *
 * @since 0.1.0
 * @category encoding
 */
export const FRAME_OVERHEAD = 32 + 8

/**
 * The framed encoding of `chunks`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (chunks: ReadonlyArray<ChunkData>): Uint8Array => {
  let size = 0
  for (const c of chunks) size += 32 + varintSize(c.bytes.length) + c.bytes.length
  const writer = new Writer(size)
  for (const c of chunks) {
    writer.hash(c.hash)
    writer.varint(c.bytes.length)
    writer.raw(c.bytes)
  }
  return writer.done()
}

/**
 * Bounds a decoder enforces: frames, and the bytes of one chunk.
 *
 * @since 0.1.0
 * @category decoding
 */
export interface Limits {
  readonly maxChunks: number
  readonly maxChunkBytes: number
}

/**
 * The chunks of a framed body (views into `bytes`, not copies), or what is wrong with it: a
 * truncated frame, an empty or oversized chunk, more frames than `maxChunks`. Hashes are not
 * checked against the bytes here (the server does that per chunk).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (bytes: Uint8Array, limits: Limits): Either.Either<Array<ChunkData>, string> => {
  const reader = new Reader(bytes)
  const out: Array<ChunkData> = []
  while (reader.remaining > 0) {
    if (out.length >= limits.maxChunks) return Either.left(`more than ${limits.maxChunks} chunks in one batch`)
    const hash = reader.hash()
    const length = reader.varint()
    if (reader.problem !== undefined) return Either.left(`chunk ${out.length + 1}: ${reader.problem}`)
    if (length < 1 || length > limits.maxChunkBytes) {
      return Either.left(`chunk ${hash}: a chunk is 1 to ${limits.maxChunkBytes} bytes, this one ${length}`)
    }
    const data = reader.raw(length)
    if (reader.problem !== undefined) return Either.left(`chunk ${hash}: ${reader.problem}`)
    out.push({ hash, bytes: data })
  }
  return Either.right(out)
}
