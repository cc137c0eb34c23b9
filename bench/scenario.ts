/**
 * What the simulator benchmarks share: one seed of a scenario, with every module this binary
 * ships and the trace hashed natively (`node:crypto`).
 */
import * as Chat from "../packages/core/src/chat/Chat.js"
import * as Files from "../packages/core/src/files/Files.js"
import * as Ping from "../packages/core/src/ping/Ping.js"
import * as Runner from "../packages/core/src/sim/Runner.js"
import type * as Scenario from "../packages/core/src/sim/Scenario.js"
import * as Sync from "../packages/core/src/sync/Sync.js"
import type { Topology } from "../packages/core/src/topology/Topology.js"
import { nativeHasher } from "../packages/node/src/sim/NativeHasher.js"

export const runSeed = (scenario: Scenario.Scenario, topology: Topology, seed: number) =>
  Runner.run({
    scenario,
    topology,
    modules: [Ping.module, Files.module, Chat.module, Sync.module],
    seed,
    hasher: nativeHasher
  })
