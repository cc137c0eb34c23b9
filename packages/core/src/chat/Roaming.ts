/**
 * A region's roaming system: the data service module (`chat-data`) and the business module
 * (`chat-business`), and the client its own service center uses to reach other regions — home
 * lookups (cached, invalidated when a group moves), queries and stores at a group's home, sends
 * to a group's home and deliveries to members' home regions.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Actor from "../kernel/Actor.js"
import type { AskError } from "../kernel/Errors.js"
import type { SiteContext } from "../site/Module.js"
import { centerSite, chatRegions, refsOf } from "./Center.js"
import {
  BUSINESS,
  BusinessProtocol,
  ChatBusy,
  ChatInvalid,
  DATA,
  DataProtocol,
  Adopt,
  Deliver,
  MemberMoved,
  Receive,
  Send,
  Submit,
  Where
} from "./Protocol.js"

/**
 * Bounds of the roaming system, from the module's settings.
 *
 * @since 0.1.0
 * @category config
 */
export interface Limits {
  /** Homes remembered (groups and users each). */
  readonly homeCacheSize: number
  /** How long a remembered home is trusted. */
  readonly homeCacheTtlMillis: number
  /** How long a lookup waits for the other regions. */
  readonly lookupTimeout: Duration.DurationInput
  /** Lookups of other regions in flight at once (more wait). */
  readonly maxConcurrentLookups: number
  readonly mailboxCapacity: number
}

/** A bounded map with expiry, oldest entry evicted first. */
class HomeCache {
  private readonly entries = new Map<string, { readonly region: string; readonly until: number }>()
  constructor(
    private readonly size: number,
    private readonly ttl: number
  ) {}
  get(key: string, now: number): string | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    if (entry.until < now) {
      this.entries.delete(key)
      return undefined
    }
    return entry.region
  }
  set(key: string, region: string, now: number): void {
    this.entries.delete(key)
    this.entries.set(key, { region, until: now + this.ttl })
    if (this.entries.size > this.size) this.entries.delete(this.entries.keys().next().value!)
  }
  delete(key: string): void {
    this.entries.delete(key)
  }
  get count(): number {
    return this.entries.size
  }
}

/**
 * What a service center asks of its own roaming system.
 *
 * @since 0.1.0
 * @category models
 */
export interface Roaming {
  /** This site's region. */
  readonly region: string
  /**
   * The home region of a group: cached, else asked of this region's center and every other
   * region's data service (the first to hold it answers); when nobody answers, the region its id
   * names. Never fails.
   */
  readonly homeOfGroup: (group: string) => Effect.Effect<string>
  /** Remembers (or, with `undefined`, forgets) a group's home. */
  readonly setGroupHome: (group: string, region: string | undefined) => Effect.Effect<void>
  /** The home region of a user, from the accounts service (cached). */
  readonly homeOfUser: (user: string) => Effect.Effect<string, ChatInvalid | AskError>
  /** Remembers (or, with `undefined`, forgets) a user's home. */
  readonly setUserHome: (user: string, region: string | undefined) => Effect.Effect<void>
  readonly cacheSizes: () => { readonly groups: number; readonly users: number }
}

