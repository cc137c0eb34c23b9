/**
 * The chat module's simulator workload and invariants: users in every region, groups homed in
 * every region with members from all of them, messages sent from random regions (users roam),
 * notice edits from random regions — and at the end, every accepted message delivered exactly
 * once to every member, in the group's order, and every region's answer to a group query equal
 * to the home region's data.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Module from "../site/Module.js"
import { centerSite, chatRegions } from "./Center.js"
import type { ChatService } from "./Service.js"

type Context = Module.SimContext<ChatService>

/**
 * What the workload did in one run, for the invariants.
 *
 * @since 0.1.0
 * @category simulation
 */
export interface Run {
  /** Accepted message id → group. */
  readonly accepted: Map<string, string>
  /** Group id → its members and owner. */
  readonly groups: Map<
    string,
    { readonly owner: string; readonly home: string; readonly members: ReadonlyArray<string> }
  >
  /** User → home region. */
  readonly users: Map<string, string>
  /** Messages the workload set out to send. */
  planned: number
}

/**
 * A run's record, empty.
 *
 * @since 0.1.0
 * @category simulation
 */
export const makeRun = (): Run => ({ accepted: new Map(), groups: new Map(), users: new Map(), planned: 0 })

/** The running center site of `region`, if it is up. */
const centerOf = (context: Context, region: string): Module.RunningSite | undefined => {
  const name = centerSite(context.topology, region)
  return name === undefined ? undefined : context.site(name)
}

/** The chat service of the running center of `region`, if it is up. */
const serviceAt = (context: Context, region: string): ChatService | undefined => {
  const name = centerSite(context.topology, region)
  return name === undefined ? undefined : context.service(name)
}

/** Retries `attempt` every `retryMillis` until it succeeds (the run's end interrupts it). */
const untilDone = <A>(attempt: () => Effect.Effect<A, unknown>, retryMillis: number): Effect.Effect<A> =>
  Effect.suspend(() =>
    attempt().pipe(Effect.catchAll(() => Effect.zipRight(Effect.sleep(retryMillis), untilDone(attempt, retryMillis))))
  )

/**
 * Simulator workload: `usersPerRegion` users in every region, `groups` groups (homed in the
 * regions in turn, every user a member), then `messages` sends (one every `intervalMillis`),
 * each from a random member at a random region's service center and retried with the same
 * message id until accepted, and `edits` notice edits by the owners from random regions.
 *
 * @since 0.1.0
 * @category simulation
 */
