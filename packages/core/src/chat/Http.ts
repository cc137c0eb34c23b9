/**
 * The chat module's HTTP API: groups, sends, history, the push stream (server-sent events) and
 * the operator's moves, over {@link ChatService}.
 *
 * @since 0.1.0
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Answer from "../api/Answer.js"
import * as Refusals from "../api/Refusals.js"
import type * as Module from "../site/Module.js"
import type { Principal } from "../stores/Identity.js"
import { ChatBusy, ChatInvalid, GroupNotFound } from "./Protocol.js"
import type { ChatService, Counters, Settings } from "./Service.js"

// ---- HTTP -------------------------------------------------------------------------------------

/** What the chat API does not know is the body's: over the site's limit (413), or unreadable (400). */
const bodyRefusal = (e: unknown): Answer.Refusal => {
  const refusal = Answer.bodyRefusalOf(e)
  return refusal === undefined || refusal.status === 413
    ? (refusal ?? { status: 400, error: "ChatInvalid", message: "unreadable request body", headers: {} })
    : { ...refusal, error: "ChatInvalid" }
}

const answer = <E, R>(route: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Answer.answer(route, bodyRefusal)

/**
 * A new group: its name, notice, settings, first members and home region (default the creator's).
 *
 * @since 0.1.0
 * @category schemas
 */
export const CreateBody = Schema.Struct({
  name: Schema.String,
  notice: Schema.optional(Schema.String),
  settings: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  members: Schema.optional(Schema.Array(Schema.String)),
  home: Schema.optional(Schema.String)
})
/**
 * What the owner changes of a group.
 *
 * @since 0.1.0
 * @category schemas
 */
export const EditBody = Schema.Struct({
  name: Schema.optional(Schema.String),
  notice: Schema.optional(Schema.String),
  settings: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
})
/**
 * Members to add and to remove.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MembersBody = Schema.Struct({
  add: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  remove: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] })
})
/**
 * A message: its text, and the client's id for it (retries with the same id are sent once).
 *
 * @since 0.1.0
 * @category schemas
 */
export const SendBody = Schema.Struct({ text: Schema.String, id: Schema.optional(Schema.String) })
/**
 * Where an operator moves a group or a user.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MoveBody = Schema.Struct({ region: Schema.String })
/**
 * A page of history: the messages after a sequence number, at most `limit`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Page = Schema.Struct({
  after: Schema.optionalWith(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative()), { default: () => 0 }),
  limit: Schema.optionalWith(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 100_000)), {
    default: () => 100
  })
})

export const routes = (
  context: Module.SiteContext,
  settings: Settings,
  service: ChatService,
  counters: Counters
): Effect.Effect<Layer.Layer<never, never, HttpLayerRouter.HttpRouter>> =>
  Effect.gen(function* () {
    const identity = context.stores.identity
    const pool = yield* Effect.makeSemaphore(settings.maxConcurrentRequests)

    const authenticate = Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const token = Answer.bearerToken(request.headers["authorization"])
      if (token === undefined) {
        return yield* Effect.fail(new Refusals.Unauthorized({ message: "an Authorization: Bearer token is required" }))
      }
      return yield* identity
        .verify(token)
        .pipe(Effect.mapError((e) => new Refusals.Unauthorized({ message: `token ${e.reason}` })))
    })
    const authenticateOperator = Effect.flatMap(authenticate, (principal) =>
      identity
        .requireRole(principal, "operator")
        .pipe(Effect.mapError(() => new Refusals.Forbidden({ message: "the operator role is required" })))
    )
    const me = (principal: Principal) => ({ user: principal.name, home: principal.homeRegion })

    const groupParam = Effect.flatMap(HttpRouter.params, ({ id }) =>
      id !== undefined && /^[A-Za-z0-9._-]{1,160}$/.test(id)
        ? Effect.succeed(id)
        : Effect.fail(new GroupNotFound({ group: id ?? "" }))
    )
    const body = <A, I>(schema: Schema.Schema<A, I>) =>
      HttpServerRequest.schemaBodyJson(schema).pipe(
        Effect.catchTag("ParseError", (e) => Effect.fail(new ChatInvalid({ reason: Answer.describeParseError(e) })))
      )
    const json = (status: number, value: unknown) => HttpServerResponse.unsafeJson(value, { status })

    /** Bounded: over `maxConcurrentRequests` in flight, a clear 503 rather than a slow queue. */
    const pooled = <E, R>(route: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
      Effect.flatMap(pool.withPermitsIfAvailable(1)(route), (response) =>
        Option.match(response, {
          onNone: () =>
            answer(
              Answer.failWithHeaders(
                new ChatBusy({ reason: `over ${settings.maxConcurrentRequests} requests in progress` }),
                { "retry-after": "1" }
              )
            ),
          onSome: Effect.succeed
        })
      )

    const route = <E, R>(
      method: "GET" | "POST" | "PATCH",
      path: `/${string}`,
      handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    ) => HttpLayerRouter.route(method, path, pooled(answer(handler)))

    const streams = yield* Effect.makeSemaphore(settings.maxStreams)

    return HttpLayerRouter.addAll([
      route(
        "POST",
        "/v1/chat/groups",
        Effect.gen(function* () {
          const principal = yield* authenticate
          const request = yield* body(CreateBody)
          return json(201, yield* service.create(me(principal), request))
        })
      ),
      route(
        "GET",
        "/v1/chat/groups/:id",
        Effect.gen(function* () {
          const principal = yield* authenticate
          return json(200, yield* service.get(principal.name, yield* groupParam))
        })
      ),
      route(
        "PATCH",
        "/v1/chat/groups/:id",
        Effect.gen(function* () {
          const principal = yield* authenticate
          const group = yield* groupParam
          return json(200, yield* service.edit(principal.name, group, yield* body(EditBody)))
        })
      ),
      route(
        "POST",
        "/v1/chat/groups/:id/members",
        Effect.gen(function* () {
          const principal = yield* authenticate
          const group = yield* groupParam
          const change = yield* body(MembersBody)
          return json(200, yield* service.members(principal.name, group, change.add, change.remove))
        })
      ),
      route(
        "POST",
        "/v1/chat/groups/:id/messages",
        Effect.gen(function* () {
          const principal = yield* authenticate
          const group = yield* groupParam
          const message = yield* body(SendBody)
          const sent = yield* service.send(principal.name, group, message.text, message.id)
          return sent.status === "sequenced"
            ? json(201, { group: sent.group, id: sent.id, seq: sent.seq })
            : json(202, { group: sent.group, id: sent.id, status: "accepted" })
        })
      ),
      route(
        "GET",
        "/v1/chat/groups/:id/messages",
        Effect.gen(function* () {
          const principal = yield* authenticate
          const group = yield* groupParam
          const page = yield* HttpServerRequest.schemaSearchParams(Page).pipe(
            Effect.mapError(() => new ChatInvalid({ reason: "after and limit are non-negative integers" }))
          )
          // Copies are kept at the reader's home, membership at the group's: asked there first, so
          // an unknown group is 404 and a non-member's read 403 rather than an empty page.
          yield* service.get(principal.name, group)
          const found = yield* service.history(
            principal.name,
            group,
            page.after,
            Math.min(page.limit, settings.maxPage)
          )
          return json(200, { group, messages: found.messages, more: found.more })
        })
      ),
      // Server-sent events: not pooled (a stream is long-lived); bounded by `maxStreams`.
      HttpLayerRouter.route(
        "GET",
        "/v1/chat/groups/:id/events",
        answer(
          Effect.gen(function* () {
            const principal = yield* authenticate
            const group = yield* groupParam
            const request = yield* HttpServerRequest.HttpServerRequest
            const page = yield* HttpServerRequest.schemaSearchParams(Page).pipe(
              Effect.mapError(() => new ChatInvalid({ reason: "after is a non-negative integer" }))
            )
            const lastEventId = request.headers["last-event-id"]
            const after =
              typeof lastEventId === "string" && /^\d{1,15}$/.test(lastEventId) ? Number(lastEventId) : page.after
            // Membership is checked once, at the group's home, before streaming.
            yield* service.get(principal.name, group)
            const permit = yield* streams.withPermitsIfAvailable(1)(Effect.succeed(true))
            if (Option.isNone(permit)) {
              return yield* Answer.failWithHeaders(
                new ChatBusy({ reason: `over ${settings.maxStreams} streams open` }),
                {
                  "retry-after": "5"
                }
              )
            }
            const events = service.follow(principal.name, group, after).pipe(
              Stream.map((m) => `event: message\nid: ${m.seq}\ndata: ${JSON.stringify(m)}\n\n`),
              Stream.catchAll((e) =>
                Stream.make(`event: error\ndata: ${JSON.stringify({ error: e._tag, message: e.message })}\n\n`)
              ),
              Stream.merge(
                Stream.tick(Duration.seconds(settings.keepAliveSeconds)).pipe(Stream.map(() => ": keep-alive\n\n")),
                { haltStrategy: "left" }
              )
            )
            const counted = Stream.acquireRelease(
              Effect.flatMap(streams.take(1), () => Effect.sync(() => counters.streams++)),
              () =>
                Effect.zipRight(
                  streams.release(1),
                  Effect.sync(() => counters.streams--)
                )
            ).pipe(Stream.flatMap(() => events))
            return HttpServerResponse.stream(Stream.encodeText(Stream.concat(Stream.make(": open\n\n"), counted)), {
              contentType: "text/event-stream",
              headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
            })
          })
        )
      ),
      route(
        "POST",
        "/v1/chat/admin/groups/:id/move",
        Effect.gen(function* () {
          yield* authenticateOperator
          const group = yield* groupParam
          const { region: to } = yield* body(MoveBody)
          const moved = yield* service.move(group, to)
          return json(202, { group, from: moved.from, to: moved.to })
        })
      ),
      route(
        "POST",
        "/v1/chat/admin/users/:name/move",
        Effect.gen(function* () {
          yield* authenticateOperator
          const { name } = yield* HttpRouter.params
          if (name === undefined || !/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
            return yield* Effect.fail(new Refusals.NotFound({ message: "no such user" }))
          }
          const { region: to } = yield* body(MoveBody)
          const moved = yield* service.moveUser(name, to)
          return json(202, { user: name, from: moved.from, to: moved.to })
        })
      )
    ])
  })
