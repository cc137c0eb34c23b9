/**
 * Server-sent events read by the client commands, on `@effect/experimental`'s `Sse` parser. The
 * parser is fed here rather than through `Sse.makeChannel`, and one whole line at a time:
 *
 * - an event over the bound is a typed failure (the channel makes it a defect, and what a server
 *   sends must never end the process);
 * - the parser of 0.61.1 loses events after CR-only line ends (`\r\r`: each line's scan starts at
 *   its buffer's beginning and sees an earlier CR, so it swallows the LF of a later blank line),
 *   and a buffer of many lines costs it a scan per line; lines are split here (CRLF, CR or LF, a
 *   CR at the end of a piece held for the LF that may begin the next) and handed over LF-ended.
 *
 * @since 0.1.0
 */
import * as Sse from "@effect/experimental/Sse"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"

/**
 * An event (or a line) longer than this ends the stream: the server is not speaking the contract.
 *
 * @since 0.1.0
 * @category limits
 */
export const MAX_EVENT_CHARS = 4 * 1024 * 1024

/**
 * One server-sent event: its type (`message` when the stream names none), data and id.
 *
 * @since 0.1.0
 * @category models
 */
export interface SseEvent {
  readonly event: string
  readonly data: string
  readonly id: string | undefined
}

/**
 * A server-sent events decoder: give it the text as it arrives, in any pieces; it returns the
 * events completed so far (comments and `retry` are skipped), or `Left` once a line or an event
 * is longer than `maxChars`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const sseDecoder = (maxChars: number = MAX_EVENT_CHARS) => {
  let completed: Array<SseEvent> = []
  let pending = ""
  const parser = Sse.makeParser(
    (event) => {
      if (event._tag === "Event") completed.push({ event: event.event, data: event.data, id: event.id })
    },
    { maxEventSize: maxChars }
  )
  const tooLarge = Either.left(`an event of the stream is over ${maxChars} characters`)
  return (chunk: string): Either.Either<ReadonlyArray<SseEvent>, string> => {
    pending += chunk
    if (/[\r\n]/.test(chunk)) {
      // A CR at the very end may be the first half of CRLF: it waits for the next piece.
      const end = pending.endsWith("\r") ? pending.length - 1 : pending.length
      const lines = pending.slice(0, end).split(/\r\n|\r|\n/)
      pending = lines.pop()! + pending.slice(end)
      for (const line of lines) if (parser.feed(`${line}\n`) !== undefined) return tooLarge
    }
    if (pending.length > maxChars) return tooLarge
    const out = completed
    completed = []
    return Either.right(out)
  }
}

/**
 * The stream broke the contract of server-sent events.
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedEvents extends Data.TaggedError("MalformedEvents")<{ readonly reason: string }> {}

/**
 * The events of a body of server-sent events.
 *
 * @since 0.1.0
 * @category parsing
 */
export const events = <E, R>(
  body: Stream.Stream<Uint8Array, E, R>,
  maxChars: number = MAX_EVENT_CHARS
): Stream.Stream<SseEvent, E | MalformedEvents, R> =>
  Stream.suspend(() => {
    const feed = sseDecoder(maxChars)
    return body.pipe(
      Stream.decodeText(),
      Stream.mapEffect((text) =>
        Either.match(feed(text), {
          onLeft: (reason) => Effect.fail(new MalformedEvents({ reason })),
          onRight: (completed) => Effect.succeed(completed)
        })
      ),
      Stream.flattenIterables
    )
  })
