/**
 * The binary form of an envelope frame on a TCP link (wire version 2). Every ask, reply and tell
 * is an envelope frame, and writing and parsing its JSON header — a dozen short fields — cost
 * about 3 µs on each side of every message, the largest cost of the link itself. Here the header
 * is fixed-width numbers and short ASCII strings; only the payload (the message in its protocol's
 * encoding) stays JSON. Frames that do not fit this form (long or non-ASCII ids, an unusual
 * version or hop count) and every other frame kind go as JSON, as in wire version 1: a JSON frame
 * starts with `{`, a binary one with {@link BINARY_ENVELOPE}.
 *
 * Layout after the marker byte: envelope version (u8), kind (u8: tell, ask, reply), flags (u8:
 * durable, correlation id, deadline, trace), hops (u32 BE), the deadline (f64 BE) when flagged,
 * then strings each as a length byte and printable ASCII — id, from.site, from.actor, to.site,
 * to.actor, the correlation id and the trace's two ids when flagged — then the payload's JSON
 * to the end of the frame.
 *
 * A received binary frame passes the same checks as the `Frame` Schema (names, id, kind,
 * integers); the tests hold both forms side by side.
 *
 * @since 0.1.0
 */
import { type Envelope, ENVELOPE_ID_PATTERN } from "@meridian/core/kernel/Envelope"
import { checkedEnvelopeFrame, type EnvelopeFrame, wireAddress } from "@meridian/core/transport/Transport"

/**
 * First byte of a binary envelope frame. A JSON frame's first byte is `{`.
 *
 * @since 0.1.0
 * @category constants
 */
export const BINARY_ENVELOPE = 0x00

const KINDS: ReadonlyArray<Envelope["kind"]> = ["tell", "ask", "reply"]
const DURABLE = 1
const CORRELATION = 2
const DEADLINE = 4
const TRACE = 8
/** Marker, version, kind, flags, hops. */
const FIXED = 8

/** Printable ASCII, at most 255 characters: a string the binary form holds, one byte per character. */
const isShortAscii = (s: string): boolean => {
  if (s.length > 255) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x21 || c > 0x7e) return false
  }
  return true
}

/**
 * How an envelope frame goes in the binary form: the frame, its payload's JSON and its size in
 * bytes (without the length prefix).
 *
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  readonly frame: EnvelopeFrame
  readonly payload: string
  readonly size: number
}

/**
 * The binary form's plan for `frame`, or `undefined` when it goes as JSON instead. Throws as
 * `JSON.stringify` does on a payload that cannot be written.
 *
 * @since 0.1.0
 * @category codecs
 */
export const plan = (frame: EnvelopeFrame): Plan | undefined => {
  const e = frame.envelope
  if (!Number.isInteger(e.version) || e.version < 0 || e.version > 255) return undefined
  if (!Number.isInteger(e.hops) || e.hops < 0 || e.hops > 0xffffffff) return undefined
  if (KINDS.indexOf(e.kind) < 0 || typeof e.durable !== "boolean") return undefined
  if (e.deadline !== undefined && !Number.isFinite(e.deadline)) return undefined
  let strings = 5 + e.id.length + e.from.site.length + e.from.actor.length + e.to.site.length + e.to.actor.length
  if (
    !isShortAscii(e.id) ||
    !isShortAscii(e.from.site) ||
    !isShortAscii(e.from.actor) ||
    !isShortAscii(e.to.site) ||
    !isShortAscii(e.to.actor)
  ) {
    return undefined
  }
  if (e.correlationId !== undefined) {
    if (!isShortAscii(e.correlationId)) return undefined
    strings += 1 + e.correlationId.length
  }
  if (e.trace !== undefined) {
    if (!isShortAscii(e.trace.traceId) || !isShortAscii(e.trace.spanId)) return undefined
    strings += 2 + e.trace.traceId.length + e.trace.spanId.length
  }
  const payload = JSON.stringify(e.payload) as string | undefined
  if (payload === undefined) return undefined
  return { frame, payload, size: FIXED + (e.deadline !== undefined ? 8 : 0) + strings + Buffer.byteLength(payload) }
}

const writeString = (out: Buffer, offset: number, s: string): number => {
  out[offset] = s.length
  return offset + 1 + out.write(s, offset + 1, "latin1")
}

