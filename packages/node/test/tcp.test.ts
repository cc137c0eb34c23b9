import { describe, expect, it } from "@effect/vitest"
import { Address } from "@meridian/core/kernel/Address"
import { Envelope, TraceContext } from "@meridian/core/kernel/Envelope"
import * as Conformance from "@meridian/core/transport/Conformance"
import * as Builder from "@meridian/core/topology/Builder"
import {
  AckFrame,
  decodeFrame,
  frameJson,
  encodeFrame,
  EnvelopeFrame,
  Frame,
  HeartbeatFrame,
  LinkStateFrame
} from "@meridian/core/transport/Transport"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { connect } from "node:net"
import * as BinaryEnvelope from "../src/tcp/BinaryEnvelope.js"
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

/**
 * A connection replayed at `to` claiming to be `claiming`: a second transport of that site (with
 * the right secret) dials, completes its hello, and closes.
 */
const replayAt = (to: TcpTransport.TcpTransport, claiming: "a") =>
  Effect.scoped(
    Effect.gen(function* () {
      const twin = yield* TcpTransport.make({
        topology: yield* topology(to.address.port),
        site: claiming,
        secret: SECRET,
        listen: { host: "127.0.0.1", port: 0 }
      })
      yield* untilConnected(twin, to.site)
    })
  ).pipe(Effect.orDie)

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

describe("Frame wire codec", () => {
  const envelope = (extra: Partial<ConstructorParameters<typeof Envelope>[0]>) =>
    new Envelope({
      version: 1,
      id: "a-1-x",
      from: new Address({ site: "a", actor: "system" }),
      to: new Address({ site: "b", actor: "echo" }),
      kind: "ask",
      hops: 1,
      durable: false,
      payload: { _tag: "Echo", text: "héllo ✓", n: [1, 2, { x: null }] },
      ...extra
    })
  const frames: ReadonlyArray<Frame> = [
    new EnvelopeFrame({ envelope: envelope({}) }),
    new EnvelopeFrame({
      envelope: envelope({
        correlationId: "a-0-y",
        deadline: 1_700_000_000_123.5,
        trace: new TraceContext({ traceId: "t1", spanId: "s1" })
      })
    }),
    new AckFrame({ from: "b", to: "a", ids: ["a-1-x", "a-2-x"], hops: 2 }),
    new HeartbeatFrame({ seq: 7 }),
    new LinkStateFrame({ origin: "c", seq: 1_700_000_000_000_000, up: ["a", "b"] })
  ]
  const schemaEncode = Schema.encodeSync(Frame)
  const schemaDecode = Schema.decodeUnknownEither(Frame)
  const ownProperties = (value: object): unknown =>
    Object.fromEntries(
      Reflect.ownKeys(value).map((key) => {
        const v = (value as Record<string | symbol, unknown>)[key]
        return [key, typeof v === "object" && v !== null ? [Object.getPrototypeOf(v), ownProperties(v)] : v]
      })
    )

  it("encodes every frame kind to the JSON of its Schema encoding", () => {
    for (const frame of frames) {
      expect(JSON.stringify(encodeFrame(frame))).toBe(JSON.stringify(schemaEncode(frame)))
      expect(frameJson(frame)).toBe(JSON.stringify(schemaEncode(frame)))
    }
  })

  it("decodes every frame kind to what Schema.decode(Frame) builds", () => {
    for (const frame of frames) {
      const wire = JSON.parse(JSON.stringify(encodeFrame(frame))) as unknown
      const ours = decodeFrame(wire)
      const theirs = schemaDecode(wire)
      if (Either.isLeft(ours) || Either.isLeft(theirs)) throw new Error(`${frame._tag} did not decode`)
      expect(Object.getPrototypeOf(ours.right)).toBe(Object.getPrototypeOf(theirs.right))
      expect(ownProperties(ours.right)).toEqual(ownProperties(theirs.right))
      expect(JSON.stringify(ours.right)).toBe(JSON.stringify(theirs.right))
    }
  })

  it("rejects what Schema.decode(Frame) rejects, and drops unknown properties as it does", () => {
    const good = JSON.parse(JSON.stringify(encodeFrame(frames[1]!))) as { envelope: Record<string, unknown> }
    const bad: ReadonlyArray<unknown> = [
      null,
      "text",
      { _tag: "Nope" },
      { ...good, envelope: { ...good.envelope, id: "has space" } },
      { ...good, envelope: { ...good.envelope, hops: -1 } },
      { ...good, envelope: { ...good.envelope, hops: 1.5 } },
      { ...good, envelope: { ...good.envelope, kind: "shout" } },
      { ...good, envelope: { ...good.envelope, from: { site: "bad site", actor: "x" } } },
      { ...good, envelope: { ...good.envelope, to: "b" } },
      { ...good, envelope: { ...good.envelope, trace: { traceId: 1, spanId: "s" } } },
      { ...good, envelope: { ...good.envelope, durable: undefined } },
      { _tag: "Ack", from: "b", to: "a", ids: Array.from({ length: 1025 }, () => "x"), hops: 0 },
      { _tag: "Heartbeat", seq: "1" },
      { _tag: "LinkState", origin: "c", seq: 1, up: ["ok", "not ok"] }
    ]
    for (const input of bad) {
      expect(Either.isLeft(schemaDecode(input))).toBe(true)
      expect(Either.isLeft(decodeFrame(input))).toBe(true)
    }
    const extra = {
      ...good,
      extra: 1,
      envelope: { ...good.envelope, extra: 2, from: { site: "a", actor: "x", more: 3 } }
    }
    const ours = decodeFrame(extra)
    const theirs = schemaDecode(extra)
    if (Either.isLeft(ours) || Either.isLeft(theirs)) throw new Error("did not decode")
    expect(ownProperties(ours.right)).toEqual(ownProperties(theirs.right))
  })
})

