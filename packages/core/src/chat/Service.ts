/**
 * The chat service of a site: client operations (groups, sends, history, moves, push streams)
 * over the region's service center and its roaming system, as the HTTP API and the simulator use
 * them.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Answer from "../api/Answer.js"
import type { AskError } from "../kernel/Errors.js"
import type * as Module from "../site/Module.js"
import { randomBytes } from "../stores/Identity.js"
import { byteLength } from "../stores/KeyValue.js"
import * as Center from "./Center.js"
import {
  ChangeMembers,
  ChatBusy,
  ChatInvalid,
  type Copy,
  Create,
  Edit,
  Get,
  type Group,
  type GroupMoved,
  type GroupNotFound,
  History,
  type Message,
  Move,
  type NotAMember,
  type NotOwner,
  Send,
  Submit,
  UserMoved
} from "./Protocol.js"
import * as Roaming from "./Roaming.js"

/**
 * Settings of the module (`sites.<site>.modules.chat`). The region's service center is its first
 * site by name that runs `chat`; other chat sites of the region serve the same API through it.
 *
 * @since 0.1.0
 * @category config
 */
export const Settings = Schema.Struct({
  /** Mailbox of each of the region's three actors (center, data service, business module). */
  mailboxCapacity: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1_000_000)), { default: () => 4096 }),
  /** Client requests served at once by this site; more are answered 503 (busy). */
  maxConcurrentRequests: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100_000)), { default: () => 512 }),
  /** Push streams (server-sent events) open at once on this site; more are answered 503. */
  maxStreams: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1_000_000)), { default: () => 1000 }),
  maxMembers: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100_000)), { default: () => 1000 }),
  maxTextBytes: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1_000_000)), { default: () => 16_384 }),
  /** Client message ids remembered per group (retries within them are not sequenced twice). */
  dedupeWindow: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1_000_000)), { default: () => 10_000 }),
  /** Messages of a group kept in each region for its members there; older ones are dropped. */
  historyPerGroup: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 10_000_000)), { default: () => 10_000 }),
  homeCacheSize: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 10_000_000)), { default: () => 100_000 }),
  homeCacheTtlSeconds: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 300 }),
  maxConcurrentLookups: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100_000)), { default: () => 64 }),
  /** How long a home lookup or a query waits for another region. */
  lookupTimeoutMillis: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 2000 }),
  /** How long a send waits for the group's home before it is queued durably (202) instead. */
  sendTimeoutMillis: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 2000 }),
  /** A push stream for a user homed in another region reads their home this often. */
  remotePollMillis: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 500 }),
  keepAliveSeconds: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 15 }),
  /** Messages per history page at most. */
  maxPage: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100_000)), { default: () => 1000 })
})
export type Settings = typeof Settings.Type

/**
 * The home region did not answer in time: try again later.
 *
 * @since 0.1.0
 * @category errors
 */
export class HomeUnreachable extends Schema.TaggedError<HomeUnreachable>()(
  "HomeUnreachable",
  { region: Schema.String, reason: Schema.String },
  Answer.annotations({ status: 503, headers: { "retry-after": "2" } })
) {
  override get message() {
    return `region ${this.region} did not answer: ${this.reason}`
  }
}

/**
 * Every way a client operation can be refused.
 *
 * @since 0.1.0
 * @category errors
 */
export type ChatError = GroupNotFound | GroupMoved | NotAMember | NotOwner | ChatInvalid | ChatBusy | HomeUnreachable

/**
 * The outcome of a send: sequenced by the home region now, or accepted into the durable outbox
 * while the home region does not answer.
 *
 * @since 0.1.0
 * @category models
 */
export type Sent =
  | { readonly status: "sequenced"; readonly group: string; readonly id: string; readonly seq: number }
  | { readonly status: "accepted"; readonly group: string; readonly id: string }

