/**
 * One real site in the test's process: a one-region topology on free loopback ports, the real
 * SQLite stores in a temporary data directory, the real HTTP server (`SiteNode.start`), and the
 * modules the binary runs. Tests talk to it over real sockets, as a client would.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Accounts from "@meridian/core/accounts/Accounts"
import * as Chat from "@meridian/core/chat/Chat"
import * as Files from "@meridian/core/files/Files"
import * as Ping from "@meridian/core/ping/Ping"
import * as Sync from "@meridian/core/sync/Sync"
import { Identity } from "@meridian/core/stores/Identity"
import { KeyValue } from "@meridian/core/stores/KeyValue"
import * as Loader from "@meridian/core/topology/Loader"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer, request as httpRequest } from "node:http"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SiteNode from "../../src/site/SiteNode.js"
import * as Stores from "../../src/site/Stores.js"

/** A free TCP port on loopback (bound, read, released). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/**
 * A running one-site deployment (site `n1`, region `north`) with `modules` (YAML flow, default
 * ping, files and chat), until the scope closes; answers its base URL.
 */
export const oneSite = (
  modules = "{ ping: {}, files: {}, chat: {} }",
  options: { readonly operators?: ReadonlyArray<string> } = {}
) =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "meridian-site-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    const [tcp, http] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
    const topology = yield* Loader.parse(
      [
        "name: one-site",
        "defaultRegion: north",
        "regions: { north: {} }",
        "sites:",
        `  n1: { region: north, tcp: "127.0.0.1:${tcp}", http: "127.0.0.1:${http}", modules: ${modules} }`,
        "links: []"
      ].join("\n")
    )
    const secret = "test-secret-of-one-site"
    const stores = yield* Layer.build(Stores.layer({ dataDir: dir, secret }).pipe(Layer.provide(NodeContext.layer)))
    // Operators are written into the site's data before it starts, as `account create --operator` does.
    for (const name of options.operators ?? []) {
      yield* Effect.flatMap(Identity, (identity) =>
        identity.register(name, `${name}-password-1`, ["operator", "user"], "north")
      ).pipe(
        Effect.zipLeft(Effect.flatMap(KeyValue, (kv) => Accounts.markPendingClaim(kv, name, "north"))),
        Effect.provide(stores)
      )
    }
    yield* SiteNode.start({
      topology,
      site: "n1",
      modules: [Ping.module, Chat.module, Files.module, Sync.module],
      secret,
      keepV8Defaults: true
    }).pipe(Effect.provide(stores))
    return `http://127.0.0.1:${http}`
  })

/** An answer as a client sees it. */
export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | Array<string> | undefined>>
  readonly body: string
}

/** One request with node:http (`body` sent as given: a Buffer, or a string). */
export const send = (
  url: string,
  options: { readonly method?: string; readonly headers?: Record<string, string>; readonly body?: string | Buffer } = {}
) =>
  new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? "GET", headers: options.headers ?? {} }, (res) => {
      // An event stream never ends: its answer is its head.
      if (res.statusCode === 200 && (res.headers["content-type"] ?? "").startsWith("text/event-stream")) {
        res.destroy()
        return resolve({ status: 200, headers: res.headers, body: "" })
      }
      const chunks: Array<Buffer> = []
      res.on("data", (d: Buffer) => chunks.push(d))
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() })
      )
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end(options.body)
  })

/**
 * Writes `head` then `body` on a raw socket and collects whatever comes back until the server
 * closes or `waitMillis` pass (a server may answer before it has read the body, then close). A
 * write the server refuses (the connection already closed) is not an error: what it answered is.
 */
export const raw = (port: number, head: string, body: Buffer, waitMillis = 5000) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1")
    const received: Array<Buffer> = []
    const done = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve(Buffer.concat(received).toString("latin1"))
    }
    const timer = setTimeout(done, waitMillis)
    socket.on("data", (d: Buffer) => received.push(d))
    socket.on("close", done)
    socket.on("error", (e: NodeJS.ErrnoException) =>
      e.code === "ECONNRESET" || e.code === "EPIPE" ? done() : reject(e)
    )
    socket.write(head)
    socket.write(body)
  })

/** Logs `name` in: a bearer token. */
export const loginOnly = async (base: string, name: string, password = `${name}-password-1`) => {
  const logged = await send(`${base}/v1/accounts/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, password })
  })
  if (logged.status !== 200) throw new Error(`login ${name}: ${logged.status} ${logged.body}`)
  return (JSON.parse(logged.body) as { token: string }).token
}

/** Registers `name` and logs in: a bearer token. */
export const login = async (base: string, name: string, password = `${name}-password-1`) => {
  const headers = { "content-type": "application/json" }
  const registered = await send(`${base}/v1/accounts`, {
    method: "POST",
    headers,
    body: JSON.stringify({ name, password })
  })
  if (registered.status !== 201) throw new Error(`register ${name}: ${registered.status} ${registered.body}`)
  const logged = await send(`${base}/v1/accounts/login`, {
    method: "POST",
    headers,
    body: JSON.stringify({ name, password })
  })
  if (logged.status !== 200) throw new Error(`login ${name}: ${logged.status} ${logged.body}`)
  return (JSON.parse(logged.body) as { token: string }).token
}
