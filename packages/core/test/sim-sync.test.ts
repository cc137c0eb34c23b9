import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Runner from "../src/sim/Runner.js"
import * as Loader from "../src/topology/Loader.js"
import * as Server from "../src/sync/Server.js"
import { modules, runExample, scenario } from "./examples.js"

const topologyText = readFileSync(
  fileURLToPath(new URL("../../../examples/sync-regions.yaml", import.meta.url)),
  "utf8"
)

/** The example topology with the home's server set to last-writer-wins (and the unsafe flag). */
const lastWriterWins = Effect.runSync(
  Loader.parse(
    topologyText.replace(
      "n1:\n    region: north\n    tcp: 127.0.0.1:7301\n    http: 127.0.0.1:8301\n    modules:\n      sync: {",
      "n1:\n    region: north\n    tcp: 127.0.0.1:7301\n    http: 127.0.0.1:8301\n    modules:\n      sync: { lastWriterWins: true, unsafe: true,"
    )
  )
)

describe("sync scenario: three devices of one account through partitions, a home crash and an offline device", () => {
  it("replays byte for byte, relays through other sites, and sees the home crash", () => {
    const a = runExample("sync", 7)
    const b = runExample("sync", 7)
    expect(a.violations).toEqual([])
    expect(a.traceHash).toBe(b.traceHash)
    const lines = a.trace.map((l) => JSON.parse(l) as { type: string; crash?: string; reason?: string })
    expect(lines.some((l) => l.type === "fault" && l.crash === "n1")).toBe(true)
    expect(lines.some((l) => l.type === "drop" && l.reason === "partition")).toBe(true)
    // Devices at s1 and w1 reach the home over the kernel: frames go to n1.
    expect(a.trace.some((l) => l.includes('"type":"send"') && l.includes('"to":"n1"'))).toBe(true)
  })

  it("a server that lets the last writer win (unsafe) buries concurrent edits and no-write-lost says so", () => {
    const violated = [1, 2, 3, 4, 5, 6].flatMap((seed) =>
      Runner.run({ scenario: scenario("sync"), topology: lastWriterWins, modules, seed }).violations.map(
        (v) => v.invariant
      )
    )
    expect(violated).toContain("sync/no-write-lost")
  })

  it("the unsafe switch is refused unless `unsafe: true` is set beside it", () => {
    const decode = Schema.decodeUnknownEither(Server.Settings)
    const refused = decode({ lastWriterWins: true })
    expect(Either.isLeft(refused) && refused.left.message).toMatch(/set `unsafe: true` to mean it/)
    expect(Either.isRight(decode({ lastWriterWins: true, unsafe: true }))).toBe(true)
    expect(Either.getOrThrow(decode({})).lastWriterWins).toBe(false)
  })
})
