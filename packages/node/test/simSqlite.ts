/**
 * The shipped scenarios under the simulator on real SQL: each simulated site on a fresh SQLite
 * `:memory:` database (outbox, dedupe, key-value, accounts), the same system code as in a site
 * process.
 */
import { expect, it } from "@effect/vitest"
import * as Chat from "@meridian/core/chat/Chat"
import * as Files from "@meridian/core/files/Files"
import * as Ping from "@meridian/core/ping/Ping"
import * as Runner from "@meridian/core/sim/Runner"
import * as Scenario from "@meridian/core/sim/Scenario"
import * as Seeds from "@meridian/core/sim/Seeds"
import * as Blobs from "@meridian/core/stores/Blobs"
import * as Identity from "@meridian/core/stores/Identity"
import * as Staging from "@meridian/core/stores/Staging"
import * as Loader from "@meridian/core/topology/Loader"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { readFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { layerMemoryStores } from "../src/sqlite/index.js"
import { nativeHasher } from "../src/sim/NativeHasher.js"

const examples = fileURLToPath(new URL("../../../examples/", import.meta.url))

/** A shipped scenario and the topology it names. */
const load = (name: string) => {
  const file = `${examples}scenarios/${name}.yaml`
  const scenario = Either.getOrThrow(Scenario.parse(readFileSync(file, "utf8")))
  const topology = Effect.runSync(Loader.parse(readFileSync(resolve(dirname(file), scenario.topology), "utf8")))
  return { scenario, topology }
}

const sqliteStores = (_site: string, signingKey: Uint8Array) =>
  Layer.mergeAll(
    Identity.layer({ signingKey }).pipe(
      Layer.provide(Identity.layerScryptHasher({ N: 1024, blocking: true })),
      Layer.provideMerge(layerMemoryStores())
    ),
    Blobs.layerMemory(),
    Staging.layerMemory({ maxBytes: 1024 ** 3 })
  )

/** Runs a shipped scenario with `seed` on SQLite `:memory:` stores. */
export const runOnSqlite = (name: string, seed: number) =>
  Runner.run({
    ...load(name),
    modules: [Ping.module, Files.module, Chat.module],
    seed,
    hasher: nativeHasher,
    stores: sqliteStores
  })

/** One test per seed of a shipped scenario on SQLite (see `Seeds.check`). */
export const seedTests = (name: string, from: number, to: number) => {
  for (const seed of Seeds.range(from, to)) {
    it(`seed ${seed}`, async () => {
      const { problems, report } = await Effect.runPromise(Seeds.check(name, seed, runOnSqlite))
      expect(problems, report).toEqual([])
    })
  }
}