describe("decodeFrame on envelope frames", () => {
  // Every field of a good envelope frame replaced by values of every kind, one field at a time
  // and several at once: decodeFrame must accept exactly what Schema.decode(Frame) accepts and
  // build the same frame.
  const schemaDecode = Schema.decodeUnknownEither(Frame)
  const values: ReadonlyArray<unknown> = [
    undefined,
    null,
    0,
    -1,
    1.5,
    2 ** 60,
    Number.NaN,
    "",
    "a",
    "has space",
    "x".repeat(129),
    "ok-id_1.2:3",
    true,
    false,
    [],
    ["a"],
    {},
    { site: "a", actor: "b" },
    { site: "a b", actor: "b" },
    { traceId: "t", spanId: "s" },
    { traceId: 1, spanId: "s" },
    "tell",
    "ask",
    "reply",
    "Envelope"
  ]
  const fields = [
    "version",
    "id",
    "from",
    "to",
    "kind",
    "correlationId",
    "deadline",
    "hops",
    "durable",
    "trace",
    "payload"
  ]
  const good = {
    _tag: "Envelope",
    envelope: {
      version: 1,
      id: "a-1-x",
      from: { site: "a", actor: "sender" },
      to: { site: "b", actor: "receiver" },
      kind: "ask",
      correlationId: "a-0-y",
      deadline: 1_700_000_000_123.5,
      hops: 0,
      durable: false,
      trace: { traceId: "t1", spanId: "s1" },
      payload: { _tag: "Echo", text: "x" }
    }
  }
  const same = (input: unknown) => {
    const ours = decodeFrame(input)
    const theirs = schemaDecode(input)
    expect(Either.isRight(ours)).toBe(Either.isRight(theirs))
    if (Either.isRight(ours) && Either.isRight(theirs)) {
      expect(Object.getPrototypeOf(ours.right)).toBe(Object.getPrototypeOf(theirs.right))
      expect(JSON.stringify(ours.right)).toBe(JSON.stringify(theirs.right))
      if (ours.right._tag === "Envelope" && theirs.right._tag === "Envelope") {
        expect(Object.getPrototypeOf(ours.right.envelope)).toBe(Object.getPrototypeOf(theirs.right.envelope))
        expect(Object.getPrototypeOf(ours.right.envelope.from)).toBe(Object.getPrototypeOf(theirs.right.envelope.from))
      }
    }
  }

  it("accepts and builds exactly what Schema.decode(Frame) does, field by field", () => {
    same(good)
    for (const field of fields) {
      const without: Record<string, unknown> = { ...good.envelope }
      delete without[field]
      same({ ...good, envelope: without })
      for (const value of values) same({ ...good, envelope: { ...good.envelope, [field]: value } })
    }
    for (const value of values) {
      same({ ...good, envelope: value })
      same({ ...good, _tag: value })
    }
  })

  it("agrees with Schema.decode(Frame) on random combinations", () => {
    let seed = 42
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed / 2 ** 31
    }
    for (let i = 0; i < 5_000; i++) {
      const envelope: Record<string, unknown> = { ...good.envelope }
      for (const field of fields) {
        const roll = next()
        if (roll < 0.1) delete envelope[field]
        else if (roll < 0.3) envelope[field] = values[Math.floor(next() * values.length)]
      }
      same({ ...good, envelope })
    }
  })
})

