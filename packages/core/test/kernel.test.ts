import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Actor from "../src/kernel/Actor.js"
import * as ActorSystem from "../src/kernel/ActorSystem.js"
import * as Address from "../src/kernel/Address.js"
import * as DeadLetters from "../src/kernel/DeadLetters.js"
import { Envelope, PROTOCOL_VERSION } from "../src/kernel/Envelope.js"
import * as Protocol from "../src/kernel/Protocol.js"
import * as Router from "../src/kernel/Router.js"
import * as Supervisor from "../src/kernel/Supervisor.js"
import * as Ping from "../src/ping/Ping.js"
import * as Dedupe from "../src/stores/Dedupe.js"

// ---- a test protocol: a worker that can be told to crash -------------------------------------

class Crash extends Schema.TaggedClass<Crash>()("Crash", {}) {}
class Work extends Schema.TaggedClass<Work>()("Work", { n: Schema.Int }) {}
class Slow extends Schema.TaggedClass<Slow>()("Slow", { millis: Schema.Int }) {}
class Status extends Schema.TaggedRequest<Status>()("Status", {
  failure: Schema.Never,
  success: Schema.Struct({ incarnation: Schema.Int, done: Schema.Array(Schema.Int) }),
  payload: {}
}) {}
class Divide extends Schema.TaggedRequest<Divide>()("Divide", {
  failure: Schema.String,
  success: Schema.Number,
  payload: { a: Schema.Number, b: Schema.Number }
}) {}
const WorkerProtocol = Protocol.make("test/worker", 1, Crash, Work, Slow, Status, Divide)

const worker = (name: string, options: Actor.Options = {}) =>
  Actor.make(
    name,
    WorkerProtocol,
    (self) =>
      Effect.sync(() => {
        const done: Array<number> = []
        return {
          Crash: () => Effect.dieMessage("boom"),
          Work: (m: Work) => Effect.sync(() => void done.push(m.n)),
          Slow: (m: Slow) => Effect.sleep(m.millis),
          Status: () => Effect.succeed({ incarnation: self.incarnation, done: [...done] }),
          Divide: (m: Divide) => (m.b === 0 ? Effect.fail("division by zero") : Effect.succeed(m.a / m.b))
        }
      }),
    options
  )

/** An actor system of site `site`, its root supervisor running in the test's scope. */
const system = (
  site: string,
  options: {
    readonly supervision?: Partial<Supervisor.Config>
    readonly router?: Router.RouterService
    readonly runRoot?: boolean
  } = {}
) =>
  Effect.gen(function* () {
    const sys = yield* ActorSystem.make({ site, ...(options.supervision ? { supervision: options.supervision } : {}) })
    if (options.runRoot !== false) yield* Effect.forkScoped(sys.root.run)
    return sys
  }).pipe(
    Effect.provide(
      Layer.mergeAll(
        Layer.succeed(Router.Router, options.router ?? Router.isolated),
        Dedupe.layerMemory(),
        DeadLetters.layer(100)
      )
    )
  )

const status = (ref: Actor.ActorRef<Protocol.Message<typeof WorkerProtocol>>) => ref.ask(new Status())

