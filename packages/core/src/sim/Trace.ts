/**
 * The simulator's trace: JSONL lines `{"t":…,"type":…,…fields}` and their SHA-256.
 *
 * Lines are the hot path of a run (one per frame sent, arriving, dropped, per router event), so
 * they are built with one `JSON.stringify` of the event as it is, rather than a copy of it without
 * its `_tag` and a second object with the site in front: the result is the same text, byte for
 * byte.
 *
 * @since 0.1.0
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"

/**
 * An incremental SHA-256 over text (UTF-8).
 *
 * @since 0.1.0
 * @category hashing
 */
export interface TraceHasher {
  readonly update: (text: string) => void
  /** Lowercase hex. */
  readonly digest: () => string
}

/**
 * Makes a fresh {@link TraceHasher} per run.
 *
 * @since 0.1.0
 * @category hashing
 */
export type MakeTraceHasher = () => TraceHasher

/**
 * The portable SHA-256 (`@noble/hashes`, plain JavaScript, runs anywhere). A Node host can pass
 * its native one instead (`node:crypto`'s `createHash("sha256")`, about 20× faster on a trace):
 * the hash is the same.
 *
 * @since 0.1.0
 * @category hashing
 */
export const portableHasher: MakeTraceHasher = () => {
  const hash = sha256.create()
  return {
    update: (text) => void hash.update(utf8ToBytes(text)),
    digest: () => bytesToHex(hash.digest())
  }
}

/** Lines hashed per `update`: large enough to amortize the call, small enough to stay in cache. */
const LINES_PER_CHUNK = 512

/**
 * SHA-256 (hex) of `lines` as JSONL text: every line followed by `\n` (the empty text when there
 * are no lines), hashed in chunks rather than joined into one string first.
 *
 * @since 0.1.0
 * @category hashing
 */
export const hashLines = (lines: ReadonlyArray<string>, makeHasher: MakeTraceHasher = portableHasher): string => {
  const hasher = makeHasher()
  for (let i = 0; i < lines.length; i += LINES_PER_CHUNK) {
    const end = Math.min(lines.length, i + LINES_PER_CHUNK)
    hasher.update(lines.slice(i, end).join("\n") + "\n")
  }
  return hasher.digest()
}

/** `{"_tag":"Tag"` per tag: how an event's JSON starts when `_tag` is its first key. */
const heads = new Map<string, string>()

/**
 * The fields of a tagged event as the tail of a JSON object: `}` when it has none, else
 * `,"a":…,"b":…}` — exactly what `JSON.stringify` gives for the event without its `_tag`, minus the
 * opening brace. One `JSON.stringify` of the event itself when `_tag` is its first key (how events
 * are written); otherwise a copy without `_tag` is stringified.
 *
 * @since 0.1.0
 * @category formatting
 */
export const fieldsTail = (event: { readonly _tag: string }): string => {
  if (!("toJSON" in event)) {
    const json = JSON.stringify(event)
    let head = heads.get(event._tag)
    if (head === undefined) {
      head = `{"_tag":${JSON.stringify(event._tag)}`
      heads.set(event._tag, head)
    }
    if (json.startsWith(head)) return json.slice(head.length)
  }
  const { _tag: _, ...fields } = event
  const json = JSON.stringify(fields)
  return json.length > 2 ? `,${json.slice(1)}` : "}"
}