export const roamingTraffic = (run: Run) =>
  Module.generator(
    Schema.Struct({
      usersPerRegion: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100)), { default: () => 2 }),
      groups: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100)), { default: () => 3 }),
      messages: Schema.Int.pipe(Schema.between(0, 100_000)),
      edits: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 10_000)), { default: () => 5 }),
      /** Users an operator moves to another home region during the sends. */
      moves: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 1000)), { default: () => 0 }),
      intervalMillis: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 100 }),
      startMillis: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { default: () => 0 }),
      retryMillis: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 250 })
    }),
    (context: Context, params) =>
      Effect.gen(function* () {
        const regions = chatRegions(context.topology)
        const service = (region: string) => {
          const found = serviceAt(context, region)
          return found === undefined ? Effect.fail("down" as const) : Effect.succeed(found)
        }
        yield* Effect.sleep(params.startMillis)

        // Registrations, then groups, each batch at once (a lost packet costs one ask timeout).
        const users = regions.flatMap((region) =>
          Array.from({ length: params.usersPerRegion }, (_, i) => ({ user: `${region}-${i}`, region }))
        )
        yield* Effect.forEach(
          users,
          ({ region, user }) =>
            untilDone(
              () =>
                Effect.suspend((): Effect.Effect<unknown, unknown> => {
                  const site = centerOf(context, region)
                  if (site === undefined) return Effect.fail("down")
                  return site.accounts
                    .register(user, "correct horse battery", region)
                    .pipe(Effect.catchTag("AccountExists", () => Effect.void))
                }),
              params.retryMillis
            ),
          { concurrency: "unbounded", discard: true }
        )
        for (const { region, user } of users) run.users.set(user, region)
        const everyone = users.map(({ user }) => user)

        const created = yield* Effect.forEach(
          Array.from({ length: params.groups }, (_, k) => k),
          (k) => {
            const home = regions[k % regions.length]!
            const owner = `${home}-0`
            return Effect.map(
              untilDone(
                () =>
                  Effect.flatMap(service(home), (s) =>
                    s.create({ user: owner, home }, { name: `g${k}`, members: everyone, home })
                  ),
                params.retryMillis
              ),
              (group) => ({ id: group.id, owner, home })
            )
          },
          { concurrency: "unbounded" }
        )
        for (const { home, id, owner } of created) run.groups.set(id, { owner, home, members: everyone })
        const groupIds = [...run.groups.keys()]

        const edits = Effect.gen(function* () {
          for (let e = 0; e < params.edits; e++) {
            yield* Effect.sleep(params.intervalMillis * 3)
            const group = groupIds[yield* Random.nextIntBetween(0, groupIds.length)]!
            const at = regions[yield* Random.nextIntBetween(0, regions.length)]!
            const owner = run.groups.get(group)!.owner
            yield* untilDone(
              () => Effect.flatMap(service(at), (s) => s.edit(owner, group, { notice: `notice ${e}` })),
              params.retryMillis
            )
          }
        })
        const editor = yield* Effect.fork(edits)
        const mover = yield* Effect.fork(
          Effect.gen(function* () {
            for (let m = 0; m < params.moves; m++) {
              yield* Effect.sleep((params.intervalMillis * params.messages) / (params.moves + 1))
              const user = everyone[yield* Random.nextIntBetween(0, everyone.length)]!
              const others = regions.filter((r) => r !== run.users.get(user))
              const to = others[yield* Random.nextIntBetween(0, others.length)]!
              const at = regions[yield* Random.nextIntBetween(0, regions.length)]!
              yield* untilDone(() => Effect.flatMap(service(at), (s) => s.moveUser(user, to)), params.retryMillis)
              run.users.set(user, to)
            }
          })
        )

        const senders: Array<Fiber.RuntimeFiber<void>> = []
        run.planned += params.messages
        for (let i = 0; i < params.messages; i++) {
          yield* Effect.sleep(params.intervalMillis)
          const group = groupIds[yield* Random.nextIntBetween(0, groupIds.length)]!
          const from = everyone[yield* Random.nextIntBetween(0, everyone.length)]!
          const at = regions[yield* Random.nextIntBetween(0, regions.length)]!
          const id = `m${String(i).padStart(6, "0")}`
          senders.push(
            yield* Effect.fork(
              Effect.asVoid(
                untilDone(
                  () =>
                    Effect.flatMap(service(at), (s) =>
                      s.send(from, group, `message ${i} from ${from} at ${at}`, id)
                    ).pipe(Effect.tap(() => Effect.sync(() => run.accepted.set(id, group)))),
                  params.retryMillis
                )
              )
            )
          )
        }
        yield* Fiber.awaitAll([...senders, editor, mover])
      })
  )

/**
 * Simulator invariant: every member of every group holds every message accepted for it exactly
 * once, read at the member's home region, in increasing sequence numbers, and a message has the
 * same sequence number for every member.
 *
 * @since 0.1.0
 * @category simulation
 */