describe("actors", () => {
  it.scoped("tell and ask reach a local actor in order", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      const ref = yield* sys.spawn(worker("w"))
      for (let n = 1; n <= 5; n++) yield* ref.tell(new Work({ n }))
      expect((yield* status(ref)).done).toEqual([1, 2, 3, 4, 5])
      expect(yield* ref.ask(new Divide({ a: 6, b: 3 }))).toBe(2)
      // A typed failure of an ask is an answer, not a crash.
      expect(yield* Effect.flip(ref.ask(new Divide({ a: 1, b: 0 })))).toBe("division by zero")
      expect((yield* status(ref)).incarnation).toBe(0)
    })
  )

  it.scoped("a second actor with the same name is refused", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      yield* sys.spawn(worker("w"))
      const error = yield* Effect.flip(sys.spawn(worker("w")))
      expect(error._tag).toBe("ActorNameTaken")
    })
  )

  it.scoped("tell back-pressures a full mailbox; tryTell fails with MailboxFull", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      const ref = yield* sys.spawn(worker("w", { mailboxCapacity: 2, maxBatch: 1 }))
      // Occupy the actor for 1 s, then fill its mailbox.
      yield* ref.tell(new Slow({ millis: 1000 }))
      yield* Effect.yieldNow()
      yield* ref.tell(new Work({ n: 1 }))
      yield* ref.tell(new Work({ n: 2 }))
      const full = yield* Effect.flip(ref.tryTell(new Work({ n: 99 })))
      expect(full._tag).toBe("MailboxFull")
      // A waiting tell is not lost and not reordered: it completes once there is room.
      const waiting = yield* Effect.fork(ref.tell(new Work({ n: 3 })))
      yield* Effect.yieldNow()
      expect(waiting.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(waiting)
      expect((yield* status(ref)).done).toEqual([1, 2, 3])
    })
  )

  it.scoped("an ask past its deadline fails with AskTimeout and its message becomes an expired dead letter", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      const ref = yield* sys.spawn(worker("w"))
      yield* ref.tell(new Slow({ millis: 2000 }))
      const asking = yield* Effect.fork(ref.ask(new Status(), { timeout: "500 millis" }))
      yield* TestClock.adjust("500 millis")
      const error = yield* Effect.flip(Fiber.join(asking))
      expect(error._tag).toBe("AskTimeout")
      yield* TestClock.adjust("2 seconds")
      // The actor is still fine and the stale request was not handled but dead-lettered.
      expect((yield* status(ref)).incarnation).toBe(0)
      const letters = yield* sys.deadLetters.list()
      expect(letters.map((l) => [l.reason, l.tag])).toContainEqual(["expired", "Status"])
    })
  )

  it.scoped("a tell to an unknown local actor fails with ActorNotFound and is a dead letter", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      const ref = sys.ref(WorkerProtocol, Address.make("a", "nobody"))
      const error = yield* Effect.flip(ref.tell(new Work({ n: 1 })))
      expect(error._tag).toBe("ActorNotFound")
      expect((yield* sys.deadLetters.counts)["no-such-actor"]).toBe(1)
    })
  )

  it.scoped("a remote address without a router fails with a typed Unreachable", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      const ref = sys.ref(WorkerProtocol, Address.make("b", "w"))
      const error = yield* Effect.flip(ref.tell(new Work({ n: 1 })))
      expect(error._tag).toBe("Unreachable")
      const askError = yield* Effect.flip(ref.ask(new Status()))
      expect(askError._tag).toBe("Unreachable")
    })
  )
})

