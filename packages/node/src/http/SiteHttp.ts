/**
 * The HTTP face of a site: `/health`, `/metrics` (Prometheus text), `/status` (JSON), a small HTML
 * status page at `/`, and the routes every module declared — one app, served on every HTTP
 * address the topology gives the site (its main one and each per-carrier one), with the active
 * connections and bytes of each address counted for modules and metrics.
 *
 * @since 0.1.0
 */
import type * as HttpApi from "@effect/platform/HttpApi"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as OpenApi from "@effect/platform/OpenApi"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Answer from "@meridian/core/api/Answer"
import * as Routes from "@meridian/core/api/Routes"
import { refusalMessage, SiteApi } from "@meridian/core/api/SiteApi"
import type * as Site from "@meridian/core/site/Site"
import type { IdentityService } from "@meridian/core/stores/Identity"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import * as BodyLimit from "./BodyLimit.js"
import * as SiteApiLive from "./SiteApiLive.js"

/**
 * Load of one HTTP address, for modules that pick the least loaded one.
 *
 * @since 0.1.0
 * @category models
 */
export interface AddressLoad {
  readonly name: string
  readonly host: string
  /** The bound port (the real one when the topology said 0). */
  port: number
  activeConnections: number
  bytesIn: number
  bytesOut: number
}

/**
 * What the status endpoints show besides the site itself (the transport's counters...).
 *
 * @since 0.1.0
 * @category models
 */
export interface Extras {
  /** Extra Prometheus lines. */
  readonly metrics: () => ReadonlyArray<string>
  /** Extra fields of `/status`. */
  readonly status: () => Record<string, unknown>
  /** Extra fields of the operator's `/v1/admin/status`. */
  readonly details: () => Record<string, unknown>
}

/**
 * Bounds of the HTTP server.
 *
 * @since 0.1.0
 * @category config
 */
export interface Config {
  /** Largest request body read into memory (a larger one is answered 413). */
  readonly maxBodyBytes: number
}

/**
 * @since 0.1.0
 * @category config
 */
export const Config: Config = { maxBodyBytes: 1024 * 1024 }

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")
const escapeHtml = (value: string) =>
  value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/**
 * The site's Prometheus metrics.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = (site: Site.RunningSite, loads: ReadonlyArray<AddressLoad>, extras: Extras) =>
  Effect.gen(function* () {
    const actors = yield* site.system.actors
    const stats = yield* site.system.stats
    const dead = yield* site.system.deadLetters.counts
    const label = `site="${escapeLabel(site.name)}"`
    const lines: Array<string> = []
    const metric = (name: string, type: "gauge" | "counter", help: string, rows: ReadonlyArray<[string, number]>) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
      for (const [labels, value] of rows) lines.push(`${name}{${label}${labels}} ${value}`)
    }
    const actorLabel = (name: string) => `,actor="${escapeLabel(name)}"`
    metric(
      "meridian_mailbox_depth",
      "gauge",
      "Messages waiting in an actor's mailbox.",
      actors.map((a) => [actorLabel(a.name), a.mailboxDepth])
    )
    metric(
      "meridian_mailbox_capacity",
      "gauge",
      "Mailbox bound of an actor.",
      actors.map((a) => [actorLabel(a.name), a.mailboxCapacity])
    )
    metric(
      "meridian_actor_processed_total",
      "counter",
      "Messages an actor processed.",
      actors.map((a) => [actorLabel(a.name), a.processed])
    )
    metric(
      "meridian_actor_restarts_total",
      "counter",
      "Restarts of an actor.",
      actors.map((a) => [actorLabel(a.name), a.restarts])
    )
    metric("meridian_envelopes_total", "counter", "Envelopes that crossed the site boundary.", [
      [`,direction="in"`, stats.envelopesIn],
      [`,direction="out"`, stats.envelopesOut]
    ])
    metric("meridian_duplicates_total", "counter", "Envelopes dropped as already applied.", [["", stats.duplicates]])
    metric("meridian_pending_asks", "gauge", "Asks waiting for a remote reply.", [["", stats.pendingAsks]])
    metric(
      "meridian_dead_letters_total",
      "counter",
      "Messages dead-lettered, by reason.",
      Object.entries(dead).map(([reason, n]) => [`,reason="${escapeLabel(reason)}"`, n])
    )
    const links = site.routing?.links() ?? {}
    metric(
      "meridian_link_state",
      "gauge",
      "1 for the current state of each link to a neighbour.",
      Object.entries(links).flatMap(([peer, state]) =>
        (["up", "suspect", "down"] as const).map((s): [string, number] => [
          `,peer="${escapeLabel(peer)}",state="${s}"`,
          state === s ? 1 : 0
        ])
      )
    )
    metric(
      "meridian_http_active_connections",
      "gauge",
      "Open HTTP connections per address.",
      loads.map((l) => [`,address="${l.name}"`, l.activeConnections])
    )
    metric(
      "meridian_http_bytes_total",
      "counter",
      "HTTP bytes per address and direction.",
      loads.flatMap(
        (l): Array<[string, number]> => [
          [`,address="${l.name}",direction="in"`, l.bytesIn],
          [`,address="${l.name}",direction="out"`, l.bytesOut]
        ]
      )
    )
    const moduleLines = site.modules.flatMap((m) => m.metrics?.() ?? [])
    // The site label goes first: into the line's labels, or as its only label.
    const labelled = (line: string) => {
      const brace = line.indexOf("{")
      const space = line.indexOf(" ")
      return brace >= 0 && (space < 0 || brace < space)
        ? `${line.slice(0, brace + 1)}${label},${line.slice(brace + 1)}`
        : `${line.slice(0, space)}{${label}}${line.slice(space)}`
    }
    lines.push(...[...extras.metrics(), ...moduleLines].map(labelled))
    return lines.join("\n") + "\n"
  })

/**
 * The site's status as JSON.
 *
 * @since 0.1.0
 * @category status
 */
