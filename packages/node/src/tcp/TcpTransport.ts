/**
 * The TCP transport: the kernel's frames between neighbouring sites over TCP, on the Effect
 * platform Socket. Frames are length-prefixed (4 bytes, big-endian) JSON of their Schema encoding
 * and are decoded with the Schema on arrival. A connection starts with a hello in which each side
 * proves, with an HMAC over both sides' nonces and a secret shared by the topology, that it
 * belongs to the deployment; only then do frames flow.
 *
 * Every bound is named: frame size, handshakes in progress and their time limit, the send buffer
 * of each link, the inbox. A peer that sends a malformed or oversized frame, random bytes, a wrong
 * secret, an unknown site or a wrong version has its connection closed with a logged reason and a
 * counter; other connections keep flowing. Heartbeats and link states are the router's (in core),
 * so a peer that stops answering without closing (SIGSTOP) is routed around as in the simulator.
 *
 * @since 0.1.0
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import type * as Socket from "@effect/platform/Socket"
import { Mailbox } from "@meridian/core/kernel/Mailbox"
import { type Topology, parseHostPort } from "@meridian/core/topology/Topology"
import { Frame, type Inbound, LinkUnavailable, type TransportService } from "@meridian/core/transport/Transport"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"

/**
 * Version of the wire protocol (hello and framing). A peer speaking another is refused.
 *
 * @since 0.1.0
 * @category constants
 */
export const WIRE_VERSION = 1

/**
 * @since 0.1.0
 * @category config
 */
export interface Config {
  /** Largest frame accepted or sent, in bytes. */
  readonly maxFrameBytes: number
  /** Connections still in their hello at once; more are closed at once. */
  readonly maxPendingHandshakes: number
  /** Time a connection has to finish its hello. */
  readonly helloTimeout: Duration.DurationInput
  /** Frames waiting to be written on one link; beyond it `send` answers `LinkUnavailable`. */
  readonly sendBufferFrames: number
  /** Frames received and not yet taken by the router; beyond it reading pauses (TCP back-pressure). */
  readonly inboxFrames: number
  /** Reconnection back-off: first delay, and the cap (with ±50 % jitter). */
  readonly reconnectInitial: Duration.DurationInput
  readonly reconnectMax: Duration.DurationInput
}

/**
 * @since 0.1.0
 * @category config
 */
export const defaults: Config = {
  maxFrameBytes: 4 * 1024 * 1024,
  maxPendingHandshakes: 64,
  helloTimeout: "5 seconds",
  sendBufferFrames: 10_000,
  inboxFrames: 10_000,
  reconnectInitial: "100 millis",
  reconnectMax: "5 seconds"
}

/** The hello: acceptor → Challenge, dialer → Hello, acceptor → Welcome. */
class Challenge extends Schema.TaggedClass<Challenge>()("Challenge", {
  version: Schema.Int,
  site: Schema.String,
  nonce: Schema.String
}) {}
class Hello extends Schema.TaggedClass<Hello>()("Hello", {
  version: Schema.Int,
  site: Schema.String,
  nonce: Schema.String,
  proof: Schema.String
}) {}
class Welcome extends Schema.TaggedClass<Welcome>()("Welcome", { proof: Schema.String }) {}
const HandshakeMessage = Schema.Union(Challenge, Hello, Welcome)
type HandshakeMessage = typeof HandshakeMessage.Type

const decodeFrame = Schema.decodeUnknownEither(Schema.parseJson(Frame))
const encodeFrame = Schema.encodeSync(Schema.parseJson(Frame))
const decodeHandshake = Schema.decodeUnknownEither(Schema.parseJson(HandshakeMessage))
const encodeHandshake = Schema.encodeSync(Schema.parseJson(HandshakeMessage))

/**
 * Why a connection was closed by this side.
 *
 * @since 0.1.0
 * @category models
 */
export type RejectReason =
  | "oversized-frame"
  | "malformed-frame"
  | "wrong-version"
  | "unknown-site"
  | "wrong-secret"
  | "hello-timeout"
  | "too-many-handshakes"
  | "unexpected-message"

/**
 * Counters for `/metrics`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  framesIn: number
  framesOut: number
  bytesIn: number
  bytesOut: number
  connectionsAccepted: number
  connectionsDialed: number
  readonly rejected: Record<RejectReason, number>
}

class Closed extends Data.TaggedError("Closed")<{
  readonly reason: RejectReason | "socket"
  readonly detail: string
}> {}

/**
 * A running TCP transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface TcpTransport extends TransportService {
  /** Where it listens (the real port when the topology said 0). */
  readonly address: { readonly host: string; readonly port: number }
  readonly stats: Stats
  /** Neighbours with an established connection. */
  readonly connected: () => ReadonlyArray<string>
}