describe("supervision", () => {
  it.scoped("a crashing actor restarts after a back-off; the others keep serving", () =>
    Effect.gen(function* () {
      const sys = yield* system("a", { supervision: { backoffInitial: "100 millis", maxRestarts: 3 } })
      const crashy = yield* sys.spawn(worker("crashy"))
      const steady = yield* sys.spawn(worker("steady"))
      yield* crashy.tell(new Work({ n: 1 }))
      yield* crashy.tell(new Crash())
      yield* crashy.tell(new Work({ n: 2 }))
      yield* Effect.yieldNow()
      // While crashy waits out its back-off, steady answers.
      yield* steady.tell(new Work({ n: 7 }))
      expect((yield* status(steady)).done).toEqual([7])
      const info = (yield* sys.actors).find((a) => a.name === "crashy")!
      expect(info.status).toBe("restarting")
      // The message queued behind the crash is kept for the next incarnation.
      expect(info.mailboxDepth).toBe(1)
      yield* TestClock.adjust("100 millis")
      const after = yield* status(crashy)
      expect(after.incarnation).toBe(1)
      expect(after.done).toEqual([2]) // state starts afresh; Work(2) was not lost
      const letters = yield* sys.deadLetters.list()
      expect(letters[0]).toMatchObject({ reason: "handler-failed", tag: "Crash", to: "crashy@a" })
    })
  )

  it.scoped("back-off doubles with each restart in the window", () =>
    Effect.gen(function* () {
      const sys = yield* system("a", { supervision: { backoffInitial: "100 millis", maxRestarts: 5 } })
      const ref = yield* sys.spawn(worker("w"))
      yield* ref.tell(new Crash())
      yield* TestClock.adjust("100 millis")
      expect((yield* status(ref)).incarnation).toBe(1)
      yield* ref.tell(new Crash())
      yield* TestClock.adjust("100 millis")
      // Second restart in the window waits 200 ms, not 100.
      expect((yield* sys.actors)[0]!.status).toBe("restarting")
      yield* TestClock.adjust("100 millis")
      expect((yield* status(ref)).incarnation).toBe(2)
    })
  )

  it.scoped("an ask whose handler dies fails with ActorCrashed", () =>
    Effect.gen(function* () {
      const Boom = Protocol.make("test/boom", 1, Status)
      const sys = yield* system("a")
      const ref = yield* sys.spawn(
        Actor.make("boom", Boom, () => Effect.succeed({ Status: () => Effect.dieMessage("kaput") }))
      )
      const error = yield* Effect.flip(ref.ask(new Status()))
      expect(error._tag).toBe("ActorCrashed")
    })
  )

  it.scoped("after maxRestarts within the window the supervisor escalates", () =>
    Effect.gen(function* () {
      const sup = Supervisor.make("module:test", { maxRestarts: 2, within: "10 seconds", backoffInitial: "10 millis" })
      // The root may not restart anything: an escalation reaching it ends the site.
      const sys = yield* system("a", { supervision: { maxRestarts: 0 }, runRoot: false })
      const root = yield* Effect.forkScoped(sys.root.run)
      yield* sys.root.add(Supervisor.asChild(sup))
      const ref = yield* sys.spawn(worker("w"), { supervisor: sup })
      for (let i = 0; i < 2; i++) {
        yield* ref.tell(new Crash())
        yield* TestClock.adjust("1 second")
      }
      expect((yield* status(ref)).incarnation).toBe(2)
      // The third crash within 10 s exceeds the intensity of module:test; it escalates to the
      // root, whose intensity (0) is spent at once, so the root fails with the escalation.
      yield* ref.tell(new Crash())
      yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.await(root)
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(Fiber.join(root))
      expect(error).toBeInstanceOf(Supervisor.Escalated)
      expect(error.supervisor).toBe("site:a")
      expect(error.child).toBe("module:test")
      expect(sys.root.isRunning).toBe(false)
    })
  )

  it.scoped("escalation of a module supervisor restarts its whole subtree under the root", () =>
    Effect.gen(function* () {
      const sup = Supervisor.make("module:test", { maxRestarts: 0, backoffInitial: "10 millis" })
      const sys = yield* system("a", { supervision: { maxRestarts: 5, backoffInitial: "10 millis" } })
      yield* sys.root.add(Supervisor.asChild(sup))
      const a = yield* sys.spawn(worker("a1"), { supervisor: sup })
      const b = yield* sys.spawn(worker("b1"), { supervisor: sup })
      yield* a.tell(new Crash())
      yield* TestClock.adjust("1 second")
      // Both actors of the subtree are fresh incarnations now; the root still runs.
      expect((yield* status(a)).incarnation).toBe(1)
      expect((yield* status(b)).incarnation).toBe(1)
      expect(sys.root.isRunning).toBe(true)
    })
  )

  it.scoped("one-for-all restarts every sibling", () =>
    Effect.gen(function* () {
      const sup = Supervisor.make("module:all", { strategy: "one-for-all", backoffInitial: "10 millis" })
      const sys = yield* system("a")
      yield* sys.root.add(Supervisor.asChild(sup))
      const a = yield* sys.spawn(worker("a1"), { supervisor: sup })
      const b = yield* sys.spawn(worker("b1"), { supervisor: sup })
      // Both running (an actor starts when its supervisor schedules it).
      expect((yield* status(a)).incarnation).toBe(0)
      yield* b.tell(new Work({ n: 1 }))
      expect((yield* status(b)).done).toEqual([1])
      yield* a.tell(new Crash())
      yield* TestClock.adjust("10 millis")
      expect((yield* status(a)).incarnation).toBe(1)
      const bStatus = yield* status(b)
      expect(bStatus.incarnation).toBe(1)
      expect(bStatus.done).toEqual([])
    })
  )
})

