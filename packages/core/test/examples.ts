import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Chat from "../src/chat/Chat.js"
import * as Files from "../src/files/Files.js"
import * as Ping from "../src/ping/Ping.js"
import * as Runner from "../src/sim/Runner.js"
import * as Scenario from "../src/sim/Scenario.js"
import * as Sync from "../src/sync/Sync.js"
import * as Loader from "../src/topology/Loader.js"

const examples = fileURLToPath(new URL("../../../examples/", import.meta.url))

const load = (file: string) => Effect.runSync(Loader.parse(readFileSync(`${examples}${file}`, "utf8")))

/** The shipped example topology (`examples/three-regions.yaml`). */
export const topology = load("three-regions.yaml")

/** The four-region example (`examples/four-regions.yaml`), for roaming group communication. */
export const fourRegions = load("four-regions.yaml")

/** The folder-sync example (`examples/sync-regions.yaml`): three regions, `sync` on every site. */
export const syncRegions = load("sync-regions.yaml")

/** The modules the shipped scenarios use. */
export const modules = [Ping.module, Files.module, Chat.module, Sync.module]

/** A shipped example scenario, parsed. */
export const scenario = (name: string) =>
  Either.getOrThrow(Scenario.parse(readFileSync(`${examples}scenarios/${name}.yaml`, "utf8")))

/** Runs a shipped example scenario with `seed`, on the topology it names. */
export const runExample = (name: string, seed: number) => {
  const parsed = scenario(name)
  return Runner.run({
    scenario: parsed,
    topology: parsed.topology.endsWith("four-regions.yaml")
      ? fourRegions
      : parsed.topology.endsWith("sync-regions.yaml")
        ? syncRegions
        : topology,
    modules,
    seed
  })
}
