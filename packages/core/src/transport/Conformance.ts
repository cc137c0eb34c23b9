/**
 * The conformance suite every Transport must pass — the simulated network here, TCP in the node
 * package. Each case is an effect over a connected pair of transports (`a` and `b`, linked to
 * each other); a test file runs every case against its implementation. No test framework is
 * imported here: a failure is a typed `ConformanceFailure` with what was expected.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { Address } from "../kernel/Address.js"
import { Envelope, PROTOCOL_VERSION } from "../kernel/Envelope.js"
import {
  AckFrame,
  EnvelopeFrame,
  type Frame,
  HeartbeatFrame,
  LinkStateFrame,
  type TransportService
} from "./Transport.js"

/**
 * @since 0.1.0
 * @category errors
 */
export class ConformanceFailure extends Data.TaggedError("ConformanceFailure")<{
  readonly case: string
  readonly expected: string
  readonly actual: string
}> {
  override get message(): string {
    return `${this.case}: expected ${this.expected}, got ${this.actual}`
  }
}

/**
 * Two transports joined by a healthy link: `a.site` and `b.site` are each other's peers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pair {
  readonly a: TransportService
  readonly b: TransportService
  /**
   * A connection replayed at `b` claiming to be `a` (it completes the hello, then closes), as a
   * quick restart of `a` or a NAT or tunnel replaying a connection does. The simulated network
   * leaves the link half-open (its worst outcome); TCP closes the older connection.
   */
  readonly replay?: Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Case {
  readonly name: string
  readonly run: (pair: Pair) => Effect.Effect<void, ConformanceFailure>
}

const check = (name: string, ok: boolean, expected: string, actual: unknown) =>
  ok ? Effect.void : Effect.fail(new ConformanceFailure({ case: name, expected, actual: JSON.stringify(actual) }))

const envelope = (from: string, to: string, id: string, payload: unknown) =>
  new Envelope({
    version: PROTOCOL_VERSION,
    id,
    from: new Address({ site: from, actor: "sender" }),
    to: new Address({ site: to, actor: "receiver" }),
    kind: "tell",
    hops: 0,
    durable: true,
    payload
  })

/** Receives `n` frames on `t`, skipping heartbeats and link states the implementation may interleave. */
const receiveData = (t: TransportService, n: number) =>
  Effect.gen(function* () {
    const out: Array<{ from: string; frame: Frame }> = []
    while (out.length < n) {
      for (const inbound of yield* t.receive) {
        if (inbound.frame._tag === "Envelope" || inbound.frame._tag === "Ack") out.push(inbound)
      }
    }
    return out
  })

/**
 * Heartbeats both ways as the routers send them (every 100 ms, saying whether the sender hears
 * its peer: a frame within the last 500 ms), with the router's reset of a link whose far end
 * keeps saying it hears nothing (600 ms) — until each end has heard the other's last 5
 * heartbeats in a row, or `within` ms. `true` when the link carries frames both ways.
 */
const heartbeatsUntilTwoWay = (pair: Pair, within: number) =>
  Effect.gen(function* () {
    const clock = yield* Effect.clock
    const now = () => clock.unsafeCurrentTimeMillis()
    const ends = [pair.a, pair.b].map((t) => ({
      t,
      heardAt: -Infinity,
      deafSince: undefined as number | undefined,
      inARow: 0,
      lastSeq: -1
    }))
    const listeners = yield* Effect.forEach(ends, (end) =>
      Effect.fork(
        Effect.forever(
          Effect.map(end.t.receive, (batch) => {
            for (const { frame } of batch) {
              if (frame._tag !== "Heartbeat") continue
              end.heardAt = now()
              end.inARow = frame.seq === end.lastSeq + 1 ? end.inARow + 1 : 1
              end.lastSeq = frame.seq
              if (frame.hears !== false) end.deafSince = undefined
              else if (end.deafSince === undefined) end.deafSince = now()
              else if (now() - end.deafSince >= 600) {
                end.deafSince = undefined
                end.t.reset?.(end === ends[0] ? pair.b.site : pair.a.site)
              }
            }
          })
        )
      )
    )
    const start = now()
    let seq = 0
    let twoWay = false
    while (!twoWay && now() - start < within) {
      for (const [i, end] of ends.entries()) {
        const peer = ends[1 - i]!.t.site
        yield* Effect.either(end.t.send(peer, new HeartbeatFrame({ seq, hears: now() - end.heardAt < 500 })))
      }
      seq++
      yield* Effect.sleep(100)
      twoWay = ends.every((end) => end.inARow >= 5 && end.lastSeq >= seq - 2)
    }
    yield* Fiber.interruptAll(listeners)
    return twoWay
  })

/**
 * Every case of the suite.
 *
 * @since 0.1.0
 * @category suite
 */
