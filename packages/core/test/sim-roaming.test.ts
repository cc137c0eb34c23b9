import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Runner from "../src/sim/Runner.js"
import * as Scenario from "../src/sim/Scenario.js"
import { fourRegions, modules, runExample } from "./examples.js"

const scenarioText = readFileSync(
  fileURLToPath(new URL("../../../examples/scenarios/roaming.yaml", import.meta.url)),
  "utf8"
)

describe("roaming scenario", () => {
  it("relays north–south traffic through another region during the cut, and replays byte for byte", () => {
    const a = runExample("roaming", 11)
    const b = runExample("roaming", 11)
    expect(a.violations).toEqual([])
    expect(a.traceHash).toBe(b.traceHash)
    const lines = a.trace.map((l) => JSON.parse(l) as { type: string; reason?: string; via?: string; to?: string })
    expect(lines.some((l) => l.type === "drop" && l.reason === "partition")).toBe(true)
    expect(
      lines.some(
        (l) => l.type === "forwarded" && (l.via === "w1" || l.via === "e1") && (l.to === "s1" || l.to === "n1")
      )
    ).toBe(true)
  })

  it("seed 101359: a user move still retried at the run's end is stopped, not read half-done", () => {
    // A move lost a packet in each of five tries (5 s ask timeouts) and finished while the
    // invariants read: the home's data changed between two of their reads (issue 21).
    const result = runExample("roaming", 101359)
    expect(result.violations).toEqual([])
  })

  it("without retransmission (unsafe) messages are lost and the chat invariant says so", () => {
    const scenario = Either.getOrThrow(
      Scenario.parse(scenarioText.replace("invariants:", "unsafe: true\nrouting: { retransmit: false }\ninvariants:"))
    )
    const result = Runner.run({ scenario, topology: fourRegions, modules, seed: 1 })
    expect(result.violations.map((v) => v.invariant)).toContain("chat/delivered-once-in-order")
  })
})
