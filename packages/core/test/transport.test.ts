import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as SimNetwork from "../src/sim/SimNetwork.js"
import * as Builder from "../src/topology/Builder.js"
import * as Conformance from "../src/transport/Conformance.js"

const topology = Builder.make("pair")
  .region("r", {})
  .defaultRegion("r")
  .site("a", { region: "r", tcp: "127.0.0.1:0", http: "127.0.0.1:0" })
  .site("b", { region: "r", tcp: "127.0.0.1:0", http: "127.0.0.1:0" })
  .link("a", "b")
  .build()

describe("Transport conformance: SimNetwork", () => {
  for (const c of Conformance.cases) {
    // Real clock, 1 ms latency: the suite waits only on `receive`, as it does over TCP.
    it.live(c.name, () =>
      Effect.scoped(
        Effect.gen(function* () {
          const network = yield* SimNetwork.make({
            topology: yield* topology,
            config: { profile: { ...SimNetwork.defaultProfile, latency: "1 millis" } }
          })
          yield* c.run({
            a: network.transport("a"),
            b: network.transport("b"),
            replay: Effect.sync(() => network.setHalfOpen("b", "a"))
          })
        })
      )
    )
  }
})
