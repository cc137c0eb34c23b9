import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SimHost from "../src/sim/SimHost.js"
import * as Site from "../src/site/Site.js"
import * as Files from "../src/files/Files.js"
import * as Ping from "../src/ping/Ping.js"
import * as Engine from "../src/sim/Engine.js"
import * as Report from "../src/sim/Report.js"
import * as Runner from "../src/sim/Runner.js"
import * as Scenario from "../src/sim/Scenario.js"
import * as SimNetwork from "../src/sim/SimNetwork.js"
import * as Module from "../src/site/Module.js"
import * as MemoryStores from "../src/stores/Memory.js"
import { runExample, scenario, topology } from "./examples.js"

describe("simulator", () => {
  it("the same seed gives the same trace, byte for byte; another seed another one", () => {
    const a = runExample("partition", 7)
    const b = runExample("partition", 7)
    const c = runExample("partition", 8)
    expect(a.traceHash).toBe(b.traceHash)
    expect(a.trace).toEqual(b.trace)
    expect(c.traceHash).not.toBe(a.traceHash)
    expect(Runner.summary(a)).toMatch(
      /^seed=7 events=\d+ simulated=40\.000s accepted=\d+ delivered=\d+ trace=[0-9a-f]{64} invariants=ok$/
    )
  })

  it("the partition scenario's trace holds the partition, the silent failure, the crashes and restarts, the replay", () => {
    const result = runExample("partition", 1)
    const lines = result.trace.map(
      (l) => JSON.parse(l) as { t: number; type: string; reason?: string; site?: string; peer?: string }
    )
    const faults = result.trace.filter((l) => l.includes('"type":"fault"'))
    expect(faults).toHaveLength(9)
    expect(faults.some((l) => l.includes('"partition":["n1","s1"]'))).toBe(true)
    expect(faults.some((l) => l.includes('"silence":"w1"'))).toBe(true)
    expect(faults.some((l) => l.includes('"crash":"n1"'))).toBe(true)
    expect(faults.some((l) => l.includes('"crash":"s1"'))).toBe(true)
    expect(faults.some((l) => l.includes('"restart":"n1"'))).toBe(true)
    // The faults had effects: frames dropped by the partition and by the silent site, retransmissions.
    expect(lines.some((l) => l.type === "drop" && l.reason === "partition")).toBe(true)
    expect(lines.some((l) => l.type === "drop" && l.reason === "silent")).toBe(true)
    expect(lines.some((l) => l.type === "retransmit")).toBe(true)
    expect(lines.some((l) => l.type === "duplicate")).toBe(true)
    // The replayed connection at 20 s left n1's frames to s1 going nowhere; n1 reset the link
    // within a few heartbeats of s1 saying it heard nothing, and s1 heard n1 again.
    expect(lines.some((l) => l.type === "drop" && l.reason === "half-open")).toBe(true)
    const reset = lines.find((l) => l.type === "linkReset")
    expect(reset).toMatchObject({ site: "n1", peer: "s1" })
    expect(reset!.t).toBeGreaterThan(20_000)
    expect(reset!.t).toBeLessThan(23_000)
    const back = lines.find((l) => l.type === "linkState" && l.site === "s1" && l.peer === "n1" && l.t > reset!.t)
    expect(back).toMatchObject({ state: "up" })
    expect(result.violations).toEqual([])
    // Every accepted message was delivered exactly once.
    expect(result.accepted).toBe(1200)
    expect(result.delivered).toBe(result.accepted)
  })

  it("says what a run did: faults, durable messages per recipient, other envelopes, network, invariants", () => {
    const result = runExample("files", 1)
    const lines = Report.describe(result, scenario("files"))
    expect(lines[0]).toMatch(/^faults: 6 applied: 3 s partition n1–s1; 6 s silence w1; 7 s crash s1;/)
    // accepted=100 delivered=152: the 100 durable messages, and 52 asks and answers.
    expect(lines[1]).toBe(`durable messages: ${result.accepted} accepted (files 100), 100 applied exactly once`)
    expect(lines[2]).toBe(
      `other envelopes applied (asks, answers, plain tells): ${result.delivered - 100}; delivered= counts both`
    )
    expect(lines[3]).toMatch(/^network: \d+ frames sent, \d+ retransmitted, \d+ duplicated, dropped: .*partition \d+/)
    expect(lines[4]).toBe("invariants: exactly-once ok, files/transfers-everywhere ok")
    const broken = Report.describe(runExample("broken", 1), scenario("broken"))
    expect(broken[1]).toMatch(
      /^durable messages: 1000 accepted \(counter 1000\), \d+ applied exactly once, \d+ never applied$/
    )
    expect(broken[4]).toBe("invariants: exactly-once VIOLATED, ping/counter-matches ok")
  })

  it("the half-open scenario (no reset of a half-open link) is reported violated, its messages delivered", () => {
    const result = runExample("half-open", 1)
    expect(result.violations).toEqual([
      {
        invariant: "links-agree",
        message: "the ends of 1 link(s) disagree: n1 sees s1 up while s1 sees n1 down"
      }
    ])
    expect(result.delivered).toBe(result.accepted)
    expect(result.trace.some((l) => l.includes('"type":"linkReset"'))).toBe(false)
  })

  it("the broken scenario (no retransmission) is reported violated", () => {
    const result = runExample("broken", 1)
    expect(result.violations.map((v) => v.invariant)).toEqual(["exactly-once"])
    expect(result.delivered).toBeLessThan(result.accepted)
    expect(Runner.summary(result)).toMatch(/invariants=violated$/)
  })

  it("stops the workload at the run's end, before the invariants look", () => {
    // A generator that never ends (as one retrying an operation would): it must not act while the
    // invariants read, or they compare data that is still moving.
    const steps: Array<number> = []
    const now = Effect.clockWith((c) => c.currentTimeMillis)
    const busy = Module.make({
      name: "busy",
      description: "a workload that never ends",
      settings: Schema.Struct({}),
      simulation: () => ({
        generators: {
          forever: Module.generator(Schema.Struct({}), () =>
            Effect.forever(
              Effect.zipRight(
                Effect.sleep("100 millis"),
                Effect.flatMap(now, (t) => Effect.sync(() => steps.push(t)))
              )
            )
          )
        },
        invariants: {
          quiet: () =>
            Effect.gen(function* () {
              const seen = steps.length
              yield* Effect.sleep("2 seconds")
              return steps.length === seen ? undefined : `the workload took ${steps.length - seen} steps meanwhile`
            })
        }
      }),
      start: () => Effect.succeed({ service: undefined })
    })
    const scenario = Either.getOrThrow(
      Scenario.parse(
        "name: busy\ntopology: t.yaml\nduration: 3 seconds\nworkload:\n  - generator: busy/forever\ninvariants:\n  - busy/quiet\n"
      )
    )
    const result = Runner.run({ scenario, topology, modules: [Ping.module, Files.module, busy], seed: 1 })
    expect(result.violations).toEqual([])
    expect(steps.length).toBeGreaterThan(20)
    expect(Math.max(...steps)).toBeLessThanOrEqual(3000)
  })

  it("routes go around a silently failed link within 2 s of simulated time", () => {
    const program = Effect.gen(function* () {
      const network = yield* SimNetwork.make({ topology })
      const sites = new Map<string, Site.RunningSite>()
      for (const name of ["n1", "s1", "w1"]) {
        const stores = yield* Layer.build(
          MemoryStores.layer({ signingKey: new Uint8Array(32).fill(1), scrypt: { N: 1024, blocking: true } })
        )
        sites.set(
          name,
          yield* Site.start({
            topology,
            site: name,
            modules: [Ping.module, Files.module],
            transport: network.transport(name)
          }).pipe(Effect.provide(stores), Effect.provide(SimHost.layerStandalone()), Effect.orDie)
        )
      }
      const n1 = sites.get("n1")!
      yield* Effect.sleep("3 seconds")
      expect(n1.routing!.routes()["s1"]).toBe("s1")
      // The link n1–s1 goes silent: nothing is closed, frames just stop arriving.
      network.setPartitioned("n1", "s1", true)
      const failedAt = yield* Effect.clockWith((c) => c.currentTimeMillis)
      let reroutedAt: number | undefined
      while (reroutedAt === undefined) {
        yield* Effect.sleep("10 millis")
        if (n1.routing!.routes()["s1"] === "w1") reroutedAt = yield* Effect.clockWith((c) => c.currentTimeMillis)
      }
      expect(n1.routing!.links()["s1"]).toBe("down")
      // Traffic flows through w1 now.
      const answer = yield* Ping.refs(n1.system, "s1").echo.ask(new Ping.Echo({ text: "around" }))
      expect(answer).toEqual({ text: "around", site: "s1" })
      return reroutedAt - failedAt
    })
    const result = Engine.run(Effect.scoped(program), { seed: 1, maxSimulatedMillis: 60_000 })
    expect(result.stoppedBy).toBe("completed")
    expect(Exit.isSuccess(result.exit!)).toBe(true)
    const rerouteMillis = (result.exit as Exit.Success<number, never>).value
    expect(rerouteMillis).toBeLessThanOrEqual(2000)
  })
})
