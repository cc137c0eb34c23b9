/**
 * The TCP transport: the kernel's frames between neighbouring sites over TCP, on the Effect
 * platform Socket. Frames are length-prefixed (4 bytes, big-endian): envelopes — every ask, reply
 * and tell — in a binary header with the payload's JSON (`BinaryEnvelope`), other frames as JSON of
 * their Schema encoding. The frames queued for a link while its previous write was in flight go
 * out in one write, and each frame is checked as the `Frame` Schema checks it as it arrives
 * (`decodeFrame`, `BinaryEnvelope.read`), straight from the socket's data callback to the
 * router's inbox. A connection starts with a hello in which each side
 * proves, with an HMAC over both sides' nonces and a secret shared by the topology, that it
 * belongs to the deployment; only then do frames flow. The framing, the hello and a link's
 * writer are in `Framing`, `Handshake` and `Link`.
 *
 * One connection per link, decided the same way at both ends: only the link's first site dials
 * (an accepting side refuses a hello from a peer that is not the dialer of a link with it), and
 * a newer connection from the dialer replaces the older one, which is closed — a dialer only
 * dials again once it has given its connection up (a quick restart, a connection a NAT or tunnel
 * dropped). Closing the older one, rather than only ceasing to write to it, is what lets both
 * ends see the same link: its other end notices the close and uses the new connection. A link
 * the router finds carrying frames one way only is `reset`: closed, and dialed again.
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
import {
  decodeFrame,
  type Frame,
  Inbox,
  LinkUnavailable,
  type TransportService
} from "@meridian/core/transport/Transport"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Random from "effect/Random"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type * as Net from "node:net"
import { Closed, FrameReader, type Received } from "./Framing.js"
import { exchange } from "./Handshake.js"
import { dial, LinkWriter } from "./Link.js"

export { WIRE_VERSION } from "./Handshake.js"

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
  /**
   * Frames queued on a link that are written at once rather than at the end of the tick: the
   * peer starts on the first ones while this side is still producing the rest (both ends of a
   * busy link work at the same time instead of taking turns).
   */
  readonly writeEagerFrames: number
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
  writeEagerFrames: 32,
  inboxFrames: 10_000,
  reconnectInitial: "100 millis",
  reconnectMax: "5 seconds"
}

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
  | "not-the-dialer"

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
    /** Neighbours that dial this site (it is the second site of their link). */
    const dialers = new Set<string>()
    const toDial: Array<{ peer: string; host: string; port: number }> = []
    for (const link of topology.links) {
      const [a, b] = link.between
      if (a !== site && b !== site) continue
      const peer = a === site ? b : a
      neighbours.add(peer)
      if (b === site) dialers.add(a)
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
        "unexpected-message": 0,
        "not-the-dialer": 0
      }
    }
    const inbox = new Inbox(config.inboxFrames, 1024)
    /** Established links: peer → its bounded send buffer and its connection. */
    const links = new Map<string, { readonly writer: LinkWriter; readonly conn: Net.Socket }>()
    /** Peers that have connected at least once (their first connection is logged as joining). */
    const joined = new Set<string>()
    let handshakes = 0
    /** For what happens outside any fiber (a frame the writer had to leave out is logged). */
    const runtime = yield* Effect.runtime<never>()

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
      conn: Net.Socket,
      dialing: string | undefined,
      onEstablished: () => void = () => {}
    ): Effect.Effect<void, Closed, Scope.Scope> =>
      Effect.gen(function* () {
        const write = yield* socket.writer
        const reader = new FrameReader(config.maxFrameBytes)
        // The hello's messages, in order (and frames that came right behind it); closed when the
        // connection ends, which ends this fiber.
        const messages = new Mailbox<Received>(config.inboxFrames, 1024)
        let failure: Closed | undefined
        /** The peer once the hello is done: from then on frames are decoded as they arrive. */
        let established: string | undefined = undefined
        /**
         * Texts that found the hello's queue or the inbox full, in order of arrival; while one
         * fiber is `draining` them, later texts queue behind (reading waits: TCP back-pressure).
         */
        let backlog: Array<Received> = []
        let backlogIndex = 0
        let draining = false

        const fail = (closed: Closed): Effect.Effect<never, Closed> => {
          failure ??= closed
          messages.close()
          return Effect.fail(closed)
        }
        const malformed = () =>
          new Closed({ reason: "malformed-frame", detail: `from ${established}: frame did not decode` })
        const hasRoom = (): boolean =>
          established === undefined ? messages.isClosed || messages.size < messages.capacity : inbox.hasRoom()
        /** Hands one frame on (there is room); `false` for a frame that does not decode. */
        const handOn = (received: Received): boolean => {
          if (established === undefined) {
            messages.offer(received)
            return true
          }
          if (received === null) return false
          let frame: Frame
          if (typeof received === "string") {
            let parsed: unknown
            try {
              parsed = JSON.parse(received)
            } catch {
              return false
            }
            const decoded = decodeFrame(parsed)
            if (Either.isLeft(decoded)) return false
            frame = decoded.right
          } else {
            frame = received
          }
          stats.framesIn++
          inbox.offer({ from: established, frame })
          return true
        }
        const drain: Effect.Effect<void, Closed> = Effect.suspend(() => {
          while (backlogIndex < backlog.length) {
            if (failure !== undefined) return Effect.fail(failure)
            if (!hasRoom())
              return Effect.zipRight(established === undefined ? messages.awaitRoom : inbox.awaitRoom, drain)
            if (!handOn(backlog[backlogIndex++]!)) return fail(malformed())
          }
          backlog = []
          backlogIndex = 0
          draining = false
          return Effect.void
        })
        /**
         * The texts of one chunk, handed on synchronously while there is room (no fiber per
         * chunk); what is left waits in the backlog, drained by one fiber.
         */
        const receive = (texts: ReadonlyArray<Received>): Effect.Effect<void, Closed> | undefined => {
          let i = 0
          if (!draining) {
            for (; i < texts.length && hasRoom(); i++) if (!handOn(texts[i]!)) return fail(malformed())
            if (i === texts.length) return undefined
          }
          for (; i < texts.length; i++) backlog.push(texts[i]!)
          if (draining) return undefined
          draining = true
          return drain
        }
        yield* Effect.forkScoped(
          socket
            .run((chunk) => {
              stats.bytesIn += chunk.length
              const texts = reader.push(chunk)
              return Either.isLeft(texts) ? fail(texts.left) : receive(texts.right)
            })
            .pipe(Effect.ensuring(Effect.sync(() => messages.close())))
        )
        let pending: ReadonlyArray<Received> = []
        let index = 0
        const next: Effect.Effect<Received, Closed> = Effect.suspend(() =>
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
        // ---- hello, bounded in number and time ----
        if (handshakes >= config.maxPendingHandshakes) {
          return yield* new Closed({ reason: "too-many-handshakes", detail: `${handshakes} in progress` })
        }
        handshakes++
        const peer = yield* exchange({ site, secret, neighbours, dialers, dialing, next, write }).pipe(
          Effect.timeoutFail({
            duration: helloMillis,
            onTimeout: () => new Closed({ reason: "hello-timeout", detail: `no hello within ${helloMillis} ms` })
          }),
          Effect.ensuring(Effect.sync(() => handshakes--))
        )

        // ---- established: a send buffer and its writer; frames to the router ----
        const writer = new LinkWriter(
          conn,
          config.sendBufferFrames,
          config.writeEagerFrames,
          config.maxFrameBytes,
          stats,
          (reasons) =>
            Runtime.runFork(runtime)(
              Effect.forEach(
                reasons,
                (reason) => Effect.logWarning(`tcp ${site}: frame to ${peer} dropped: ${reason}`),
                {
                  discard: true
                }
              )
            )
        )
        // A newer connection replaces an older one, which is closed so that its other end sees it go.
        const older = links.get(peer)
        const link = { writer, conn }
        links.set(peer, link)
        if (older !== undefined) {
          older.writer.close()
          older.conn.destroy()
          yield* Effect.logInfo(`tcp ${site}: a newer connection from ${peer} replaces the older one, closed`)
        }
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            writer.close()
            if (links.get(peer) === link) links.delete(peer)
          })
        )
        onEstablished()
        // Membership as an operator sees it: a peer's first connection is its joining.
        if (joined.has(peer)) yield* Effect.logInfo(`tcp ${site}: reconnected to ${peer}`)
        else {
          joined.add(peer)
          yield* Effect.logInfo(`tcp ${site}: ${peer} joined (connected)`)
        }
        // From now on frames are decoded as they arrive; first those that came behind the hello.
        const leftovers = [...pending.slice(index), ...messages.drainAll()]
        established = peer
        if (leftovers.length > 0) {
          backlog = [...leftovers, ...backlog.slice(backlogIndex)]
          backlogIndex = 0
          if (!draining) {
            draining = true
            yield* drain
          }
        }
        // Nothing enters `messages` any more: it is closed (and empty) when the connection ends.
        yield* messages.takeBatch
        return yield* fail(failure ?? new Closed({ reason: "socket", detail: "connection closed" }))
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
            // NodeSocketServer gives every accepted connection's net.Socket to its handler.
            const netSocket = yield* Effect.serviceOption(NodeSocket.NetSocket)
            if (netSocket._tag === "None")
              return yield* Effect.logError(`tcp ${site}: accepted a socket without its net.Socket`)
            const conn = netSocket.value
            const remote = `${conn.remoteAddress}:${conn.remotePort}`
            yield* connection(socket, conn, undefined).pipe(Effect.catchAll((closed) => reject(closed, remote)))
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
                const { socket, conn } = yield* dial(target.host, target.port)
                stats.connectionsDialed++
                let up = false
                yield* connection(socket, conn, target.peer, () => (up = true)).pipe(
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

    /** Hands a frame to its link's writer: `undefined` once queued, else why not. */
    const offer = (peer: string, frame: Frame): LinkUnavailable | undefined => {
      const writer = links.get(peer)?.writer
      const refused =
        writer === undefined
          ? neighbours.has(peer)
            ? "not connected"
            : `no link from ${site} to ${peer}`
          : writer.offer(frame)
      return refused === undefined ? undefined : new LinkUnavailable({ peer, reason: refused })
    }

    return {
      site,
      peers: [...neighbours].sort(),
      address,
      stats,
      connected: () => [...links.keys()].sort(),
      receive: inbox.receive,
      send: (peer, frame) =>
        Effect.suspend(() => {
          const refused = offer(peer, frame)
          return refused === undefined ? Effect.void : Effect.fail(refused)
        }),
      offer,
      setDirect: (handler) => inbox.setDirect(handler),
      reset: (peer) => {
        const link = links.get(peer)
        if (link === undefined) return
        links.delete(peer)
        link.writer.close()
        link.conn.destroy()
        Runtime.runFork(runtime)(
          Effect.logWarning(`tcp ${site}: link to ${peer} reset: it carried frames one way only; connecting afresh`)
        )
      }
    } satisfies TcpTransport
  })