export const status = (site: Site.RunningSite, loads: ReadonlyArray<AddressLoad>, extras: Extras) =>
  Effect.gen(function* () {
    return {
      site: site.name,
      modules: site.modules.map((m) => m.name),
      links: site.routing?.links() ?? {},
      /**
       * What each neighbour's latest advertisement says of its link to this site: where it says
       * `down` and `links` does not (or the reverse), the two ends disagree.
       */
      linksAtPeers: Object.fromEntries(
        Object.entries(site.routing?.peerViews() ?? {}).map(([peer, up]) => [peer, up ? "up" : "down"] as const)
      ),
      routes: site.routing?.routes() ?? {},
      actors: yield* site.system.actors,
      deadLetters: yield* site.system.deadLetters.counts,
      http: loads.map(({ name, host, port, activeConnections, bytesIn, bytesOut }) => ({
        name,
        address: `${host}:${port}`,
        activeConnections,
        bytesIn,
        bytesOut
      })),
      ...extras.status()
    }
  })

/**
 * The operator's status: the public one plus supervision, envelope counters, links in
 * maintenance and the transport's counters.
 *
 * @since 0.1.0
 * @category status
 */
export const details = (site: Site.RunningSite, loads: ReadonlyArray<AddressLoad>, extras: Extras) =>
  Effect.gen(function* () {
    return {
      ...(yield* status(site, loads, extras)),
      maintenance: site.routing?.maintenance() ?? [],
      supervision: site.system.root.info(),
      envelopes: yield* site.system.stats,
      ...extras.details()
    } as Record<string, unknown>
  })

