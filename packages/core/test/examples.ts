import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Files from "../src/files/Files.js"
import * as Ping from "../src/ping/Ping.js"
import * as Runner from "../src/sim/Runner.js"
import * as Scenario from "../src/sim/Scenario.js"
import * as Loader from "../src/topology/Loader.js"

const examples = fileURLToPath(new URL("../../../examples/", import.meta.url))

/** The shipped example topology (`examples/three-regions.yaml`). */
export const topology = Effect.runSync(Loader.parse(readFileSync(`${examples}three-regions.yaml`, "utf8")))

const scenario = (name: string) =>
  Either.getOrThrow(Scenario.parse(readFileSync(`${examples}scenarios/${name}.yaml`, "utf8")))

/** Runs a shipped example scenario with `seed`. */
export const runExample = (name: string, seed: number) =>
  Runner.run({ scenario: scenario(name), topology, modules: [Ping.module, Files.module], seed })
