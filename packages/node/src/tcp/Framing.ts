/**
 * The framing of a TCP link: frames are length-prefixed (4 bytes, big-endian), envelopes in their
 * binary form (`BinaryEnvelope`), other frames as JSON of their Schema encoding. A reader cuts a
 * byte stream into frames, bounded in size; a batch of frames goes out as one chunk (one write).
 *
 * @since 0.1.0
 */
import { type EnvelopeFrame, type Frame, frameJson } from "@meridian/core/transport/Transport"
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import * as BinaryEnvelope from "./BinaryEnvelope.js"
import type { RejectReason } from "./TcpTransport.js"

/**
 * Why this side ends a connection: a reason it counts and logs, or the socket's own end.
 *
 * @since 0.1.0
 * @category errors
 */
export class Closed extends Data.TaggedError("Closed")<{
  readonly reason: RejectReason | "socket"
  readonly detail: string
}> {}

/**
 * A frame as the reader hands it on: JSON text, a decoded binary envelope, or `null` for a malformed one.
 *
 * @since 0.1.0
 * @category models
 */
export type Received = string | EnvelopeFrame | null

/**
 * Length-prefixed frames out of a byte stream; bounded by `max`.
 *
 * @since 0.1.0
 * @category models
 */
export class FrameReader {
  /** Bytes of an incomplete frame left by the previous chunks. */
  private rest: Buffer | undefined = undefined
  constructor(private readonly max: number) {}

  /**
   * The complete frames in what was left before and `chunk`, or the reason to close: a JSON
   * frame as its text, a binary envelope frame decoded (`null` when malformed).
   */
  push(chunk: Uint8Array): Either.Either<Array<Received>, Closed> {
    const incoming = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    const data = this.rest === undefined ? incoming : Buffer.concat([this.rest, incoming])
    const out: Array<Received> = []
    let offset = 0
    while (data.length - offset >= 4) {
      const length = data.readUInt32BE(offset)
      if (length > this.max) {
        return Either.left(
          new Closed({ reason: "oversized-frame", detail: `frame of ${length} bytes (max ${this.max})` })
        )
      }
      if (data.length - offset - 4 < length) break
      const start = offset + 4
      out.push(
        length > 0 && data[start] === BinaryEnvelope.BINARY_ENVELOPE
          ? (BinaryEnvelope.read(data, start, start + length) ?? null)
          : data.toString("utf8", start, start + length)
      )
      offset += 4 + length
    }
    // A copy, so that the socket's chunk is not kept alive by a few bytes of it.
    this.rest = offset === data.length ? undefined : Buffer.from(data.subarray(offset))
    return Either.right(out)
  }
}

/**
 * One length-prefixed frame.
 *
 * @since 0.1.0
 * @category encoding
 */
export const frameBytes = (text: string): Buffer => {
  const length = Buffer.byteLength(text)
  const out = Buffer.allocUnsafe(4 + length)
  out.writeUInt32BE(length, 0)
  out.write(text, 4, "utf8")
  return out
}

/**
 * The frames of a batch as one chunk (one socket write), each JSON text behind its length.
 * A frame that does not encode, or is larger than `max` (the peer would close the link on it), is
 * left out, with the reason (logged by the writer); the others still go.
 *
 * @since 0.1.0
 * @category encoding
 */
export const batchBytes = (
  frames: ReadonlyArray<Frame>,
  max: number
): { readonly chunk: Buffer; readonly sent: number; readonly skipped: ReadonlyArray<string> } => {
  // Per frame sent: its JSON text, or its binary plan (envelopes, see BinaryEnvelope).
  const forms: Array<string | BinaryEnvelope.Plan> = []
  const lengths: Array<number> = []
  const skipped: Array<string> = []
  let size = 0
  for (const frame of frames) {
    let form: string | BinaryEnvelope.Plan
    let length: number
    try {
      const binary = frame._tag === "Envelope" ? BinaryEnvelope.plan(frame) : undefined
      form = binary ?? frameJson(frame)
      length = typeof form === "string" ? Buffer.byteLength(form) : form.size
    } catch (e) {
      skipped.push(`${frame._tag} frame did not encode: ${String(e)}`)
      continue
    }
    if (length > max) {
      skipped.push(`${frame._tag} frame of ${length} bytes (max ${max})`)
      continue
    }
    forms.push(form)
    lengths.push(length)
    size += 4 + length
  }
  const chunk = Buffer.allocUnsafe(size)
  let offset = 0
  for (let i = 0; i < forms.length; i++) {
    chunk.writeUInt32BE(lengths[i]!, offset)
    offset += 4
    const form = forms[i]!
    offset =
      typeof form === "string" ? offset + chunk.write(form, offset, "utf8") : BinaryEnvelope.write(chunk, offset, form)
  }
  return { chunk, sent: forms.length, skipped }
}