const page = (s: Effect.Effect.Success<ReturnType<typeof status>>) => {
  const rows = (items: ReadonlyArray<ReadonlyArray<string | number>>) =>
    items.map((cells) => `<tr>${cells.map((c) => `<td>${escapeHtml(String(c))}</td>`).join("")}</tr>`).join("")
  return `<!doctype html><html><head><meta charset="utf-8"><title>Meridian ${escapeHtml(s.site)}</title>
<meta http-equiv="refresh" content="5">
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:0 0 1.5em}
td,th{border:1px solid #ccc;padding:.3em .7em;text-align:left}th{background:#f4f4f4}.up{color:#070}.down{color:#b00}</style>
</head><body><h1>Site ${escapeHtml(s.site)}</h1>
<p>modules: ${escapeHtml(s.modules.join(", ") || "none")} · <a href="/status">/status</a> · <a href="/metrics">/metrics</a> · <a href="/health">/health</a></p>
<h2>Links</h2><table><tr><th>peer</th><th>state here</th><th>the peer says</th><th>next hop</th></tr>${rows(
    Object.entries(s.links).map(([peer, state]) => {
      const there: string = s.linksAtPeers[peer] ?? "—"
      const disagree = there !== "—" && (state === "down") !== (there === "down")
      return [peer, state, disagree ? `${there} (the two ends disagree)` : there, s.routes[peer] ?? "—"]
    })
  )}</table>
<h2>Actors</h2><table><tr><th>actor</th><th>protocol</th><th>status</th><th>queue</th><th>capacity</th><th>processed</th><th>restarts</th></tr>${rows(
    s.actors.map((a) => [a.name, a.protocol, a.status, a.mailboxDepth, a.mailboxCapacity, a.processed, a.restarts])
  )}</table>
<h2>Dead letters</h2><table><tr><th>reason</th><th>count</th></tr>${rows(Object.entries(s.deadLetters))}</table>
<h2>HTTP addresses</h2><table><tr><th>name</th><th>address</th><th>connections</th><th>bytes in</th><th>bytes out</th></tr>${rows(
    s.http.map((h) => [h.name, h.address, h.activeConnections, h.bytesIn, h.bytesOut])
  )}</table></body></html>`
}

/**
 * The site API with every module's `HttpApi` added: what `/openapi.json` and `/docs` describe.
 *
 * @since 0.1.0
 * @category docs
 */
export const documentedApi = (site: Pick<Site.RunningSite, "modules">): HttpApi.HttpApi.AnyWithProps =>
  site.modules.reduce<HttpApi.HttpApi.AnyWithProps>(
    (api, m) => (m.api === undefined ? api : api.addHttpApi(m.api as HttpApi.HttpApi.AnyWithProps)),
    SiteApi as unknown as HttpApi.HttpApi.AnyWithProps
  )

const decoder = new TextDecoder()

/**
 * One refusal shape for every route, `{ "error": tag, "message": sentence }`: the site API's
 * errors (`HttpApi` encodes them as `{ "_tag": tag, ...fields }`) get both, their own fields kept
 * (`_tag` too, which the typed client decodes them by); an undecodable request's issues lose the
 * values they refused. Answers already in that shape, and successes, pass as they are.
 *
 * @since 0.1.0
 * @category answers
 */
export const oneRefusalShape = (response: HttpServerResponse.HttpServerResponse) => {
  const body = response.body
  if (response.status < 400 || body._tag !== "Uint8Array" || !body.contentType.startsWith("application/json")) {
    return response
  }
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(body.body))
  } catch {
    return response
  }
  if (typeof value !== "object" || value === null || Array.isArray(value) || "error" in value) return response
  const { _tag, ...fields } = value as Record<string, unknown>
  if (typeof _tag !== "string") return response
  const issues = Array.isArray(fields.issues)
    ? (fields.issues as ReadonlyArray<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>).map(
        (issue) => ({ ...issue, message: Answer.withoutValue(String(issue.message)) })
      )
    : undefined
  const message = issues === undefined ? refusalMessage(_tag, fields) : Answer.describeIssues(issues)
  return HttpServerResponse.unsafeJson(
    { error: _tag, ...fields, message, ...(issues === undefined ? {} : { issues }), _tag },
    { status: response.status, headers: response.headers }
  )
}

/**
 * The OpenAPI document with the one refusal shape: every answer of 400 and over is a `Refusal`
 * (`error`, `message`) with whatever fields its error adds.
 *
 * @since 0.1.0
 * @category docs
 */