describe("stop", () => {
  it.scoped("drain processes what is queued, then the actor is gone", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      const ref = yield* sys.spawn(worker("w"))
      yield* ref.tell(new Slow({ millis: 100 }))
      yield* ref.tell(new Work({ n: 1 }))
      const stopping = yield* Effect.fork(sys.stop("w", { mode: "drain", timeout: "1 second" }))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(stopping)
      expect(yield* sys.actors).toEqual([])
      expect(yield* sys.deadLetters.total).toBe(0)
      expect((yield* Effect.flip(ref.tell(new Work({ n: 2 }))))._tag).toBe("ActorNotFound")
    })
  )

  it.scoped("drain is bounded: what is left after the timeout is dead-lettered, asks fail", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      const ref = yield* sys.spawn(worker("w", { maxBatch: 1 }))
      yield* ref.tell(new Slow({ millis: 10_000 }))
      yield* Effect.yieldNow()
      yield* ref.tell(new Work({ n: 1 }))
      const asking = yield* Effect.fork(ref.ask(new Status(), { timeout: "1 minute" }))
      yield* Effect.yieldNow()
      const stopping = yield* Effect.fork(sys.stop("w", { mode: "drain", timeout: "1 second" }))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(stopping)
      expect((yield* Effect.flip(Fiber.join(asking)))._tag).toBe("ActorStopped")
      const reasons = (yield* sys.deadLetters.list()).map((l) => `${l.reason}:${l.tag}`)
      expect(reasons.sort()).toEqual(["handler-failed:Slow", "stopped:Status", "stopped:Work"])
    })
  )

  it.scoped("reject dead-letters the queue at once", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      const ref = yield* sys.spawn(worker("w", { maxBatch: 1 }))
      yield* ref.tell(new Slow({ millis: 10_000 }))
      yield* Effect.yieldNow()
      yield* ref.tell(new Work({ n: 1 }))
      yield* ref.tell(new Work({ n: 2 }))
      yield* sys.stop("w", { mode: "reject", timeout: "1 second" }).pipe(Effect.fork)
      yield* TestClock.adjust("1 second")
      expect((yield* sys.deadLetters.counts)["stopped"]).toBe(2)
    })
  )
})

// ---- envelopes: what arrives from other sites -----------------------------------------------

const envelope = (fields: Partial<ConstructorParameters<typeof Envelope>[0]> & { payload: unknown }) =>
  new Envelope(
    {
      version: PROTOCOL_VERSION,
      id: "e-1",
      from: Address.make("b", "system"),
      to: Address.make("a", "w"),
      kind: "tell",
      hops: 1,
      durable: false,
      ...fields
    },
    { disableValidation: true }
  )

