/**
 * The router of a site: local delivery, or the next hop toward the target site over the
 * Transport; heartbeats and a link state machine per neighbour (up / suspect / down);
 * link-state advertisements flooded so that every site can compute a path around links that are
 * down; and durable delivery — accepted once in the outbox, sent, retransmitted with back-off
 * until acknowledged end to end, applied once at the receiver (its dedupe window).
 *
 * Everything runs on the Effect clock, so the simulator proves its timing in virtual time.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Outbox, type OutboxFull } from "../stores/Outbox.js"
import type { Topology } from "../topology/Topology.js"
import {
  AckFrame,
  EnvelopeFrame,
  type Frame,
  HeartbeatFrame,
  type Inbound,
  LinkStateFrame,
  type TransportService
} from "../transport/Transport.js"
import type { ActorSystemService, Delivery, Settlement } from "./ActorSystem.js"
import type { DeadLettersService } from "./DeadLetters.js"
import { Envelope } from "./Envelope.js"
import { Unreachable } from "./Errors.js"
import type { RouterService } from "./Router.js"

/**
 * @since 0.1.0
 * @category config
 */
export interface Config {
  /** Every neighbour gets a heartbeat this often. */
  readonly heartbeatInterval: Duration.DurationInput
  /** Silent this long: the link is suspect (still used). */
  readonly suspectAfter: Duration.DurationInput
  /** Silent this long: the link is down and routes go around it. */
  readonly downAfter: Duration.DurationInput
  /** Link-state advertisements are refreshed this often (and sent at once on a change). */
  readonly linkStateInterval: Duration.DurationInput
  /**
   * A neighbour that keeps saying (in its heartbeats) that it hears nothing from here, while its
   * own frames arrive, for this long: the link carries frames one way only (half-open) and is
   * reset through the transport, which connects it afresh.
   */
  readonly halfOpenAfter: Duration.DurationInput
  /** An envelope is dropped after this many hops. */
  readonly maxHops: number
  /** First retransmission delay of a durable envelope; doubled per attempt up to `retransmitMax`. */
  readonly retransmitInitial: Duration.DurationInput
  readonly retransmitMax: Duration.DurationInput
  /**
   * A durable envelope unacknowledged for this long is given up (dead-lettered as expired). The
   * receivers' dedupe windows must be at least this long.
   */
  readonly retransmitHorizon: Duration.DurationInput
  /** How often the outbox is scanned for due retransmissions. */
  readonly outboxPollInterval: Duration.DurationInput
  /** Most outbox entries sent per scan. */
  readonly outboxBatch: number
  /**
   * UNSAFE: `false` sends a durable envelope once and forgets it. Only for showing that the
   * simulator's invariants catch lost messages.
   */
  readonly retransmit: boolean
  /**
   * UNSAFE: `false` never resets a half-open link, which then stays half-open. Only for showing
   * that the simulator's `links-agree` invariant catches it.
   */
  readonly resetHalfOpen: boolean
}

/**
 * Production defaults: a silent neighbour is routed around within about 1 s plus one
 * advertisement.
 *
 * @since 0.1.0
 * @category config
 */
export const defaults: Config = {
  heartbeatInterval: "200 millis",
  suspectAfter: "600 millis",
  downAfter: "1 second",
  linkStateInterval: "2 seconds",
  halfOpenAfter: "600 millis",
  maxHops: 16,
  retransmitInitial: "250 millis",
  retransmitMax: "5 seconds",
  retransmitHorizon: "10 minutes",
  outboxPollInterval: "100 millis",
  outboxBatch: 256,
  retransmit: true,
  resetHalfOpen: true
}

/**
 * @since 0.1.0
 * @category models
 */
export type LinkState = "up" | "suspect" | "down"

/**
 * What the router tells observers (the simulator's trace, the status page).
 *
 * @since 0.1.0
 * @category models
 */
