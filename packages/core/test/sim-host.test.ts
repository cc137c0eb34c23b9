import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Socket from "@effect/platform/Socket"
import * as SocketServer from "@effect/platform/SocketServer"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Engine from "../src/sim/Engine.js"
import * as SimHost from "../src/sim/SimHost.js"
import * as Host from "../src/site/Host.js"

const startTime = 1_700_000_000_000
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * Runs `effect` on the simulator engine and returns its value. The engine is synchronous: a
 * promise anywhere on the way would leave the run waiting for a microtask ("deadlock").
 */
const sim = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>, seed = 7): A => {
  const result = Engine.run(Effect.scoped(effect), { seed, startTime })
  expect(result.stoppedBy).toBe("completed")
  const exit = result.exit!
  if (Exit.isFailure(exit)) throw new Error(Cause.pretty(exit.cause))
  return exit.value
}

/** The failure of `effect`, which must fail. */
const failure = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<E, never, R> =>
  Effect.flatMap(
    Effect.either(effect),
    Either.match({ onLeft: Effect.succeed, onRight: () => Effect.die("succeeded") })
  )

const systemError = (error: PlatformError.PlatformError) => {
  if (error._tag !== "SystemError") throw new Error(`not a SystemError: ${error.message}`)
  return { reason: error.reason, method: error.method, path: error.pathOrDescriptor }
}

