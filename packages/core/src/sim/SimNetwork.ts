/**
 * The simulated network: one {@link TransportService} per site, over in-memory links with
 * latency, jitter, loss, duplication, reordering and bandwidth, plus the faults a scenario
 * schedules — partitions, silent failures (a site stops answering without closing anything, like
 * SIGSTOP) and crashes. Frames go through their Schema encoding both ways, as on a real wire.
 * All timing is on the Effect clock and all chance on the Effect `Random`, so a seeded run under
 * the simulation engine is exactly reproducible.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { Topology } from "../topology/Topology.js"
import { currentSimClock } from "./Engine.js"
import { Frame, type Inbound, LinkUnavailable, type TransportService } from "../transport/Transport.js"

/**
 * How one link behaves (both directions alike).
 *
 * @since 0.1.0
 * @category config
 */
export interface LinkProfile {
  readonly latency: Duration.DurationInput
  /** Up to this much extra delay, uniformly random per frame. */
  readonly jitter: Duration.DurationInput
  /** Probability that a frame is lost. */
  readonly loss: number
  /** Probability that a frame is delivered twice. */
  readonly duplicate: number
  /** May a frame overtake an earlier one (when jitter lets it)? */
  readonly reorder: boolean
  /** Bytes per second each direction carries; frames queue behind each other. `undefined`: unlimited. */
  readonly bandwidth: number | undefined
}

/**
 * @since 0.1.0
 * @category config
 */
export const defaultProfile: LinkProfile = {
  latency: "20 millis",
  jitter: "0 millis",
  loss: 0,
  duplicate: 0,
  reorder: false,
  bandwidth: undefined
}

/**
 * @since 0.1.0
 * @category config
 */
export interface Config {
  readonly profile: LinkProfile
  /** Per-link overrides, keyed `a|b` with the names sorted. */
  readonly links: Readonly<Record<string, Partial<LinkProfile>>>
  /** Frames waiting to be taken by a site's router; beyond it frames are dropped (counted). */
  readonly inboxCapacity: number
}

/**
 * What the network reports to the trace.
 *
 * @since 0.1.0
 * @category models
 */
export type Event =
  | {
      readonly _tag: "Send"
      readonly from: string
      readonly to: string
      readonly frame: string
      readonly bytes: number
    }
  | { readonly _tag: "Arrive"; readonly from: string; readonly to: string; readonly frame: string }
  | {
      readonly _tag: "Drop"
      readonly from: string
      readonly to: string
      readonly frame: string
      readonly reason: DropReason
    }
  | { readonly _tag: "Duplicate"; readonly from: string; readonly to: string; readonly frame: string }

/**
 * Why the network lost a frame.
 *
 * @since 0.1.0
 * @category models
 */
export type DropReason = "loss" | "partition" | "silent" | "crashed" | "inbox-full"

/**
 * Key of the link between two sites.
 *
 * @since 0.1.0
 * @category utils
 */
export const linkKey = (a: string, b: string): string => (a < b ? `${a}|${b}` : `${b}|${a}`)

/**
 * @since 0.1.0
 * @category models
 */
export interface SimNetwork {
  readonly transport: (site: string) => TransportService
  /** Cuts (or heals) traffic between two sites, whether or not a link joins them directly. */
  readonly setPartitioned: (a: string, b: string, partitioned: boolean) => void
  /** A silent site neither sends nor receives, yet closes nothing (SIGSTOP). */
  readonly setSilent: (site: string, silent: boolean) => void
  /** A crashed site loses what waits in its inbox and receives nothing until it is restarted. */
  readonly setCrashed: (site: string, crashed: boolean) => Effect.Effect<void>
}

const encodeFrame = Schema.encodeSync(Frame)
const decodeFrame = Schema.decodeUnknownSync(Frame)

/** A short label of a frame for the trace: its tag, and the envelope id when it carries one. */
const label = (frame: Frame): string => {
  switch (frame._tag) {
    case "Envelope":
      return `Envelope:${frame.envelope.id}`
    case "Ack":
      return `Ack:${frame.ids.join(",")}`
    case "LinkState":
      return `LinkState:${frame.origin}#${frame.seq}`
    case "Heartbeat":
      return "Heartbeat"
  }
}

