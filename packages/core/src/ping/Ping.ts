/**
 * The built-in `ping` module: an echo actor (ask) and a counter actor (tell + ask). Examples,
 * tests and benchmarks use it to exercise the kernel, the router and the transports before (and
 * besides) the real systems.
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Answer from "../api/Answer.js"
import * as Refusals from "../api/Refusals.js"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Actor from "../kernel/Actor.js"
import type { ActorRef } from "../kernel/Actor.js"
import * as Address from "../kernel/Address.js"
import * as Protocol from "../kernel/Protocol.js"
import * as Module from "../site/Module.js"
import type { KeyValueService } from "../stores/KeyValue.js"

/**
 * Longest text the echo actor accepts.
 *
 * @since 0.1.0
 * @category config
 */
export const MAX_ECHO_LENGTH = 4096

/**
 * Most durable increments one `POST /v1/ping/counter/increments` may ask for.
 *
 * @since 0.1.0
 * @category config
 */
export const MAX_INCREMENTS_PER_REQUEST = 10_000

/**
 * Ask: answers with the same text and the name of the site that answered.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Echo extends Schema.TaggedRequest<Echo>()("Echo", {
  failure: Schema.Never,
  success: Schema.Struct({ text: Schema.String, site: Schema.String }),
  payload: { text: Schema.String.pipe(Schema.maxLength(MAX_ECHO_LENGTH)) }
}) {}

/**
 * @since 0.1.0
 * @category protocol
 */
export const EchoProtocol = Protocol.make("ping/echo", 1, Echo)

/**
 * Tell: adds `by` to the counter.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Increment extends Schema.TaggedClass<Increment>()("Increment", {
  by: Schema.Int
}) {}

/**
 * Ask: the current count.
 *
 * @since 0.1.0
 * @category protocol
 */
export class GetCount extends Schema.TaggedRequest<GetCount>()("GetCount", {
  failure: Schema.Never,
  success: Schema.Int,
  payload: {}
}) {}

/**
 * @since 0.1.0
 * @category protocol
 */
export const CounterProtocol = Protocol.make("ping/counter", 1, Increment, GetCount)

/**
 * The echo actor of `site`.
 *
 * @since 0.1.0
 * @category actors
 */
export const echo = (options: Actor.Options = {}) =>
  Actor.make(
    "echo",
    EchoProtocol,
    (self) =>
      Effect.succeed({
        Echo: (request: Echo) => Effect.succeed({ text: request.text, site: self.address.site })
      }),
    options
  )

/**
 * The counter actor. With a key-value store its count is module state that survives restarts and
 * crashes (loaded at start, written on every `Increment`); without one it lives in the fiber only
 * and a restart starts it at zero — the cheapest path, which the kernel benchmark measures.
 *
 * @since 0.1.0
 * @category actors
 */
export const counter = (options: Actor.Options = {}, store?: KeyValueService) =>
  Actor.make(
    "counter",
    CounterProtocol,
    () =>
      Effect.gen(function* () {
        if (store === undefined) {
          let count = 0
          return {
            // A synchronous state update: no effect to run per message.
            Increment: (message: Increment) => {
              count += message.by
            },
            GetCount: () => Effect.sync(() => count)
          }
        }
        const saved = yield* store.get(NAMESPACE, COUNTER_KEY)
        let count = Option.match(saved, { onNone: () => 0, onSome: (text) => Number.parseInt(text, 10) || 0 })
        return {
          Increment: (message: Increment) =>
            Effect.suspend(() => {
              count += message.by
              return store.set(NAMESPACE, COUNTER_KEY, String(count))
            }),
          GetCount: () => Effect.sync(() => count)
        }
      }),
    options
  )

const NAMESPACE = "ping"
const COUNTER_KEY = "counter"

/**
 * Simulator invariant: every counter that durable `Increment`s were applied to holds exactly
 * their number (with `durable-increments` as the only workload on it). Catches a message applied
 * twice, or an application lost in a crash.
 *
 * @since 0.1.0
 * @category simulation
 */