describe("SimHost file system", () => {
  it("writes, reads, stats on the virtual clock and lists recursively", () => {
    const fs = SimHost.makeFileSystem()
    const out = sim(
      Effect.gen(function* () {
        yield* fs.makeDirectory("/data/a/b", { recursive: true })
        yield* fs.writeFileString("/data/a/b/x.txt", "hello")
        yield* fs.writeFile("/data/top.bin", new Uint8Array([1, 2, 3]))
        const first = yield* fs.stat("/data/a/b/x.txt")
        yield* Effect.sleep("90 seconds")
        yield* fs.writeFileString("/data/a/b/x.txt", " world", { flag: "a" })
        const second = yield* fs.stat("/data/a/b/x.txt")
        return {
          text: yield* fs.readFileString("/data/a/b/x.txt"),
          bytes: Array.from(yield* fs.readFile("/data/top.bin")),
          first: { type: first.type, size: Number(first.size), mtime: Option.getOrThrow(first.mtime).getTime() },
          second: { size: Number(second.size), mtime: Option.getOrThrow(second.mtime).getTime() },
          dir: (yield* fs.stat("/data/a")).type,
          flat: yield* fs.readDirectory("/data"),
          deep: yield* fs.readDirectory("/data", { recursive: true }),
          exists: [yield* fs.exists("/data/top.bin"), yield* fs.exists("/data/nope")]
        }
      })
    )
    expect(out).toStrictEqual({
      text: "hello world",
      bytes: [1, 2, 3],
      first: { type: "File", size: 5, mtime: startTime },
      second: { size: 11, mtime: startTime + 90_000 },
      dir: "Directory",
      flat: ["a", "top.bin"],
      deep: ["a", "top.bin", "a/b", "a/b/x.txt"],
      exists: [true, false]
    })
  })

  it("renames, copies, removes, truncates and fails the way NodeHost's file system does", () => {
    const fs = SimHost.makeFileSystem()
    const out = sim(
      Effect.gen(function* () {
        yield* fs.makeDirectory("/d/sub", { recursive: true })
        yield* fs.writeFileString("/d/x", "abcdef")
        yield* fs.rename("/d/x", "/d/sub/y")
        yield* fs.copyFile("/d/sub/y", "/d/z")
        yield* fs.truncate("/d/z", 2)
        const moved = yield* fs.readFileString("/d/sub/y")
        const truncated = yield* fs.readFileString("/d/z")
        const errors = {
          readMissing: systemError(yield* failure(fs.readFile("/d/x"))),
          statMissing: systemError(yield* failure(fs.stat("/nope/deeper"))),
          readDirectory: systemError(yield* failure(fs.readFile("/d"))),
          mkdirExisting: systemError(yield* failure(fs.makeDirectory("/d"))),
          mkdirNoParent: systemError(yield* failure(fs.makeDirectory("/q/r"))),
          exclusive: systemError(yield* failure(fs.writeFileString("/d/z", "x", { flag: "wx" }))),
          removeDirectory: systemError(yield* failure(fs.remove("/d"))),
          renameMissing: systemError(yield* failure(fs.rename("/d/none", "/d/other"))),
          listFile: systemError(yield* failure(fs.readDirectory("/d/z")))
        }
        yield* fs.remove("/d/missing", { force: true })
        yield* fs.makeDirectory("/d/empty")
        yield* fs.remove("/d/empty")
        const emptyGone = !(yield* fs.exists("/d/empty"))
        yield* fs.remove("/d", { recursive: true })
        return { moved, truncated, errors, emptyGone, gone: yield* fs.exists("/d"), root: yield* fs.readDirectory("/") }
      })
    )
    expect(out.moved).toBe("abcdef")
    expect(out.truncated).toBe("ab")
    expect(out.errors).toStrictEqual({
      readMissing: { reason: "NotFound", method: "readFile", path: "/d/x" },
      statMissing: { reason: "NotFound", method: "stat", path: "/nope/deeper" },
      readDirectory: { reason: "BadResource", method: "readFile", path: "/d" },
      mkdirExisting: { reason: "AlreadyExists", method: "makeDirectory", path: "/d" },
      mkdirNoParent: { reason: "NotFound", method: "makeDirectory", path: "/q" },
      exclusive: { reason: "AlreadyExists", method: "writeFile", path: "/d/z" },
      removeDirectory: { reason: "Unknown", method: "remove", path: "/d" },
      renameMissing: { reason: "NotFound", method: "rename", path: "/d/none" },
      listFile: { reason: "BadResource", method: "readDirectory", path: "/d/z" }
    })
    expect(out.emptyGone).toBe(true)
    expect(out.gone).toBe(false)
    expect(out.root).toStrictEqual(["tmp"])
  })

  it("opens files for partial reads and writes, and streams them in chunks", () => {
    const fs = SimHost.makeFileSystem()
    const out = sim(
      Effect.gen(function* () {
        const file = yield* fs.open("/f.bin", { flag: "w+" })
        yield* file.writeAll(encoder.encode("abcdef"))
        yield* file.seek(2, "start")
        const buffer = new Uint8Array(3)
        const read = Number(yield* file.read(buffer))
        yield* file.seek(1, "current")
        yield* file.write(encoder.encode("XY"))
        const atEnd = yield* file.readAlloc(10)
        const size = Number((yield* file.stat).size)
        const closed = yield* Effect.scoped(
          Effect.gen(function* () {
            const inner = yield* fs.open("/f.bin", { flag: "r" })
            return inner
          })
        )
        const afterClose = systemError(yield* failure(closed.readAlloc(1)))
        const readOnly = yield* Effect.scoped(
          Effect.flatMap(fs.open("/f.bin"), (f) => failure(f.write(new Uint8Array([1]))))
        )
        const chunks = yield* Stream.runCollect(fs.stream("/f.bin", { chunkSize: 3 }))
        yield* Stream.run(Stream.make(encoder.encode("si"), encoder.encode("nk")), fs.sink("/sink.txt"))
        return {
          read,
          buffer: decoder.decode(buffer),
          atEnd: Option.isNone(atEnd),
          size,
          content: yield* fs.readFileString("/f.bin"),
          afterClose: afterClose.reason,
          readOnly: systemError(readOnly).reason,
          chunks: Chunk.toArray(chunks).map((chunk) => decoder.decode(chunk)),
          sink: yield* fs.readFileString("/sink.txt")
        }
      })
    )
    expect(out).toStrictEqual({
      read: 3,
      buffer: "cde",
      atEnd: true,
      size: 8,
      content: "abcdefXY",
      afterClose: "Unknown",
      readOnly: "Unknown",
      chunks: ["abc", "def", "XY"],
      sink: "sink"
    })
  })

  it("watches: one event per change, in order, recursive or direct children only", () => {
    const fs = SimHost.makeFileSystem()
    const out = sim(
      Effect.gen(function* () {
        yield* fs.makeDirectory("/w")
        const deep = yield* Effect.fork(Stream.runCollect(Stream.take(fs.watch("/w", { recursive: true }), 10)))
        const flat = yield* Effect.fork(Stream.runCollect(Stream.take(fs.watch("/w"), 6)))
        yield* Effect.sleep(1)
        yield* fs.writeFileString("/w/a", "1")
        yield* fs.writeFileString("/w/a", "2")
        yield* fs.makeDirectory("/w/d")
        yield* fs.writeFileString("/w/d/b", "3")
        yield* fs.rename("/w/a", "/w/d/c")
        yield* fs.writeFileString("/elsewhere", "not watched")
        yield* fs.remove("/w/d", { recursive: true })
        yield* fs.writeFileString("/w/e", "4")
        const deepEvents = yield* Fiber.join(deep)
        const flatEvents = yield* Fiber.join(flat)
        const file = yield* Effect.fork(Stream.runCollect(Stream.take(fs.watch("/w/e"), 3)))
        yield* Effect.sleep(1)
        yield* fs.writeFileString("/w/other", "not this file")
        yield* Effect.scoped(
          Effect.flatMap(fs.open("/w/e", { flag: "a" }), (handle) => handle.writeAll(encoder.encode("5")))
        )
        yield* fs.truncate("/w/e")
        yield* fs.remove("/w/e")
        const show = (events: Chunk.Chunk<FileSystem.WatchEvent>) =>
          Chunk.toArray(events).map((event) => `${event._tag} ${event.path}`)
        return {
          deep: show(deepEvents),
          flat: show(flatEvents),
          file: show(yield* Fiber.join(file))
        }
      })
    )
    expect(out.deep).toStrictEqual([
      "Create /w/a",
      "Update /w/a",
      "Create /w/d",
      "Create /w/d/b",
      "Remove /w/a",
      "Create /w/d/c",
      "Remove /w/d/b",
      "Remove /w/d/c",
      "Remove /w/d",
      "Create /w/e"
    ])
    expect(out.flat).toStrictEqual([
      "Create /w/a",
      "Update /w/a",
      "Create /w/d",
      "Remove /w/a",
      "Remove /w/d",
      "Create /w/e"
    ])
    expect(out.file).toStrictEqual(["Update /w/e", "Update /w/e", "Remove /w/e"])
  })

  it("fails a watch stream that overflows its queue after the events it held, and a watch of nothing", () => {
    const fs = SimHost.makeFileSystem({ watchQueueCapacity: 2 })
    const out = sim(
      Effect.gen(function* () {
        const watching = yield* Effect.fork(Stream.runCollect(Stream.either(fs.watch("/"))))
        yield* Effect.sleep(1)
        // Three changes without yielding: the consumer cannot take any in between.
        yield* Effect.all([fs.writeFileString("/1", ""), fs.writeFileString("/2", ""), fs.writeFileString("/3", "")])
        const events = Chunk.toArray(yield* Fiber.join(watching))
        const missing = yield* failure(Stream.runDrain(fs.watch("/missing")))
        return { events, missing: systemError(missing).reason }
      })
    )
    expect(out.events.slice(0, 2)).toStrictEqual([
      Either.right(FileSystem.WatchEventCreate({ path: "/1" })),
      Either.right(FileSystem.WatchEventCreate({ path: "/2" }))
    ])
    expect(out.events).toHaveLength(3)
    const overflow = out.events[2]
    expect(Either.isLeft(overflow) && overflow.left._tag === "SystemError" && overflow.left.description).toMatch(
      /overflow: more than 2 events/
    )
    expect(out.missing).toBe("NotFound")
  })

  it("bounds its disk, names temporary directories from the seeded Random and removes scoped ones", () => {
    const run = () => {
      const fs = SimHost.makeFileSystem({ capacityBytes: 10 })
      return sim(
        Effect.gen(function* () {
          const full = yield* failure(fs.writeFile("/big", new Uint8Array(11)))
          yield* fs.writeFile("/fits", new Uint8Array(10))
          yield* fs.remove("/fits")
          yield* fs.writeFile("/fits-again", new Uint8Array(10))
          const scoped = yield* Effect.scoped(
            Effect.gen(function* () {
              const directory = yield* fs.makeTempDirectoryScoped({ prefix: "job-" })
              return { directory, existed: yield* fs.exists(directory) }
            })
          )
          const file = yield* fs.makeTempFile({ suffix: ".txt" })
          return {
            file,
            fileSize: Number((yield* fs.stat(file)).size),
            full: full._tag === "SystemError" ? full.description : undefined,
            ...scoped,
            after: yield* fs.exists(scoped.directory)
          }
        })
      )
    }
    const first = run()
    expect(first.full).toMatch(/^ENOSPC/)
    expect(first.directory).toMatch(/^\/tmp\/job-[A-Za-z0-9]{6}$/)
    expect(first.existed).toBe(true)
    expect(first.after).toBe(false)
    expect(first.file).toMatch(/^\/tmp\/[A-Za-z0-9]{6}\/[A-Za-z0-9]{12}\.txt$/)
    expect(first.fileSize).toBe(0)
    expect(run().directory).toBe(first.directory)
  })

  it("keeps its files across the scopes of a site's restarts", () => {
    const fs = SimHost.makeFileSystem()
    const network = SimHost.makeNetwork()
    const siteLayer = SimHost.layer({ network, host: "10.0.0.1", fileSystem: fs })
    const incarnation = (n: number) =>
      Effect.scoped(
        Effect.gen(function* () {
          const files = yield* FileSystem.FileSystem
          const before = yield* files.readDirectory("/")
          yield* files.writeFileString(`/boot-${n}`, "")
          return before
        })
      ).pipe(Effect.provide(siteLayer))
    const out = sim(Effect.all([incarnation(1), incarnation(2)]))
    expect(out).toStrictEqual([["tmp"], ["boot-1", "tmp"]])
  })
})

