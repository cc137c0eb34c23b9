/**
 * The service center of a region (`chat-center`): its data center (groups homed here, and the
 * copies of messages delivered to members homed here) and its business center (sequencing the
 * messages of groups homed here and delivering them). One actor per region, so every group's
 * sequence numbers and every region's release order are decided one message at a time.
 *
 * Crash safety: each step is one unit of work over the site's stores. A message is sequenced
 * (group record, dedupe entry and a log entry of its per-region copies) in one unit; its copies
 * are then handed to the outbox (remote regions) or released (here) in another, which removes the
 * log entry. After a crash, log entries still present are handed over again; every region drops
 * copies it already holds, so nothing is delivered twice.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Actor from "../kernel/Actor.js"
import * as Address from "../kernel/Address.js"
import type { SiteContext } from "../site/Module.js"
import type { KeyValueService } from "../stores/KeyValue.js"
import {
  BUSINESS,
  Carry,
  CENTER,
  CenterProtocol,
  ChatBusy,
  ChatInvalid,
  Copy,
  DATA,
  type Group,
  GroupMoved,
  GroupNotFound,
  GroupRecord,
  Handover,
  HomeMoved,
  type Member,
  type Message,
  NotAMember,
  NotOwner,
  Retry,
  Transplant,
  UserMovedAway,
  BusinessProtocol,
  DataProtocol
} from "./Protocol.js"

/**
 * Bounds of the data center, from the module's settings.
 *
 * @since 0.1.0
 * @category config
 */
export interface Limits {
  readonly maxMembers: number
  /** Client message ids remembered per group (a retried send within them is not sequenced twice). */
  readonly dedupeWindow: number
  /** Messages of a group kept in each region for its members there (older ones are dropped). */
  readonly historyPerGroup: number
  readonly mailboxCapacity: number
}

/**
 * Who hears about copies released here (the push streams of this site).
 *
 * @since 0.1.0
 * @category models
 */
export type OnRelease = (copies: ReadonlyArray<Copy>) => void

/**
 * The service center site of `region`: its first site by name that runs `chat`.
 *
 * @since 0.1.0
 * @category placement
 */
export const centerSite = (topology: SiteContext["topology"], region: string): string | undefined =>
  Object.keys(topology.sites)
    .filter((site) => topology.sites[site]!.region === region && "chat" in topology.sites[site]!.modules)
    .sort()[0]

/**
 * The regions that have a service center, sorted.
 *
 * @since 0.1.0
 * @category placement
 */
export const chatRegions = (topology: SiteContext["topology"]): ReadonlyArray<string> =>
  [...new Set(Object.values(topology.sites).map((s) => s.region))]
    .filter((region) => centerSite(topology, region) !== undefined)
    .sort()

/**
 * The three actors of `region`'s service center and roaming system.
 *
 * @since 0.1.0
 * @category placement
 */
export const refsOf = (
  system: Pick<SiteContext["system"], "ref">,
  topology: SiteContext["topology"],
  region: string
) => {
  const site = centerSite(topology, region) ?? `no-chat-site-in-${region}`
  return {
    site,
    center: system.ref(CenterProtocol, Address.make(site, CENTER)),
    data: system.ref(DataProtocol, Address.make(site, DATA)),
    business: system.ref(BusinessProtocol, Address.make(site, BUSINESS))
  }
}

const NAMESPACE = "chat"
const pad = (seq: number) => String(seq).padStart(12, "0")
const groupKey = (group: string) => `g/${group}`
const idKey = (group: string, id: string) => `m/${group}/${id}`
const logKey = (group: string, seq: number) => `l/${group}/${pad(seq)}`
const copyKey = (group: string, seq: number) => `c/${group}/${pad(seq)}`
const pendingKey = (group: string, seq: number) => `p/${group}/${pad(seq)}`
const headKey = (group: string) => `h/${group}`
const awaitKey = (group: string, id: string) => `w/${group}/${id}`
/** The client id of sequence number `seq`, to forget it when it leaves the dedupe window. */
const reverseKey = (group: string, seq: number) => `r/${group}/${pad(seq)}`