/**
 * The roaming client of `context.site`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (context: SiteContext, limits: Limits): Effect.Effect<Roaming> =>
  Effect.gen(function* () {
    const { topology } = context
    const region = context.siteInfo.region
    const groups = new HomeCache(limits.homeCacheSize, limits.homeCacheTtlMillis)
    const users = new HomeCache(limits.homeCacheSize, limits.homeCacheTtlMillis)
    const lookups = yield* Effect.makeSemaphore(limits.maxConcurrentLookups)
    const now = Effect.clockWith((clock) => clock.currentTimeMillis)

    const ask = (target: string, group: string) => {
      const refs = refsOf(context.system, topology, target)
      const request = new Where({ group })
      return target === region
        ? refs.center.ask(request, { timeout: limits.lookupTimeout })
        : refs.data.ask(request, { timeout: limits.lookupTimeout })
    }

    /** Follows `moved` answers (at most one per region) to the region that holds the group. */
    const resolve = (group: string, target: string, hops: number): Effect.Effect<string, "unknown"> =>
      Effect.flatMap(
        Effect.orElseFail(ask(target, group), () => "unknown" as const),
        (answer) =>
          answer.state === "home"
            ? Effect.succeed(target)
            : answer.state === "moved" && answer.region !== undefined && hops > 0
              ? resolve(group, answer.region, hops - 1)
              : Effect.fail("unknown" as const)
      )

    const homeOfGroup = (group: string): Effect.Effect<string> =>
      Effect.gen(function* () {
        const cached = groups.get(group, yield* now)
        if (cached !== undefined) return cached
        const regions = chatRegions(topology)
        const found = yield* lookups
          .withPermits(1)(Effect.raceAll(regions.map((target) => resolve(group, target, regions.length))))
          .pipe(Effect.option)
        if (found._tag === "Some") {
          groups.set(group, found.value, yield* now)
          return found.value
        }
        const hint = group.slice(0, group.indexOf("."))
        return regions.includes(hint) ? hint : region
      })

    const homeOfUser = (user: string): Effect.Effect<string, ChatInvalid | AskError> =>
      Effect.gen(function* () {
        const cached = users.get(user, yield* now)
        if (cached !== undefined) return cached
        const home = yield* lookups
          .withPermits(1)(context.accounts.locate(user, { timeout: limits.lookupTimeout }))
          .pipe(Effect.catchTag("AccountNotFound", () => new ChatInvalid({ reason: `no user named ${user}` })))
        users.set(user, home, yield* now)
        return home
      })

    return {
      region,
      homeOfGroup,
      setGroupHome: (group, target) =>
        Effect.flatMap(now, (t) =>
          Effect.sync(() => (target === undefined ? groups.delete(group) : groups.set(group, target, t)))
        ),
      homeOfUser,
      setUserHome: (user, target) =>
        Effect.flatMap(now, (t) =>
          Effect.sync(() => (target === undefined ? users.delete(user) : users.set(user, target, t)))
        ),
      cacheSizes: () => ({ groups: groups.count, users: users.count })
    }
  })

/**
 * The data service module: answers other regions' lookups, queries and stores of groups homed
 * here, and user history for users homed here, from this region's center; drops cached homes
 * when a group moves.
 *
 * @since 0.1.0
 * @category actors
 */
export const dataActor = (context: SiteContext, roaming: Roaming, mailboxCapacity: number) =>
  Actor.make(
    DATA,
    DataProtocol,
    () =>
      Effect.sync(() => {
        const center = refsOf(context.system, context.topology, roaming.region).center
        return {
          // A center that cannot answer now holds nothing anyone can reach: `unknown`.
          Where: (request) => center.ask(request).pipe(Effect.orElseSucceed(() => ({ state: "unknown" as const }))),
          HomeMoved: (message) => roaming.setGroupHome(message.group, message.to),
          UserMoved: (message) =>
            Effect.zipRight(
              roaming.setUserHome(message.user, message.to),
              center
                .ask(new MemberMoved({ user: message.user, from: message.from, to: message.to, move: message.move }))
                .pipe(Effect.retry({ schedule: localRetry, while: () => true }))
            ),
          Create: (request) => center.ask(request).pipe(busyOnAskError),
          Get: (request) => center.ask(request).pipe(busyOnAskError),
          Edit: (request) => center.ask(request).pipe(busyOnAskError),
          ChangeMembers: (request) => center.ask(request).pipe(busyOnAskError),
          History: (request) =>
            center.ask(request).pipe(Effect.catchIf(isAskError, (e) => new ChatBusy({ reason: e.message }))),
          Move: (request) => center.ask(request).pipe(busyOnAskError)
        }
      }),
    { mailboxCapacity }
  )