describe("inbound envelopes", () => {
  it.scoped("a malformed message becomes a dead letter with its reason; valid traffic keeps flowing", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      const ref = yield* sys.spawn(worker("w"))
      const bad = yield* sys.deliver(envelope({ id: "bad", payload: { _tag: "Work", n: "not a number" } }))
      expect(bad).toEqual({ _tag: "Rejected", reason: "undecodable" })
      const unknownTag = yield* sys.deliver(envelope({ id: "bad2", payload: { _tag: "Explode" } }))
      expect(unknownTag._tag).toBe("Rejected")
      const good = yield* sys.deliver(envelope({ id: "good", payload: { _tag: "Work", n: 5 } }))
      expect(good._tag).toBe("Delivered")
      expect((yield* status(ref)).done).toEqual([5])
      const letters = yield* sys.deadLetters.list()
      expect(letters).toHaveLength(2)
      const first = letters.find((l) => l.envelopeId === "bad")!
      expect(first).toMatchObject({ reason: "undecodable", tag: "Work", from: "system@b" })
      expect(first.detail).toContain("n")
      expect(first.detail).toContain("Expected number")
    })
  )

  it.scoped("a duplicated envelope is applied once, and its settlement says so", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      const ref = yield* sys.spawn(worker("w"))
      const settled: Array<string> = []
      const onSettled = (s: ActorSystem.Settlement) => Effect.sync(() => void settled.push(s))
      const e = envelope({ id: "dup-1", durable: true, payload: { _tag: "Work", n: 1 } })
      // Two copies arrive before the first is applied: both are queued, the second is skipped.
      expect((yield* sys.deliver(e, onSettled))._tag).toBe("Delivered")
      expect((yield* sys.deliver(e, onSettled))._tag).toBe("Delivered")
      expect((yield* status(ref)).done).toEqual([1])
      expect(settled).toEqual(["applied", "duplicate"])
      // A copy arriving after it was applied is answered as a duplicate at once.
      expect((yield* sys.deliver(e, onSettled))._tag).toBe("Duplicate")
      expect((yield* status(ref)).done).toEqual([1])
      expect((yield* sys.stats).duplicates).toBe(2)
    })
  )

  it.scoped("a message queued but not applied when its actor stops is not remembered: it applies when sent again", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      const ref = yield* sys.spawn(worker("w", { maxBatch: 1 }))
      yield* ref.tell(new Slow({ millis: 1000 }))
      yield* Effect.yieldNow()
      const settled: Array<string> = []
      const e = envelope({ id: "late-1", durable: true, payload: { _tag: "Work", n: 9 } })
      yield* sys.deliver(e, (s) => Effect.sync(() => void settled.push(s)))
      const stopping = yield* Effect.fork(sys.stop("w", { mode: "reject", timeout: "1 second" }))
      yield* Effect.yieldNow()
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(stopping)
      expect(settled).toEqual(["unprocessed"])
      const again = yield* sys.spawn(worker("w"))
      expect((yield* sys.deliver(e))._tag).toBe("Delivered")
      expect((yield* status(again)).done).toEqual([9])
    })
  )

  it.scoped("wrong version, unknown actor and expired deadline are dead letters", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      yield* sys.spawn(worker("w"))
      expect(yield* sys.deliver(envelope({ id: "v", version: 99, payload: { _tag: "Work", n: 1 } }))).toEqual({
        _tag: "Rejected",
        reason: "unsupported-version"
      })
      expect(
        yield* sys.deliver(envelope({ id: "n", to: Address.make("a", "ghost"), payload: { _tag: "Work", n: 1 } }))
      ).toEqual({ _tag: "Rejected", reason: "no-such-actor" })
      yield* TestClock.adjust("10 seconds")
      expect(yield* sys.deliver(envelope({ id: "x", deadline: 5_000, payload: { _tag: "Work", n: 1 } }))).toEqual({
        _tag: "Rejected",
        reason: "expired"
      })
      expect(yield* sys.deadLetters.counts).toEqual({ "unsupported-version": 1, "no-such-actor": 1, expired: 1 })
    })
  )

  it.scoped("a durable envelope to a full mailbox is Busy (left for retransmission), not lost", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      const ref = yield* sys.spawn(worker("w", { mailboxCapacity: 1, maxBatch: 1 }))
      yield* ref.tell(new Slow({ millis: 1000 }))
      yield* Effect.yieldNow()
      yield* ref.tell(new Work({ n: 1 }))
      const e = envelope({ id: "d-1", durable: true, payload: { _tag: "Work", n: 2 } })
      expect((yield* sys.deliver(e))._tag).toBe("Busy")
      yield* TestClock.adjust("1 second")
      // Retransmitted later, it is applied (the Busy attempt did not mark it as seen).
      expect((yield* sys.deliver(e))._tag).toBe("Delivered")
      expect((yield* status(ref)).done).toEqual([1, 2])
    })
  )

  it.scoped("asks cross sites in envelopes: answers, typed failures and kernel failures come back", () =>
    Effect.gen(function* () {
      // Two sites whose routers hand envelopes straight to each other.
      const systems = new Map<string, ActorSystem.ActorSystemService>()
      const router: Router.RouterService = {
        sendDurable: (e) => router.send(e),
        trySend: () => false,
        send: (e) =>
          Effect.flatMap(
            Effect.sync(() => systems.get(e.to.site)!),
            (target) =>
              // Through the wire format, as a transport would.
              Effect.flatMap(Schema.encode(Envelope)(e).pipe(Effect.orDie), (wire) =>
                Schema.decodeUnknown(Envelope)(JSON.parse(JSON.stringify(wire)))
              ).pipe(Effect.orDie, Effect.flatMap(target.deliver), Effect.forkDaemon, Effect.asVoid)
          )
      }
      const a = yield* system("a", { router })
      const b = yield* system("b", { router })
      systems.set("a", a).set("b", b)
      yield* b.spawn(worker("w"))
      yield* b.spawn(Ping.echo())
      const remote = a.ref(WorkerProtocol, Address.make("b", "w"))
      yield* remote.tell(new Work({ n: 42 }))
      expect((yield* status(remote)).done).toEqual([42])
      expect(yield* remote.ask(new Divide({ a: 1, b: 4 }))).toBe(0.25)
      expect(yield* Effect.flip(remote.ask(new Divide({ a: 1, b: 0 })))).toBe("division by zero")
      const echo = Ping.refs(a, "b").echo
      expect(yield* echo.ask(new Ping.Echo({ text: "hi" }))).toEqual({ text: "hi", site: "b" })
      const ghost = a.ref(WorkerProtocol, Address.make("b", "ghost"))
      expect((yield* Effect.flip(ghost.ask(new Status())))._tag).toBe("ActorNotFound")
      expect((yield* a.stats).envelopesOut).toBeGreaterThan(0)
      expect((yield* a.stats).pendingAsks).toBe(0)
    })
  )
})

