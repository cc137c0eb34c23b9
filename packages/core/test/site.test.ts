import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Module from "../src/site/Module.js"
import * as Site from "../src/site/Site.js"
import * as Ping from "../src/ping/Ping.js"
import { makeFileSystem } from "../src/sim/SimFileSystem.js"
import * as SimHost from "../src/sim/SimHost.js"
import * as MemoryStores from "../src/stores/Memory.js"
import * as Builder from "../src/topology/Builder.js"

const stores = Layer.merge(
  MemoryStores.layer({ signingKey: new Uint8Array(32).fill(7), scrypt: { N: 1024 } }),
  SimHost.layerStandalone()
)

const topology = (modules: Record<string, unknown>) =>
  Builder.make("t")
    .region("north", { cidrs: ["10.1.0.0/16"] })
    .defaultRegion("north")
    .site("n1", { region: "north", tcp: "127.0.0.1:0", http: "127.0.0.1:0", modules })
    .build()

describe("site", () => {
  it.scoped("starts the modules the topology names, each under its own supervisor", () =>
    Effect.gen(function* () {
      const site = yield* Site.start({
        topology: yield* topology({ ping: { mailboxCapacity: 16 } }),
        site: "n1",
        modules: [Ping.module]
      })
      expect(site.modules.map((m) => m.name)).toEqual(["ping"])
      expect(site.modules[0]!.routes).toBeDefined()
      // What the module's start returned is its service on this site, typed by the module.
      const service = site.service(Ping.module)
      expect(yield* service!.echo.ask(new Ping.Echo({ text: "its own" }))).toEqual({ text: "its own", site: "n1" })
      expect(site.service({ name: "nothing", start: Ping.module.start })).toBeUndefined()
      const ping = Ping.refs(site.system, "n1")
      expect(yield* ping.echo.ask(new Ping.Echo({ text: "hello" }))).toEqual({ text: "hello", site: "n1" })
      yield* ping.counter.tell(new Ping.Increment({ by: 2 }))
      yield* ping.counter.tell(new Ping.Increment({ by: 3 }))
      expect(yield* ping.counter.ask(new Ping.GetCount())).toBe(5)
      const actors = yield* site.system.actors
      // Every site also runs the kernel's accounts actor, under a supervisor of its own.
      expect(actors.map((a) => [a.name, a.mailboxCapacity])).toEqual([
        ["accounts", 1024],
        ["echo", 16],
        ["counter", 16]
      ])
      expect(site.system.root.info()).toEqual([
        { id: "kernel:accounts", state: "running", restarts: 0 },
        { id: "module:ping", state: "running", restarts: 0 }
      ])
    }).pipe(Effect.provide(stores))
  )

  it.scoped("lists every problem before starting anything", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Site.start({
          topology: yield* topology({ ping: { mailboxCapacity: -1 }, nobody: {}, accounts: {} }),
          site: "n1",
          modules: [Ping.module]
        })
      )
      expect(error._tag).toBe("SiteStartError")
      expect(error.problems.map((p) => p.path)).toEqual([
        "sites.n1.modules.ping.mailboxCapacity",
        "sites.n1.modules.nobody",
        "sites.n1.modules.accounts"
      ])
      expect(error.problems[2]!.message).toContain("built in")
      const missing = yield* Effect.flip(
        Site.start({ topology: yield* topology({}), site: "zz", modules: [Ping.module] })
      )
      expect(missing.problems[0]!.message).toContain("no site named zz")
    }).pipe(Effect.provide(stores))
  )

  it.scoped("a module that fails to start is reported with its reason", () =>
    Effect.gen(function* () {
      const broken = Module.make({
        name: "broken",
        description: "fails on start",
        settings: Schema.Struct({}),
        start: () => Effect.fail(new Error("cannot open its port"))
      })
      const error = yield* Effect.flip(
        Site.start({ topology: yield* topology({ broken: {} }), site: "n1", modules: [broken] })
      )
      expect(error.message).toContain("cannot open its port")
    }).pipe(Effect.provide(stores))
  )

  it.scoped("closing the site's scope drains its actors", () =>
    Effect.gen(function* () {
      const counted = yield* Effect.scoped(
        Effect.gen(function* () {
          const site = yield* Site.start({
            topology: yield* topology({ ping: {} }),
            site: "n1",
            modules: [Ping.module]
          })
          const ping = Ping.refs(site.system, "n1")
          for (let i = 0; i < 100; i++) yield* ping.counter.tell(new Ping.Increment({ by: 1 }))
          return site
        })
      )
      // Every queued message was processed before the actors stopped: nothing was dead-lettered.
      expect(yield* counted.system.actors).toEqual([])
      expect(yield* counted.system.deadLetters.total).toBe(0)
    }).pipe(Effect.provide(stores))
  )

  it.scoped("the ping counter keeps its count in the key-value store across a restart of the site", () =>
    Effect.gen(function* () {
      const top = yield* topology({ ping: {} })
      const first = yield* Effect.scoped(
        Effect.gen(function* () {
          const site = yield* Site.start({ topology: top, site: "n1", modules: [Ping.module] })
          const ping = Ping.refs(site.system, "n1")
          yield* ping.counter.tell(new Ping.Increment({ by: 4 }))
          return yield* ping.counter.ask(new Ping.GetCount())
        })
      )
      expect(first).toBe(4)
      const site = yield* Site.start({ topology: top, site: "n1", modules: [Ping.module] })
      expect(yield* Ping.refs(site.system, "n1").counter.ask(new Ping.GetCount())).toBe(4)
      // The simulator's invariant compares it with what was applied.
      const context = {
        topology: top,
        site: () => site,
        service: () => site.service(Ping.module),
        makeDisk: () => makeFileSystem()
      }
      const tally = (n: number) => ({ accepted: [], delivered: new Map(), appliedTo: new Map([["counter@n1", n]]) })
      expect(yield* Ping.counterMatches(context, tally(4))).toBeUndefined()
      expect(yield* Ping.counterMatches(context, tally(5))).toBe("counter@n1 holds 4, 5 increments were applied")
    }).pipe(Effect.provide(stores))
  )
})
