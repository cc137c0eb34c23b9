import { describe, expect, it } from "@effect/vitest"
import * as Runner from "../src/sim/Runner.js"
import { runExample } from "./examples.js"

// The partition scenario must hold for every seed: 4 files × 50 seeds = 200 seeds per `npm test`
// (split so that vitest runs them in parallel). More: npm run sim:soak -- --scenario FILE --seeds N
describe("partition scenario, seeds 151–200", () => {
  for (let seed = 151; seed <= 200; seed++) {
    it(`seed ${seed}`, async () => {
      // A run holds the thread: let the test runner's messages through first.
      await new Promise((resolve) => setTimeout(resolve, 0))
      const result = runExample("partition", seed)
      const replay = `meridian sim --scenario examples/scenarios/partition.yaml --seed ${seed}`
      expect(result.violations, `${Runner.summary(result)}\nreplay: ${replay}`).toEqual([])
      expect(result.accepted).toBeGreaterThan(0)
    })
  }
})