export const documentRefusals = (spec: OpenApi.OpenAPISpec): OpenApi.OpenAPISpec => {
  const document = structuredClone(spec) as unknown as {
    info: { description?: string }
    paths: Record<
      string,
      Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>
    >
    components: { schemas: Record<string, unknown> }
  }
  const refusal = { $ref: "#/components/schemas/Refusal" }
  document.components.schemas.Refusal ??= {
    type: "object",
    required: ["error", "message"],
    properties: {
      error: { type: "string", description: "the error's name, e.g. NotFound, AskTimeout" },
      message: { type: "string", description: "what went wrong, as a sentence" }
    },
    description: "Why the request was refused"
  }
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item)) {
      for (const [status, answer] of Object.entries(operation.responses ?? {})) {
        if (Number(status) < 400) continue
        const json = (answer.content ??= {})["application/json"]
        if (json === undefined) answer.content["application/json"] = { schema: refusal }
        else if (JSON.stringify(json.schema) !== JSON.stringify(refusal))
          json.schema = json.schema === undefined ? refusal : { allOf: [refusal, json.schema] }
      }
    }
  }
  document.info.description =
    `${document.info.description ?? ""} Every refusal (status 400 and over) is one JSON shape: { "error": name, "message": sentence }, with the fields its error adds.`.trim()
  return document as unknown as OpenApi.OpenAPISpec
}

/**
 * Serves the site on each address (`port` 0 binds a free port; the real one is in the result).
 *
 * @since 0.1.0
 * @category serve
 */
