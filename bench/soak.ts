/**
 * `npm run sim:soak -- --scenario FILE --seeds N [--from S]`: runs a scenario for many seeds and
 * prints every violated seed with the command that replays it. Exit 1 if any seed violates.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { readFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import * as Runner from "../packages/core/src/sim/Runner.js"
import * as Scenario from "../packages/core/src/sim/Scenario.js"
import * as Loader from "../packages/core/src/topology/Loader.js"
import { runSeed } from "./scenario.js"

const arg = (name: string, fallback?: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  const value = i >= 0 ? process.argv[i + 1] : fallback
  if (value === undefined) throw new Error(`missing --${name}`)
  return value
}
const file = arg("scenario")
const seeds = Number(arg("seeds", "1000"))
const from = Number(arg("from", "1"))
const scenario = Either.getOrThrow(Scenario.parse(readFileSync(file, "utf8")))
const topologyFile = process.argv.includes("--topology") ? arg("topology") : resolve(dirname(file), scenario.topology)
const topology = Effect.runSync(Loader.parse(readFileSync(topologyFile, "utf8")))

let violated = 0
const start = performance.now()
for (let seed = from; seed < from + seeds; seed++) {
  const result = runSeed(scenario, topology, seed)
  if (result.violations.length > 0) {
    violated++
    console.log(`${Runner.summary(result)}\n  ${result.violations[0]!.invariant}: ${result.violations[0]!.message}`)
    console.log(`  replay: meridian sim --scenario ${file} --seed ${seed}`)
  }
  if ((seed - from + 1) % 100 === 0) console.error(`${seed - from + 1}/${seeds} seeds, ${violated} violated`)
}
console.log(`${seeds} seeds, ${violated} violated, ${((performance.now() - start) / 1000).toFixed(1)} s`)
if (violated > 0) process.exitCode = 1