export const counterMatches: Module.Invariant<PingService> = (context, tally) =>
  Effect.gen(function* () {
    for (const [address, applied] of tally.appliedTo) {
      const parsed = Address.parse(address)
      if (parsed === undefined || parsed.actor !== "counter") continue
      const service = context.service(parsed.site)
      if (service === undefined) return `site ${parsed.site} is down at the end of the run`
      const count = yield* Effect.either(service.counter.ask(new GetCount()))
      if (count._tag === "Left") return `counter@${parsed.site} did not answer: ${count.left.message}`
      if (count.right !== applied)
        return `counter@${parsed.site} holds ${count.right}, ${applied} increments were applied`
    }
    return undefined
  })

/**
 * Settings of the ping module (`sites.<site>.modules.ping`).
 *
 * @since 0.1.0
 * @category config
 */
export const Settings = Schema.Struct({
  mailboxCapacity: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1_000_000)), { default: () => 1024 }),
  /** Keep the counter in the site's key-value store (survives restarts); `false`: in memory only. */
  persistCounter: Schema.optionalWith(Schema.Boolean, { default: () => true })
})

/**
 * The ping module's service on a site: its own echo and counter actors.
 *
 * @since 0.1.0
 * @category models
 */
export interface PingService {
  readonly echo: ActorRef<Echo>
  readonly counter: ActorRef<Increment | GetCount>
}

/**
 * References to the ping actors of any site.
 *
 * @since 0.1.0
 * @category refs
 */
export const refs = (system: { readonly ref: Module.SiteContext["system"]["ref"] }, site: string): PingService => ({
  echo: system.ref(EchoProtocol, Address.make(site, "echo")),
  counter: system.ref(CounterProtocol, Address.make(site, "counter"))
})

const json = (status: number, body: unknown) => HttpServerResponse.unsafeJson(body, { status })

const EchoParams = Schema.Struct({ text: Echo.fields.text, site: Schema.optional(Schema.String) })
const IncrementsParams = Schema.Struct({
  count: Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, MAX_INCREMENTS_PER_REQUEST)),
  site: Schema.optional(Schema.String)
})

/**
 * The ping module's HTTP API, as the site's OpenAPI document shows it. The routes are raw
 * `HttpLayerRouter` routes (see `start`) answering the same paths, parameters and bodies.
 *
 * @since 0.1.0
 * @category http
 */
export const Api = HttpApi.make("ping").add(
  HttpApiGroup.make("ping")
    .add(
      HttpApiEndpoint.get("echo", "/v1/ping/echo")
        .setUrlParams(EchoParams)
        .addSuccess(Echo.success)
        .annotate(OpenApi.Summary, "Ask the echo actor of `site` (this one by default), over the kernel")
    )
    .add(
      HttpApiEndpoint.get("counter", "/v1/ping/counter")
        .addSuccess(Schema.Struct({ count: Schema.Int }))
        .annotate(OpenApi.Summary, "This site's counter")
    )
    .add(
      HttpApiEndpoint.post("increments", "/v1/ping/counter/increments")
        .setUrlParams(IncrementsParams)
        .addSuccess(Schema.Struct({ accepted: Schema.Int }), { status: 202 })
        .annotate(OpenApi.Summary, "Durable increments of the counter of `site`: answered once all are accepted")
    )
    // What an ask to another site may be refused with (the kernel's statuses, `Answer.kernelStatuses`).
    .addError(Answer.ErrorBody, { status: 400 })
    .addError(Answer.ErrorBody, { status: 404 })
    .addError(Answer.ErrorBody, { status: 502 })
    .addError(Answer.ErrorBody, { status: 503 })
    .addError(Answer.ErrorBody, { status: 504 })
    .annotate(OpenApi.Description, "Echo and counter actors for examples, tests and benchmarks (no token needed)")
)