/**
 * Builds the network of a topology; delivery fibers live in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly topology: Topology
  readonly config?: Partial<Config>
  readonly onEvent?: (event: Event) => void
}): Effect.Effect<SimNetwork, never, Scope.Scope> =>
  Effect.gen(function* () {
    const config: Config = { profile: defaultProfile, links: {}, inboxCapacity: 10_000, ...options.config }
    const emit = options.onEvent ?? (() => {})
    const scope = yield* Effect.scope
    const neighbours = new Map<string, Set<string>>()
    for (const name of Object.keys(options.topology.sites)) neighbours.set(name, new Set())
    for (const link of options.topology.links) {
      const [a, b] = link.between
      neighbours.get(a)?.add(b)
      neighbours.get(b)?.add(a)
    }
    const inboxes = new Map<string, Queue.Queue<Inbound>>()
    for (const name of neighbours.keys()) inboxes.set(name, yield* Queue.dropping<Inbound>(config.inboxCapacity))
    const partitions = new Set<string>()
    const silent = new Set<string>()
    const crashed = new Set<string>()
    /** Per direction: when the wire is free again (bandwidth) and the last arrival (ordering). */
    const wires = new Map<string, { busyUntil: number; lastArrival: number }>()

    const profileOf = (a: string, b: string): LinkProfile => ({ ...config.profile, ...config.links[linkKey(a, b)] })

    const blocked = (from: string, to: string): DropReason | undefined =>
      crashed.has(to) || crashed.has(from)
        ? "crashed"
        : silent.has(to) || silent.has(from)
          ? "silent"
          : partitions.has(linkKey(from, to))
            ? "partition"
            : undefined

    /** Hands a frame to the receiver at its arrival time (synchronous: runs from a timer). */
    const arrive = (from: string, to: string, wire: string, tag: string): void => {
      const reason = blocked(from, to)
      if (reason !== undefined) {
        emit({ _tag: "Drop", from, to, frame: tag, reason })
        return
      }
      const frame = decodeFrame(JSON.parse(wire))
      const accepted = inboxes.get(to)!.unsafeOffer({ from, frame })
      emit(
        accepted
          ? { _tag: "Arrive", from, to, frame: tag }
          : { _tag: "Drop", from, to, frame: tag, reason: "inbox-full" }
      )
    }

    /** On the simulator's clock, a timer callback per frame; elsewhere (live tests), a fiber. */
    const simClock = yield* currentSimClock
    const schedule = (delayMillis: number, task: () => void): Effect.Effect<void> =>
      Option.isSome(simClock)
        ? Effect.sync(() => void simClock.value.unsafeSchedule(task, Duration.millis(delayMillis)))
        : Effect.asVoid(Effect.forkIn(Effect.delay(Effect.sync(task), Duration.millis(delayMillis)), scope))

    const transport = (site: string): TransportService => {
      const peers = [...(neighbours.get(site) ?? [])].sort()
      const inbox = inboxes.get(site)
      if (inbox === undefined) throw new Error(`no site ${site} in the simulated topology`)
      return {
        site,
        peers,
        receive: Queue.take(inbox),
        send: (peer, frame) =>
          Effect.gen(function* () {
            if (!neighbours.get(site)?.has(peer)) {
              return yield* new LinkUnavailable({ peer, reason: `no link from ${site} to ${peer}` })
            }
            const tag = label(frame)
            const wire = JSON.stringify(encodeFrame(frame))
            const bytes = wire.length
            emit({ _tag: "Send", from: site, to: peer, frame: tag, bytes })
            const reason = blocked(site, peer)
            if (reason !== undefined) {
              emit({ _tag: "Drop", from: site, to: peer, frame: tag, reason })
              return
            }
            const profile = profileOf(site, peer)
            if (profile.loss > 0 && (yield* Random.next) < profile.loss) {
              emit({ _tag: "Drop", from: site, to: peer, frame: tag, reason: "loss" })
              return
            }
            const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
            const key = `${site}>${peer}`
            const state = wires.get(key) ?? { busyUntil: now, lastArrival: now }
            wires.set(key, state)
            const sent =
              profile.bandwidth === undefined
                ? now
                : Math.max(now, state.busyUntil) + (bytes * 1000) / profile.bandwidth
            state.busyUntil = sent
            const jitterMs = Duration.toMillis(Duration.decode(profile.jitter))
            const jitter = jitterMs > 0 ? (yield* Random.next) * jitterMs : 0
            let at = sent + Duration.toMillis(Duration.decode(profile.latency)) + jitter
            if (!profile.reorder) at = Math.max(at, state.lastArrival)
            state.lastArrival = Math.max(state.lastArrival, at)
            const copies = profile.duplicate > 0 && (yield* Random.next) < profile.duplicate ? 2 : 1
            if (copies === 2) emit({ _tag: "Duplicate", from: site, to: peer, frame: tag })
            for (let i = 0; i < copies; i++) yield* schedule(at - now + i, () => arrive(site, peer, wire, tag))
          })
      }
    }

    return {
      transport,
      setPartitioned: (a, b, on) => void (on ? partitions.add(linkKey(a, b)) : partitions.delete(linkKey(a, b))),
      setSilent: (site, on) => void (on ? silent.add(site) : silent.delete(site)),
      setCrashed: (site, on) =>
        Effect.suspend(() => {
          if (!on) return Effect.sync(() => void crashed.delete(site))
          crashed.add(site)
          const inbox = inboxes.get(site)
          return inbox === undefined ? Effect.void : Effect.asVoid(Queue.takeAll(inbox))
        })
    }
  })
