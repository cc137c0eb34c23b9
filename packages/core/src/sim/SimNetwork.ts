/**
 * The simulated network: one {@link TransportService} per site, over in-memory links with
 * latency, jitter, loss, duplication, reordering and bandwidth, plus the faults a scenario
 * schedules — partitions, silent failures (a site stops answering without closing anything, like
 * SIGSTOP), crashes and half-open links (frames go one way only until an end resets the link).
 * Frames are immutable values handed over as they are (the TCP transport is where frames are
 * encoded and Schema-checked); their JSON size drives the bandwidth model. All timing is on the
 * Effect clock and all chance on the Effect `Random`, so a seeded run under the simulation engine
 * is exactly reproducible.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type { Topology } from "../topology/Topology.js"
import { currentSimClock } from "./Engine.js"
import { type Frame, Inbox, LinkUnavailable, type TransportService } from "../transport/Transport.js"

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
  /** How long a link that was reset carries nothing, both ways (a TCP transport dials again). */
  readonly reconnect: Duration.DurationInput
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
export type DropReason = "loss" | "partition" | "silent" | "crashed" | "inbox-full" | "half-open" | "reconnecting"

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
  /**
   * Leaves the link between `from` and `to` half-open: `from`'s frames to `to` go nowhere while
   * `to`'s still reach `from`, until either end's transport resets the link.
   */
  readonly setHalfOpen: (from: string, to: string) => void
}