/** Length-prefixed frames out of a byte stream; bounded by `max`. */
class FrameReader {
  private buffer = new Uint8Array(0)
  constructor(private readonly max: number) {}

  /** The complete frames in `chunk` (and what was left before), or the reason to close. */
  push(chunk: Uint8Array): Either.Either<Array<string>, Closed> {
    const joined = new Uint8Array(this.buffer.length + chunk.length)
    joined.set(this.buffer)
    joined.set(chunk, this.buffer.length)
    const out: Array<string> = []
    let offset = 0
    while (joined.length - offset >= 4) {
      const view = new DataView(joined.buffer, joined.byteOffset + offset, 4)
      const length = view.getUint32(0)
      if (length > this.max) {
        return Either.left(
          new Closed({ reason: "oversized-frame", detail: `frame of ${length} bytes (max ${this.max})` })
        )
      }
      if (joined.length - offset - 4 < length) break
      out.push(decoder.decode(joined.subarray(offset + 4, offset + 4 + length)))
      offset += 4 + length
    }
    this.buffer = joined.slice(offset)
    return Either.right(out)
  }
}

const decoder = new TextDecoder("utf-8", { fatal: false })
const encoder = new TextEncoder()

const frameBytes = (text: string): Uint8Array => {
  const body = encoder.encode(text)
  const out = new Uint8Array(4 + body.length)
  new DataView(out.buffer).setUint32(0, body.length)
  out.set(body, 4)
  return out
}

const proof = (secret: string, role: "dial" | "accept", dialer: string, acceptor: string, a: string, b: string) =>
  createHmac("sha256", secret)
    .update(`meridian-hello|${WIRE_VERSION}|${role}|${dialer}|${acceptor}|${a}|${b}`)
    .digest("hex")

