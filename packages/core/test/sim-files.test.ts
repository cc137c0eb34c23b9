import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Runner from "../src/sim/Runner.js"
import * as Scenario from "../src/sim/Scenario.js"
import * as Files from "../src/files/Files.js"
import * as Ping from "../src/ping/Ping.js"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { runExample, topology } from "./examples.js"

const scenarioText = readFileSync(
  fileURLToPath(new URL("../../../examples/scenarios/files.yaml", import.meta.url)),
  "utf8"
)

describe("files scenario: brokered downloads while the north–south link drops and heals", () => {
  for (let seed = 1; seed <= 10; seed++) {
    it(`seed ${seed}`, async () => {
      // A run holds the thread: let the test runner's messages through first.
      await new Promise((resolve) => setTimeout(resolve, 0))
      const result = runExample("files", seed)
      const replay = `meridian sim --scenario examples/scenarios/files.yaml --seed ${seed}`
      expect(result.violations, `${Runner.summary(result)}\nreplay: ${replay}`).toEqual([])
      // 50 transfers, each offered durably to the two other file servers.
      expect(result.accepted).toBe(100)
    })
  }

  it("routes offers and brokering through the third region while the link is down, and replays byte for byte", () => {
    const a = runExample("files", 3)
    const b = runExample("files", 3)
    expect(a.traceHash).toBe(b.traceHash)
    const lines = a.trace.map((l) => JSON.parse(l) as { type: string; reason?: string; via?: string; to?: string })
    expect(lines.some((l) => l.type === "drop" && l.reason === "partition")).toBe(true)
    expect(lines.some((l) => l.type === "forwarded" && l.via === "w1" && l.to === "s1")).toBe(true)
  })

  it("without retransmission (unsafe) offers are lost in the partition and the invariant says so", () => {
    const scenario = Either.getOrThrow(
      Scenario.parse(scenarioText.replace("invariants:", "unsafe: true\nrouting: { retransmit: false }\ninvariants:"))
    )
    const result = Runner.run({ scenario, topology, modules: [Ping.module, Files.module], seed: 1 })
    expect(result.violations.map((v) => v.invariant)).toContain("files/transfers-everywhere")
  })
})
