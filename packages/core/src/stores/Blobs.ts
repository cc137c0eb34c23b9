/**
 * A content-addressed, reference-counted blob store for file content. A blob is named by the
 * lowercase hex SHA-256 of its bytes, so the same content is stored once; each record that uses it
 * holds a reference, and the blob is deleted only with the last. The store is bounded in bytes; a
 * full store is the typed {@link BlobStoreFull} (HTTP 507), never a partial blob.
 *
 * The in-memory implementation keeps its state outside any site scope (it survives a simulated
 * crash); the disk implementation (node package) keeps the same semantics.
 *
 * @since 0.1.0
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

/**
 * The store bounds.
 *
 * @since 0.1.0
 * @category config
 */
export interface BlobsConfig {
  /** At most this many bytes of distinct content. */
  readonly maxBytes: number
  /** The size of the chunks {@link BlobsService.stream} emits. */
  readonly chunkSize: number
}

/**
 * Defaults: 1 GiB of content, 64 KiB chunks.
 *
 * @since 0.1.0
 * @category config
 */
export const BlobsConfig: BlobsConfig = {
  maxBytes: 1024 * 1024 * 1024,
  chunkSize: 64 * 1024
}

/**
 * A blob's name and size.
 *
 * @since 0.1.0
 * @category models
 */
export interface BlobInfo {
  /** Lowercase hex SHA-256 of the content. */
  readonly hash: string
  readonly size: number
}

/**
 * A blob's name, size and reference count.
 *
 * @since 0.1.0
 * @category models
 */
export interface BlobStat extends BlobInfo {
  readonly refs: number
}

/**
 * A byte range: `start` inclusive, `end` exclusive (to the end of the blob when absent).
 *
 * @since 0.1.0
 * @category models
 */
export interface BlobRange {
  readonly start: number
  readonly end?: number
}

/**
 * Occupancy, for metrics and the status page.
 *
 * @since 0.1.0
 * @category models
 */
export interface BlobUsage {
  readonly blobs: number
  readonly bytes: number
  readonly capacity: number
}

/**
 * Storing the content would exceed the store's capacity; nothing was stored (HTTP 507).
 *
 * @since 0.1.0
 * @category errors
 */
export class BlobStoreFull extends Data.TaggedError("BlobStoreFull")<{
  /** Bytes of the content (or, for a stream, read so far when the bound was crossed). */
  readonly needed: number
  readonly used: number
  readonly capacity: number
}> {}

/**
 * No blob with this hash.
 *
 * @since 0.1.0
 * @category errors
 */
export class BlobNotFound extends Data.TaggedError("BlobNotFound")<{
  readonly hash: string
}> {}

/**
 * The blob store operations.
 *
 * @since 0.1.0
 * @category models
 */
export interface BlobsService {
  /** Stores content (or finds it already stored) and adds one reference. */
  readonly put: (data: Uint8Array) => Effect.Effect<BlobInfo, BlobStoreFull>
  /**
   * Stores streamed content, hashing as it arrives, and adds one reference. Aborts with
   * {@link BlobStoreFull} as soon as the bytes read would not fit in the free space (before the
   * hash is known, as a disk store writes a temp file first), storing nothing.
   */
  readonly putStream: <E, R>(stream: Stream.Stream<Uint8Array, E, R>) => Effect.Effect<BlobInfo, BlobStoreFull | E, R>
  readonly get: (hash: string) => Effect.Effect<Uint8Array, BlobNotFound>
  /**
   * The content (or a range of it, clamped to the blob) in chunks of `chunkSize`. The stream reads
   * the content as it was when opened, even if the blob is deleted meanwhile.
   */
  readonly stream: (hash: string, range?: BlobRange) => Effect.Effect<Stream.Stream<Uint8Array>, BlobNotFound>
  readonly stat: (hash: string) => Effect.Effect<Option.Option<BlobStat>>
  /** Adds one reference to a stored blob. */
  readonly retain: (hash: string) => Effect.Effect<void, BlobNotFound>
  /** Removes one reference; the blob is deleted with the last. */
  readonly release: (hash: string) => Effect.Effect<{ readonly deleted: boolean }, BlobNotFound>
  readonly usage: Effect.Effect<BlobUsage>
}

/**
 * The blob store service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class Blobs extends Context.Tag("@meridian/core/Blobs")<Blobs, BlobsService>() {}

/**
 * The content address of some bytes: lowercase hex SHA-256.
 *
 * @since 0.1.0
 * @category utils
 */
export const hashOf = (data: Uint8Array): string => bytesToHex(sha256(data))

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 1

interface Stored {
  readonly data: Uint8Array
  refs: number
}

/**
 * A blob store that can give the host's HTTP server a body to send as it is (on Node, a file
 * read stream piped to the socket), which costs a fraction of the CPU of a stream of chunks
 * through the Effect runtime. `onBytes` hears each chunk sent, `onEnd` once the body is done
 * (sent, or the client went away).
 *
 * @since 0.1.0
 * @category models
 */
export interface RawBodies {
  readonly rawBody: (
    hash: string,
    range: BlobRange | undefined,
    hooks: { readonly onBytes: (bytes: number) => void; readonly onEnd: () => void }
  ) => Effect.Effect<unknown, BlobNotFound>
}