/**
 * Writes the planned frame in the binary form at `offset` of `out` (which has `plan.size` bytes
 * free there); the offset after it.
 *
 * @since 0.1.0
 * @category codecs
 */
export const write = (out: Buffer, offset: number, plan: Plan): number => {
  const e = plan.frame.envelope
  const flags =
    (e.durable ? DURABLE : 0) |
    (e.correlationId !== undefined ? CORRELATION : 0) |
    (e.deadline !== undefined ? DEADLINE : 0) |
    (e.trace !== undefined ? TRACE : 0)
  out[offset] = BINARY_ENVELOPE
  out[offset + 1] = e.version
  out[offset + 2] = KINDS.indexOf(e.kind)
  out[offset + 3] = flags
  out.writeUInt32BE(e.hops, offset + 4)
  let at = offset + FIXED
  if (e.deadline !== undefined) at = out.writeDoubleBE(e.deadline, at)
  at = writeString(out, at, e.id)
  at = writeString(out, at, e.from.site)
  at = writeString(out, at, e.from.actor)
  at = writeString(out, at, e.to.site)
  at = writeString(out, at, e.to.actor)
  if (e.correlationId !== undefined) at = writeString(out, at, e.correlationId)
  if (e.trace !== undefined) {
    at = writeString(out, at, e.trace.traceId)
    at = writeString(out, at, e.trace.spanId)
  }
  return at + out.write(plan.payload, at, "utf8")
}

// The read cursor: reading is synchronous, so one module-level position serves every call.
let at = 0
let end = 0

/** The next string, or `undefined` past the frame's end. */
const readString = (data: Buffer): string | undefined => {
  if (at >= end) return undefined
  const length = data[at]!
  const start = at + 1
  if (start + length > end) return undefined
  at = start + length
  return data.toString("latin1", start, at)
}

/**
 * The envelope frame in `data` from `start` (its marker byte) to `stop`, checked as the `Frame`
 * Schema checks it; `undefined` for a malformed frame. Never throws.
 *
 * @since 0.1.0
 * @category codecs
 */
export const read = (data: Buffer, start: number, stop: number): EnvelopeFrame | undefined => {
  if (stop - start < FIXED || data[start] !== BINARY_ENVELOPE) return undefined
  const version = data[start + 1]!
  const kind = KINDS[data[start + 2]!]
  const flags = data[start + 3]!
  if (kind === undefined || (flags & ~(DURABLE | CORRELATION | DEADLINE | TRACE)) !== 0) return undefined
  const hops = data.readUInt32BE(start + 4)
  at = start + FIXED
  end = stop
  let deadline: number | undefined = undefined
  if ((flags & DEADLINE) !== 0) {
    if (end - at < 8) return undefined
    deadline = data.readDoubleBE(at)
    at += 8
    if (!Number.isFinite(deadline)) return undefined
  }
  const id = readString(data)
  const fromSite = readString(data)
  const fromActor = readString(data)
  const toSite = readString(data)
  const toActor = readString(data)
  if (
    id === undefined ||
    fromSite === undefined ||
    fromActor === undefined ||
    toSite === undefined ||
    toActor === undefined ||
    !ENVELOPE_ID_PATTERN.test(id)
  ) {
    return undefined
  }
  const from = wireAddress(fromSite, fromActor)
  const to = wireAddress(toSite, toActor)
  if (from === undefined || to === undefined) return undefined
  let correlationId: string | undefined = undefined
  if ((flags & CORRELATION) !== 0) {
    correlationId = readString(data)
    if (correlationId === undefined) return undefined
  }
  let trace: { traceId: string; spanId: string } | undefined = undefined
  if ((flags & TRACE) !== 0) {
    const traceId = readString(data)
    const spanId = readString(data)
    if (traceId === undefined || spanId === undefined) return undefined
    trace = { traceId, spanId }
  }
  if (at >= end) return undefined
  let payload: unknown
  try {
    payload = JSON.parse(data.toString("utf8", at, end))
  } catch {
    return undefined
  }
  return checkedEnvelopeFrame(
    version,
    id,
    from,
    to,
    kind,
    correlationId,
    deadline,
    hops,
    (flags & DURABLE) !== 0,
    trace,
    payload
  )
}