export const serve = (options: {
  readonly site: Site.RunningSite
  readonly identity: IdentityService
  readonly addresses: ReadonlyArray<{ readonly name: string; readonly host: string; readonly port: number }>
  readonly extras: Extras
  readonly config?: Partial<Config>
}): Effect.Effect<ReadonlyArray<AddressLoad>, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const { site, extras } = options
    const config = { ...Config, ...options.config }
    const loads: Array<AddressLoad> = []
    const own = HttpLayerRouter.addAll([
      HttpLayerRouter.route("GET", "/health", HttpServerResponse.unsafeJson({ status: "ok", site: site.name })),
      HttpLayerRouter.route(
        "GET",
        "/metrics",
        Effect.map(metrics(site, loads, extras), (text) =>
          HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
        )
      ),
      HttpLayerRouter.route(
        "GET",
        "/status",
        Effect.map(status(site, loads, extras), (s) => HttpServerResponse.unsafeJson(s))
      ),
      HttpLayerRouter.route(
        "GET",
        "/",
        Effect.map(status(site, loads, extras), (s) => HttpServerResponse.html(page(s)))
      )
    ])
    // The site API (accounts, operator routes); the OpenAPI document and the docs page describe it
    // together with every module's API.
    const documented = documentedApi(site)
    const openapi = documentRefusals(OpenApi.fromApi(documented))
    const api = HttpLayerRouter.addHttpApi(SiteApi).pipe(
      Layer.provide(
        SiteApiLive.layer({ site, identity: options.identity, details: () => details(site, loads, extras) })
      ),
      Layer.provide(NodeHttpServer.layerContext)
    )
    // The docs page carries Scalar's script (3.3 MB of JavaScript): loaded at the first request
    // for the page rather than at every start of a site.
    const scope = yield* Effect.scope
    const docsPage = yield* Effect.cached(
      Effect.promise(() => import("@effect/platform/HttpApiScalar")).pipe(
        Effect.flatMap((Scalar) =>
          HttpLayerRouter.toHttpEffect(Scalar.layerHttpLayerRouter({ api: documented, path: "/docs" }))
        ),
        Effect.provideServiceEffect(Layer.CurrentMemoMap, Layer.makeMemoMap),
        Scope.extend(scope)
      )
    )
    const docs = Layer.merge(
      HttpLayerRouter.add("GET", "/openapi.json", Effect.succeed(HttpServerResponse.unsafeJson(openapi))),
      HttpLayerRouter.add("GET", "/docs", Effect.flatten(docsPage))
    )
    const moduleRoutes = site.modules.flatMap((m) => (m.routes === undefined ? [] : [m.routes]))
    // A module's raw routes are described by hand: say where the description and the routes differ.
    for (const m of site.modules) {
      const { undocumented, unserved } = yield* Routes.check(m)
      for (const r of undocumented) {
        yield* Effect.logWarning(`http: module ${m.name} serves ${r.method} ${r.path}, not in /openapi.json`)
      }
      for (const r of unserved) {
        yield* Effect.logWarning(
          `http: /openapi.json names ${r.method} ${r.path} of ${m.name}, which it does not serve`
        )
      }
    }
    // A fresh memo map: several sites in one process (tests) must not share one router.
    const app = yield* HttpLayerRouter.toHttpEffect(Layer.mergeAll(own, api, docs, ...moduleRoutes)).pipe(
      Effect.provideServiceEffect(Layer.CurrentMemoMap, Layer.makeMemoMap)
    )
    const answered = app.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(config.maxBodyBytes)),
      Effect.catchTag("RouteNotFound", () =>
        Effect.succeed(HttpServerResponse.unsafeJson({ error: "NotFound", message: "no such route" }, { status: 404 }))
      ),
      Effect.catchAllCause((cause) => {
        // A body over the bound, or one that does not parse: the client's fault, said plainly.
        // A request that could not be read fails its route, or (under HttpApi) kills it: both are
        // the client's doing, never a 500.
        const error = [...Cause.failures(cause), ...Cause.defects(cause)].find(
          (e): e is { readonly _tag: "RequestError"; readonly cause?: unknown } =>
            typeof e === "object" && e !== null && "_tag" in e && e._tag === "RequestError"
        )
        if (error !== undefined) {
          const detail = String((error as { readonly cause?: unknown }).cause)
          return Effect.succeed(
            detail.includes("maxBytes")
              ? HttpServerResponse.unsafeJson(
                  { error: "PayloadTooLarge", message: `request body over ${config.maxBodyBytes} bytes` },
                  { status: 413 }
                )
              : HttpServerResponse.unsafeJson(
                  { error: "BadRequest", message: `unreadable request body: ${detail}`.slice(0, 300) },
                  { status: 400 }
                )
          )
        }
        // A client that closed its request (a cancelled download): nobody is left to answer.
        if (Cause.isInterruptedOnly(cause)) {
          return Effect.as(
            Effect.logDebug("http: the client closed its request before the answer"),
            HttpServerResponse.empty({ status: 499 })
          )
        }
        return Effect.zipRight(
          Effect.logError("http: request failed", cause),
          Effect.succeed(
            HttpServerResponse.unsafeJson(
              { error: "InternalError", message: "the site failed to answer this request (a bug; it is logged)" },
              { status: 500 }
            )
          )
        )
      })
    )
    // Bodies read within the bound without a reset: a body refused for its size is answered
    // (413), then the connection closes rather than read the rest of it.
    const handled = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      let over = false
      return answered.pipe(
        Effect.provideService(
          HttpServerRequest.HttpServerRequest,
          BodyLimit.guard(request, () => (over = true))
        ),
        Effect.map(oneRefusalShape),
        Effect.map((response) => (over ? HttpServerResponse.setHeader(response, "connection", "close") : response))
      )
    })
    for (const address of options.addresses) {
      const server = createServer()
      const load: AddressLoad = { ...address, activeConnections: 0, bytesIn: 0, bytesOut: 0 }
      server.on("connection", (socket) => {
        load.activeConnections++
        socket.on("close", () => {
          load.activeConnections--
          load.bytesIn += socket.bytesRead
          load.bytesOut += socket.bytesWritten
        })
      })
      const http: HttpServer.HttpServer = yield* NodeHttpServer.make(() => server, {
        host: address.host,
        port: address.port
      }).pipe(Effect.mapError((e) => new Error(`cannot listen on ${address.host}:${address.port}: ${String(e.cause)}`)))
      yield* http.serve(handled)
      load.port = (server.address() as AddressInfo).port
      loads.push(load)
    }
    return loads
  })