export type Event =
  | { readonly _tag: "LinkState"; readonly peer: string; readonly state: LinkState }
  /** The link to `peer` carried frames one way only and was reset. */
  | { readonly _tag: "LinkReset"; readonly peer: string }
  | { readonly _tag: "Routes"; readonly nextHops: Readonly<Record<string, string>> }
  | { readonly _tag: "Forwarded"; readonly envelopeId: string; readonly to: string; readonly via: string }
  | { readonly _tag: "Dropped"; readonly envelopeId: string; readonly reason: string }
  | { readonly _tag: "Retransmit"; readonly envelopeId: string; readonly attempt: number }
  | { readonly _tag: "Acked"; readonly envelopeId: string }
  | { readonly _tag: "Accepted"; readonly envelopeId: string; readonly to: string }
  | { readonly _tag: "Delivered"; readonly envelopeId: string; readonly delivery: Delivery["_tag"] }
  | { readonly _tag: "Settled"; readonly envelopeId: string; readonly settlement: Settlement }

/**
 * A running router.
 *
 * @since 0.1.0
 * @category models
 */
export interface Routing {
  readonly router: RouterService
  /** Starts heartbeats, the inbound loop and the outbox pump in the current scope. */
  readonly start: (system: ActorSystemService) => Effect.Effect<void, never, Scope.Scope>
  /** State of each neighbour link. */
  readonly links: () => Readonly<Record<string, LinkState>>
  /**
   * The other end's view of each neighbour link: `false` when the neighbour's latest
   * advertisement leaves this site out (it does not hear us, or holds the link in maintenance),
   * `true` otherwise (also before it has advertised). Where this and {@link links} differ, the
   * two ends disagree.
   */
  readonly peerViews: () => Readonly<Record<string, boolean>>
  /** Next hop per reachable site. */
  readonly routes: () => Readonly<Record<string, string>>
  /**
   * Takes the link to a neighbour out of service (maintenance) or puts it back: while it is out,
   * this site neither routes over it nor advertises it, so the peer routes around it too.
   * Heartbeats keep flowing, so putting it back is immediate. Not kept across a restart.
   * Returns `false` for a site that is not a neighbour.
   */
  readonly setMaintenance: (peer: string, inMaintenance: boolean) => Effect.Effect<boolean>
  /** The links in maintenance. */
  readonly maintenance: () => ReadonlyArray<string>
}

interface Neighbour {
  readonly peer: string
  lastHeard: number
  /** When a frame last went out to it: a link that carried traffic needs no heartbeat. */
  lastSent: number
  state: LinkState
  /**
   * Since when the peer has been saying it hears nothing from here (while it is heard), and
   * when it last said so: a half-open link when that lasts `halfOpenAfter`.
   */
  deafSince: number | undefined
  deafLast: number
}

/**
 * A copy of a (validated, immutable) envelope with another hop count, made without running the
 * class constructor again: forwarding is the hot path of a relaying site.
 */
const withHops = (envelope: Envelope, hops: number): Envelope => {
  const copy = Object.assign(Object.create(Object.getPrototypeOf(envelope) as object) as object, envelope) as {
    hops: number
  }
  copy.hops = hops
  return copy as Envelope
}

/**
 * A frame built here from validated values, made without running the Schema class constructor
 * (which copies its fields and merges defaults even when validation is off): the same prototype
 * and fields, `_tag` last as the constructor puts it. Frames are sent on every hop, acknowledgement and heartbeat.
 */
const trusted = <A extends Frame>(frame: { readonly prototype: A }, fields: Omit<A, never>): A =>
  Object.assign(Object.create(frame.prototype as object) as A, fields)

/** `trusted(EnvelopeFrame, …)` without the intermediate object: one per envelope sent or relayed. */
const envelopeFrame = (envelope: Envelope): EnvelopeFrame => {
  const frame = Object.create(EnvelopeFrame.prototype) as { envelope: Envelope; _tag: "Envelope" }
  frame.envelope = envelope
  frame._tag = "Envelope"
  return frame as EnvelopeFrame
}

