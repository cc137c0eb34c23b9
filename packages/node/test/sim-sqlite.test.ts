import { describe, expect, it } from "@effect/vitest"
import * as Files from "@meridian/core/files/Files"
import * as Ping from "@meridian/core/ping/Ping"
import * as Runner from "@meridian/core/sim/Runner"
import * as Scenario from "@meridian/core/sim/Scenario"
import * as Blobs from "@meridian/core/stores/Blobs"
import * as Identity from "@meridian/core/stores/Identity"
import * as Staging from "@meridian/core/stores/Staging"
import * as Loader from "@meridian/core/topology/Loader"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { layerMemoryStores } from "../src/sqlite/index.js"
import { nativeHasher } from "../src/sim/NativeHasher.js"

const examples = fileURLToPath(new URL("../../../examples/", import.meta.url))
const topology = Effect.runSync(Loader.parse(readFileSync(`${examples}three-regions.yaml`, "utf8")))
const scenario = (name: string) =>
  Either.getOrThrow(Scenario.parse(readFileSync(`${examples}scenarios/${name}.yaml`, "utf8")))

/** Each simulated site on a fresh SQLite `:memory:` database (outbox, dedupe, key-value, accounts). */
const sqliteStores = (_site: string, signingKey: Uint8Array) =>
  Layer.mergeAll(
    Identity.layer({ signingKey }).pipe(
      Layer.provide(Identity.layerScryptHasher({ N: 1024, blocking: true })),
      Layer.provideMerge(layerMemoryStores())
    ),
    Blobs.layerMemory(),
    Staging.layerMemory({ maxBytes: 1024 ** 3 })
  )

const run = (name: string, seed: number) =>
  Runner.run({
    scenario: scenario(name),
    topology,
    modules: [Ping.module, Files.module],
    seed,
    hasher: nativeHasher,
    stores: sqliteStores
  })

describe("system scenarios under the simulator with real SQL (SQLite in memory)", () => {
  for (const seed of [1, 2, 3]) {
    it(`files scenario, seed ${seed}: every transfer known everywhere once, every download brokered`, () => {
      const result = run("files", seed)
      expect(result.violations, Runner.summary(result)).toEqual([])
      expect(result.accepted).toBe(100)
    })
    it(`partition scenario, seed ${seed}: exactly once through crashes, with SQLite transactions`, () => {
      const result = run("partition", seed)
      expect(result.violations, Runner.summary(result)).toEqual([])
      expect(result.delivered).toBe(result.accepted)
    })
  }

  it("replays byte for byte on SQLite too", () => {
    expect(run("files", 5).traceHash).toBe(run("files", 5).traceHash)
  })
})
