/**
 * `meridian chat tail GROUP [--follow]`: the history a page at a time, then with `--follow` the
 * server-sent events stream (`/v1/chat/groups/:id/events`). A dropped or silent connection is
 * reopened with `Last-Event-ID` after the retry policy's wait (started over whenever bytes
 * arrive), and a message is printed only if its sequence number is above the last one printed
 * (never twice, never out of order). Ctrl-C ends it.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Message } from "@meridian/core/chat/Protocol"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { ClientFailed, usage } from "../client.js"
import { ANSWER_TIMEOUT, decodeJson, executeScoped, explainReply, readReply, reasonOf, refused } from "../http.js"
import { driver, retryAfterOf } from "../retry.js"
import * as Sse from "../sse.js"
import { commonOptions, formatMessage, groupArg, groupPath, Page, request, session, visible } from "./common.js"
import * as Flags from "../flags.js"
import type { Modules } from "../modules.js"

/** Messages asked per page of history (the server allows up to 1000). */
const PAGE_LIMIT = 500
/** The server comments every 15 s; an events connection silent for this long is reopened. */
const STREAM_IDLE = Duration.seconds(45)
/**
 * A follow reconnects for as long as its user lets it run (Ctrl-C ends it), as `tail -f` does;
 * each wait is bounded by the back-off's cap, and bytes arriving start the back-off over.
 */
const FOLLOW_RETRIES = Number.POSITIVE_INFINITY

/** An `error` event's `{error, message}` as text. */
const errorText = (data: string) =>
  Option.match(
    Schema.decodeUnknownOption(Schema.parseJson(Schema.Struct({ error: Schema.String, message: Schema.String })))(data),
    { onNone: () => data.slice(0, 200), onSome: (e) => `${e.error}: ${visible(e.message)}` }
  )

/** How one events connection ended: the stream closed or broke (reopen), or a refusal (stop). */
class StreamBroke extends Data.TaggedError("StreamBroke")<{
  readonly reason: string
  readonly retryAfter?: Duration.Duration | undefined
}> {}

/**
 * @since 0.1.0
 * @category commands
 */
export const tailCommand = (modules: Modules) =>
  Command.make(
    "tail",
    {
      ...commonOptions,
      group: groupArg,
      after: Flags.integer("after").pipe(
        Options.withDefault(0),
        Options.withDescription("print messages after this sequence number")
      ),
      follow: Options.boolean("follow").pipe(
        Options.withAlias("f"),
        Options.withDescription("then wait for new messages and print them as they come (until Ctrl-C)")
      )
    },
    (args) =>
      args.after < 0
        ? Effect.fail(usage("--after must not be negative"))
        : session(args, modules, (s) =>
            Effect.gen(function* () {
              let last = args.after
              const show = (message: Message) =>
                Effect.suspend(() => {
                  if (message.seq <= last) return Effect.void
                  last = message.seq
                  return Console.log(args.json ? JSON.stringify(message) : formatMessage(message))
                })

              // The history, a page at a time.
              const what = `messages of ${args.group}`
              for (;;) {
                const reply = yield* request(
                  s,
                  what,
                  HttpClientRequest.get(groupPath(s, args.group, "/messages"), {
                    urlParams: { after: String(last), limit: String(PAGE_LIMIT) }
                  }),
                  { repeatable: true }
                )
                const page = yield* decodeJson(Page, what)(reply)
                const before = last
                yield* Effect.forEach(page.messages, show, { discard: true })
                if (!page.more) break
                if (last === before) {
                  return yield* new ClientFailed({
                    message: `${what}: the server said there is more but sent none`,
                    code: 1
                  })
                }
              }
              if (!args.follow) return

              // Then the live stream, reopened from the last message printed whenever it breaks.
              const decodeMessage = Schema.decodeUnknownEither(Schema.parseJson(Message))
              const reconnect = yield* driver({ retries: FOLLOW_RETRIES, note: s.retrying.note })
              const connect = Effect.gen(function* () {
                const response = yield* executeScoped(
                  HttpClientRequest.get(groupPath(s, args.group, "/events"), {
                    urlParams: { after: String(last) }
                  }).pipe(
                    HttpClientRequest.bearerToken(s.token),
                    HttpClientRequest.setHeaders({
                      accept: "text/event-stream",
                      "cache-control": "no-cache",
                      "last-event-id": String(last)
                    })
                  )
                ).pipe(
                  Effect.timeoutFail({
                    duration: ANSWER_TIMEOUT,
                    onTimeout: () => new StreamBroke({ reason: "no answer" })
                  }),
                  Effect.catchTag("Unreachable", (e) => Effect.fail(new StreamBroke({ reason: e.reason })))
                )
                if (response.status !== 200) {
                  const reply = yield* Effect.orElseSucceed(readReply(response), () => ({
                    status: response.status,
                    headers: response.headers,
                    body: ""
                  }))
                  if (response.status >= 500) {
                    return yield* new StreamBroke({
                      reason: explainReply(reply),
                      retryAfter: response.status === 503 ? retryAfterOf(reply.headers["retry-after"]) : undefined
                    })
                  }
                  return yield* refused(`events of ${args.group}`, reply)
                }
                return response
              })

              const connection = Effect.gen(function* () {
                const response = yield* connect
                const bytes = response.stream.pipe(
                  Stream.mapError((e) => new StreamBroke({ reason: reasonOf(e) })),
                  Stream.timeoutFail(
                    () => new StreamBroke({ reason: `nothing for ${Duration.format(STREAM_IDLE)}` }),
                    STREAM_IDLE
                  ),
                  Stream.tap(() => reconnect.reset)
                )
                yield* Sse.events(bytes).pipe(
                  Stream.mapError((e) =>
                    e._tag === "MalformedEvents"
                      ? new ClientFailed({ message: `events of ${args.group}: ${e.reason}`, code: 1 })
                      : e
                  ),
                  Stream.runForEach((event) =>
                    Effect.gen(function* () {
                      // The server ends a stream it cannot go on with by an `error` event: said, and
                      // the reconnection finds out whether it lasts (a refusal then ends the command).
                      if (event.event === "error") yield* s.retrying.note(`the stream ended: ${errorText(event.data)}`)
                      if (event.event !== "message") return
                      const message = decodeMessage(event.data)
                      if (Either.isLeft(message)) {
                        return yield* s.retrying.note(
                          `skipped an event that is not a message: ${event.data.slice(0, 200)}`
                        )
                      }
                      yield* show(message.right)
                    })
                  )
                )
                return yield* new StreamBroke({ reason: "the server closed the stream" })
              }).pipe(Effect.scoped)

              for (;;) {
                const broke = yield* Effect.flip(connection)
                if (broke._tag === "ClientFailed") return yield* broke
                yield* Effect.mapError(
                  reconnect.next({ reason: broke.reason, again: "reconnecting", retryAfter: broke.retryAfter }),
                  () => new ClientFailed({ message: `events of ${args.group}: ${broke.reason}`, code: 3 })
                )
              }
            })
          )
  ).pipe(
    Command.withDescription(
      "print a group's messages (`#seq from: text`, or JSON lines with --json); --follow then waits for new ones"
    )
  )