const RecordJson = Schema.parseJson(GroupRecord)
const CopyJson = Schema.parseJson(Copy)
const LogEntry = Schema.parseJson(Schema.Array(Schema.Struct({ region: Schema.String, copy: Copy })))
const Awaiting = Schema.parseJson(
  Schema.Struct({ id: Schema.String, from: Schema.String, text: Schema.String, at: Schema.Number })
)
const encodeRecord = Schema.encodeSync(RecordJson)
const decodeRecord = Schema.decodeUnknownOption(RecordJson)
const encodeCopy = Schema.encodeSync(CopyJson)
const decodeCopy = Schema.decodeUnknownOption(CopyJson)
const encodeLog = Schema.encodeSync(LogEntry)
const decodeLog = Schema.decodeUnknownOption(LogEntry)
const encodeAwaiting = Schema.encodeSync(Awaiting)
const decodeAwaiting = Schema.decodeUnknownOption(Awaiting)

/**
 * A group record as users see it.
 *
 * @since 0.1.0
 * @category models
 */
export const view = (record: GroupRecord): Group => ({
  id: record.id,
  name: record.name,
  notice: record.notice,
  settings: record.settings,
  owner: record.owner,
  home: record.home,
  members: record.members,
  seq: record.seq,
  createdAt: record.createdAt
})

/** What a region keeps per group to release copies in order. */
interface Release {
  head: number
  /** Copies that arrived before their predecessor, by their `prev`. */
  readonly waiting: Map<number, Copy>
}

/**
 * The center actor of `context.site`'s region.
 *
 * @since 0.1.0
 * @category actors
 */