export const cases: ReadonlyArray<Case> = [
  {
    name: "a frame crosses the link with its content intact",
    run: ({ a, b }) =>
      Effect.gen(function* () {
        const payload = { _tag: "Work", text: "héllo ✓", n: 42, nested: { list: [1, 2, 3] } }
        yield* Effect.orDie(a.send(b.site, new EnvelopeFrame({ envelope: envelope(a.site, b.site, "c1", payload) })))
        const [got] = yield* receiveData(b, 1)
        yield* check("content", got!.from === a.site, `from ${a.site}`, got!.from)
        const frame = got!.frame
        yield* check(
          "content",
          frame._tag === "Envelope" &&
            frame.envelope.id === "c1" &&
            JSON.stringify(frame.envelope.payload) === JSON.stringify(payload),
          "the same envelope",
          frame
        )
      })
  },
  {
    name: "frames of one link arrive in order, in both directions",
    run: ({ a, b }) =>
      Effect.gen(function* () {
        const n = 200
        for (let i = 0; i < n; i++) {
          yield* Effect.orDie(a.send(b.site, new EnvelopeFrame({ envelope: envelope(a.site, b.site, `o${i}`, { i }) })))
          yield* Effect.orDie(b.send(a.site, new AckFrame({ from: b.site, to: a.site, ids: [`r${i}`], hops: 0 })))
        }
        const atB = yield* receiveData(b, n)
        const atA = yield* receiveData(a, n)
        const ids = atB.map((x) => (x.frame._tag === "Envelope" ? x.frame.envelope.id : "?"))
        yield* check(
          "order a→b",
          ids.every((id, i) => id === `o${i}`),
          "o0..o199 in order",
          ids.slice(0, 5)
        )
        const acks = atA.map((x) => (x.frame._tag === "Ack" ? x.frame.ids[0] : "?"))
        yield* check(
          "order b→a",
          acks.every((id, i) => id === `r${i}`),
          "r0..r199 in order",
          acks.slice(0, 5)
        )
      })
  },
  {
    name: "heartbeats and link-state advertisements cross like any frame",
    run: ({ a, b }) =>
      Effect.gen(function* () {
        yield* Effect.orDie(a.send(b.site, new HeartbeatFrame({ seq: 7 })))
        yield* Effect.orDie(a.send(b.site, new LinkStateFrame({ origin: a.site, seq: 3, up: [b.site] })))
        const seen: Array<string> = []
        while (seen.length < 2) {
          for (const { frame } of yield* b.receive) {
            if (frame._tag === "Heartbeat" && frame.seq === 7) seen.push("heartbeat")
            if (frame._tag === "LinkState" && frame.origin === a.site && frame.seq === 3) seen.push("linkstate")
          }
        }
        yield* check("control frames", seen.includes("heartbeat") && seen.includes("linkstate"), "both", seen)
      })
  },
  {
    name: "a site that is not a neighbour is refused with LinkUnavailable",
    run: ({ a }) =>
      Effect.gen(function* () {
        const result = yield* Effect.either(a.send("no-such-site", new HeartbeatFrame({ seq: 1 })))
        yield* check(
          "unknown peer",
          result._tag === "Left" && result.left._tag === "LinkUnavailable",
          "LinkUnavailable",
          result._tag
        )
      })
  },
  {
    name: "offer hands a frame over at once, as send does, and refuses a site that is not a neighbour",
    run: ({ a, b }) =>
      Effect.gen(function* () {
        if (a.offer === undefined) {
          return yield* check("offer", false, "a synchronous offer", "none")
        }
        const refused = a.offer(b.site, new EnvelopeFrame({ envelope: envelope(a.site, b.site, "f1", { n: 1 }) }))
        yield* check("offer", refused === undefined, "accepted", refused)
        const [got] = yield* receiveData(b, 1)
        yield* check(
          "offer",
          got!.frame._tag === "Envelope" && got!.frame.envelope.id === "f1",
          "the offered envelope",
          got!.frame
        )
        const unknown = a.offer("no-such-site", new HeartbeatFrame({ seq: 1 }))
        yield* check("offer", unknown?._tag === "LinkUnavailable", "LinkUnavailable", unknown)
      })
  },
  {
    name: "a direct handler takes frames as they arrive; what it declines comes through receive, and order holds",
    run: ({ a, b }) =>
      Effect.gen(function* () {
        if (b.setDirect === undefined) {
          return yield* check("direct", false, "a direct handler hook", "none")
        }
        // Every frame's id in the order it was handled, directly or through `receive`.
        const handled: Array<string> = []
        const remove = b.setDirect(({ frame }) => {
          if (frame._tag !== "Envelope") return true
          // Takes two of every three, declines the third.
          const n = Number(frame.envelope.id.slice(1))
          if (n % 3 === 2) return false
          handled.push(frame.envelope.id)
          return true
        })
        const n = 300
        for (let i = 0; i < n; i++) {
          yield* Effect.orDie(a.send(b.site, new EnvelopeFrame({ envelope: envelope(a.site, b.site, `d${i}`, { i }) })))
        }
        let received = 0
        while (handled.length < n) {
          const batch = yield* Effect.timeout(b.receive, "10 seconds").pipe(Effect.orElseSucceed(() => []))
          if (batch.length === 0) break
          for (const { frame } of batch) {
            if (frame._tag !== "Envelope") continue
            handled.push(frame.envelope.id)
            received++
          }
        }
        remove()
        yield* check(
          "direct",
          handled.length === n && handled.every((id, i) => id === `d${i}`),
          `d0..d${n - 1} in order`,
          handled.slice(0, 8)
        )
        yield* check("direct", received >= n / 3 && received < n, "some frames through receive, not all", received)
      })
  },
  {
    name: "a replayed connection leaves no link half-open: frames cross both ways again within seconds",
    run: (pair) =>
      Effect.gen(function* () {
        const { a, b, replay } = pair
        if (replay === undefined || a.reset === undefined || b.reset === undefined) {
          return yield* check("replay", false, "a way to replay a connection, and reset", "none")
        }
        yield* check("replay", yield* heartbeatsUntilTwoWay(pair, 10_000), "frames both ways before", "one way")
        yield* replay
        // What the routers do after it: heartbeats, and a reset where an end says it hears nothing.
        yield* check("replay", yield* heartbeatsUntilTwoWay(pair, 10_000), "frames both ways within 10 s", "one way")
      })
  },
  {
    name: "each side lists the other as its peer",
    run: ({ a, b }) =>
      check("peers", a.peers.includes(b.site) && b.peers.includes(a.site), "a and b are peers", {
        a: a.peers,
        b: b.peers
      })
  }
]