/**
 * The client operations of a site's service center, as the HTTP API and the simulator use them.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatService {
  readonly region: string
  readonly create: (
    owner: { readonly user: string; readonly home: string },
    request: {
      readonly name: string
      readonly notice?: string | undefined
      readonly settings?: Readonly<Record<string, string>> | undefined
      readonly members?: ReadonlyArray<string> | undefined
      readonly home?: string | undefined
    }
  ) => Effect.Effect<Group, ChatError>
  readonly get: (user: string, group: string) => Effect.Effect<Group, ChatError>
  readonly edit: (
    user: string,
    group: string,
    change: {
      readonly name?: string | undefined
      readonly notice?: string | undefined
      readonly settings?: Readonly<Record<string, string>> | undefined
    }
  ) => Effect.Effect<Group, ChatError>
  readonly members: (
    user: string,
    group: string,
    add: ReadonlyArray<string>,
    remove: ReadonlyArray<string>
  ) => Effect.Effect<Group, ChatError>
  readonly send: (from: string, group: string, text: string, id?: string) => Effect.Effect<Sent, ChatError>
  /** Messages of `group` delivered to `user` (read at the user's home region). */
  readonly history: (
    user: string,
    group: string,
    after: number,
    limit: number
  ) => Effect.Effect<{ readonly messages: ReadonlyArray<Message>; readonly more: boolean }, ChatError>
  /** Moves a group's home region (operator). */
  readonly move: (group: string, to: string) => Effect.Effect<{ readonly from: string; readonly to: string }, ChatError>
  /**
   * Moves a user's home region (operator): the account moves, groups record the member's new
   * home, and the user's messages follow from the former home.
   */
  readonly moveUser: (
    user: string,
    to: string
  ) => Effect.Effect<{ readonly from: string; readonly to: string }, ChatError>
  /**
   * The messages of `group` for `user` after `after`, then as they are delivered: pushed when
   * this site is the user's home center, read every `remotePollMillis` from it otherwise.
   */
  readonly follow: (user: string, group: string, after: number) => Stream.Stream<Message, ChatError>
}

const { isAskError } = Roaming

const textBytes = byteLength
const userPattern = /^[A-Za-z0-9._-]{1,64}$/
const idPattern = /^[A-Za-z0-9._:-]{1,128}$/

/** Counters this site shows in `/metrics`. */
export interface Counters {
  sequenced: number
  queued: number
  rejected: number
  released: number
  delivered: number
  streams: number
}