export const actor = (context: SiteContext, limits: Limits, onRelease: OnRelease) =>
  Actor.make(
    CENTER,
    CenterProtocol,
    (self) =>
      Effect.gen(function* () {
        const { topology } = context
        const kv: KeyValueService = context.stores.kv
        /**
         * One unit of work over the stores. When it fails (rolled back in SQLite), what this actor
         * remembers of groups may be ahead of the stores: it is forgotten and read again.
         */
        const atomically = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
          context.stores.atomically(effect).pipe(
            Effect.tapErrorCause(() =>
              Effect.sync(() => {
                records.clear()
                releases.clear()
              })
            )
          )
        const region = context.siteInfo.region
        const records = new Map<string, GroupRecord>()
        const releases = new Map<string, Release>()
        /**
         * Users whose home moved, by the latest move heard of here. A user not listed lives where
         * the accounts service says; one listed elsewhere gets their copies sent on from here.
         */
        const homes = new Map<string, { readonly to: string; readonly move: number }>()
        for (const entry of yield* kv.list(NAMESPACE, "u/")) {
          const [to, move] = entry.value.split(" ")
          if (to !== undefined) homes.set(entry.key.slice(2), { to, move: Number(move) || 0 })
        }
        /** Where `user`'s copies belong, when that is another region than this one. */
        const elsewhere = (user: string): string | undefined => {
          const home = homes.get(user)
          return home !== undefined && home.to !== region ? home.to : undefined
        }

        const busy = (e: { readonly message: string }) => new ChatBusy({ reason: e.message })

        const load = (group: string): Effect.Effect<GroupRecord | undefined> =>
          Effect.suspend(() => {
            const cached = records.get(group)
            if (cached !== undefined) return Effect.succeed(cached)
            return Effect.map(kv.get(NAMESPACE, groupKey(group)), (raw) => {
              const record = Option.getOrUndefined(Option.flatMap(raw, decodeRecord))
              if (record !== undefined) records.set(group, record)
              return record
            })
          })

        const save = (record: GroupRecord) =>
          Effect.as(Effect.mapError(kv.set(NAMESPACE, groupKey(record.id), encodeRecord(record)), busy), record)

        /** The group homed here, or why not. */
        const homed = (group: string): Effect.Effect<GroupRecord, GroupNotFound | GroupMoved> =>
          Effect.flatMap(
            load(group),
            (record): Effect.Effect<GroupRecord, GroupNotFound | GroupMoved> =>
              record === undefined
                ? Effect.fail(new GroupNotFound({ group }))
                : record.movedTo !== undefined
                  ? Effect.fail(new GroupMoved({ group, to: record.movedTo }))
                  : Effect.succeed(record)
          )

        const memberOf = (record: GroupRecord, user: string): Effect.Effect<GroupRecord, NotAMember> =>
          record.members.some((m) => m.user === user)
            ? Effect.succeed(record)
            : Effect.fail(new NotAMember({ group: record.id, user }))

        const ownerOf = (record: GroupRecord, user: string): Effect.Effect<GroupRecord, NotOwner> =>
          record.owner === user ? Effect.succeed(record) : Effect.fail(new NotOwner({ group: record.id, user }))

        const checkMembers = (members: ReadonlyArray<Member>) =>
          members.length > limits.maxMembers
            ? Effect.fail(new ChatInvalid({ reason: `a group has at most ${limits.maxMembers} members` }))
            : Effect.void

        // ---- release (every region, for members homed here) ---------------------------------

        const releaseOf = (group: string): Effect.Effect<Release> =>
          Effect.suspend(() => {
            const known = releases.get(group)
            if (known !== undefined) return Effect.succeed(known)
            return Effect.gen(function* () {
              const head = Option.match(yield* kv.get(NAMESPACE, headKey(group)), {
                onNone: () => 0,
                onSome: (text) => Number.parseInt(text, 10) || 0
              })
              const waiting = new Map<number, Copy>()
              for (const entry of yield* kv.list(NAMESPACE, `p/${group}/`)) {
                const copy = Option.getOrUndefined(decodeCopy(entry.value))
                if (copy !== undefined) waiting.set(copy.prev, copy)
              }
              const release: Release = { head, waiting }
              releases.set(group, release)
              return release
            })
          })

        /**
         * Keeps `copy` and releases, in order, every copy whose predecessor is released. Returns
         * the copies released. Idempotent: a copy already held is dropped.
         */
        const deliverHere = (copy: Copy): Effect.Effect<ReadonlyArray<Copy>, ChatBusy> =>
          Effect.gen(function* () {
            const group = copy.message.group
            const seq = copy.message.seq
            const release = yield* releaseOf(group)
            if (seq <= release.head) return []
            const early = release.waiting.get(copy.prev)
            if (early !== undefined) return [] // a copy with this predecessor is already waiting
            if (copy.prev !== release.head) {
              yield* Effect.mapError(kv.set(NAMESPACE, pendingKey(group, seq), encodeCopy(copy)), busy)
              release.waiting.set(copy.prev, copy)
              return []
            }
            const released: Array<Copy> = []
            let next: Copy | undefined = copy
            let head = release.head
            while (next !== undefined) {
              const nextSeq: number = next.message.seq
              yield* keepCopy(next)
              if (nextSeq > limits.historyPerGroup) {
                yield* kv.delete(NAMESPACE, copyKey(group, nextSeq - limits.historyPerGroup))
              }
              if (next !== copy) yield* kv.delete(NAMESPACE, pendingKey(group, nextSeq))
              released.push(next)
              head = nextSeq
              next = release.waiting.get(head)
            }
            yield* Effect.mapError(kv.set(NAMESPACE, headKey(group), String(head)), busy)
            // Recipients who moved away get their copies sent on to their new home.
            if (homes.size > 0) {
              for (const r of released) {
                for (const user of r.recipients) {
                  const to = elsewhere(user)
                  if (to !== undefined) {
                    yield* Effect.mapError(
                      business(to).tellDurable(new Transplant({ user, copies: [{ ...r, recipients: [user] }] })),
                      busy
                    )
                  }
                }
              }
            }
            // In memory only once every write above succeeded.
            for (const r of released) if (r !== copy) release.waiting.delete(r.prev)
            release.head = head
            return released
          })

        /** Stores a released copy, merged with one already kept for the same number (a moved user's). */
        const keepCopy = (copy: Copy): Effect.Effect<void, ChatBusy> =>
          Effect.gen(function* () {
            const key = copyKey(copy.message.group, copy.message.seq)
            const held = Option.getOrUndefined(Option.flatMap(yield* kv.get(NAMESPACE, key), decodeCopy))
            const merged: Copy =
              held === undefined
                ? copy
                : { ...held, recipients: [...new Set([...held.recipients, ...copy.recipients])] }
            if (held !== undefined && merged.recipients.length === held.recipients.length) return
            yield* Effect.mapError(kv.set(NAMESPACE, key, encodeCopy(merged)), busy)
          })

        // ---- fan-out (at the group's home) --------------------------------------------------

        const business = (target: string) => refsOf(context.system, topology, target).business

        /**
         * Hands the logged copies of `group` to the outbox (other regions) or releases them (here),
         * oldest first; each sequence number in one unit of work that also drops its log entry.
         */
        const fanOut = (group: string): Effect.Effect<void, ChatBusy> =>
          Effect.gen(function* () {
            const entries = yield* kv.list(NAMESPACE, `l/${group}/`)
            for (const entry of entries) {
              const copies = Option.getOrUndefined(decodeLog(entry.value))
              if (copies === undefined) {
                yield* kv.delete(NAMESPACE, entry.key)
                continue
              }
              const released = yield* atomically(
                Effect.gen(function* () {
                  let here: ReadonlyArray<Copy> = []
                  for (const { copy, region: target } of copies) {
                    if (target === region) here = yield* deliverHere(copy)
                    else yield* Effect.mapError(business(target).tellDurable(new Carry({ copy })), busy)
                  }
                  yield* kv.delete(NAMESPACE, entry.key)
                  return here
                })
              )
              if (released.length > 0) onRelease(released)
            }
          })

        /** Groups with copies still to hand over (after a crash, or a full outbox). */
        const unfanned = new Set<string>()
        const fanOutOrLater = (group: string) =>
          fanOut(group).pipe(
            Effect.catchAll((e) =>
              Effect.sync(() => unfanned.add(group)).pipe(
                Effect.zipRight(Effect.logWarning(`chat: copies of ${group} wait for the outbox: ${e.reason}`))
              )
            )
          )

        /** Sequences one message of a group homed here; idempotent by `id`. */
        const sequence = (record: GroupRecord, id: string, from: string, text: string, at: number) =>
          Effect.gen(function* () {
            const seen = yield* kv.get(NAMESPACE, idKey(record.id, id))
            if (Option.isSome(seen)) return Number.parseInt(seen.value, 10)
            const seq = record.seq + 1
            const message: Message = { group: record.id, seq, id, from, text, at }
            const byRegion = new Map<string, Array<string>>()
            for (const member of record.members) {
              const list = byRegion.get(member.home)
              if (list === undefined) byRegion.set(member.home, [member.user])
              else list.push(member.user)
            }
            const chains = { ...record.chains }
            const copies: Array<{ region: string; copy: Copy }> = []
            for (const [target, recipients] of [...byRegion].sort(([a], [b]) => (a < b ? -1 : 1))) {
              copies.push({ region: target, copy: { message, prev: chains[target] ?? 0, recipients } })
              chains[target] = seq
            }
            const next: GroupRecord = { ...record, seq, chains }
            yield* atomically(
              Effect.gen(function* () {
                yield* Effect.mapError(kv.set(NAMESPACE, logKey(record.id, seq), encodeLog(copies)), busy)
                yield* save(next)
                yield* Effect.mapError(kv.set(NAMESPACE, idKey(record.id, id), String(seq)), busy)
                yield* Effect.mapError(kv.set(NAMESPACE, reverseKey(record.id, seq), id), busy)
                // The id of the message that falls out of the window is forgotten.
                const old = seq - limits.dedupeWindow
                const oldId = old > 0 ? yield* kv.get(NAMESPACE, reverseKey(record.id, old)) : Option.none()
                if (Option.isSome(oldId)) {
                  yield* kv.delete(NAMESPACE, idKey(record.id, oldId.value))
                  yield* kv.delete(NAMESPACE, reverseKey(record.id, old))
                }
              })
            )
            records.set(record.id, next)
            yield* fanOutOrLater(record.id)
            return seq
          })

        const mutate = (record: GroupRecord, change: Partial<GroupRecord>) =>
          Effect.gen(function* () {
            const next: GroupRecord = { ...record, ...change }
            yield* save(next)
            records.set(next.id, next)
            return view(next)
          })

        // After a restart: copies logged but not handed over yet.
        const leftovers = yield* kv.list(NAMESPACE, "l/")
        for (const entry of leftovers) unfanned.add(entry.key.slice(2, entry.key.lastIndexOf("/")))
        const selfRef = context.system.ref(CenterProtocol, self.address)
        yield* Effect.forkScoped(
          Effect.forever(
            Effect.zipRight(
              Effect.sleep("1 second"),
              Effect.sync(() => {
                if (unfanned.size > 0) selfRef.unsafeTell(new Retry())
              })
            )
          )
        )
        if (unfanned.size > 0) selfRef.unsafeTell(new Retry())

        return {
          Retry: () =>
            Effect.gen(function* () {
              const groups = [...unfanned]
              unfanned.clear()
              for (const group of groups) yield* fanOutOrLater(group)
            }),

          Where: ({ group }) =>
            Effect.map(load(group), (record) =>
              record === undefined
                ? { state: "unknown" as const }
                : record.movedTo !== undefined
                  ? { state: "moved" as const, region: record.movedTo }
                  : { state: "home" as const, region }
            ),

          Create: (request) =>
            Effect.gen(function* () {
              if ((yield* load(request.group)) !== undefined) {
                return yield* new ChatInvalid({ reason: `group ${request.group} exists` })
              }
              const members = [request.owner, ...request.members.filter((m) => m.user !== request.owner.user)]
              const unique = [...new Map(members.map((m) => [m.user, m])).values()]
              yield* checkMembers(unique)
              const record: GroupRecord = {
                id: request.group,
                name: request.name,
                notice: request.notice,
                settings: request.settings,
                owner: request.owner.user,
                home: region,
                members: unique,
                seq: 0,
                createdAt: request.at,
                chains: {},
                fanned: 0
              }
              yield* save(record)
              records.set(record.id, record)
              return view(record)
            }),

          Get: ({ group, user }) =>
            Effect.map(
              Effect.flatMap(homed(group), (record) => memberOf(record, user)),
              view
            ),

          Edit: (request) =>
            Effect.gen(function* () {
              const record = yield* Effect.flatMap(homed(request.group), (r) => ownerOf(r, request.user))
              const settings = { ...record.settings }
              for (const [key, value] of Object.entries(request.settings ?? {})) {
                if (value === "") delete settings[key]
                else settings[key] = value
              }
              return yield* mutate(record, {
                ...(request.name === undefined ? {} : { name: request.name }),
                ...(request.notice === undefined ? {} : { notice: request.notice }),
                settings
              })
            }),

          ChangeMembers: (request) =>
            Effect.gen(function* () {
              const record = yield* homed(request.group)
              const onlySelf =
                request.add.length === 0 && request.remove.length === 1 && request.remove[0] === request.user
              if (onlySelf) yield* memberOf(record, request.user)
              else yield* ownerOf(record, request.user)
              if (request.remove.includes(record.owner)) {
                return yield* new ChatInvalid({ reason: "the owner cannot leave the group" })
              }
              const members = new Map(record.members.map((m) => [m.user, m]))
              for (const user of request.remove) members.delete(user)
              for (const member of request.add) members.set(member.user, member)
              yield* checkMembers([...members.values()])
              return yield* mutate(record, { members: [...members.values()] })
            }),

          Send: (request) =>
            Effect.gen(function* () {
              const record = yield* load(request.group)
              if (record === undefined && request.forwarded) {
                // Sent on by the group's former home before its record got here: kept for Adopt.
                yield* Effect.mapError(
                  kv.set(
                    NAMESPACE,
                    awaitKey(request.group, request.id),
                    encodeAwaiting({ id: request.id, from: request.from, text: request.text, at: request.at })
                  ),
                  busy
                )
                return { seq: 0 }
              }
              const home = yield* homed(request.group)
              yield* memberOf(home, request.from)
              return {
                seq: yield* sequence(home, request.id, request.from, request.text, request.at)
              }
            }),

          Deliver: ({ copy }) =>
            Effect.gen(function* () {
              const released = yield* atomically(deliverHere(copy))
              if (released.length > 0) onRelease(released)
            }),

          History: ({ group, user, after, limit }) =>
            Effect.gen(function* () {
              const movedTo = elsewhere(user)
              if (movedTo !== undefined) return yield* new UserMovedAway({ user, to: movedTo })
              const entries = yield* kv.list(NAMESPACE, `c/${group}/`)
              const messages: Array<Message> = []
              let more = false
              for (const entry of entries) {
                const seq = Number.parseInt(entry.key.slice(entry.key.lastIndexOf("/") + 1), 10)
                if (!(seq > after)) continue
                const copy = Option.getOrUndefined(decodeCopy(entry.value))
                if (copy === undefined || !copy.recipients.includes(user)) continue
                if (messages.length === limit) {
                  more = true
                  break
                }
                messages.push(copy.message)
              }
              return { messages, more }
            }),

          Move: ({ group, to }) =>
            Effect.gen(function* () {
              const record = yield* homed(group)
              if (to === region) return { from: region, to }
              if (centerSite(topology, to) === undefined) {
                return yield* new ChatInvalid({ reason: `region ${to} has no chat service center` })
              }
              // Hand over what is still logged first, so the new home starts from complete chains.
              yield* fanOut(group)
              const ids: Array<readonly [string, number]> = []
              for (const entry of yield* kv.list(NAMESPACE, `m/${group}/`)) {
                ids.push([entry.key.slice(`m/${group}/`.length), Number.parseInt(entry.value, 10)])
              }
              const moved: GroupRecord = { ...record, movedTo: to }
              const handed: GroupRecord = { ...record, home: to }
              yield* atomically(
                Effect.gen(function* () {
                  yield* save(moved)
                  yield* Effect.mapError(business(to).tellDurable(new Handover({ record: handed, ids })), busy)
                  for (const other of chatRegions(topology)) {
                    yield* Effect.mapError(
                      refsOf(context.system, topology, other).data.tellDurable(new HomeMoved({ group, to })),
                      busy
                    )
                  }
                })
              )
              records.set(group, moved)
              return { from: region, to }
            }),

          MemberMoved: ({ move, to, user }) =>
            Effect.gen(function* () {
              const known = homes.get(user)
              const latest = known !== undefined && known.move >= move ? known : { to, move }
              const target = latest.to !== region ? latest.to : undefined
              const handOver: Array<Copy> = []
              if (target !== undefined) {
                for (const entry of yield* kv.list(NAMESPACE, "c/")) {
                  const copy = Option.getOrUndefined(decodeCopy(entry.value))
                  if (copy !== undefined && copy.recipients.includes(user))
                    handOver.push({ ...copy, recipients: [user] })
                }
              }
              const changed: Array<GroupRecord> = []
              for (const entry of yield* kv.list(NAMESPACE, "g/")) {
                const record = records.get(entry.key.slice(2)) ?? Option.getOrUndefined(decodeRecord(entry.value))
                if (record === undefined || record.movedTo !== undefined) continue
                if (!record.members.some((m) => m.user === user && m.home !== latest.to)) continue
                changed.push({
                  ...record,
                  members: record.members.map((m) => (m.user === user ? { user, home: latest.to } : m))
                })
              }
              yield* atomically(
                Effect.gen(function* () {
                  for (const record of changed) yield* save(record)
                  yield* Effect.mapError(kv.set(NAMESPACE, `u/${user}`, `${latest.to} ${latest.move}`), busy)
                  for (let i = 0; target !== undefined && i < handOver.length; i += 100) {
                    yield* Effect.mapError(
                      business(target).tellDurable(new Transplant({ user, copies: handOver.slice(i, i + 100) })),
                      busy
                    )
                  }
                })
              )
              for (const record of changed) records.set(record.id, record)
              homes.set(user, latest)
            }),

          Receive: ({ copies, user }) =>
            Effect.gen(function* () {
              // Sent on after the user moved on again: pass it along.
              const onward = elsewhere(user)
              if (onward !== undefined) {
                return yield* Effect.mapError(business(onward).tellDurable(new Transplant({ user, copies })), busy)
              }
              yield* atomically(Effect.forEach(copies, keepCopy, { discard: true }))
              onRelease(copies)
            }),

          Adopt: ({ record, ids }) =>
            Effect.gen(function* () {
              const known = yield* load(record.id)
              if (known !== undefined && known.movedTo === undefined) return // adopted already
              const adopted: GroupRecord = { ...record, home: region }
              delete (adopted as { movedTo?: string }).movedTo
              yield* atomically(
                Effect.gen(function* () {
                  yield* save(adopted)
                  for (const [id, seq] of ids) {
                    yield* Effect.mapError(kv.set(NAMESPACE, idKey(record.id, id), String(seq)), busy)
                  }
                })
              )
              records.set(record.id, adopted)
              // Messages forwarded before the record arrived, in the order they were sent.
              const waiting = (yield* kv.list(NAMESPACE, `w/${record.id}/`))
                .map((entry) => ({ key: entry.key, value: Option.getOrUndefined(decodeAwaiting(entry.value)) }))
                .sort((a, b) => (a.value?.at ?? 0) - (b.value?.at ?? 0))
              for (const { key, value } of waiting) {
                if (value !== undefined) {
                  const current = records.get(record.id)!
                  if (current.members.some((m) => m.user === value.from)) {
                    yield* sequence(current, value.id, value.from, value.text, value.at)
                  }
                }
                yield* kv.delete(NAMESPACE, key)
              }
            })
        }
      }),
    { mailboxCapacity: limits.mailboxCapacity }
  )
