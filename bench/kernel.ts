/**
 * `npm run bench:kernel`: in-process throughput of the kernel's mailboxes, against a baseline
 * measured in the same run — one producer fiber doing `Queue.offer` into `Queue.bounded(1024)`
 * and one consumer fiber doing `Queue.take`, 10^6 numbers.
 *
 * Prints one JSON object per line: name, value, unit, baseline, ratio (value/baseline), better.
 * Each figure is the median of `ROUNDS` runs after a warm-up run.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as ActorSystem from "../packages/core/src/kernel/ActorSystem.js"
import * as DeadLetters from "../packages/core/src/kernel/DeadLetters.js"
import * as Router from "../packages/core/src/kernel/Router.js"
import * as Ping from "../packages/core/src/ping/Ping.js"
import * as Dedupe from "../packages/core/src/stores/Dedupe.js"

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 1_000_000)
const ASKS = Number(process.env.BENCH_ASKS ?? 200_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)

/** Seconds taken by `effect`. */
const timed = <E>(effect: Effect.Effect<unknown, E>): Effect.Effect<number, E> =>
  Effect.gen(function* () {
    const start = performance.now()
    yield* effect
    return (performance.now() - start) / 1000
  })

const baseline = Effect.gen(function* () {
  const queue = yield* Queue.bounded<number>(1024)
  const consumer = yield* Effect.fork(
    Effect.gen(function* () {
      let sum = 0
      for (let i = 0; i < MESSAGES; i++) sum += yield* Queue.take(queue)
      return sum
    })
  )
  for (let i = 0; i < MESSAGES; i++) yield* Queue.offer(queue, i)
  yield* Fiber.join(consumer)
})

const layer = Layer.mergeAll(Router.layerIsolated, Dedupe.layerMemory(), DeadLetters.layer())

/** Fresh system and counter actor (mailbox 1024, like the baseline's queue). */
const counter = Effect.gen(function* () {
  const system = yield* ActorSystem.make({ site: "bench" })
  yield* Effect.forkScoped(system.root.run)
  return yield* system.spawn(Ping.counter({ mailboxCapacity: 1024 }))
}).pipe(Effect.provide(layer))

const tells = Effect.scoped(
  Effect.gen(function* () {
    const ref = yield* counter
    const message = new Ping.Increment({ by: 1 })
    const seconds = yield* timed(
      Effect.gen(function* () {
        for (let i = 0; i < MESSAGES; i++) yield* ref.tell(message)
        // The ask queues behind every tell: it answers once all of them were applied.
        const count = yield* ref.ask(new Ping.GetCount(), { timeout: "1 minute" })
        if (count !== MESSAGES) throw new Error(`counter saw ${count} of ${MESSAGES}`)
      })
    )
    return MESSAGES / seconds
  })
)

/**
 * The same 10^6 tells from one producer fiber that enqueues synchronously while there is room
 * (`unsafeTell`) and waits with `tell` (back-pressure) only when the mailbox is full.
 */
const tellsSyncEnqueue = Effect.scoped(
  Effect.gen(function* () {
    const ref = yield* counter
    const message = new Ping.Increment({ by: 1 })
    const seconds = yield* timed(
      Effect.gen(function* () {
        let sent = 0
        while (sent < MESSAGES) {
          while (sent < MESSAGES && ref.unsafeTell(message)) sent++
          if (sent < MESSAGES) {
            yield* ref.tell(message)
            sent++
          }
        }
        const count = yield* ref.ask(new Ping.GetCount(), { timeout: "1 minute" })
        if (count !== MESSAGES) throw new Error(`counter saw ${count} of ${MESSAGES}`)
      })
    )
    return MESSAGES / seconds
  })
)

const asks = Effect.scoped(
  Effect.gen(function* () {
    const ref = yield* counter
    const request = new Ping.GetCount()
    const seconds = yield* timed(
      Effect.gen(function* () {
        for (let i = 0; i < ASKS; i++) yield* ref.ask(request)
      })
    )
    return ASKS / seconds
  })
)

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

const rate = <E>(run: Effect.Effect<number, E>) =>
  Effect.gen(function* () {
    yield* run // warm-up
    const values: Array<number> = []
    for (let i = 0; i < ROUNDS; i++) values.push(yield* run)
    return median(values)
  })

const line = (name: string, value: number, unit: string, base: number) =>
  console.log(
    JSON.stringify({
      name,
      value: Math.round(value),
      unit,
      baseline: Math.round(base),
      ratio: Number((value / base).toFixed(3)),
      better: "higher"
    })
  )

const main = Effect.gen(function* () {
  const base = yield* rate(Effect.map(timed(baseline), (seconds) => MESSAGES / seconds))
  line("queue-bounded-1024-baseline", base, "msg/s", base)
  line("kernel-tell", yield* rate(tells), "msg/s", base)
  line("kernel-tell-sync-enqueue", yield* rate(tellsSyncEnqueue), "msg/s", base)
  line("kernel-ask-roundtrip", yield* rate(asks), "asks/s", base)
})

Effect.runPromise(main).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
