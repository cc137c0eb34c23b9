import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as Socket from "@effect/platform/Socket"
import type * as SocketServer from "@effect/platform/SocketServer"
import { describe, expect, it } from "@effect/vitest"
import * as Host from "@meridian/core/site/Host"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Net from "node:net"
import * as NodePath from "node:path"
import * as NodeHost from "../src/site/NodeHost.js"

/** An echo server: every chunk back to the sender, until the sender ends its side. */
const echo = (socket: Socket.Socket) =>
  Effect.scoped(Effect.flatMap(socket.writer, (write) => socket.run((chunk) => write(chunk))))

/** Connects with `node:net`, writes `parts`, ends, and returns all it read until the server ended. */
const talk = (port: number, parts: ReadonlyArray<string>) =>
  Effect.async<string, Error>((resume) => {
    const socket = Net.createConnection({ host: "127.0.0.1", port })
    let received = ""
    socket.on("data", (chunk) => (received += chunk.toString("utf8")))
    socket.on("end", () => resume(Effect.succeed(received)))
    socket.on("error", (error) => resume(Effect.fail(error)))
    socket.on("connect", () => {
      for (const part of parts) socket.write(part)
      socket.end()
    })
    return Effect.sync(() => socket.destroy())
  })

describe("NodeHost", () => {
  it.scopedLive("listens on a real loopback port 0, echoes a node:net client and refuses the port twice", () =>
    Effect.gen(function* () {
      const listeners = yield* Host.Listeners
      const server = yield* listeners.listen({ host: "127.0.0.1", port: 0 })
      const address = server.address as SocketServer.TcpAddress
      expect(address.port).toBeGreaterThan(0)
      yield* Effect.forkScoped(server.run(echo))
      const echoed = yield* talk(address.port, ["hello ", "over ", "tcp"])
      expect(echoed).toBe("hello over tcp")
      const twice = yield* Effect.either(listeners.listen({ host: "127.0.0.1", port: address.port }))
      expect(Either.isLeft(twice) && twice.left.reason).toBe("Open")
    }).pipe(Effect.provide(NodeHost.layer))
  )

  it.scopedLive("round-trips files in a real temporary directory, with the platform's errors", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const directory = yield* fs.makeTempDirectoryScoped({ prefix: "meridian-host-" })
      yield* fs.makeDirectory(NodePath.join(directory, "a/b"), { recursive: true })
      const file = NodePath.join(directory, "a/b/x.txt")
      yield* fs.writeFileString(file, "hello")
      yield* fs.writeFileString(file, " disk", { flag: "a" })
      expect(yield* fs.readFileString(file)).toBe("hello disk")
      const info = yield* fs.stat(file)
      expect([info.type, Number(info.size)]).toStrictEqual(["File", 10])
      expect((yield* fs.readDirectory(directory, { recursive: true })).sort()).toStrictEqual(["a", "a/b", "a/b/x.txt"])
      yield* fs.rename(file, NodePath.join(directory, "y.txt"))
      const missing = yield* Effect.either(fs.readFile(file))
      expect(Either.isLeft(missing) && missing.left._tag === "SystemError" && missing.left.reason).toBe("NotFound")
      yield* fs.remove(NodePath.join(directory, "a"), { recursive: true })
      expect(yield* fs.readDirectory(directory)).toStrictEqual(["y.txt"])
    }).pipe(Effect.provide(NodeHost.layer))
  )

  it.scopedLive("watches a real directory and reports absolute paths, Create then Remove", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const directory = yield* fs.makeTempDirectoryScoped({ prefix: "meridian-watch-" })
      const file = NodePath.join(directory, "new.txt")
      const events = yield* Effect.fork(
        fs.watch(directory).pipe(
          Stream.filter((event) => event.path === file && event._tag !== "Update"),
          Stream.changesWith((a, b) => a._tag === b._tag),
          Stream.take(2),
          Stream.runCollect
        )
      )
      yield* Effect.sleep("100 millis")
      yield* fs.writeFileString(file, "x")
      yield* Effect.sleep("100 millis")
      yield* fs.remove(file)
      const seen = yield* Fiber.join(events).pipe(Effect.timeout("10 seconds"))
      expect(Chunk.toArray(seen).map((event) => event._tag)).toStrictEqual(["Create", "Remove"])
    }).pipe(Effect.provide(NodeHost.layer))
  )

  it.scopedLive("a recursive watch reports writes to a file that a rename replaced, in a subdirectory", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const directory = yield* fs.makeTempDirectoryScoped({ prefix: "meridian-watch-" })
      yield* fs.makeDirectory(NodePath.join(directory, "docs"))
      const file = NodePath.join(directory, "docs", "report.txt")
      yield* fs.writeFileString(file, "v1")
      const updates = yield* Effect.fork(
        fs.watch(directory, { recursive: true }).pipe(
          Stream.filter((event) => event.path === file),
          Stream.take(3),
          Stream.runCollect
        )
      )
      yield* Effect.sleep("200 millis")
      // What a sync download does: a temp file renamed over the target (a new inode)...
      const temp = NodePath.join(directory, "report.part")
      yield* fs.writeFileString(temp, "v2")
      yield* fs.rename(temp, file)
      yield* Effect.sleep("200 millis")
      // ...and then the user edits the new file: fs.watch's recursive mode would miss both writes.
      yield* fs.writeFileString(file, "v3", { flag: "a" })
      yield* Effect.sleep("200 millis")
      yield* fs.writeFileString(file, "v4", { flag: "a" })
      const seen = yield* Fiber.join(updates).pipe(Effect.timeout("10 seconds"))
      expect(Chunk.size(seen)).toBe(3)
    }).pipe(Effect.provide(NodeHost.layer))
  )

  it.scopedLive("removes an empty directory without recursive, and refuses one that holds a file", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const directory = yield* fs.makeTempDirectoryScoped({ prefix: "meridian-remove-" })
      yield* fs.makeDirectory(NodePath.join(directory, "empty"))
      yield* fs.makeDirectory(NodePath.join(directory, "full"))
      yield* fs.writeFileString(NodePath.join(directory, "full", "kept.txt"), "kept")
      yield* fs.remove(NodePath.join(directory, "empty"))
      const refused = yield* Effect.flip(fs.remove(NodePath.join(directory, "full")))
      expect(refused._tag).toBe("SystemError")
      expect(yield* fs.exists(NodePath.join(directory, "empty"))).toBe(false)
      expect(yield* fs.readFileString(NodePath.join(directory, "full", "kept.txt"))).toBe("kept")
    }).pipe(Effect.provide(NodeHost.layer))
  )

  it.scopedLive("GETs from a real node:http server on port 0", () =>
    Effect.gen(function* () {
      const server = yield* Effect.acquireRelease(
        Effect.async<Http.Server>((resume) => {
          const server = Http.createServer((request, response) => {
            response.writeHead(200, { "content-type": "application/json" })
            response.end(JSON.stringify({ url: request.url, method: request.method }))
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.async<void>((resume) => {
            server.close(() => resume(Effect.void))
            server.closeAllConnections()
          })
      )
      const port = (server.address() as AddressInfo).port
      const client = yield* HttpClient.HttpClient
      const response = yield* client.get(`http://127.0.0.1:${port}/hello?x=1`)
      expect(response.status).toBe(200)
      expect(yield* response.json).toStrictEqual({ url: "/hello?x=1", method: "GET" })
      const refused = yield* Effect.either(client.get("http://127.0.0.1:1/"))
      expect(Either.isLeft(refused) && refused.left._tag === "RequestError" && refused.left.reason).toBe("Transport")
    }).pipe(Effect.provide(NodeHost.layer))
  )
})