describe("SimHost listeners", () => {
  /** An echo server: every chunk back to the sender; the handler ends when the client ends its side. */
  const echo = (socket: Socket.Socket) =>
    Effect.scoped(Effect.flatMap(socket.writer, (write) => socket.run((chunk) => write(chunk))))

  it("connects, echoes bytes both ways in order with backpressure, and propagates the close", () => {
    const network = SimHost.makeNetwork({ socketQueueCapacity: 2 })
    const site = network.listeners("10.0.0.1")
    const out = sim(
      Effect.gen(function* () {
        const server = yield* site.listen({ host: "0.0.0.0", port: 0 })
        yield* Effect.forkScoped(server.run(echo))
        const address = server.address as SocketServer.TcpAddress
        const socket = yield* network.connect({ host: "10.0.0.1", port: address.port })
        const received: Array<string> = []
        const reading = yield* Effect.fork(socket.run((chunk) => void received.push(decoder.decode(chunk))))
        yield* Effect.scoped(
          Effect.gen(function* () {
            const write = yield* socket.writer
            for (let i = 0; i < 20; i++) yield* write(`${i},`)
          })
        )
        // Ending the client's side ends the server's handler, which closes its side: the run ends.
        yield* Fiber.join(reading)
        return { address, text: received.join("") }
      })
    )
    expect(out.address).toStrictEqual({ _tag: "TcpAddress", hostname: "0.0.0.0", port: 49152 })
    expect(out.text).toBe(Array.from({ length: 20 }, (_, i) => `${i},`).join(""))
  })

  it("refuses a second listen on a bound port, and connections once the listener's scope is closed", () => {
    const network = SimHost.makeNetwork()
    const site = network.listeners("10.0.0.1")
    const out = sim(
      Effect.gen(function* () {
        const port = yield* Effect.scoped(
          Effect.gen(function* () {
            const server = yield* site.listen({ host: "10.0.0.1", port: 7547 })
            const inUse = yield* failure(site.listen({ host: "0.0.0.0", port: 7547 }))
            const loopback = yield* Effect.scoped(site.connect({ host: "127.0.0.1", port: 7547 }))
            return {
              port: (server.address as SocketServer.TcpAddress).port,
              inUse,
              loopback: Socket.isSocket(loopback)
            }
          })
        )
        const refused = yield* failure(Effect.scoped(network.connect({ host: "10.0.0.1", port: 7547 })))
        const relisten = yield* Effect.scoped(site.listen({ host: "10.0.0.1", port: 7547 }))
        return { ...port, refused, relisten: (relisten.address as SocketServer.TcpAddress).port }
      })
    )
    expect(out.port).toBe(7547)
    expect(out.inUse).toBeInstanceOf(SocketServer.SocketServerError)
    expect(out.inUse.reason).toBe("Open")
    expect(out.inUse.cause).toBeInstanceOf(SimHost.AddressInUse)
    expect(out.loopback).toBe(true)
    expect(out.refused.reason).toBe("Open")
    expect(out.refused._tag === "SocketError" && "cause" in out.refused && out.refused.cause).toBeInstanceOf(
      SimHost.ConnectionRefused
    )
    expect(out.relisten).toBe(7547)
  })

  it("closes with a CloseEvent: this side's run fails with its code, the other side's run ends", () => {
    const network = SimHost.makeNetwork()
    const out = sim(
      Effect.gen(function* () {
        const server = yield* network.listeners("10.0.0.1").listen({ host: "10.0.0.1", port: 23 })
        const serverSaw: Array<string> = []
        yield* Effect.forkScoped(
          server.run((socket) =>
            socket
              .run((chunk) => void serverSaw.push(decoder.decode(chunk)))
              .pipe(Effect.tap(() => serverSaw.push("<end>")))
          )
        )
        const socket = yield* network.connect({ host: "10.0.0.1", port: 23 })
        const reading = yield* Effect.fork(Effect.exit(socket.run(() => {})))
        const write = yield* socket.writer
        yield* write("last words")
        yield* write(new Socket.CloseEvent(4000, "bye"))
        const exit = yield* Fiber.join(reading)
        const afterClose = yield* failure(write("too late"))
        yield* Effect.sleep(1)
        return { exit, serverSaw, afterClose }
      })
    )
    expect(Exit.isFailure(out.exit)).toBe(true)
    const error = Exit.isFailure(out.exit) ? Cause.failureOption(out.exit.cause) : Option.none()
    expect(Option.map(error, (e) => Socket.SocketCloseError.is(e) && e.code)).toStrictEqual(Option.some(4000))
    expect(out.serverSaw).toStrictEqual(["last words", "<end>"])
    expect(out.afterClose.reason).toBe("Write")
  })

  it("serves the listeners of a site's Host layer", () => {
    const network = SimHost.makeNetwork()
    const siteLayer = SimHost.layer({ network, host: "10.0.0.9", fileSystem: SimHost.makeFileSystem() })
    const out = sim(
      Effect.gen(function* () {
        const listeners = yield* Host.Listeners
        const server = yield* listeners.listen({ host: "0.0.0.0", port: 0 })
        yield* Effect.forkScoped(server.run(echo))
        const socket = yield* network.connect({
          host: "10.0.0.9",
          port: (server.address as SocketServer.TcpAddress).port
        })
        const received: Array<Uint8Array> = []
        const reading = yield* Effect.fork(socket.run((chunk) => void received.push(chunk)))
        yield* Effect.scoped(Effect.flatMap(socket.writer, (write) => write(new Uint8Array([0, 255, 7]))))
        yield* Fiber.join(reading)
        return received.flatMap((chunk) => Array.from(chunk))
      }).pipe(Effect.provide(siteLayer))
    )
    expect(out).toStrictEqual([0, 255, 7])
  })
})

