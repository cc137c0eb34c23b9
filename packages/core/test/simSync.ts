/**
 * The folder-sync scenario's seeds, as the suites check them: every invariant holds. (The kernel's
 * "accepted something" check of `Seeds.verdict` does not apply: sync relays with asks, not durable
 * messages; the scenario's own invariants refuse a run that wrote or numbered nothing.)
 */
import { expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Runner from "../src/sim/Runner.js"
import * as Seeds from "../src/sim/Seeds.js"
import { runExample } from "./examples.js"

/** One test per seed of `examples/scenarios/sync.yaml`, `from` to `to`. */
export const syncSeedTests = (from: number, to: number) => {
  for (const seed of Seeds.range(from, to)) {
    it(`seed ${seed}`, async () => {
      // A run holds the thread: let the test runner's messages through first.
      await Effect.runPromise(Effect.sleep(0))
      const result = runExample("sync", seed)
      const problems = result.violations.map((v) => `${v.invariant}: ${v.message}`)
      expect(problems, `${Runner.summary(result)}\nreplay: ${Seeds.replayCommand("sync", seed)}`).toEqual([])
    })
  }
}
