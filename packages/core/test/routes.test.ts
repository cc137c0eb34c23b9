import { describe, expect, it } from "@effect/vitest"
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Routes from "../src/api/Routes.js"
import * as Chat from "../src/chat/Chat.js"
import * as Files from "../src/files/Files.js"
import * as Ping from "../src/ping/Ping.js"
import * as Site from "../src/site/Site.js"
import * as SimHost from "../src/sim/SimHost.js"
import * as Sync from "../src/sync/Sync.js"
import * as MemoryStores from "../src/stores/Memory.js"
import * as Builder from "../src/topology/Builder.js"

const stores = Layer.merge(
  MemoryStores.layer({ signingKey: new Uint8Array(32).fill(7), scrypt: { N: 1024 } }),
  SimHost.layerStandalone()
)

describe("a module's api describes the routes it serves", () => {
  it.scoped("ping, files, chat and sync: every route served is documented, every documented one served", () =>
    Effect.gen(function* () {
      const topology = yield* Builder.make("t")
        .region("north", { cidrs: ["10.1.0.0/16"] })
        .defaultRegion("north")
        .site("n1", {
          region: "north",
          tcp: "127.0.0.1:0",
          http: "127.0.0.1:0",
          modules: { ping: {}, files: {}, chat: {}, sync: {} }
        })
        .build()
      const site = yield* Site.start({
        topology,
        site: "n1",
        modules: [Ping.module, Files.module, Chat.module, Sync.module]
      })
      expect(site.modules.map((m) => m.name)).toEqual(["ping", "files", "chat", "sync"])
      for (const module of site.modules) {
        expect(yield* Routes.check(module), module.name).toEqual({ undocumented: [], unserved: [] })
      }
      const files = site.modules.find((m) => m.name === "files")!
      expect(yield* Routes.served(files.routes!)).toContainEqual({ method: "PATCH", path: "/v1/files/uploads/{id}" })
    }).pipe(Effect.provide(stores))
  )

  it.effect("names what a module serves undescribed, and what it describes but does not serve", () =>
    Effect.gen(function* () {
      const ok = HttpServerResponse.empty({ status: 204 })
      const routes = HttpLayerRouter.addAll([
        HttpLayerRouter.route("GET", "/v1/x/:id", ok),
        HttpLayerRouter.route("DELETE", "/v1/x/:id", ok)
      ])
      const api = HttpApi.make("x").add(
        HttpApiGroup.make("x")
          .add(HttpApiEndpoint.get("get", "/v1/x/:id"))
          .add(HttpApiEndpoint.head("head", "/v1/x/:id"))
          .add(HttpApiEndpoint.post("post", "/v1/x"))
      )
      expect(yield* Routes.check({ routes, api })).toEqual({
        undocumented: [{ method: "DELETE", path: "/v1/x/{id}" }],
        unserved: [{ method: "POST", path: "/v1/x" }]
      })
    })
  )
})