describe("remote asks whose asker gave up", () => {
  it.scoped("stay pending until their answer or their deadline, then leave", () =>
    Effect.gen(function* () {
      // A router that takes every envelope and delivers nothing: answers only come when sent.
      const sent: Array<Envelope> = []
      const router: Router.RouterService = {
        sendDurable: () => Effect.void,
        trySend: (e) => {
          sent.push(e)
          return true
        },
        send: () => Effect.void
      }
      const a = yield* system("a", { router })
      const echo = Ping.refs(a, "b").echo
      const ask = echo.ask(new Ping.Echo({ text: "hi" }), { timeout: "10 seconds" })
      // The asker gives up first: the asks are still in flight.
      const gaveUp = yield* Effect.fork(
        Effect.all(
          [ask, ask].map((x) => Effect.timeout(x, "1 second")),
          { concurrency: "unbounded" }
        )
      )
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.await(gaveUp))._tag).toBe("Failure")
      expect(sent).toHaveLength(2)
      expect((yield* a.stats).pendingAsks).toBe(2)
      // One answer arrives late: that ask leaves; the other leaves at its deadline.
      const late = new Envelope({
        version: PROTOCOL_VERSION,
        id: "b-1-1",
        from: sent[0]!.to,
        to: sent[0]!.from,
        kind: "reply",
        correlationId: sent[0]!.correlationId!,
        hops: 0,
        durable: false,
        payload: { _tag: "Success", value: { text: "hi", site: "b" } }
      })
      expect((yield* a.deliver(late))._tag).toBe("Delivered")
      expect((yield* a.stats).pendingAsks).toBe(1)
      yield* TestClock.adjust("9 seconds")
      expect((yield* a.stats).pendingAsks).toBe(0)
    })
  )
})