const sameProof = (a: string, b: string): boolean => {
  const x = Buffer.from(a, "utf8")
  const y = Buffer.from(b, "utf8")
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * Starts the transport of `site`: listens on its `tcp` address and dials the neighbours it is
 * the first site of a link with (at the link's `dial` address when it names one).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly topology: Topology
  readonly site: string
  readonly secret: string
  readonly config?: Partial<Config>
  /** Where to listen instead of the topology's address (tests bind port 0). */
  readonly listen?: { readonly host: string; readonly port: number }
}): Effect.Effect<TcpTransport, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const { topology, site, secret } = options
    const config: Config = { ...defaults, ...options.config }
    const self = topology.sites[site]
    if (self === undefined) return yield* Effect.fail(new Error(`no site ${site} in the topology`))
    if (secret.length === 0) return yield* Effect.fail(new Error("the shared secret is empty"))
    const helloMillis = Duration.toMillis(Duration.decode(config.helloTimeout))

    const neighbours = new Set<string>()
    const toDial: Array<{ peer: string; host: string; port: number }> = []
    for (const link of topology.links) {
      const [a, b] = link.between
      if (a !== site && b !== site) continue
      const peer = a === site ? b : a
      neighbours.add(peer)
      if (a === site) {
        const target = parseHostPort(link.dial ?? topology.sites[peer]!.tcp)
        if (target !== undefined) toDial.push({ peer, host: target.host, port: target.port })
      }
    }

    const stats: Stats = {
      framesIn: 0,
      framesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      connectionsAccepted: 0,
      connectionsDialed: 0,
      rejected: {
        "oversized-frame": 0,
        "malformed-frame": 0,
        "wrong-version": 0,
        "unknown-site": 0,
        "wrong-secret": 0,
        "hello-timeout": 0,
        "too-many-handshakes": 0,
        "unexpected-message": 0
      }
    }
    const inbox = new Mailbox<Inbound>(config.inboxFrames, 1024)
    /** Established links: peer → its bounded send buffer. */
    const links = new Map<string, Mailbox<Frame>>()
    let handshakes = 0

    const reject = (closed: Closed, remote: string) =>
      Effect.gen(function* () {
        if (closed.reason === "socket") {
          yield* Effect.logDebug(`tcp ${site}: connection ${remote} ended: ${closed.detail}`)
          return
        }
        stats.rejected[closed.reason]++
        yield* Effect.logWarning(`tcp ${site}: closing connection ${remote}: ${closed.reason}: ${closed.detail}`)
      })

    /**
     * One connection, from its hello to its end. `dialing` names the peer we called; an accepted
     * connection learns its peer from the hello.
     */
    const connection = (
      socket: Socket.Socket,
      dialing: string | undefined,
      onEstablished: () => void = () => {}
    ): Effect.Effect<void, Closed, Scope.Scope> =>
      Effect.gen(function* () {
        const write = yield* socket.writer
        const reader = new FrameReader(config.maxFrameBytes)
        // Messages of this connection, in order; the hello reads the first ones.
        const messages = new Mailbox<string>(config.inboxFrames, 1024)
        let failure: Closed | undefined
        yield* Effect.forkScoped(
          socket
            .run((chunk) => {
              stats.bytesIn += chunk.length
              const frames = reader.push(chunk)
              if (Either.isLeft(frames)) {
                failure = frames.left
                messages.close()
                return Effect.fail(frames.left)
              }
              return Effect.forEach(frames.right, (text) => waitOffer(messages, text), { discard: true })
            })
            .pipe(Effect.ensuring(Effect.sync(() => messages.close())))
        )
        let pending: ReadonlyArray<string> = []
        let index = 0
        const next: Effect.Effect<string, Closed> = Effect.suspend(() =>
          index < pending.length
            ? Effect.succeed(pending[index++]!)
            : Effect.flatMap(messages.takeBatch, (batch) => {
                if (batch.length === 0) {
                  return Effect.fail(failure ?? new Closed({ reason: "socket", detail: "connection closed" }))
                }
                pending = batch
                index = 1
                return Effect.succeed(batch[0]!)
              })
        )
        const sendHandshake = (message: HandshakeMessage) =>
          write(frameBytes(encodeHandshake(message))).pipe(
            Effect.mapError((e) => new Closed({ reason: "socket", detail: e.message }))
          )
        const expect = <T extends HandshakeMessage["_tag"]>(tag: T) =>
          Effect.flatMap(next, (text) => {
            const decoded = decodeHandshake(text)
            if (Either.isLeft(decoded)) {
              return Effect.fail(new Closed({ reason: "malformed-frame", detail: "hello did not decode" }))
            }
            if (decoded.right._tag !== tag) {
              return Effect.fail(new Closed({ reason: "unexpected-message", detail: `expected ${tag}` }))
            }
            return Effect.succeed(decoded.right as Extract<HandshakeMessage, { readonly _tag: T }>)
          })

        // ---- hello, bounded in number and time ----
        if (handshakes >= config.maxPendingHandshakes) {
          return yield* new Closed({ reason: "too-many-handshakes", detail: `${handshakes} in progress` })
        }
        handshakes++
        const peer = yield* Effect.gen(function* () {
          const nonce = randomBytes(16).toString("hex")
          if (dialing === undefined) {
            yield* sendHandshake(new Challenge({ version: WIRE_VERSION, site, nonce }))
            const hello = yield* expect("Hello")
            if (hello.version !== WIRE_VERSION) {
              return yield* new Closed({ reason: "wrong-version", detail: `version ${hello.version}` })
            }
            if (!neighbours.has(hello.site)) {
              return yield* new Closed({
                reason: "unknown-site",
                detail: `site ${JSON.stringify(hello.site).slice(0, 80)}`
              })
            }
            if (!sameProof(hello.proof, proof(secret, "dial", hello.site, site, nonce, hello.nonce))) {
              return yield* new Closed({ reason: "wrong-secret", detail: `site ${hello.site}` })
            }
            yield* sendHandshake(new Welcome({ proof: proof(secret, "accept", hello.site, site, nonce, hello.nonce) }))
            return hello.site
          }
          const challenge = yield* expect("Challenge")
          if (challenge.version !== WIRE_VERSION) {
            return yield* new Closed({ reason: "wrong-version", detail: `version ${challenge.version}` })
          }
          if (challenge.site !== dialing) {
            return yield* new Closed({
              reason: "unknown-site",
              detail: `expected ${dialing}, answered ${challenge.site}`
            })
          }
          yield* sendHandshake(
            new Hello({
              version: WIRE_VERSION,
              site,
              nonce,
              proof: proof(secret, "dial", site, dialing, challenge.nonce, nonce)
            })
          )
          const welcome = yield* expect("Welcome")
          if (!sameProof(welcome.proof, proof(secret, "accept", site, dialing, challenge.nonce, nonce))) {
            return yield* new Closed({ reason: "wrong-secret", detail: `site ${dialing}` })
          }
          return dialing
        }).pipe(
          Effect.timeoutFail({
            duration: helloMillis,
            onTimeout: () => new Closed({ reason: "hello-timeout", detail: `no hello within ${helloMillis} ms` })
          }),
          Effect.ensuring(Effect.sync(() => handshakes--))
        )

        // ---- established: a send buffer and its writer; frames to the router ----
        const buffer = new Mailbox<Frame>(config.sendBufferFrames, 1024)
        links.get(peer)?.close() // a newer connection replaces an older one
        links.set(peer, buffer)
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            buffer.close()
            if (links.get(peer) === buffer) links.delete(peer)
          })
        )
        onEstablished()
        yield* Effect.logDebug(`tcp ${site}: link to ${peer} established`)
        yield* Effect.forkScoped(
          Effect.gen(function* () {
            while (true) {
              const frames = yield* buffer.takeBatch
              if (frames.length === 0) return
              const parts = frames.map((f) => frameBytes(encodeFrame(f)))
              let size = 0
              for (const p of parts) size += p.length
              const chunk = new Uint8Array(size)
              let offset = 0
              for (const p of parts) {
                chunk.set(p, offset)
                offset += p.length
              }
              stats.framesOut += frames.length
              stats.bytesOut += size
              yield* write(chunk)
            }
          }).pipe(Effect.ignore)
        )
        while (true) {
          const text = yield* next
          const frame = decodeFrame(text)
          if (Either.isLeft(frame)) {
            return yield* new Closed({ reason: "malformed-frame", detail: `from ${peer}: frame did not decode` })
          }
          stats.framesIn++
          yield* waitOffer(inbox, { from: peer, frame: frame.right })
        }
      })

    // ---- accept ----
    const listen = options.listen ?? parseHostPort(self.tcp)
    if (listen === undefined) return yield* Effect.fail(new Error(`bad tcp address ${self.tcp}`))
    // No Nagle: frames are small and latency matters more than packet count (writes are batched).
    const server = yield* NodeSocketServer.make({ host: listen.host, port: listen.port, noDelay: true }).pipe(
      Effect.mapError((e) => new Error(`cannot listen on ${listen.host}:${listen.port}: ${String(e.cause)}`))
    )
    const address =
      server.address._tag === "TcpAddress"
        ? { host: server.address.hostname, port: server.address.port }
        : { host: listen.host, port: listen.port }
    yield* Effect.forkScoped(
      server.run((socket) =>
        Effect.scoped(
          Effect.gen(function* () {
            stats.connectionsAccepted++
            const remote = yield* Effect.serviceOption(NodeSocket.NetSocket).pipe(
              Effect.map((s) => (s._tag === "Some" ? `${s.value.remoteAddress}:${s.value.remotePort}` : "?"))
            )
            yield* connection(socket, undefined).pipe(Effect.catchAll((closed) => reject(closed, remote)))
          })
        )
      )
    )

    // ---- dial, with jittered back-off ----
    const initial = Duration.toMillis(Duration.decode(config.reconnectInitial))
    const max = Duration.toMillis(Duration.decode(config.reconnectMax))
    for (const target of toDial) {
      yield* Effect.forkScoped(
        Effect.gen(function* () {
          let attempt = 0
          while (true) {
            const established = yield* Effect.scoped(
              Effect.gen(function* () {
                const socket = yield* NodeSocket.makeNet({
                  host: target.host,
                  port: target.port,
                  noDelay: true,
                  openTimeout: "5 seconds"
                })
                stats.connectionsDialed++
                let up = false
                yield* connection(socket, target.peer, () => (up = true)).pipe(
                  Effect.catchAll((closed) => reject(closed, `${target.host}:${target.port}`))
                )
                return up
              })
            ).pipe(Effect.catchAll(() => Effect.succeed(false)))
            attempt = established ? 0 : attempt + 1
            const base = Math.min(max, initial * 2 ** Math.min(attempt, 20))
            yield* Effect.sleep(Math.round(base * (0.5 + (yield* Random.next))))
          }
        })
      )
    }

    return {
      site,
      peers: [...neighbours].sort(),
      address,
      stats,
      connected: () => [...links.keys()].sort(),
      receive: inbox.takeBatch,
      send: (peer, frame) =>
        Effect.suspend(() => {
          const buffer = links.get(peer)
          if (buffer === undefined) {
            return Effect.fail(
              new LinkUnavailable({
                peer,
                reason: neighbours.has(peer) ? "not connected" : `no link from ${site} to ${peer}`
              })
            )
          }
          return buffer.offer(frame)
            ? Effect.void
            : Effect.fail(new LinkUnavailable({ peer, reason: `send buffer full (${config.sendBufferFrames} frames)` }))
        })
    } satisfies TcpTransport
  })

/** Offers with back-pressure: waits for room rather than dropping. */
const waitOffer = <A>(mailbox: Mailbox<A>, item: A): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (mailbox.offer(item) || mailbox.isClosed) return Effect.void
    return Effect.zipRight(mailbox.awaitRoom, waitOffer(mailbox, item))
  })