describe("binary envelope frames", () => {
  const schemaDecode = Schema.decodeUnknownEither(Frame)
  const envelopeOf = (fields: Partial<ConstructorParameters<typeof Envelope>[0]>) =>
    new EnvelopeFrame({
      envelope: new Envelope({
        version: 1,
        id: "a-1-x",
        from: new Address({ site: "a", actor: "system" }),
        to: new Address({ site: "b", actor: "echo" }),
        kind: "ask",
        hops: 0,
        durable: false,
        payload: { _tag: "Echo", text: "héllo ✓", n: [1, 2.5, { x: null }] },
        ...fields
      })
    })
  const binary = (frame: EnvelopeFrame): Buffer => {
    const plan = BinaryEnvelope.plan(frame)
    if (plan === undefined) throw new Error("no binary form")
    const out = Buffer.alloc(plan.size)
    expect(BinaryEnvelope.write(out, 0, plan)).toBe(plan.size)
    return out
  }
  /** What the JSON form of `frame` decodes to on the receiving side. */
  const viaJson = (frame: EnvelopeFrame) => {
    const decoded = decodeFrame(JSON.parse(frameJson(frame)))
    if (Either.isLeft(decoded)) throw new Error("JSON form did not decode")
    return decoded.right
  }
  const sameFrame = (ours: unknown, theirs: unknown) => {
    expect(Object.getPrototypeOf(ours)).toBe(Object.getPrototypeOf(theirs))
    expect(JSON.stringify(ours)).toBe(JSON.stringify(theirs))
    const a = (ours as EnvelopeFrame).envelope
    const b = (theirs as EnvelopeFrame).envelope
    expect(Object.keys(a)).toEqual(Object.keys(b))
    expect(Object.getPrototypeOf(a)).toBe(Object.getPrototypeOf(b))
    expect(Object.getPrototypeOf(a.from)).toBe(Object.getPrototypeOf(b.from))
    expect(Object.getPrototypeOf(a.to)).toBe(Object.getPrototypeOf(b.to))
    if (b.trace !== undefined) expect(Object.getPrototypeOf(a.trace)).toBe(Object.getPrototypeOf(b.trace))
  }

  it("reads back as the frame the JSON form decodes to, for every shape of envelope", () => {
    const shapes: ReadonlyArray<EnvelopeFrame> = [
      envelopeOf({}),
      envelopeOf({ kind: "tell", durable: true, hops: 7 }),
      envelopeOf({ kind: "reply", correlationId: "a-0-y", payload: { _tag: "Success", value: null } }),
      envelopeOf({ correlationId: "a-0-y", deadline: 1_700_000_000_123.5 }),
      envelopeOf({ deadline: -0.25, trace: new TraceContext({ traceId: "t1", spanId: "s1" }) }),
      envelopeOf({ version: 255, hops: 0xffffffff, id: "x".repeat(128), payload: "just a string" }),
      envelopeOf({ from: new Address({ site: "s".repeat(128), actor: "A.b_c:d-9" }), payload: 0 })
    ]
    for (const frame of shapes) {
      const bytes = binary(frame)
      expect(bytes[0]).toBe(BinaryEnvelope.BINARY_ENVELOPE)
      const ours = BinaryEnvelope.read(bytes, 0, bytes.length)
      sameFrame(ours, viaJson(frame))
      // And what the Schema builds from the same envelope.
      const theirs = schemaDecode(Schema.encodeSync(Frame)(frame))
      if (Either.isLeft(theirs)) throw new Error("did not decode")
      sameFrame(ours, theirs.right)
    }
  })

  it("leaves to the JSON form what it cannot hold", () => {
    for (const fields of [
      { correlationId: "has space" },
      { correlationId: "ünïcode" },
      { correlationId: "x".repeat(256) },
      { trace: new TraceContext({ traceId: "t ✓", spanId: "s" }) },
      { version: 256 },
      { hops: 2 ** 32 },
      { deadline: Number.NaN },
      { deadline: Number.POSITIVE_INFINITY }
    ]) {
      expect(BinaryEnvelope.plan(envelopeOf(fields))).toBeUndefined()
    }
    expect(() => BinaryEnvelope.plan(envelopeOf({ payload: { n: BigInt(1) } }))).toThrow()
  })

  it("rejects malformed bytes without throwing, and whatever it accepts is a valid frame", () => {
    const good = binary(envelopeOf({ correlationId: "a-0-y", deadline: 1_700_000_000_123.5 }))
    // Every truncation short of the payload, and a bad value in each header byte.
    for (let length = 0; length < good.length - 20; length++) {
      expect(BinaryEnvelope.read(good, 0, length)).toBeUndefined()
    }
    const withByte = (at: number, value: number) => {
      const copy = Buffer.from(good)
      copy[at] = value
      return BinaryEnvelope.read(copy, 0, copy.length)
    }
    expect(withByte(0, 0x7b)).toBeUndefined() // not the marker
    expect(withByte(2, 3)).toBeUndefined() // no such kind
    expect(withByte(3, 16)).toBeUndefined() // unknown flag
    expect(withByte(16, 0x20)).toBeUndefined() // a space in the id
    expect(withByte(good.length - 1, 0x2c)).toBeUndefined() // payload not JSON
    // Random mutations: never a throw; an accepted frame passes the Schema.
    let seed = 7
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed / 2 ** 31
    }
    for (let i = 0; i < 5_000; i++) {
      const copy = Buffer.from(good)
      const flips = 1 + Math.floor(next() * 4)
      for (let j = 0; j < flips; j++) copy[1 + Math.floor(next() * (copy.length - 1))] = Math.floor(next() * 256)
      const end = next() < 0.2 ? Math.floor(next() * copy.length) : copy.length
      const read = BinaryEnvelope.read(copy, 0, end)
      if (read !== undefined) expect(Either.isRight(schemaDecode(Schema.encodeSync(Frame)(read)))).toBe(true)
    }
  })
})

