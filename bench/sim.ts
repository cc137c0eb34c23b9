/**
 * `npm run bench:sim`: the simulator on the partition scenario at the default (production)
 * heartbeat settings. Prints simulated time against wall time (baseline: real time, so `ratio`
 * = simulated/wall) and simulated events per second (baseline: the rate at which the same
 * events happen in real time, so the ratio is the same speed-up seen through events). Median of
 * `BENCH_ROUNDS` seeds after `BENCH_WARMUP` warm-up runs (the JIT needs a few runs of this code
 * to settle; the first run is about 3× slower than the steady state, the fifth about at it).
 * The trace is hashed with `node:crypto`, as a Node host runs the simulator (the portable
 * SHA-256 gives the same hash, about 20× slower).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { readFileSync } from "node:fs"
import * as Runner from "../packages/core/src/sim/Runner.js"
import { runSeed } from "./scenario.js"
import { line } from "./support.js"
import * as Scenario from "../packages/core/src/sim/Scenario.js"
import * as Loader from "../packages/core/src/topology/Loader.js"

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5)
const scenario = Either.getOrThrow(Scenario.parse(readFileSync("examples/scenarios/partition.yaml", "utf8")))
const topology = Effect.runSync(Loader.parse(readFileSync("examples/three-regions.yaml", "utf8")))

const once = (seed: number) => {
  const start = performance.now()
  const result = runSeed(scenario, topology, seed)
  const wallMillis = performance.now() - start
  if (result.violations.length > 0) throw new Error(`seed ${seed}: ${Runner.summary(result)}`)
  return { wallMillis, simulatedMillis: result.simulatedMillis, events: result.events }
}

for (let i = 0; i < WARMUP; i++) once(1000 + i)
const runs = Array.from({ length: ROUNDS }, (_, i) => once(i + 1)).sort(
  (a, b) => b.simulatedMillis / b.wallMillis - a.simulatedMillis / a.wallMillis
)
const median = runs[Math.floor(runs.length / 2)]!
const speed = median.simulatedMillis / median.wallMillis
line("sim-partition-speed", speed, "x realtime", 1, "higher")
line(
  "sim-partition-events",
  median.events / (median.wallMillis / 1000),
  "events/s",
  median.events / (median.simulatedMillis / 1000),
  "higher"
)
