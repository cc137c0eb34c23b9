import { afterEach, describe, expect, it, vi } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scheduler from "effect/Scheduler"
import * as Engine from "../src/sim/Engine.js"

const seed = 42

/** `true` when the current fiber runs on the engine's scheduler, clock and random. */
const onSimulator = Effect.withFiberRuntime<boolean>((fiber) =>
  Effect.gen(function* () {
    const clock = yield* Effect.clock
    return fiber.currentScheduler instanceof Scheduler.ControlledScheduler && clock instanceof Engine.SimClock
  })
)

const ticker = (every: number, count: Ref.Ref<number>) =>
  Effect.forever(
    Effect.zipRight(
      Effect.sleep(every),
      Ref.update(count, (n) => n + 1)
    )
  )

describe("Engine.run", () => {
  it("sleeps an hour of virtual time and reads the virtual clock", () => {
    const result = Engine.run(
      Effect.gen(function* () {
        const before = yield* Clock.currentTimeMillis
        yield* Effect.sleep("1 hour")
        const after = yield* Clock.currentTimeMillis
        return { before, after }
      }),
      { seed, startTime: 1_700_000_000_000 }
    )
    expect(result.stoppedBy).toBe("completed")
    expect(result.exit).toStrictEqual(Exit.succeed({ before: 1_700_000_000_000, after: 1_700_003_600_000 }))
    expect(result.simulatedMillis).toBe(3_600_000)
    expect(result.events).toBe(1)
    expect(result.finalized).toBe(true)
  })

  it("fires timers in time order, ties in registration order, and drops interrupted sleeps", () => {
    const fired: Array<string> = []
    const events: Array<Engine.TimerEvent> = []
    const mark = (label: string, millis: number) =>
      Effect.fork(
        Effect.zipRight(
          Effect.sleep(millis),
          Effect.sync(() => fired.push(label))
        )
      )
    const result = Engine.run(
      Effect.gen(function* () {
        yield* mark("c", 300)
        yield* mark("a", 100)
        yield* mark("b1", 200)
        yield* mark("b2", 200)
        const cancelled = yield* mark("never", 250)
        yield* Effect.sleep(150)
        yield* Fiber.interrupt(cancelled)
        yield* Effect.sleep(1000)
      }),
      { seed, onEvent: (event) => events.push(event) }
    )
    expect(result.stoppedBy).toBe("completed")
    expect(fired).toStrictEqual(["a", "b1", "b2", "c"])
    expect(events.map((event) => event.at)).toStrictEqual([100, 150, 200, 200, 300, 1150])
    expect(result.events).toBe(6)
    expect(result.simulatedMillis).toBe(1150)
  })

  it("runs forked, scoped, daemon and layer fibers on the simulator", () => {
    class Service extends Context.Tag("test/Service")<Service, { readonly ok: boolean }>() {}
    const layer = Layer.scoped(
      Service,
      Effect.gen(function* () {
        const inner = yield* Effect.forkScoped(Effect.zipRight(Effect.sleep(10), onSimulator))
        return { ok: yield* Fiber.join(inner) }
      })
    )
    const result = Engine.run(
      Effect.scoped(
        Effect.gen(function* () {
          const forked = yield* Effect.fork(Effect.zipRight(Effect.sleep(10), onSimulator))
          const scoped = yield* Effect.forkScoped(Effect.zipRight(Effect.sleep(10), onSimulator))
          const daemon = yield* Effect.forkDaemon(Effect.zipRight(Effect.sleep(10), onSimulator))
          const service = yield* Effect.provide(Service, layer)
          return [
            yield* onSimulator,
            yield* Fiber.join(forked),
            yield* Fiber.join(scoped),
            yield* Fiber.join(daemon),
            service.ok
          ]
        })
      ),
      { seed }
    )
    expect(result.exit).toStrictEqual(Exit.succeed([true, true, true, true, true]))
  })

  it("runs race, timeout, Queue, Deferred and Schedule on virtual time", () => {
    const result = Engine.run(
      Effect.gen(function* () {
        const raced = yield* Effect.race(Effect.as(Effect.sleep(500), "slow"), Effect.as(Effect.sleep(200), "fast"))
        const timedOut = yield* Effect.option(Effect.timeout(Effect.sleep("1 minute"), "1 second"))
        const inTime = yield* Effect.timeout(Effect.as(Effect.sleep(10), "done"), "1 second")

        const queue = yield* Queue.bounded<number>(4)
        const deferred = yield* Deferred.make<number>()
        yield* Effect.fork(
          Effect.gen(function* () {
            let sum = 0
            for (let i = 0; i < 10; i++) sum += yield* Queue.take(queue)
            yield* Deferred.succeed(deferred, sum)
          })
        )
        for (let i = 1; i <= 10; i++) yield* Effect.zipRight(Effect.sleep(5), Queue.offer(queue, i))
        const sum = yield* Deferred.await(deferred)

        const ticks = yield* Ref.make(0)
        const start = yield* Clock.currentTimeMillis
        yield* Effect.fork(
          Effect.repeat(
            Ref.update(ticks, (n) => n + 1),
            Schedule.spaced("100 millis")
          )
        )
        yield* Effect.sleep("10 seconds")
        const elapsed = (yield* Clock.currentTimeMillis) - start
        return { raced, timedOut, inTime, sum, ticks: yield* Ref.get(ticks), elapsed }
      }),
      { seed }
    )
    expect(result.exit).toStrictEqual(
      Exit.succeed({ raced: "fast", timedOut: Option.none(), inTime: "done", sum: 55, ticks: 100, elapsed: 10_000 })
    )
  })

  it("ticks every 100 ms exactly 100 times in 10 simulated seconds", () => {
    let ticks = 0
    const result = Engine.run(
      Effect.forever(
        Effect.zipRight(
          Effect.sleep(100),
          Effect.sync(() => ticks++)
        )
      ),
      { seed, maxSimulatedMillis: 10_000 }
    )
    expect(result.stoppedBy).toBe("maxSimulatedMillis")
    expect(ticks).toBe(100)
    expect(result.events).toBe(100)
    expect(result.simulatedMillis).toBe(10_000)
  })

  it("replays the same run from the same seed, and another run from another seed", () => {
    const program = Effect.gen(function* () {
      const draws: Array<number> = []
      yield* Effect.forEach(
        [1, 2, 3, 4, 5],
        (i) =>
          Effect.gen(function* () {
            for (let k = 0; k < 5; k++) {
              const wait = yield* Random.nextIntBetween(1, 50)
              yield* Effect.sleep(wait)
              draws.push(i * 1000 + (yield* Random.nextInt))
            }
          }),
        { concurrency: "unbounded", discard: true }
      )
      return draws
    })
    const runWith = (seed: number | string) => {
      const events: Array<Engine.TimerEvent> = []
      const result = Engine.run(program, { seed, onEvent: (event) => events.push(event) })
      return { exit: result.exit, events, simulatedMillis: result.simulatedMillis }
    }
    const first = runWith(7)
    expect(first.events.length).toBe(25)
    expect(runWith(7)).toStrictEqual(first)
    expect(runWith("seven")).toStrictEqual(runWith("seven"))
    const other = runWith(8)
    expect(other.exit).not.toStrictEqual(first.exit)
    expect(other.events).not.toStrictEqual(first.events)
  })

  it("detects a deadlock and runs the main fiber's finalizers", () => {
    let finalized = false
    const result = Engine.run(
      Effect.gen(function* () {
        const deferred = yield* Deferred.make<void>()
        yield* Effect.sleep(5)
        yield* Deferred.await(deferred)
      }).pipe(
        Effect.ensuring(
          Effect.gen(function* () {
            // Finalizers may sleep: the engine keeps driving timers during shutdown.
            yield* Effect.sleep(20)
            finalized = true
          })
        )
      ),
      { seed }
    )
    expect(result.stoppedBy).toBe("deadlock")
    expect(result.exit).toBeUndefined()
    expect(result.finalized).toBe(true)
    expect(finalized).toBe(true)
    expect(result.simulatedMillis).toBe(25)
  })

  it("stops an endless ticker at maxSimulatedMillis and at maxEvents, running finalizers", () => {
    const endless = (finalizers: Array<string>) =>
      Effect.gen(function* () {
        const count = yield* Ref.make(0)
        yield* Effect.forkDaemon(ticker(7, count))
        yield* ticker(10, count)
      }).pipe(Effect.ensuring(Effect.sync(() => finalizers.push("main"))))

    const byTime: Array<string> = []
    const timeBound = Engine.run(endless(byTime), { seed, maxSimulatedMillis: 5_000 })
    expect(timeBound.stoppedBy).toBe("maxSimulatedMillis")
    expect(timeBound.exit).toBeUndefined()
    expect(timeBound.finalized).toBe(true)
    expect(timeBound.simulatedMillis).toBe(5_000)
    expect(timeBound.events).toBe(Math.floor(5_000 / 7) + 5_000 / 10)
    expect(byTime).toStrictEqual(["main"])

    const byEvents: Array<string> = []
    const eventBound = Engine.run(endless(byEvents), { seed, maxEvents: 1_000 })
    expect(eventBound.stoppedBy).toBe("maxEvents")
    expect(eventBound.events).toBe(1_000)
    expect(eventBound.finalized).toBe(true)
    expect(byEvents).toStrictEqual(["main"])
  })

  it("stops a fiber that spins without sleeping", () => {
    const result = Engine.run(Effect.forever(Effect.yieldNow()), { seed, maxStepsPerInstant: 10_000 })
    expect(result.stoppedBy).toBe("maxStepsPerInstant")
    expect(result.finalized).toBe(true)
    expect(result.simulatedMillis).toBe(0)
  })

  describe("never waits on the wall clock", () => {
    afterEach(() => {
      vi.restoreAllMocks()
    })

    it("creates no real timer while sleeping, racing, timing out and repeating", () => {
      const setTimeoutSpy = vi.spyOn(globalThis, "setTimeout")
      const setIntervalSpy = vi.spyOn(globalThis, "setInterval")
      const result = Engine.run(
        Effect.gen(function* () {
          yield* Effect.race(Effect.sleep(50), Effect.sleep(20))
          yield* Effect.option(Effect.timeout(Effect.sleep(100), 10))
          yield* Effect.repeat(Effect.void, Schedule.spaced(5).pipe(Schedule.compose(Schedule.recurs(10))))
          return yield* Clock.currentTimeMillis
        }),
        { seed }
      )
      expect(result.exit).toStrictEqual(Exit.succeed(80))
      expect(setTimeoutSpy).not.toHaveBeenCalled()
      expect(setIntervalSpy).not.toHaveBeenCalled()
    })
  })

  it("runs 60 fibers ticking every 10 ms for 10 simulated seconds", () => {
    const result = Engine.run(
      Effect.gen(function* () {
        const count = yield* Ref.make(0)
        for (let i = 0; i < 60; i++) yield* Effect.fork(ticker(10, count))
        yield* Effect.sleep("10001 millis")
        return yield* Ref.get(count)
      }),
      { seed }
    )
    expect(result.exit).toStrictEqual(Exit.succeed(60_000))
    expect(result.events).toBe(60_001)
  })

  it("exposes the SimClock to simulated devices", () => {
    const result = Engine.run(
      Effect.gen(function* () {
        const clock = yield* Engine.currentSimClock
        if (Option.isNone(clock)) return "no clock"
        const delivered = yield* Deferred.make<number>()
        clock.value.unsafeSchedule(() => Deferred.unsafeDone(delivered, Exit.succeed(clock.value.elapsedMillis)), 30)
        const cancel = clock.value.unsafeSchedule(() => Deferred.unsafeDone(delivered, Exit.succeed(-1)), 10)
        expect(cancel()).toBe(true)
        expect(cancel()).toBe(false)
        return yield* Deferred.await(delivered)
      }),
      { seed }
    )
    expect(result.exit).toStrictEqual(Exit.succeed(30))
    expect(result.events).toBe(1)
  })
})