/**
 * Simulator workload: durable `Increment`s from site `from` to the counter of site `to`, one
 * attempt every `intervalMillis` from `startMillis`, until `count` were accepted. An attempt the
 * outbox refuses (busy) or that finds its site crashed is not accepted, like a client that gets an
 * error, and is tried again at the next interval (at most `maxAttempts` attempts in all).
 *
 * @since 0.1.0
 * @category simulation
 */
export const durableIncrements = Module.generator(
  Schema.Struct({
    from: Schema.String,
    to: Schema.String,
    count: Schema.Int.pipe(Schema.between(1, 10_000_000)),
    intervalMillis: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { default: () => 10 }),
    startMillis: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { default: () => 0 }),
    maxAttempts: Schema.optional(Schema.Int.pipe(Schema.positive()))
  }),
  (context, params) =>
    Effect.gen(function* () {
      yield* Effect.sleep(params.startMillis)
      const message = new Increment({ by: 1 })
      const target = Address.make(params.to, "counter")
      const maxAttempts = params.maxAttempts ?? params.count * 10
      let accepted = 0
      for (let attempt = 0; accepted < params.count && attempt < maxAttempts; attempt++) {
        const site = context.site(params.from)
        if (site !== undefined) {
          const sent = yield* Effect.either(site.system.ref(CounterProtocol, target).tellDurable(message))
          if (sent._tag === "Right") accepted++
        }
        yield* Effect.sleep(params.intervalMillis)
      }
    })
)

/**
 * The module: `echo` and `counter` actors, and `GET /v1/ping/echo?text=…&site=…` (asks the echo
 * actor of `site`, this one by default) and `GET /v1/ping/counter`.
 *
 * @since 0.1.0
 * @category modules
 */
export const module = Module.make({
  name: "ping",
  description: "echo and counter actors for examples, tests and benchmarks",
  settings: Settings,
  simulation: () => ({
    generators: { "durable-increments": durableIncrements },
    invariants: { "counter-matches": counterMatches }
  }),
  start: (context, settings) =>
    Effect.gen(function* () {
      const options = { mailboxCapacity: settings.mailboxCapacity }
      const echoRef = yield* context.spawn(echo(options))
      const counterRef = yield* context.spawn(
        settings.persistCounter ? counter({ ...options, transactional: true }, context.stores.kv) : counter(options)
      )
      // A site the deployment does not have is the client's mistake (404), not an unreachable one (502).
      const siteOf = (site: string | undefined) =>
        site === undefined || site === context.site
          ? Effect.succeed(context.site)
          : Object.hasOwn(context.topology.sites, site)
            ? Effect.succeed(site)
            : Effect.fail(new Refusals.NotFound({ message: "`site` names no site of this deployment" }))
      const routes = HttpLayerRouter.addAll([
        HttpLayerRouter.route(
          "GET",
          "/v1/ping/echo",
          Effect.gen(function* () {
            const query = yield* HttpServerRequest.schemaSearchParams(EchoParams)
            const target = refs(context.system, yield* siteOf(query.site)).echo
            return json(200, yield* target.ask(new Echo({ text: query.text })))
          }).pipe(Answer.answer)
        ),
        HttpLayerRouter.route(
          "GET",
          "/v1/ping/counter",
          counterRef.ask(new GetCount()).pipe(
            Effect.map((count) => json(200, { count })),
            Answer.answer
          )
        ),
        // `count` durable increments of the counter of `site` (this one by default): answers once
        // they are all accepted (in this site's outbox), not once they are applied.
        HttpLayerRouter.route(
          "POST",
          "/v1/ping/counter/increments",
          Effect.gen(function* () {
            const query = yield* HttpServerRequest.schemaSearchParams(IncrementsParams)
            const target = refs(context.system, yield* siteOf(query.site)).counter
            const message = new Increment({ by: 1 })
            for (let i = 0; i < query.count; i++) yield* target.tellDurable(message)
            return json(202, { accepted: query.count })
          }).pipe(Answer.answer)
        )
      ])
      return { service: { echo: echoRef, counter: counterRef } satisfies PingService, routes, api: Api }
    })
})