export const make = (context: Module.SiteContext, settings: Settings, counters: Counters) =>
  Effect.gen(function* () {
    const { topology, system } = context
    const region = context.siteInfo.region
    const isCenter = Center.centerSite(topology, region) === context.site
    const lookupTimeout = Duration.millis(settings.lookupTimeoutMillis)
    const roaming = yield* Roaming.make(context, {
      homeCacheSize: settings.homeCacheSize,
      homeCacheTtlMillis: settings.homeCacheTtlSeconds * 1000,
      lookupTimeout,
      maxConcurrentLookups: settings.maxConcurrentLookups,
      mailboxCapacity: settings.mailboxCapacity
    })

    // Push: the streams of this site, by group (only a center site releases copies).
    const listeners = new Map<string, Set<(copy: Copy) => void>>()
    const onRelease: Center.OnRelease = (copies) => {
      for (const copy of copies) {
        counters.released++
        counters.delivered += copy.recipients.length
        const set = listeners.get(copy.message.group)
        if (set !== undefined) for (const listener of set) listener(copy)
      }
    }

    if (isCenter) {
      yield* context.spawn(
        Center.actor(
          context,
          {
            maxMembers: settings.maxMembers,
            dedupeWindow: settings.dedupeWindow,
            historyPerGroup: settings.historyPerGroup,
            mailboxCapacity: settings.mailboxCapacity
          },
          onRelease
        )
      )
      yield* context.spawn(Roaming.dataActor(context, roaming, settings.mailboxCapacity))
      yield* context.spawn(
        Roaming.businessActor(context, roaming, settings.mailboxCapacity, (reason) => {
          counters.rejected++
          Effect.runFork(Effect.logWarning(`chat: a queued message was refused at its home: ${reason}`))
        })
      )
    }

    const refs = (target: string) => Center.refsOf(system, topology, target)
    const unreachable = (target: string) => (e: AskError) =>
      e._tag === "MailboxFull" || e._tag === "PendingAsksFull"
        ? new ChatBusy({ reason: e.message })
        : new HomeUnreachable({ region: target, reason: e.message })

    /** Asks the group's home (this region's center, or the home's data service), following moves. */
    const atHome = <A, E extends { readonly _tag: string }>(
      group: string,
      run: (home: string) => Effect.Effect<A, E | GroupMoved | AskError>,
      hops = 3
    ): Effect.Effect<A, Exclude<E, AskError> | GroupMoved | ChatError> =>
      Effect.gen(function* () {
        const home = yield* roaming.homeOfGroup(group)
        return yield* run(home).pipe(
          Effect.catchIf(
            (e): e is AskError => isAskError(e),
            (e) => Effect.zipRight(roaming.setGroupHome(group, undefined), Effect.fail(unreachable(home)(e)))
          ),
          Effect.catchIf(
            (e): e is GroupMoved => e._tag === "GroupMoved",
            (moved) =>
              hops > 0
                ? Effect.zipRight(roaming.setGroupHome(group, moved.to), atHome(group, run, hops - 1))
                : Effect.fail(moved)
          )
        )
      }) as Effect.Effect<A, Exclude<E, AskError> | GroupMoved | ChatError>

    const askHome = <M extends Create | Get | Edit | ChangeMembers | Move>(home: string, request: M) =>
      home === region
        ? refs(home).center.ask(request, { timeout: lookupTimeout })
        : refs(home).data.ask(request, { timeout: lookupTimeout })

    const now = Effect.clockWith((clock) => clock.currentTimeMillis)
    const newId = Effect.map(randomBytes(12), Encoding.encodeBase64Url)

    const resolveMembers = (users: ReadonlyArray<string>) =>
      Effect.forEach(
        [...new Set(users)],
        (user) =>
          userPattern.test(user)
            ? Effect.map(
                Effect.catchIf(roaming.homeOfUser(user), isAskError, (e) =>
                  Effect.fail(new HomeUnreachable({ region: "accounts", reason: e.message }))
                ),
                (home) => ({ user, home })
              )
            : Effect.fail(new ChatInvalid({ reason: `not a user name: ${JSON.stringify(user).slice(0, 80)}` })),
        { concurrency: 8 }
      )

    const resolveHome = (user: string) =>
      Effect.catchIf(roaming.homeOfUser(user), isAskError, (e) =>
        Effect.fail(new HomeUnreachable({ region: "accounts", reason: e.message }))
      )

    const checkText = (field: string, text: string | undefined, max: number) =>
      text !== undefined && textBytes(text) > max
        ? Effect.fail(new ChatInvalid({ reason: `${field} is over ${max} bytes` }))
        : Effect.void

    const checkSettings = (values: Readonly<Record<string, string>> | undefined) =>
      values !== undefined && (Object.keys(values).length > 64 || textBytes(JSON.stringify(values)) > 16_384)
        ? Effect.fail(new ChatInvalid({ reason: "settings: at most 64 keys and 16 KiB" }))
        : Effect.void

    const service: ChatService = {
      region,

      create: (owner, request) =>
        Effect.gen(function* () {
          const home = request.home ?? region
          if (Center.centerSite(topology, home) === undefined) {
            return yield* new ChatInvalid({ reason: `region ${home} has no chat service center` })
          }
          yield* checkText("name", request.name, 200)
          if (request.name.trim() === "") return yield* new ChatInvalid({ reason: "a group needs a name" })
          yield* checkText("notice", request.notice, 4096)
          yield* checkSettings(request.settings)
          if ((request.members?.length ?? 0) >= settings.maxMembers) {
            return yield* new ChatInvalid({ reason: `a group has at most ${settings.maxMembers} members` })
          }
          const members = yield* resolveMembers((request.members ?? []).filter((m) => m !== owner.user))
          const group = `${home}.${yield* newId}`
          const created = yield* askHome(
            home,
            new Create({
              group,
              name: request.name,
              notice: request.notice ?? "",
              settings: request.settings ?? {},
              owner,
              members,
              at: yield* now
            })
          ).pipe(Effect.catchIf(isAskError, (e) => Effect.fail(unreachable(home)(e))))
          yield* roaming.setGroupHome(group, home)
          return created
        }),

      get: (user, group) => atHome(group, (home) => askHome(home, new Get({ group, user }))),

      edit: (user, group, change) =>
        Effect.gen(function* () {
          yield* checkText("name", change.name, 200)
          yield* checkText("notice", change.notice, 4096)
          yield* checkSettings(change.settings)
          return yield* atHome(group, (home) =>
            askHome(
              home,
              new Edit({
                group,
                user,
                ...(change.name === undefined ? {} : { name: change.name }),
                ...(change.notice === undefined ? {} : { notice: change.notice }),
                ...(change.settings === undefined ? {} : { settings: change.settings })
              })
            )
          )
        }),

      members: (user, group, add, remove) =>
        Effect.gen(function* () {
          const added = yield* resolveMembers(add)
          return yield* atHome(group, (home) =>
            askHome(home, new ChangeMembers({ group, user, add: added, remove: [...remove] }))
          )
        }),

      send: (from, group, text, clientId) =>
        Effect.gen(function* () {
          if (text === "") return yield* new ChatInvalid({ reason: "an empty message" })
          yield* checkText("text", text, settings.maxTextBytes)
          if (clientId !== undefined && !idPattern.test(clientId)) {
            return yield* new ChatInvalid({ reason: "a message id is 1–128 of A–Z a–z 0–9 . _ : -" })
          }
          const id = clientId ?? (yield* newId)
          const at = yield* now
          const request = new Send({ group, id, from, text, at })
          const sendOnce = (home: string, hops: number): Effect.Effect<Sent, ChatError> =>
            (home === region
              ? refs(home).center.ask(request, { timeout: settings.sendTimeoutMillis })
              : refs(home).business.ask(request, { timeout: settings.sendTimeoutMillis })
            ).pipe(
              Effect.map(({ seq }): Sent => ({ status: "sequenced", group, id, seq })),
              Effect.tap(() => Effect.sync(() => counters.sequenced++)),
              Effect.catchIf(
                (e): e is GroupMoved => e._tag === "GroupMoved",
                (moved) =>
                  hops > 0
                    ? Effect.zipRight(roaming.setGroupHome(group, moved.to), sendOnce(moved.to, hops - 1))
                    : Effect.fail(moved)
              ),
              Effect.catchIf(
                (e): e is AskError => isAskError(e),
                (e) =>
                  // The home does not answer now: accepted into the durable outbox, sequenced
                  // and delivered when it answers again (a retry with the same id is safe).
                  e._tag === "MailboxFull" && home === region
                    ? Effect.fail(new ChatBusy({ reason: e.message }))
                    : refs(home)
                        .business.tellDurable(new Submit({ group, id, from, text, at }))
                        .pipe(
                          Effect.map((): Sent => ({ status: "accepted", group, id })),
                          Effect.tap(() => Effect.sync(() => counters.queued++)),
                          Effect.catchAll((failed) =>
                            Effect.fail(
                              failed._tag === "OutboxFull"
                                ? new ChatBusy({ reason: "the outbox is full" })
                                : new HomeUnreachable({ region: home, reason: failed.message })
                            )
                          )
                        )
              )
            ) as Effect.Effect<Sent, ChatError>
          return yield* Effect.flatMap(roaming.homeOfGroup(group), (home) => sendOnce(home, 3))
        }),

      history: (user, group, after, limit) => {
        const read = (
          home: string,
          hops: number
        ): Effect.Effect<{ readonly messages: ReadonlyArray<Message>; readonly more: boolean }, ChatError> =>
          (home === region
            ? refs(region).center.ask(new History({ group, user, after, limit }), { timeout: lookupTimeout })
            : refs(home).data.ask(new History({ group, user, after, limit }), { timeout: lookupTimeout })
          ).pipe(
            Effect.catchIf(isAskError, (e) => Effect.fail(unreachable(home)(e))),
            Effect.catchTag("UserMovedAway", (moved) =>
              hops > 0
                ? Effect.zipRight(roaming.setUserHome(user, moved.to), read(moved.to, hops - 1))
                : Effect.fail(new HomeUnreachable({ region: moved.to, reason: moved.message }))
            )
          )
        return Effect.flatMap(resolveHome(user), (home) => read(home, 3))
      },

      moveUser: (user, to) =>
        Effect.gen(function* () {
          if (Center.centerSite(topology, to) === undefined) {
            return yield* new ChatInvalid({ reason: `region ${to} has no chat service center` })
          }
          const { from, move } = yield* context.accounts
            .move(user, to)
            .pipe(
              Effect.catchAll((e) =>
                Effect.fail(
                  isAskError(e)
                    ? new HomeUnreachable({ region: "accounts", reason: e.message })
                    : e._tag === "AccountsUnavailable"
                      ? new ChatBusy({ reason: e.message })
                      : e._tag === "AccountNotFound"
                        ? new ChatInvalid({ reason: `no user named ${JSON.stringify(user).slice(0, 80)}` })
                        : new ChatInvalid({ reason: e.message })
                )
              )
            )
          // Told again when a move is retried: centers keep the latest move number, so it is harmless.
          // Not left half-told by a caller that gives up (a closed HTTP request) once the account moved.
          if (move > 0) {
            yield* Effect.uninterruptible(
              Effect.forEach(
                Center.chatRegions(topology),
                (target) =>
                  refs(target)
                    .data.tellDurable(new UserMoved({ user, from, to, move }))
                    .pipe(Effect.mapError((e) => new ChatBusy({ reason: e.message }))),
                { discard: true }
              )
            )
          }
          yield* roaming.setUserHome(user, to)
          return { from, to }
        }),

      move: (group, to) => atHome(group, (home) => askHome(home, new Move({ group, to }))),

      follow: (user, group, after) =>
        Stream.unwrapScoped(
          Effect.gen(function* () {
            const out = yield* Effect.acquireRelease(Queue.bounded<Message>(256), Queue.shutdown)
            let last = after
            const page = Effect.gen(function* () {
              let more = true
              while (more) {
                const found = yield* service.history(user, group, last, settings.maxPage)
                for (const message of found.messages) {
                  if (message.seq > last) {
                    yield* Queue.offer(out, message)
                    last = message.seq
                  }
                }
                more = found.more
              }
            })
            // A stream outlives failures: a page that fails (the home region does not answer
            // now) is read again at the next turn.
            const pageOrLater = Effect.catchAll(page, () => Effect.void)
            const poll = Duration.millis(settings.remotePollMillis)
            const local = isCenter && (yield* Effect.orElseSucceed(resolveHome(user), () => "")) === region
            if (!local) {
              yield* Effect.forkScoped(Effect.forever(Effect.zipRight(pageOrLater, Effect.sleep(poll))))
            } else {
              // Subscribed before the history is read, so nothing released meanwhile is missed.
              const pushed = yield* Queue.dropping<Copy>(1024)
              let overflowed = false
              const listener = (copy: Copy) => {
                if (copy.recipients.includes(user) && !pushed.unsafeOffer(copy)) overflowed = true
              }
              yield* Effect.acquireRelease(
                Effect.sync(() => {
                  let set = listeners.get(group)
                  if (set === undefined) listeners.set(group, (set = new Set()))
                  set.add(listener)
                }),
                () =>
                  Effect.sync(() => {
                    const set = listeners.get(group)
                    set?.delete(listener)
                    if (set?.size === 0) listeners.delete(group)
                  })
              )
              yield* Effect.forkScoped(
                Effect.gen(function* () {
                  yield* pageOrLater
                  while (true) {
                    // Quiet for a while: read the store too (catches what a push could not
                    // bring: the user moved to another region, a failed page).
                    const copy = yield* Effect.timeout(Queue.take(pushed), Duration.times(poll, 10)).pipe(Effect.option)
                    if (Option.isNone(copy) || overflowed) {
                      // Too far behind for the push queue, or quiet: read the rest from the store.
                      overflowed = false
                      yield* Queue.takeAll(pushed)
                      yield* pageOrLater
                    } else if (copy.value.message.seq > last) {
                      yield* Queue.offer(out, copy.value.message)
                      last = copy.value.message.seq
                    }
                  }
                })
              )
            }
            return Stream.fromQueue(out)
          })
        )
    }
    return { service, roaming, listeners }
  })