const encodeEnvelope = Schema.encodeSync(Envelope)
const decodeEnvelope = Schema.decodeUnknownEither(Envelope)

/**
 * Makes the router of `site`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly site: string
  readonly topology: Topology
  readonly transport: TransportService
  readonly deadLetters: DeadLettersService
  readonly config?: Partial<Config>
  readonly onEvent?: (event: Event) => void
}): Effect.Effect<Routing, never, Outbox> =>
  Effect.gen(function* () {
    const outbox = yield* Outbox
    const { site, topology, transport, deadLetters } = options
    const config: Config = { ...defaults, ...options.config }
    const ms = (d: Duration.DurationInput) => Duration.toMillis(Duration.decode(d))
    const heartbeatMs = ms(config.heartbeatInterval)
    const suspectMs = ms(config.suspectAfter)
    const downMs = ms(config.downAfter)
    const halfOpenMs = ms(config.halfOpenAfter)
    const horizonMs = ms(config.retransmitHorizon)
    const pollMs = ms(config.outboxPollInterval)
    const emit = options.onEvent ?? (() => {})

    // The topology's graph, sorted so every computation is deterministic.
    const graph = new Map<string, Array<string>>()
    for (const name of Object.keys(topology.sites).sort()) graph.set(name, [])
    for (const link of topology.links) {
      const [a, b] = link.between
      graph.get(a)?.push(b)
      graph.get(b)?.push(a)
    }
    for (const list of graph.values()) list.sort()

    const clock = yield* Effect.clock
    const neighbours = new Map<string, Neighbour>()
    for (const peer of graph.get(site) ?? []) {
      neighbours.set(peer, {
        peer,
        lastHeard: clock.unsafeCurrentTimeMillis(),
        lastSent: -Infinity,
        state: "up",
        deafSince: undefined,
        deafLast: -Infinity
      })
    }
    /** Latest advertisement of each other site: origin → (seq, neighbours it has up). */
    const advertised = new Map<string, { readonly seq: number; readonly up: ReadonlySet<string> }>()
    /**
     * Starts at the clock (×1000) rather than 0, so a restarted site's advertisements outrank the
     * ones its previous incarnation flooded (at most 1000 advertisements per millisecond).
     */
    let ownSeq = clock.unsafeCurrentTimeMillis() * 1000
    let heartbeatSeq = 0
    let nextHops = new Map<string, string>()
    let system: ActorSystemService | undefined
    /**
     * Decoded envelopes of this incarnation's durable sends, so the pump need not decode the
     * outbox row it just wrote; rows from before a restart are decoded from the outbox.
     */
    const accepted = new Map<string, Envelope>()
    const acceptedCacheLimit = 100_000

    const inMaintenance = new Set<string>()
    const edgeUp = (a: string, b: string): boolean => {
      // Two-way: our own link is up only while we hear the peer and the peer does not say it lost
      // us, so both ends leave a half-failed link as soon as either one notices.
      if (a === site) return ownLinkUp(b)
      if (b === site) return ownLinkUp(a)
      // Optimistic until told otherwise: a link nobody reported down is assumed up.
      const fromA = advertised.get(a)
      const fromB = advertised.get(b)
      return (fromA === undefined || fromA.up.has(b)) && (fromB === undefined || fromB.up.has(a))
    }

    const ownLinkUp = (peer: string): boolean =>
      neighbours.get(peer)?.state !== "down" && !inMaintenance.has(peer) && (advertised.get(peer)?.up.has(site) ?? true)

    /** Breadth-first shortest paths over the links believed up; first hop per destination. */
    /** Wakes the pump when it waits for work (an empty outbox) or for its next poll. */
    let wakePump: (() => void) | undefined
    /** A wake that came while the pump was busy: it looks again before it waits. */
    let wakeRequested = false
    const wake = () => {
      if (wakePump !== undefined) wakePump()
      else wakeRequested = true
    }
    const recompute = () => {
      const hops = new Map<string, string>()
      const queue: Array<string> = []
      for (const peer of graph.get(site) ?? []) {
        if (edgeUp(site, peer) && !hops.has(peer)) {
          hops.set(peer, peer)
          queue.push(peer)
        }
      }
      for (let i = 0; i < queue.length; i++) {
        const node = queue[i]!
        for (const next of graph.get(node) ?? []) {
          if (next === site || hops.has(next) || !edgeUp(node, next)) continue
          hops.set(next, hops.get(node)!)
          queue.push(next)
        }
      }
      const changed = hops.size !== nextHops.size || [...hops].some(([k, v]) => nextHops.get(k) !== v)
      if (changed) {
        // Durable messages to a destination with a new path go out on it now, not at their next
        // back-off: a silent link failure costs the detection time, not a retransmission wait.
        for (const [destination, hop] of hops) if (nextHops.get(destination) !== hop) rerouted.add(destination)
        if (rerouted.size > 0) wake()
      }
      nextHops = hops
      if (changed) emit({ _tag: "Routes", nextHops: Object.fromEntries(hops) })
    }
    /** Destinations whose next hop changed since the pump last looked. */
    const rerouted = new Set<string>()
    recompute()

    /** Every frame goes out through here, so the heartbeat knows which links were idle. */
    /** A frame went to `peer`: the link needs no heartbeat before the next interval. */
    const noteSent = (peer: string): void => {
      const n = neighbours.get(peer)
      if (n !== undefined) n.lastSent = clock.unsafeCurrentTimeMillis()
    }
    const transmit = (peer: string, frame: Frame) => {
      noteSent(peer)
      return transport.send(peer, frame)
    }
    const sendFrame = (peer: string, frame: Frame) => Effect.ignore(transmit(peer, frame))
    const offer = transport.offer

    /**
     * Forwards an envelope one hop synchronously when the transport takes frames that way and
     * the next hop's link takes it now: `false`, having done nothing, otherwise (`route` then
     * handles the hop limit, the missing route, the link found down).
     */
    const tryForward = (envelope: Envelope, cameFrom: string | undefined): boolean => {
      if (offer === undefined || envelope.hops >= config.maxHops) return false
      const target = envelope.to.site
      const via = nextHops.get(target)
      if (via === undefined || target === site || (via === cameFrom && via !== target)) return false
      const next = withHops(envelope, envelope.hops + 1)
      if (offer(via, envelopeFrame(next)) !== undefined) return false
      noteSent(via)
      emit({ _tag: "Forwarded", envelopeId: envelope.id, to: target, via })
      return true
    }

    const advertise = (except?: string) =>
      Effect.suspend(() => {
        ownSeq++
        const up = [...neighbours.values()]
          .filter((n) => n.state !== "down" && !inMaintenance.has(n.peer))
          .map((n) => n.peer)
        const frame = trusted(LinkStateFrame, { origin: site, seq: ownSeq, up, _tag: "LinkState" })
        return Effect.forEach(
          [...neighbours.keys()].filter((p) => p !== except),
          (peer) => sendFrame(peer, frame),
          { discard: true }
        )
      })

    const drop = (envelope: Envelope, reason: string) =>
      Effect.zipRight(
        Effect.sync(() => emit({ _tag: "Dropped", envelopeId: envelope.id, reason })),
        deadLetters.record({
          reason: "unreachable",
          to: envelope.to.toString(),
          from: envelope.from.toString(),
          tag: "",
          envelopeId: envelope.id,
          detail: reason,
          // A tell can go again once a path is back; an ask's asker has timed out by then.
          ...(envelope.kind === "tell" ? { replay: forward(envelope, undefined) } : {})
        })
      )

    /** Sends an envelope one hop closer to its site, or fails with `Unreachable`. */
    const forward = (envelope: Envelope, cameFrom: string | undefined): Effect.Effect<void, Unreachable> =>
      route(envelope, cameFrom, true)

    /** Forwards without falling back: the second try after a link was found down. */
    const forwardOnce = (envelope: Envelope, cameFrom: string | undefined): Effect.Effect<void, Unreachable> =>
      route(envelope, cameFrom, false)

    const route = (
      envelope: Envelope,
      cameFrom: string | undefined,
      fallBack: boolean
    ): Effect.Effect<void, Unreachable> =>
      Effect.suspend(() => {
        const target = envelope.to.site
        if (envelope.hops >= config.maxHops) {
          return Effect.fail(new Unreachable({ site: target, reason: `hop limit ${config.maxHops} reached` }))
        }
        const via = nextHops.get(target)
        if (via === undefined || (via === cameFrom && via !== target)) {
          return Effect.fail(new Unreachable({ site: target, reason: "no route" }))
        }
        const next = withHops(envelope, envelope.hops + 1)
        emit({ _tag: "Forwarded", envelopeId: envelope.id, to: target, via })
        return transmit(via, envelopeFrame(next)).pipe(
          Effect.catchAll((e) => {
            // The transport knows that link is not connected: it is down now, not after the
            // heartbeats say so. Route around it and try the next path once.
            const n = neighbours.get(via)
            if (n === undefined || n.state === "down" || !fallBack) {
              return Effect.fail(new Unreachable({ site: target, reason: e.reason }))
            }
            n.lastHeard = -Infinity // stays down until it is heard from again
            setState(n, "down")
            recompute()
            return Effect.zipRight(advertise(), forwardOnce(envelope, cameFrom))
          })
        )
      })

    const ack = (origin: string, id: string): Effect.Effect<void> =>
      origin === site
        ? Effect.asVoid(
            Effect.tap(outbox.ack(id), (removed) =>
              Effect.sync(() => {
                accepted.delete(id)
                if (removed) emit({ _tag: "Acked", envelopeId: id })
              })
            )
          )
        : routeAck(trusted(AckFrame, { from: site, to: origin, ids: [id], hops: 0, _tag: "Ack" }), undefined)

    const routeAck = (frame: AckFrame, cameFrom: string | undefined): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (frame.to === site) {
          return Effect.forEach(frame.ids, (id) => ack(site, id), { discard: true })
        }
        const via = nextHops.get(frame.to)
        if (via === undefined || frame.hops >= config.maxHops || (via === cameFrom && via !== frame.to)) {
          return Effect.void // the sender retransmits and is acknowledged again
        }
        return sendFrame(
          via,
          trusted(AckFrame, { from: frame.from, to: frame.to, ids: frame.ids, hops: frame.hops + 1, _tag: "Ack" })
        )
      })

    /**
     * An envelope for this site: hand it to the actor system. A durable one is acknowledged once
     * its fate is settled — applied, a duplicate of one applied, or rejected for good — and never
     * while it is only queued, so a crash before it is applied makes its sender retransmit it.
     */
    const deliverHere = (envelope: Envelope): Effect.Effect<void> =>
      Effect.gen(function* () {
        if (system === undefined) return
        const origin = envelope.from.site
        const delivery = yield* system.deliver(envelope, settledOf(envelope))
        emit({ _tag: "Delivered", envelopeId: envelope.id, delivery: delivery._tag })
        if (envelope.durable && (delivery._tag === "Duplicate" || delivery._tag === "Rejected")) {
          yield* ack(origin, envelope.id)
        }
      })

    /**
     * What the actor system calls once a queued envelope's fate is known: a durable one is
     * acknowledged then; a non-durable one only matters to an observer (the simulator's trace).
     */
    const settledOf = (envelope: Envelope): ((settlement: Settlement) => Effect.Effect<void>) | undefined =>
      envelope.durable
        ? (settlement) =>
            Effect.suspend(() => {
              emit({ _tag: "Settled", envelopeId: envelope.id, settlement })
              return settlement !== "unprocessed" ? ack(envelope.from.site, envelope.id) : Effect.void
            })
        : options.onEvent === undefined
          ? undefined
          : (settlement) => Effect.sync(() => emit({ _tag: "Settled", envelopeId: envelope.id, settlement }))

    /**
     * The router's direct handler (see `Inbox`): a frame taken as it arrives when that needs no
     * effect — a heartbeat, a non-durable envelope for an actor here or a reply to an ask here,
     * one relayed onwards. Anything else (a link changing state, durable delivery, link states,
     * acknowledgements, every failure) is declined and takes `onInbound` in the router's fiber.
     */
    const direct = ({ from, frame }: Inbound): boolean => {
      const n = neighbours.get(from)
      if (n === undefined) return true // not a neighbour per the topology: ignored, as onInbound does
      if (n.state !== "up") return false // hearing it changes the link's state
      if (frame._tag === "Heartbeat") {
        if (frame.hears === false) return false // the peer does not hear us: onHeartbeat
        n.lastHeard = clock.unsafeCurrentTimeMillis()
        n.deafSince = undefined
        return true
      }
      if (frame._tag !== "Envelope" || frame.envelope.durable) return false
      const envelope = frame.envelope
      if (envelope.to.site === site) {
        const delivery = system?.unsafeDeliver(envelope, settledOf(envelope))
        if (delivery === undefined) return false
        emit({ _tag: "Delivered", envelopeId: envelope.id, delivery: delivery._tag })
      } else if (!tryForward(envelope, from)) {
        return false
      }
      n.lastHeard = clock.unsafeCurrentTimeMillis()
      return true
    }

    const onEnvelope = (envelope: Envelope, cameFrom: string | undefined): Effect.Effect<void> =>
      envelope.to.site === site
        ? deliverHere(envelope)
        : forward(envelope, cameFrom).pipe(
            // Durable envelopes are retransmitted by their origin; others are lost here, recorded.
            Effect.catchAll((e) => drop(envelope, e.reason))
          )

    const onLinkState = (from: string, frame: LinkStateFrame) =>
      Effect.suspend(() => {
        if (frame.origin === site) return Effect.void
        const known = advertised.get(frame.origin)
        if (known !== undefined && known.seq >= frame.seq) return Effect.void
        advertised.set(frame.origin, { seq: frame.seq, up: new Set(frame.up) })
        recompute()
        // Flood onwards.
        return Effect.forEach(
          [...neighbours.keys()].filter((p) => p !== from && p !== frame.origin),
          (peer) => sendFrame(peer, frame),
          { discard: true }
        )
      })

    /**
     * A heartbeat from a neighbour we hear: if it says it hears nothing from here, and keeps
     * saying so (reports no more than a few heartbeats apart) for `halfOpenAfter`, our frames to
     * it go nowhere though its frames reach us — the link is reset, so that both ends start
     * afresh on a new connection rather than each believing its own half.
     */
    const onHeartbeat = (n: Neighbour, frame: HeartbeatFrame): Effect.Effect<void> => {
      if (frame.hears !== false) {
        n.deafSince = undefined
        return Effect.void
      }
      const now = clock.unsafeCurrentTimeMillis()
      if (n.deafSince === undefined || now - n.deafLast > 3 * heartbeatMs) n.deafSince = now
      n.deafLast = now
      if (now - n.deafSince < halfOpenMs || !config.resetHalfOpen || transport.reset === undefined) return Effect.void
      n.deafSince = undefined
      emit({ _tag: "LinkReset", peer: n.peer })
      transport.reset(n.peer)
      return Effect.void
    }

    const setState = (n: Neighbour, state: LinkState): boolean => {
      if (n.state === state) return false
      const wasDown = n.state === "down"
      n.state = state
      emit({ _tag: "LinkState", peer: n.peer, state })
      return wasDown || state === "down"
    }

    const onInbound = ({ from, frame }: Inbound): Effect.Effect<void> =>
      Effect.suspend(() => {
        const n = neighbours.get(from)
        if (n === undefined) return Effect.void // not a neighbour per the topology
        n.lastHeard = clock.unsafeCurrentTimeMillis()
        const routingChanged = setState(n, "up")
        const handle = (() => {
          switch (frame._tag) {
            case "Envelope":
              return onEnvelope(frame.envelope, from)
            case "Ack":
              return routeAck(frame, from)
            case "LinkState":
              return onLinkState(from, frame)
            case "Heartbeat":
              return onHeartbeat(n, frame)
          }
        })()
        if (!routingChanged) return handle
        recompute()
        return Effect.zipRight(advertise(), handle)
      })

    /** Heartbeats out, and the link state machine on silence. */
    const heartbeat = Effect.gen(function* () {
      let sinceAdvert = 0
      const advertEvery = Math.max(1, Math.round(ms(config.linkStateInterval) / heartbeatMs))
      while (true) {
        const now = clock.unsafeCurrentTimeMillis()
        let changed = false
        for (const n of neighbours.values()) {
          const silent = now - n.lastHeard
          const state: LinkState = silent >= downMs ? "down" : silent >= suspectMs ? "suspect" : "up"
          if (setState(n, state)) changed = true
        }
        if (changed) recompute()
        sinceAdvert++
        if (changed || sinceAdvert >= advertEvery) {
          sinceAdvert = 0
          yield* advertise()
        }
        // Any frame is a sign of life: only links idle for a whole interval get a heartbeat. A
        // neighbour we do not hear gets one every interval that says so (see `onHeartbeat`).
        const seq = heartbeatSeq++
        const beat = trusted(HeartbeatFrame, { seq, _tag: "Heartbeat" })
        let deaf: HeartbeatFrame | undefined
        for (const n of neighbours.values()) {
          if (n.state === "down") {
            deaf ??= trusted(HeartbeatFrame, { seq, hears: false, _tag: "Heartbeat" })
            yield* sendFrame(n.peer, deaf)
          } else if (now - n.lastSent >= heartbeatMs) yield* sendFrame(n.peer, beat)
        }
        yield* Effect.sleep(heartbeatMs)
      }
    })

    const awaitWork = Effect.async<void>((resume) => {
      if (wakeRequested) return resume(Effect.void)
      wakePump = () => {
        wakePump = undefined
        resume(Effect.void)
      }
      return Effect.sync(() => {
        wakePump = undefined
      })
    })

    /** Sends what is due in the outbox; retransmits with back-off; gives up past the horizon. */
    const pump = Effect.gen(function* () {
      const initial = ms(config.retransmitInitial)
      const max = ms(config.retransmitMax)
      while (true) {
        const now = clock.unsafeCurrentTimeMillis()
        // What was asked for until now is seen by the query below; a later wake, by awaitWork.
        wakeRequested = false
        if (rerouted.size > 0) {
          for (const [id, envelope] of accepted) {
            if (rerouted.has(envelope.to.site)) yield* outbox.reschedule(id, now, false)
          }
          rerouted.clear()
        }
        const due = yield* outbox.due(now, config.outboxBatch)
        for (const entry of due) {
          const cachedEnvelope = accepted.get(entry.id)
          const decoded = cachedEnvelope !== undefined ? Either.right(cachedEnvelope) : decodeEnvelope(entry.envelope)
          // A row from before a restart is decoded once, not on every retransmission.
          if (cachedEnvelope === undefined && Either.isRight(decoded) && accepted.size < acceptedCacheLimit) {
            accepted.set(entry.id, decoded.right)
          }
          if (Either.isLeft(decoded) || now - entry.createdAt > horizonMs) {
            yield* outbox.ack(entry.id)
            accepted.delete(entry.id)
            yield* deadLetters.record({
              reason: Either.isLeft(decoded) ? "undecodable" : "expired",
              to: entry.destination,
              from: site,
              tag: "",
              envelopeId: entry.id,
              detail: Either.isLeft(decoded) ? "outbox row did not decode" : "retransmit horizon passed unacknowledged",
              // Back into the outbox under the same id: the receiver still applies it at most once.
              ...(Either.isRight(decoded) ? { replay: router.sendDurable(decoded.right) } : {})
            })
            continue
          }
          const envelope = decoded.right
          if (config.retransmit && envelope.to.site !== site && !nextHops.has(envelope.to.site)) {
            // No path now: wait for one without spending an attempt (and its back-off).
            yield* outbox.reschedule(entry.id, now + pollMs, false)
            continue
          }
          if (entry.attempts > 0) emit({ _tag: "Retransmit", envelopeId: entry.id, attempt: entry.attempts })
          if (config.retransmit) {
            yield* outbox.reschedule(entry.id, now + Math.min(max, initial * 2 ** Math.min(entry.attempts, 20)))
          } else {
            yield* outbox.ack(entry.id) // UNSAFE: sent once, forgotten
            accepted.delete(entry.id)
          }
          if (envelope.to.site === site) yield* deliverHere(envelope)
          else yield* Effect.ignore(forward(envelope, undefined))
        }
        // An empty outbox needs no polling: the next durable send wakes the pump. Otherwise it
        // polls for retransmissions, and a new durable send (or a new route) wakes it at once,
        // so a first transmission never waits for the poll.
        if ((yield* outbox.size).entries === 0) yield* awaitWork
        else yield* Effect.raceFirst(Effect.sleep(pollMs), awaitWork)
      }
    })

    const router: RouterService = {
      send: (envelope) =>
        envelope.to.site === site ? Effect.asVoid(onEnvelope(envelope, undefined)) : forward(envelope, undefined),
      trySend: (envelope) => tryForward(envelope, undefined),
      sendDurable: (envelope): Effect.Effect<void, OutboxFull | Unreachable> =>
        Effect.gen(function* () {
          if (!graph.has(envelope.to.site)) {
            return yield* new Unreachable({ site: envelope.to.site, reason: "no such site in the topology" })
          }
          const encoded = encodeEnvelope(envelope)
          yield* outbox.append({
            id: envelope.id,
            destination: envelope.to.site,
            envelope: encoded,
            bytes: JSON.stringify(encoded).length
          })
          if (accepted.size < acceptedCacheLimit) accepted.set(envelope.id, envelope)
          emit({ _tag: "Accepted", envelopeId: envelope.id, to: envelope.to.toString() })
          wake()
        })
    }

    return {
      router,
      start: (sys) =>
        Effect.gen(function* () {
          system = sys
          if (transport.setDirect !== undefined) {
            const remove = transport.setDirect(direct)
            yield* Effect.addFinalizer(() => Effect.sync(remove))
          }
          yield* Effect.forkScoped(
            Effect.forever(
              Effect.flatMap(transport.receive, (batch) =>
                Effect.forEach(
                  batch,
                  (inbound) =>
                    // Nothing a peer sends may stop this loop: a defect is logged and the frame dropped.
                    onInbound(inbound).pipe(
                      Effect.catchAllCause((cause) =>
                        Effect.logError(`router ${site}: frame from ${inbound.from} failed`, cause)
                      )
                    ),
                  { discard: true }
                )
              )
            )
          )
          yield* Effect.forkScoped(heartbeat)
          yield* Effect.forkScoped(pump)
        }),
      links: () =>
        Object.fromEntries(
          [...neighbours.values()].map((n) => [n.peer, inMaintenance.has(n.peer) ? "down" : n.state] as const)
        ),
      peerViews: () =>
        Object.fromEntries([...neighbours.keys()].map((peer) => [peer, advertised.get(peer)?.up.has(site) ?? true])),
      routes: () => Object.fromEntries(nextHops),
      setMaintenance: (peer, on) =>
        Effect.suspend(() => {
          if (!neighbours.has(peer)) return Effect.succeed(false)
          if (inMaintenance.has(peer) === on) return Effect.succeed(true)
          if (on) inMaintenance.add(peer)
          else inMaintenance.delete(peer)
          emit({ _tag: "LinkState", peer, state: on ? "down" : neighbours.get(peer)!.state })
          recompute()
          return Effect.as(advertise(), true)
        }),
      maintenance: () => [...inMaintenance].sort()
    }
  })
