import { describe, expect, it } from "@effect/vitest"
import * as Runner from "@meridian/core/sim/Runner"
import { runOnSqlite } from "./simSqlite.js"

// The roaming scenario must hold for every seed, on real SQL (each site on SQLite `:memory:`):
// 6 files × 50 seeds = 300 seeds per `npm test` (split so that vitest runs them in parallel).
// More: npm run sim:soak -- --scenario examples/scenarios/roaming.yaml --seeds N
describe("roaming scenario on SQLite, seeds 101–150", () => {
  for (let seed = 101; seed <= 150; seed++) {
    it(`seed ${seed}`, async () => {
      // A run holds the thread for a second or two: let the test runner's messages through first.
      await new Promise((resolve) => setImmediate(resolve))
      const result = runOnSqlite("roaming", seed)
      const replay = `meridian sim --scenario examples/scenarios/roaming.yaml --seed ${seed}`
      expect(result.violations, `${Runner.summary(result)}\nreplay: ${replay}`).toEqual([])
      expect(result.accepted).toBeGreaterThan(0)
    })
  }
})
