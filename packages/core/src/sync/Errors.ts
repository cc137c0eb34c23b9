/**
 * The content layer's refusals. They are local (`Data.TaggedError`): the layer is pure functions
 * over bytes; the `sync` module's routes give them HTTP statuses when it serves them.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * Chunker settings outside their bounds, or inconsistent with each other. Devices and servers
 * must cut identically, so a setting is refused rather than adjusted.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidChunkerSettings extends Data.TaggedError("InvalidChunkerSettings")<{
  readonly message: string
}> {}

/**
 * A file cut into more chunks than the manifest bound allows: no manifest is built, rather than
 * one every reader would refuse.
 *
 * @since 0.1.0
 * @category errors
 */
export class ManifestTooLarge extends Data.TaggedError("ManifestTooLarge")<{
  readonly chunks: number
  readonly limit: number
}> {
  override get message(): string {
    return `the file has more than ${this.limit} chunks (at least ${this.chunks})`
  }
}

/**
 * Bytes that are not a well-formed encoded manifest or delta (truncated, unknown format, a count
 * over its bound, trailing bytes...). Nothing is decoded from them.
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedEncoding extends Data.TaggedError("MalformedEncoding")<{
  readonly what: "manifest" | "delta"
  readonly message: string
}> {}

/**
 * A delta made against another manifest than the one it is applied to (the device's base is not
 * the server's, or the other way round): the receiver must ask for the full manifest.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeltaBaseMismatch extends Data.TaggedError("DeltaBaseMismatch")<{
  /** The digest of the base the delta was made against. */
  readonly expected: string
  /** The digest of the base it was applied to. */
  readonly actual: string
}> {
  override get message(): string {
    return `the delta was made against manifest ${this.expected}, not ${this.actual}`
  }
}

/**
 * A delta that names the right base but does not turn it into the manifest it promises (its
 * operations overrun or leave part of the base, or the result's digest or size differ): corrupt
 * or forged, and refused rather than applied.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeltaCorrupt extends Data.TaggedError("DeltaCorrupt")<{
  readonly message: string
}> {}
