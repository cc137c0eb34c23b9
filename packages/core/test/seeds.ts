import { expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Seeds from "../src/sim/Seeds.js"
import { runExample } from "./examples.js"

/** One test per seed of a shipped scenario, on in-memory stores (see `Seeds.check`). */
export const seedTests = (scenario: string, from: number, to: number) => {
  for (const seed of Seeds.range(from, to)) {
    it(`seed ${seed}`, async () => {
      const { problems, report } = await Effect.runPromise(Seeds.check(scenario, seed, runExample))
      expect(problems, report).toEqual([])
    })
  }
}
