/**
 * Staging of resumable uploads: the bytes of an upload in progress, appended chunk by chunk at
 * the offset the client names, kept across restarts (a disk file in the node package, memory in
 * the simulator). A finished upload is streamed into the blob store and its staging removed.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { BlobInfo, BlobStoreFull, BlobsService } from "./Blobs.js"

/**
 * The staging area cannot store more (disk full, or its bound).
 *
 * @since 0.1.0
 * @category errors
 */
export class StagingFull extends Data.TaggedError("StagingFull")<{ readonly reason: string }> {}

/**
 * No staged upload with this id.
 *
 * @since 0.1.0
 * @category errors
 */
export class StagingNotFound extends Data.TaggedError("StagingNotFound")<{ readonly id: string }> {}

/**
 * An append at another offset than the staged size (a client out of step; tus answers 409).
 *
 * @since 0.1.0
 * @category errors
 */
export class OffsetMismatch extends Data.TaggedError("OffsetMismatch")<{
  readonly expected: number
  readonly given: number
}> {}

/**
 * More bytes than the upload declared.
 *
 * @since 0.1.0
 * @category errors
 */
export class TooLong extends Data.TaggedError("TooLong")<{ readonly limit: number }> {}

/**
 * How an append can fail besides its body.
 *
 * @since 0.1.0
 * @category errors
 */
export type AppendError = StagingNotFound | OffsetMismatch | TooLong | StagingFull

/**
 * The request body ended before it was complete (the client went away): what arrived is kept.
 *
 * @since 0.1.0
 * @category errors
 */
export class BodyBrokeOff extends Data.TaggedError("BodyBrokeOff")<Record<never, never>> {}

/**
 * A staging store that can read the host's request body itself (on Node, the `IncomingMessage`
 * behind `HttpServerRequest.source`), chunk by chunk as it comes off the socket, instead of
 * through a stream of the Effect runtime: a fraction of the CPU per byte for large uploads.
 *
 * @since 0.1.0
 * @category models
 */
export interface NativeAppend {
  readonly appendNative: (
    id: string,
    offset: number,
    source: unknown,
    limit: number
  ) => Effect.Effect<number, AppendError | BodyBrokeOff>
}

/**
 * @since 0.1.0
 * @category guards
 */
export const hasNativeAppend = (staging: StagingService): staging is StagingService & NativeAppend =>
  "appendNative" in staging && typeof staging.appendNative === "function"

/**
 * @since 0.1.0
 * @category models
 */
export interface StagingService {
  readonly create: (id: string) => Effect.Effect<void, StagingFull>
  /**
   * Appends `body` at `offset`, which must be the staged size; at most up to `limit` bytes in all.
   * Whatever arrived before the body failed or ended early stays (a resumed upload continues from
   * there); returns the new size.
   */
  readonly append: <E, R>(
    id: string,
    offset: number,
    body: Stream.Stream<Uint8Array, E, R>,
    limit: number
  ) => Effect.Effect<number, AppendError | E, R>
  /** Cuts a staged upload back to `size` (a chunk whose checksum did not match). */
  readonly truncate: (id: string, size: number) => Effect.Effect<void, StagingNotFound>
  readonly size: (id: string) => Effect.Effect<Option.Option<number>>
  readonly read: (id: string) => Effect.Effect<Stream.Stream<Uint8Array>, StagingNotFound>
  /**
   * Moves a complete upload into the blob store (hashed there) and forgets it here. A disk
   * staging area hands its file over without copying when the store can take it.
   */
  readonly commit: (id: string, blobs: BlobsService) => Effect.Effect<BlobInfo, BlobStoreFull | StagingNotFound>
  readonly remove: (id: string) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Staging extends Context.Tag("@meridian/core/stores/Staging")<Staging, StagingService>() {}

/**
 * Staging in memory, outside any site scope (survives a simulated crash, like a disk).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options: { readonly maxBytes: number }): StagingService => {
  const uploads = new Map<string, Array<Uint8Array>>()
  const sizeOf = (chunks: ReadonlyArray<Uint8Array>) => chunks.reduce((n, c) => n + c.length, 0)
  let total = 0
  return {
    create: (id) =>
      Effect.sync(() => {
        if (!uploads.has(id)) uploads.set(id, [])
      }),
    append: <E, R>(
      id: string,
      offset: number,
      body: Stream.Stream<Uint8Array, E, R>,
      limit: number
    ): Effect.Effect<number, AppendError | E, R> =>
      Effect.suspend((): Effect.Effect<number, AppendError | E, R> => {
        const chunks = uploads.get(id)
        if (chunks === undefined) return Effect.fail(new StagingNotFound({ id }))
        const size = sizeOf(chunks)
        if (size !== offset) return Effect.fail(new OffsetMismatch({ expected: size, given: offset }))
        let written = size
        return Stream.runForEach(
          body,
          (chunk) =>
            Effect.suspend((): Effect.Effect<void, AppendError> => {
              if (written + chunk.length > limit) return Effect.fail(new TooLong({ limit }))
              if (total + chunk.length > options.maxBytes) {
                return Effect.fail(new StagingFull({ reason: `staging holds at most ${options.maxBytes} bytes` }))
              }
              chunks.push(chunk.slice())
              written += chunk.length
              total += chunk.length
              return Effect.void
            })
          // The size after the append: read when the stream is done, not when this was built.
        ).pipe(Effect.map(() => written))
      }),
    truncate: (id, size) =>
      Effect.suspend(() => {
        const chunks = uploads.get(id)
        if (chunks === undefined) return Effect.fail(new StagingNotFound({ id }))
        const all = concat(chunks)
        total -= all.length - Math.min(size, all.length)
        uploads.set(id, [all.slice(0, size)])
        return Effect.void
      }),
    size: (id) => Effect.sync(() => Option.map(Option.fromNullable(uploads.get(id)), sizeOf)),
    read: (id) =>
      Effect.suspend(() => {
        const chunks = uploads.get(id)
        return chunks === undefined
          ? Effect.fail(new StagingNotFound({ id }))
          : Effect.succeed(Stream.fromIterable([...chunks]))
      }),
    commit: (id, blobs) =>
      Effect.suspend((): Effect.Effect<BlobInfo, BlobStoreFull | StagingNotFound> => {
        const chunks = uploads.get(id)
        if (chunks === undefined) return Effect.fail(new StagingNotFound({ id }))
        return Effect.tap(blobs.put(concat(chunks)), () =>
          Effect.sync(() => {
            total -= sizeOf(chunks)
            uploads.delete(id)
          })
        )
      }),
    remove: (id) =>
      Effect.sync(() => {
        const chunks = uploads.get(id)
        if (chunks !== undefined) total -= sizeOf(chunks)
        uploads.delete(id)
      })
  }
}

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: { readonly maxBytes: number }): Layer.Layer<Staging> =>
  Layer.sync(Staging, () => makeMemory(options))
