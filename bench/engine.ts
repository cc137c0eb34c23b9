/**
 * `npm run bench:engine`: speed of the simulator's engine on its reference load — 60 fibers,
 * each an `Effect.sleep("10 millis")` loop, for 10 simulated seconds (60,000 timer events).
 *
 * Prints one JSON object per line: name, value, unit, baseline, ratio (value/baseline), better.
 * 1. simulated ms per wall ms ("x realtime"), against real time (1).
 * 2. timer events per wall second, against the same load driven by `TestClock.adjust` in this run
 *    (on a shorter simulated span, as it is far slower).
 * Each figure is the median of `ROUNDS` runs after a warm-up run.
 */
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import * as Engine from "../packages/core/src/sim/Engine.js"
import { line } from "./support.js"

const FIBERS = 60
const TICK_MILLIS = 10
const SIMULATED_MILLIS = Number(process.env.BENCH_SIM_MILLIS ?? 10_000)
const TESTCLOCK_MILLIS = Number(process.env.BENCH_TESTCLOCK_MILLIS ?? 100)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)

interface Measure {
  readonly wallMillis: number
  readonly simulatedMillis: number
  readonly events: number
}

/** The load: `FIBERS` tickers; `ticks` counts their wake-ups. */
const tickers = (ticks: { n: number }) =>
  Effect.forEach(
    Array.from({ length: FIBERS }, (_, i) => i),
    () =>
      Effect.fork(
        Effect.forever(
          Effect.zipRight(
            Effect.sleep(TICK_MILLIS),
            Effect.sync(() => ticks.n++)
          )
        )
      ),
    { discard: true }
  )

const engineRun = (): Measure => {
  const ticks = { n: 0 }
  const start = performance.now()
  const result = Engine.run(Effect.zipRight(tickers(ticks), Effect.sleep(SIMULATED_MILLIS + 1)), { seed: 1 })
  const wallMillis = performance.now() - start
  const expected = FIBERS * (SIMULATED_MILLIS / TICK_MILLIS)
  if (ticks.n !== expected) throw new Error(`engine: ${ticks.n} ticks, expected ${expected}`)
  return { wallMillis, simulatedMillis: result.simulatedMillis, events: result.events }
}

const testClockRun = (): Promise<Measure> => {
  const ticks = { n: 0 }
  return Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        yield* tickers(ticks)
        const start = performance.now()
        yield* TestClock.adjust(TESTCLOCK_MILLIS)
        const wallMillis = performance.now() - start
        const expected = FIBERS * (TESTCLOCK_MILLIS / TICK_MILLIS)
        if (ticks.n !== expected) throw new Error(`TestClock: ${ticks.n} ticks, expected ${expected}`)
        return { wallMillis, simulatedMillis: TESTCLOCK_MILLIS, events: ticks.n }
      })
    ).pipe(Effect.provide(TestContext.TestContext))
  )
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

const rounds = async (measure: () => Measure | Promise<Measure>): Promise<ReadonlyArray<Measure>> => {
  await measure() // warm-up
  const out: Array<Measure> = []
  for (let i = 0; i < ROUNDS; i++) out.push(await measure())
  return out
}

const main = async () => {
  const engine = await rounds(engineRun)
  const testClock = await rounds(testClockRun)
  const speed = median(engine.map((m) => m.simulatedMillis / m.wallMillis))
  line("sim-engine-60-tickers", speed, "x realtime", 1, "higher", 3)
  const eventsPerSecond = median(engine.map((m) => (m.events / m.wallMillis) * 1000))
  const testClockEventsPerSecond = median(testClock.map((m) => (m.events / m.wallMillis) * 1000))
  line("sim-engine-60-tickers-events", eventsPerSecond, "events/s", testClockEventsPerSecond, "higher", 3)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
