import { describe, expect, it } from "@effect/vitest"
import * as Runner from "@meridian/core/sim/Runner"
import { runOnSqlite as run } from "./simSqlite.js"

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