const busyOnAskError = <A, E extends { readonly _tag: string }>(
  effect: Effect.Effect<A, E | AskError>
): Effect.Effect<A, Exclude<E, AskError> | ChatInvalid> =>
  effect.pipe(
    Effect.catchIf(
      (e): e is Extract<E | AskError, AskError> => isAskError(e),
      (e) => Effect.fail(new ChatInvalid({ reason: `the service center did not answer: ${e.message}` }))
    )
  ) as Effect.Effect<A, Exclude<E, AskError> | ChatInvalid>

const askErrorTags = new Set<string>([
  "AskTimeout",
  "MailboxFull",
  "PendingAsksFull",
  "Unreachable",
  "ActorCrashed",
  "ActorNotFound",
  "ActorStopped",
  "MalformedMessage"
] satisfies ReadonlyArray<AskError["_tag"]>)

/**
 * A kernel failure of an ask (the other side did not answer), as opposed to the request's own.
 *
 * @since 0.1.0
 * @category errors
 */
export const isAskError = (e: { readonly _tag: string }): e is AskError => askErrorTags.has(e._tag)

/** The local center is asked again while it is busy (full mailbox, slow); then the envelope waits. */
const localRetry = Schedule.intersect(Schedule.exponential("20 millis"), Schedule.recurs(6))

/**
 * The business module: takes sends for groups homed here (an ask when the home answers at
 * once, else the durable `Submit`), copies for members homed here (`Carry`), and moved groups
 * (`Handover`), and passes them to this region's center. A send for a group that moved on is
 * forwarded to its new home's business module.
 *
 * @since 0.1.0
 * @category actors
 */
export const businessActor = (
  context: SiteContext,
  roaming: Roaming,
  mailboxCapacity: number,
  onRejected: (reason: string) => void
) =>
  Actor.make(
    BUSINESS,
    BusinessProtocol,
    () =>
      Effect.sync(() => {
        const center = refsOf(context.system, context.topology, roaming.region).center
        const submit = (message: Submit): Effect.Effect<void, unknown> =>
          center
            .ask(
              new Send({
                group: message.group,
                id: message.id,
                from: message.from,
                text: message.text,
                at: message.at,
                forwarded: message.forwarded
              })
            )
            .pipe(
              Effect.retry({ schedule: localRetry, while: (e) => isAskError(e) || e._tag === "ChatBusy" }),
              Effect.asVoid,
              Effect.catchTags({
                GroupMoved: (moved) =>
                  Effect.zipRight(
                    roaming.setGroupHome(message.group, moved.to),
                    centerSite(context.topology, moved.to) === undefined
                      ? Effect.sync(() => onRejected(`group ${message.group} moved to unknown region ${moved.to}`))
                      : refsOf(context.system, context.topology, moved.to).business.tellDurable(
                          new Submit({ ...message, forwarded: true })
                        )
                  ),
                GroupNotFound: (e) => Effect.sync(() => onRejected(e.message)),
                NotAMember: (e) => Effect.sync(() => onRejected(e.message)),
                NotOwner: (e) => Effect.sync(() => onRejected(e.message)),
                ChatInvalid: (e) => Effect.sync(() => onRejected(e.message))
              })
            )
        return {
          Send: (request) => center.ask(request).pipe(busyOnAskError),
          Submit: submit,
          Carry: (message) =>
            center
              .ask(new Deliver({ copy: message.copy }))
              .pipe(Effect.retry({ schedule: localRetry, while: () => true })),
          Handover: (message) =>
            center
              .ask(new Adopt({ record: message.record, ids: message.ids }))
              .pipe(Effect.retry({ schedule: localRetry, while: () => true })),
          Transplant: (message) =>
            center
              .ask(new Receive({ user: message.user, copies: message.copies }))
              .pipe(Effect.retry({ schedule: localRetry, while: () => true }))
        }
      }),
    { mailboxCapacity }
  )