describe("dead letters", () => {
  it.effect("keep the newest `capacity` records and count them all", () =>
    Effect.gen(function* () {
      const letters = DeadLetters.make(3)
      for (let i = 0; i < 5; i++) {
        yield* letters.record({
          reason: "expired",
          to: "w@a",
          from: "",
          tag: `T${i}`,
          envelopeId: undefined,
          detail: ""
        })
      }
      expect((yield* letters.list()).map((l) => l.tag)).toEqual(["T4", "T3", "T2"])
      expect(yield* letters.total).toBe(5)
      expect(yield* letters.counts).toEqual({ expired: 5 })
    })
  )
})

describe("dead letter replay and purge", () => {
  it.scoped("a dead tell is sent again once its actor exists; an ask is kept; purge forgets", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      const ref = sys.ref(WorkerProtocol, Address.make("a", "late"))
      yield* Effect.flip(ref.tell(new Work({ n: 7 })))
      yield* Effect.flip(ref.tell(new Work({ n: 8 })))
      const letters = yield* sys.deadLetters.list()
      expect(letters.map((l) => [l.reason, l.tag, l.replay !== undefined])).toEqual([
        ["no-such-actor", "Work", true],
        ["no-such-actor", "Work", true]
      ])
      const [second, first] = letters.map((l) => l.id)
      // Still no actor: the resend fails, the letter is kept with the reason.
      const early = yield* sys.deadLetters.replay([first!])
      expect(early.replayed).toEqual([])
      expect(early.kept.map((k) => k.id)).toEqual([first])

      const late = yield* sys.spawn(worker("late"))
      const replay = yield* sys.deadLetters.replay([first!, 999])
      expect(replay).toEqual({ replayed: [first], kept: [], unknown: [999] })
      expect((yield* status(late)).done).toEqual([7])
      expect((yield* sys.deadLetters.list()).map((l) => l.id)).toEqual([second])

      // Replaying the same letter twice is not possible: it left the list when it was sent.
      expect((yield* sys.deadLetters.replay([first!])).unknown).toEqual([first])
      // An ask's asker has gone: not replayable, kept.
      yield* Effect.flip(sys.ref(WorkerProtocol, Address.make("a", "gone")).ask(new Status()))
      const ask = (yield* sys.deadLetters.list())[0]!
      expect([ask.tag, ask.replay]).toEqual(["Status", undefined])
      expect((yield* sys.deadLetters.replay([ask.id])).kept.map((k) => k.id)).toEqual([ask.id])
      expect(yield* sys.deadLetters.purge([ask.id])).toBe(1)
      expect(yield* sys.deadLetters.purge()).toBe(1)
      expect(yield* sys.deadLetters.list()).toEqual([])
      expect((yield* status(late)).done).toEqual([7])
      // The totals per reason are history: purge does not reset them.
      expect((yield* sys.deadLetters.counts)["no-such-actor"]).toBe(3)
    })
  )
})

describe("mailbox exit of a stopped actor", () => {
  it.scoped("a tell to a stopping actor fails with ActorStopped", () =>
    Effect.gen(function* () {
      const sys = yield* system("a")
      const ref = yield* sys.spawn(worker("w", { maxBatch: 1 }))
      yield* ref.tell(new Slow({ millis: 1000 }))
      yield* Effect.yieldNow()
      const stopping = yield* Effect.fork(sys.stop("w", { timeout: "5 seconds" }))
      yield* Effect.yieldNow()
      const exit = yield* Effect.exit(ref.tell(new Work({ n: 1 })))
      expect(Exit.isFailure(exit)).toBe(true)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(stopping)
    })
  )
})