/**
 * @since 0.1.0
 * @category guards
 */
export const hasRawBodies = (blobs: BlobsService): blobs is BlobsService & RawBodies =>
  "rawBody" in blobs && typeof blobs.rawBody === "function"

const clampRange = (size: number, range: BlobRange | undefined): readonly [number, number] => {
  if (range === undefined) return [0, size]
  const start = Math.min(Math.max(0, Math.floor(range.start)), size)
  const end = range.end === undefined ? size : Math.min(Math.max(start, Math.floor(range.end)), size)
  return [start, end]
}

/**
 * An in-memory blob store whose state lives outside any site scope (it survives a simulated
 * crash). Content is copied in and out, so a caller mutating its buffer cannot corrupt a blob.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (config: Partial<BlobsConfig> = {}): Effect.Effect<BlobsService> =>
  Effect.suspend(() => {
    const { chunkSize, maxBytes } = { ...BlobsConfig, ...config }
    if (!isCount(maxBytes) || !isCount(chunkSize)) {
      return Effect.dieMessage("Blobs: maxBytes and chunkSize must be positive integers")
    }
    const blobs = new Map<string, Stored>()
    let used = 0

    /** Adds a reference to `hash`, storing `data` (already copied) if it is new. */
    const store = (hash: string, data: Uint8Array): Effect.Effect<BlobInfo, BlobStoreFull> => {
      const existing = blobs.get(hash)
      if (existing !== undefined) {
        existing.refs++
        return Effect.succeed({ hash, size: existing.data.length })
      }
      if (used + data.length > maxBytes) {
        return Effect.fail(new BlobStoreFull({ needed: data.length, used, capacity: maxBytes }))
      }
      blobs.set(hash, { data, refs: 1 })
      used += data.length
      return Effect.succeed({ hash, size: data.length })
    }

    const put = (data: Uint8Array): Effect.Effect<BlobInfo, BlobStoreFull> =>
      Effect.suspend(() => {
        const hash = hashOf(data)
        return store(hash, blobs.has(hash) ? data : data.slice())
      })

    const putStream = <E, R>(stream: Stream.Stream<Uint8Array, E, R>): Effect.Effect<BlobInfo, BlobStoreFull | E, R> =>
      Effect.suspend(() => {
        const hasher = sha256.create()
        const chunks: Array<Uint8Array> = []
        let total = 0
        return stream.pipe(
          Stream.runForEach((chunk) =>
            Effect.suspend(() => {
              total += chunk.length
              if (used + total > maxBytes) {
                return Effect.fail(new BlobStoreFull({ needed: total, used, capacity: maxBytes }))
              }
              hasher.update(chunk)
              chunks.push(chunk.slice())
              return Effect.void
            })
          ),
          Effect.flatMap(() =>
            Effect.suspend(() => {
              const data = new Uint8Array(total)
              let offset = 0
              for (const chunk of chunks) {
                data.set(chunk, offset)
                offset += chunk.length
              }
              return store(bytesToHex(hasher.digest()), data)
            })
          )
        )
      })

    /** Runs `f` on the stored blob in the same step as the lookup, so no other fiber interleaves. */
    const withBlob = <A>(hash: string, f: (stored: Stored) => A): Effect.Effect<A, BlobNotFound> =>
      Effect.suspend(() => {
        const stored = blobs.get(hash)
        return stored === undefined ? Effect.fail(new BlobNotFound({ hash })) : Effect.succeed(f(stored))
      })

    const streamBlob = (hash: string, range?: BlobRange): Effect.Effect<Stream.Stream<Uint8Array>, BlobNotFound> =>
      withBlob(hash, ({ data }) => {
        const [start, end] = clampRange(data.length, range)
        const chunkCount = Math.ceil((end - start) / chunkSize)
        if (chunkCount === 0) return Stream.empty
        return Stream.range(0, chunkCount - 1).pipe(
          Stream.map((i) => data.slice(start + i * chunkSize, Math.min(end, start + (i + 1) * chunkSize)))
        )
      })

    const release = (hash: string): Effect.Effect<{ readonly deleted: boolean }, BlobNotFound> =>
      withBlob(hash, (stored) => {
        stored.refs--
        if (stored.refs > 0) return { deleted: false }
        blobs.delete(hash)
        used -= stored.data.length
        return { deleted: true }
      })

    return Effect.succeed<BlobsService>({
      put,
      putStream,
      get: (hash) => withBlob(hash, ({ data }) => data.slice()),
      stream: streamBlob,
      stat: (hash) =>
        Effect.sync(() =>
          Option.map(Option.fromNullable(blobs.get(hash)), ({ data, refs }) => ({ hash, size: data.length, refs }))
        ),
      retain: (hash) =>
        withBlob(hash, (stored) => {
          stored.refs++
        }),
      release,
      usage: Effect.sync(() => ({ blobs: blobs.size, bytes: used, capacity: maxBytes }))
    })
  })

/**
 * A layer with a fresh in-memory blob store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (config: Partial<BlobsConfig> = {}): Layer.Layer<Blobs> =>
  Layer.effect(Blobs, makeMemory(config))