describe("SimHost HTTP client", () => {
  const routes = HttpLayerRouter.addAll([
    HttpLayerRouter.route("POST", "/echo", (request) =>
      Effect.gen(function* () {
        const body = yield* request.json
        return HttpServerResponse.unsafeJson(
          {
            body,
            method: request.method,
            url: request.url,
            host: request.headers.host,
            type: request.headers["content-type"],
            from: Option.getOrNull(request.remoteAddress)
          },
          { status: 201 }
        )
      })
    ),
    HttpLayerRouter.route("PUT", "/count", (request) =>
      Effect.gen(function* () {
        const sizes = yield* Stream.runCollect(Stream.map(request.stream, (chunk) => chunk.length))
        const text = Stream.make(
          "got ",
          `${Chunk.size(sizes)} chunks`,
          ` of ${Chunk.join(Chunk.map(sizes, String), "+")}`
        )
        return HttpServerResponse.stream(Stream.encodeText(text), { contentType: "text/plain" })
      })
    ),
    HttpLayerRouter.route("GET", "/fail", Effect.die("boom"))
  ])

  /** Serves `routes` at api.sim:8080 for the scope. */
  const serveRoutes = (network: SimHost.HostNetwork) =>
    Effect.gen(function* () {
      const app = yield* HttpLayerRouter.toHttpEffect(routes)
      return yield* network.serve({ host: "api.sim", port: 8080 }, app)
    })

  it("routes a JSON request to the app served at its address", () => {
    const network = SimHost.makeNetwork()
    const out = sim(
      Effect.gen(function* () {
        yield* serveRoutes(network)
        const client = network.httpClient("10.0.0.2")
        const response = yield* client.post("http://api.sim:8080/echo?x=1", {
          body: HttpBody.unsafeJson({ a: [1, 2] })
        })
        const missing = yield* client.get("http://api.sim:8080/nowhere")
        const failed = yield* client.get("http://api.sim:8080/fail")
        return { status: response.status, json: yield* response.json, missing: missing.status, failed: failed.status }
      })
    )
    expect(out).toStrictEqual({
      status: 201,
      json: {
        body: { a: [1, 2] },
        method: "POST",
        url: "/echo?x=1",
        host: "api.sim:8080",
        type: "application/json",
        from: "10.0.0.2"
      },
      missing: 404,
      failed: 500
    })
  })

  it("streams a request body to the server and a response body back, without buffering either whole", () => {
    const network = SimHost.makeNetwork()
    const out = sim(
      Effect.gen(function* () {
        yield* serveRoutes(network)
        const client = network.httpClient()
        const body = HttpBody.stream(Stream.make(encoder.encode("abc"), encoder.encode("de"), encoder.encode("f")))
        const response = yield* client.put("http://api.sim:8080/count", { body })
        const chunks = yield* Stream.runCollect(Stream.decodeText(response.stream))
        const again = yield* client.put("http://api.sim:8080/count", { body })
        return {
          status: response.status,
          type: response.headers["content-type"],
          chunks: Chunk.toArray(chunks),
          text: yield* again.text
        }
      })
    )
    expect(out).toStrictEqual({
      status: 200,
      type: "text/plain",
      chunks: ["got ", "3 chunks", " of 3+2+1"],
      text: "got 3 chunks of 3+2+1"
    })
  })

  it("fails with RequestError Transport for an address nothing serves, or that stopped serving", () => {
    const network = SimHost.makeNetwork()
    const siteLayer = SimHost.layer({ network, host: "10.0.0.3", fileSystem: SimHost.makeFileSystem() })
    const out = sim(
      Effect.gen(function* () {
        const client = yield* HttpClient.HttpClient
        const unknown = yield* failure(client.get("http://nowhere.sim:9/x"))
        yield* Effect.scoped(serveRoutes(network))
        const stopped = yield* failure(client.get("http://api.sim:8080/echo"))
        return { unknown, stopped }
      }).pipe(Effect.provide(siteLayer))
    )
    for (const error of [out.unknown, out.stopped]) {
      expect(error).toBeInstanceOf(HttpClientError.RequestError)
      expect(error._tag === "RequestError" && error.reason).toBe("Transport")
    }
    expect(out.unknown.message).toContain("no simulated HTTP server at nowhere.sim:9")
  })

  it("gives the app the server's request scope and HttpServerRequest", () => {
    const network = SimHost.makeNetwork()
    const out = sim(
      Effect.gen(function* () {
        yield* network.serve(
          { host: "h.sim", port: 0 },
          Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
            HttpServerResponse.text(`${request.method} ${request.url} ${request.cookies.session ?? "-"}`)
          )
        )
        const response = yield* network
          .httpClient()
          .get("http://h.sim:49152/a/b?c=d", { headers: { cookie: "session=s1; other=2" } })
        return yield* response.text
      })
    )
    expect(out).toBe("GET /a/b?c=d s1")
  })
})