describe("Transport conformance: TCP", () => {
  for (const c of Conformance.cases) {
    it.live(c.name, () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { a, b } = yield* pair()
          yield* untilConnected(a, "b")
          yield* untilConnected(b, "a")
          yield* c.run({ a, b, replay: replayAt(b, "a") })
        })
      )
    )
  }
})

describe("TCP hello and bad input", () => {
  it.live("one connection per link: a replayed connection closes the older one, and both ends use the new", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, b } = yield* pair()
        yield* untilConnected(a, "b")
        yield* untilConnected(b, "a")
        yield* replayAt(b, "a")
        // The older connection was closed, not left half-used: a dials again, and b's frames reach a.
        yield* untilConnected(a, "b")
        yield* untilConnected(b, "a")
        const seq = 1000
        yield* Effect.orDie(
          b
            .send("a", new HeartbeatFrame({ seq }))
            .pipe(Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds"))))
        )
        let seen = false
        while (!seen)
          for (const { frame } of yield* Effect.timeoutFail(a.receive, {
            duration: "10 seconds",
            onTimeout: () => new Error("b's frame never reached a")
          }))
            if (frame._tag === "Heartbeat" && frame.seq === seq) seen = true
      })
    )
  )

  it.live("a hello from a neighbour that is not its link's dialer is refused and counted; the link holds", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, b } = yield* pair()
        yield* untilConnected(a, "b")
        // `b` calling `a` (a topology where b dials): a is the one that dials b.
        const reversed = yield* Builder.make("pair")
          .region("r", {})
          .defaultRegion("r")
          .site("a", { region: "r", tcp: `127.0.0.1:${a.address.port}`, http: "127.0.0.1:0" })
          .site("b", { region: "r", tcp: "127.0.0.1:0", http: "127.0.0.1:1" })
          .link("b", "a")
          .build()
        yield* Effect.scoped(
          Effect.gen(function* () {
            const twin = yield* TcpTransport.make({
              topology: reversed,
              site: "b",
              secret: SECRET,
              listen: { host: "127.0.0.1", port: 0 }
            }).pipe(Effect.orDie)
            yield* Effect.suspend(() =>
              a.stats.rejected["not-the-dialer"] > 0 ? Effect.void : Effect.fail("not yet")
            ).pipe(Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds"))))
            expect(twin.connected()).toEqual([])
          })
        )
        expect(a.connected()).toEqual(["b"])
        expect(b.connected()).toEqual(["a"])
      })
    )
  )

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

  it.live("a malformed frame from an established peer closes that link, counted; the link comes back", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, b } = yield* pair({})
        yield* untilConnected(a, "b")
        yield* untilConnected(b, "a")
        // A frame that does not decode, sent as a's transport would send any frame.
        const bad = new HeartbeatFrame({ seq: -1 }, { disableValidation: true })
        Object.assign(bad, { seq: "not a number" })
        yield* Effect.orDie(a.send("b", bad))
        yield* Effect.suspend(() =>
          b.stats.rejected["malformed-frame"] > 0 ? Effect.void : Effect.fail("not yet")
        ).pipe(Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds"))))
        // a redials; frames flow again.
        yield* untilConnected(a, "b")
        yield* untilConnected(b, "a")
        yield* Effect.orDie(
          a
            .send("b", new HeartbeatFrame({ seq: 43 }))
            .pipe(Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds"))))
        )
        let seen = false
        while (!seen)
          for (const { frame } of yield* b.receive) if (frame._tag === "Heartbeat" && frame.seq === 43) seen = true
      })
    )
  )
})