/** One direction of a link: when the wire is free again (bandwidth) and the last arrival (ordering). */
interface Wire {
  busyUntil: number
  lastArrival: number
}

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
    const config: Config = {
      profile: defaultProfile,
      links: {},
      inboxCapacity: 10_000,
      reconnect: "100 millis",
      ...options.config
    }
    const reconnectMillis = Duration.toMillis(Duration.decode(config.reconnect))
    const emit = options.onEvent ?? (() => {})
    const scope = yield* Effect.scope
    const neighbours = new Map<string, Set<string>>()
    for (const name of Object.keys(options.topology.sites)) neighbours.set(name, new Set())
    for (const link of options.topology.links) {
      const [a, b] = link.between
      neighbours.get(a)?.add(b)
      neighbours.get(b)?.add(a)
    }
    const inboxes = new Map<string, Inbox>()
    for (const name of neighbours.keys()) inboxes.set(name, new Inbox(config.inboxCapacity, 1024))
    const partitions = new Set<string>()
    const silent = new Set<string>()
    const crashed = new Set<string>()
    /** Directions `from>to` whose frames go nowhere (half-open links). */
    const halfOpen = new Set<string>()
    /** Links reset and not yet connected again: link key → when they carry frames again. */
    const reconnecting = new Map<string, number>()
    /** Per direction: when the wire is free again (bandwidth) and the last arrival (ordering). */
    const wires = new Map<string, Wire>()

    /** Each link's profile, resolved once. */
    const links = new Map<string, LinkProfile & { readonly latencyMillis: number; readonly jitterMillis: number }>()
    const linkOf = (a: string, b: string) => {
      const key = linkKey(a, b)
      let link = links.get(key)
      if (link === undefined) {
        const profile = { ...config.profile, ...config.links[key] }
        link = {
          ...profile,
          latencyMillis: Duration.toMillis(Duration.decode(profile.latency)),
          jitterMillis: Duration.toMillis(Duration.decode(profile.jitter))
        }
        links.set(key, link)
      }
      return link
    }
    // The network's chance comes from the run's one seeded source: its stream is seeded from the
    // Effect `Random` once, then drawn synchronously per frame.
    const random = mulberry32(yield* Random.nextIntBetween(0, 0x7fffffff))
    const clock = yield* Effect.clock

    /** Checked per frame, twice: the common case (no fault in force) costs five size checks. */
    const blocked = (from: string, to: string): DropReason | undefined =>
      crashed.size > 0 && (crashed.has(to) || crashed.has(from))
        ? "crashed"
        : silent.size > 0 && (silent.has(to) || silent.has(from))
          ? "silent"
          : partitions.size > 0 && partitions.has(linkKey(from, to))
            ? "partition"
            : halfOpen.size > 0 && halfOpen.has(`${from}>${to}`)
              ? "half-open"
              : reconnecting.size > 0 && isReconnecting(from, to)
                ? "reconnecting"
                : undefined
    const isReconnecting = (from: string, to: string): boolean => {
      const key = linkKey(from, to)
      const until = reconnecting.get(key)
      if (until === undefined) return false
      if (clock.unsafeCurrentTimeMillis() < until) return true
      reconnecting.delete(key)
      return false
    }

    /** Hands a frame to the receiver at its arrival time (synchronous: runs from a timer). */
    const arrive = (from: string, to: string, frame: Frame, tag: string): void => {
      const reason = blocked(from, to)
      if (reason !== undefined) {
        emit({ _tag: "Drop", from, to, frame: tag, reason })
        return
      }
      const accepted = inboxes.get(to)!.offer({ from, frame })
      emit(
        accepted
          ? { _tag: "Arrive", from, to, frame: tag }
          : { _tag: "Drop", from, to, frame: tag, reason: "inbox-full" }
      )
    }

    /**
     * On the simulator's clock, a timer callback per frame (so a frame is handed over
     * synchronously: `offer`); elsewhere (live tests), a fiber.
     */
    const simClock = yield* currentSimClock
    const runtime = yield* Effect.runtime<never>()
    const schedule: (delayMillis: number, task: () => void) => void = Option.isSome(simClock)
      ? (delayMillis, task) => simClock.value.unsafeSchedule(task, delayMillis)
      : (delayMillis, task) =>
          void Runtime.runFork(runtime)(
            Effect.forkIn(Effect.delay(Effect.sync(task), Duration.millis(delayMillis)), scope)
          )

    const transport = (site: string): TransportService => {
      const peers = [...(neighbours.get(site) ?? [])].sort()
      const inbox = inboxes.get(site)
      if (inbox === undefined) throw new Error(`no site ${site} in the simulated topology`)
      /** Per peer: the link's profile and this direction's wire, looked up once. */
      const directions = new Map<
        string,
        { readonly link: ReturnType<typeof linkOf>; readonly key: string; wire: Wire | undefined }
      >()
      for (const peer of peers)
        directions.set(peer, { link: linkOf(site, peer), key: `${site}>${peer}`, wire: undefined })
      /**
       * Puts a frame on the wire: each copy's arrival is scheduled after its delay. `undefined`
       * when it left (or was lost on the way), else why it could not.
       */
      const offer = (peer: string, frame: Frame): LinkUnavailable | undefined => {
        const direction = directions.get(peer)
        if (direction === undefined) return new LinkUnavailable({ peer, reason: `no link from ${site} to ${peer}` })
        const tag = label(frame)
        // Size on the wire: the frame as JSON (frames are immutable, so the object itself
        // travels; the envelope payload inside is already in its encoded form).
        const bytes = JSON.stringify(frame).length
        emit({ _tag: "Send", from: site, to: peer, frame: tag, bytes })
        const reason = blocked(site, peer)
        if (reason !== undefined) {
          emit({ _tag: "Drop", from: site, to: peer, frame: tag, reason })
          return undefined
        }
        const link = direction.link
        if (link.loss > 0 && random() < link.loss) {
          emit({ _tag: "Drop", from: site, to: peer, frame: tag, reason: "loss" })
          return undefined
        }
        const now = clock.unsafeCurrentTimeMillis()
        let wire = direction.wire
        if (wire === undefined) {
          // Shared by every incarnation of the site (a restart keeps the wire's state).
          wire = wires.get(direction.key)
          if (wire === undefined) {
            wire = { busyUntil: now, lastArrival: now }
            wires.set(direction.key, wire)
          }
          direction.wire = wire
        }
        const sent =
          link.bandwidth === undefined ? now : Math.max(now, wire.busyUntil) + (bytes * 1000) / link.bandwidth
        wire.busyUntil = sent
        let at = sent + link.latencyMillis + (link.jitterMillis > 0 ? random() * link.jitterMillis : 0)
        if (!link.reorder) at = Math.max(at, wire.lastArrival)
        wire.lastArrival = Math.max(wire.lastArrival, at)
        const copies = link.duplicate > 0 && random() < link.duplicate ? 2 : 1
        if (copies === 2) emit({ _tag: "Duplicate", from: site, to: peer, frame: tag })
        schedule(at - now, () => arrive(site, peer, frame, tag))
        if (copies === 2) schedule(at - now + 1, () => arrive(site, peer, frame, tag))
        return undefined
      }
      return {
        site,
        peers,
        receive: inbox.receive,
        setDirect: (handler) => inbox.setDirect(handler),
        offer,
        send: (peer, frame) =>
          Effect.suspend(() => {
            const refused = offer(peer, frame)
            return refused === undefined ? Effect.void : Effect.fail(refused)
          }),
        reset: (peer) => {
          if (!directions.has(peer)) return
          halfOpen.delete(`${site}>${peer}`)
          halfOpen.delete(`${peer}>${site}`)
          reconnecting.set(linkKey(site, peer), clock.unsafeCurrentTimeMillis() + reconnectMillis)
        }
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
          inboxes.get(site)?.reset()
          return Effect.void
        }),
      setHalfOpen: (from, to) => void halfOpen.add(`${from}>${to}`)
    }
  })

/** A small, fast, seedable PRNG (mulberry32): uniform in [0, 1). */
const mulberry32 = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