export const deliveredOnceInOrder =
  (run: Run): Module.Invariant<ChatService> =>
  (context) =>
    Effect.gen(function* () {
      if (run.groups.size === 0) return "no group was created"
      // Liveness: a send retried through the whole run without being accepted is a failure too.
      if (run.accepted.size < run.planned) return `${run.accepted.size} of ${run.planned} sends were accepted`
      for (const [group, info] of run.groups) {
        const expected = [...run.accepted].filter(([, g]) => g === group).map(([id]) => id)
        const seqOf = new Map<string, number>()
        for (const member of info.members) {
          // The accounts service decides: a move abandoned at the run's end may have finished.
          const located = yield* locate(context, member, run.users.get(member)!)
          if (located._tag === "Left") return located.left
          const home = located.right
          const service = serviceAt(context, home)
          if (service === undefined) return `the service center of ${home} is down at the end of the run`
          const read = yield* Effect.either(Effect.retry(service.history(member, group, 0, 1_000_000), { times: 3 }))
          if (read._tag === "Left") return `history of ${group} for ${member} failed: ${read.left.message}`
          const messages = read.right.messages
          const ids = new Set<string>()
          let last = 0
          for (const message of messages) {
            if (message.seq <= last) return `${member} reads ${group} out of order: #${message.seq} after #${last}`
            last = message.seq
            if (ids.has(message.id)) return `${member} holds message ${message.id} of ${group} twice`
            ids.add(message.id)
            const seen = seqOf.get(message.id)
            if (seen !== undefined && seen !== message.seq) {
              return `message ${message.id} is #${seen} for one member and #${message.seq} for ${member}`
            }
            seqOf.set(message.id, message.seq)
          }
          for (const id of expected) {
            if (!ids.has(id)) return `${member} (home ${home}) never got accepted message ${id} of ${group}`
          }
        }
      }
      return undefined
    })

/** `user`'s home region by the accounts service, asked at the center of `region` (any region would do). */
const locate = (context: Context, user: string, region: string): Effect.Effect<Either.Either<string, string>> => {
  const site = centerOf(context, region)
  if (site === undefined)
    return Effect.succeed(Either.left(`the service center of ${region} is down at the end of the run`))
  return site.accounts
    .locate(user)
    .pipe(
      Effect.retry({ times: 3 }),
      Effect.mapBoth({ onFailure: (e) => `the home of ${user} is unknown: ${e.message}`, onSuccess: (home) => home }),
      Effect.either
    )
}

/** Rounds of a group query check while the home's data still changes (durable moves landing). */
const SETTLE_ROUNDS = 5
const SETTLE_MILLIS = 1000

/**
 * Simulator invariant: a group query answers the home region's data from every region. The
 * home's data is read before and after the regions are asked; when it changed in between
 * (durable updates still landing after the run), the check waits and runs again.
 *
 * @since 0.1.0
 * @category simulation
 */
export const queriesFromHome =
  (run: Run): Module.Invariant<ChatService> =>
  (context) =>
    Effect.gen(function* () {
      // A query is one ask each way: a lost packet is retried, as a client would.
      const ask = (region: string, owner: string, group: string) => {
        const service = serviceAt(context, region)
        if (service === undefined) return Effect.fail(`the service center of ${region} is down at the end of the run`)
        return service
          .get(owner, group)
          .pipe(
            Effect.retry({ times: 3 }),
            Effect.mapBoth({ onFailure: (e) => `${group} asked in ${region}: ${e.message}`, onSuccess: JSON.stringify })
          )
      }
      const check = (group: string, info: { readonly owner: string; readonly home: string }) =>
        Effect.gen(function* () {
          const before = yield* ask(info.home, info.owner, group)
          const answers: Array<readonly [string, string]> = []
          for (const region of chatRegions(context.topology))
            answers.push([region, yield* ask(region, info.owner, group)])
          const after = yield* ask(info.home, info.owner, group)
          if (before !== after) return "moving" as const
          const wrong = answers.find(([, answer]) => answer !== before)
          return wrong === undefined ? undefined : `${group} asked in ${wrong[0]} differs from its home's data`
        })
      for (const [group, info] of run.groups) {
        let outcome: string | undefined = "moving"
        for (let round = 0; outcome === "moving" && round < SETTLE_ROUNDS; round++) {
          if (round > 0) yield* Effect.sleep(SETTLE_MILLIS)
          outcome = yield* Effect.merge(check(group, info))
        }
        if (outcome === "moving") return `${group} still changes at its home ${SETTLE_ROUNDS} s after the run`
        if (outcome !== undefined) return outcome
      }
      return undefined
    })
