import { describe, expect, it } from "@effect/vitest"
import * as Conformance from "@meridian/core/transport/Conformance"
import * as Builder from "@meridian/core/topology/Builder"
import { HeartbeatFrame } from "@meridian/core/transport/Transport"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { connect } from "node:net"
import * as TcpTransport from "../src/tcp/TcpTransport.js"

const SECRET = "test-secret-0123456789"

/** Topology of two linked sites; `b` listens, `a` dials it at `bPort`. */
const topology = (bPort: number) =>
  Builder.make("pair")
    .region("r", {})
    .defaultRegion("r")
    .site("a", { region: "r", tcp: "127.0.0.1:0", http: "127.0.0.1:0" })
    .site("b", { region: "r", tcp: `127.0.0.1:${bPort}`, http: "127.0.0.1:1" })
    .link("a", "b")
    .build()

/** A connected pair over loopback on free ports. */
const pair = (secrets: { a?: string; b?: string } = {}) =>
  Effect.gen(function* () {
    const b = yield* TcpTransport.make({
      topology: yield* topology(0),
      site: "b",
      secret: secrets.b ?? SECRET,
      listen: { host: "127.0.0.1", port: 0 }
    })
    const a = yield* TcpTransport.make({
      topology: yield* topology(b.address.port),
      site: "a",
      secret: secrets.a ?? SECRET,
      listen: { host: "127.0.0.1", port: 0 }
    })
    return { a, b }
  })

const untilConnected = (t: TcpTransport.TcpTransport, peer: string) =>
  Effect.suspend(() => (t.connected().includes(peer) ? Effect.void : Effect.fail("not yet"))).pipe(
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds")))
  )

/** Writes raw bytes to a TCP port and waits until the peer closes (or a bound). */
const raw = (port: number, bytes: Uint8Array) =>
  Effect.async<void>((resume) => {
    const socket = connect({ host: "127.0.0.1", port }, () => socket.write(bytes))
    socket.on("data", () => {})
    socket.on("error", () => resume(Effect.void))
    socket.on("close", () => resume(Effect.void))
    const timer = setTimeout(() => socket.destroy(), 3000)
    socket.on("close", () => clearTimeout(timer))
  })

describe("Transport conformance: TCP", () => {
  for (const c of Conformance.cases) {
    it.live(c.name, () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { a, b } = yield* pair()
          yield* untilConnected(a, "b")
          yield* untilConnected(b, "a")
          yield* c.run({ a, b })
        })
      )
    )
  }
})

describe("TCP hello and bad input", () => {
  it.live("a wrong secret is refused on both sides and counted", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, b } = yield* pair({ a: "another-secret-0123456789" })
        yield* Effect.suspend(() => (b.stats.rejected["wrong-secret"] > 0 ? Effect.void : Effect.fail("not yet"))).pipe(
          Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds")))
        )
        expect(a.connected()).toEqual([])
        expect(b.connected()).toEqual([])
        const sent = yield* Effect.either(a.send("b", new HeartbeatFrame({ seq: 1 })))
        expect(sent._tag).toBe("Left")
      })
    )
  )

  it.live("random bytes, oversized and malformed frames close only their own connection", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, b } = yield* pair()
        yield* untilConnected(a, "b")
        const port = b.address.port
        const garbage = new Uint8Array(4096).map((_, i) => (i * 7919 + 13) % 256)
        yield* raw(port, garbage)
        const oversized = new Uint8Array(8)
        new DataView(oversized.buffer).setUint32(0, 0x7fffffff)
        yield* raw(port, oversized)
        const text = new TextEncoder().encode('{"_tag":"Hello","version":1}')
        const malformed = new Uint8Array(4 + text.length)
        new DataView(malformed.buffer).setUint32(0, text.length)
        malformed.set(text, 4)
        yield* raw(port, malformed)
        expect(b.stats.rejected["oversized-frame"]).toBeGreaterThan(0)
        expect(b.stats.rejected["malformed-frame"]).toBeGreaterThan(0)
        // The real link still carries frames.
        yield* Effect.orDie(a.send("b", new HeartbeatFrame({ seq: 42 })))
        let seen = false
        while (!seen)
          for (const { frame } of yield* b.receive) if (frame._tag === "Heartbeat" && frame.seq === 42) seen = true
        expect(a.connected()).toEqual(["b"])
      })
    )
  )
})
