import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as FileSystem from "@effect/platform/FileSystem"
import { describe, expect, it } from "@effect/vitest"
import type * as Module from "@meridian/core/site/Module"
import * as Blobs from "@meridian/core/stores/Blobs"
import * as KeyValue from "@meridian/core/stores/KeyValue"
import * as Memory from "@meridian/core/stores/Memory"
import * as SyncIndex from "@meridian/core/stores/SyncIndex"
import * as UnitOfWork from "@meridian/core/stores/UnitOfWork"
import * as Folder from "@meridian/core/sync/client/Folder"
import { LocalIndex } from "@meridian/core/sync/client/LocalIndex"
import * as LocalIndexConformance from "@meridian/core/sync/client/LocalIndexConformance"
import * as Settings from "@meridian/core/sync/client/Settings"
import * as Server from "@meridian/core/sync/Server"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { SqliteLocalIndex } from "../src/sqlite/index.js"

const tempDir = (): string => mkdtempSync(join(tmpdir(), "meridian-local-index-"))

describe("LocalIndex conformance: SQLite file", () => {
  for (const c of LocalIndexConformance.localIndex)
    it.scoped(c.name, () =>
      c.run((config) =>
        Effect.map(
          Layer.build(SqliteLocalIndex.layer({ filename: join(tempDir(), "index.db"), config: config ?? {} })),
          (ctx) => Context.get(ctx, LocalIndex)
        )
      )
    )
})

/** The real server over memory stores (its `makeLocal` reads only the context's stores). */
const server = Effect.gen(function* () {
  const ctx = yield* Layer.build(Memory.layer({ signingKey: new Uint8Array(32).fill(7) }))
  const stores = {
    kv: Context.get(ctx, KeyValue.KeyValue),
    blobs: Context.get(ctx, Blobs.Blobs),
    syncIndexes: Context.get(ctx, SyncIndex.SyncIndexes),
    atomically: UnitOfWork.direct.atomically
  }
  return yield* Server.makeLocal(
    { stores } as unknown as Module.SiteContext,
    Schema.decodeSync(Server.Settings)({}),
    Server.makeCounters()
  )
})

describe("the sync engine on the real file system", () => {
  it.live("two folders on disk converge through the real server; each keeps its index in .meridian/", () =>
    Effect.gen(function* () {
      const local = yield* server
      const roots = [tempDir(), tempDir()]
      const folders = yield* Effect.forEach(roots, (root, i) =>
        Effect.gen(function* () {
          mkdirSync(join(root, ".meridian"), { recursive: true })
          const index = yield* Layer.build(SqliteLocalIndex.layer({ filename: join(root, ".meridian", "index.db") }))
          return yield* Folder.make({
            root,
            device: `device${i}`,
            session: local.session("alice", `device${i}`),
            settings: Settings.make({ watch: false, live: false })
          }).pipe(Effect.provide(index))
        })
      )
      mkdirSync(join(roots[0]!, "docs"))
      writeFileSync(join(roots[0]!, "docs", "a.txt"), "on disk ".repeat(50_000))
      writeFileSync(join(roots[0]!, ".meridianignore"), "*.log\n")
      writeFileSync(join(roots[0]!, "debug.log"), "not synced")
      yield* folders[0]!.sync
      yield* folders[1]!.sync
      expect(readFileSync(join(roots[1]!, "docs", "a.txt"), "utf8")).toBe("on disk ".repeat(50_000))
      const fs = yield* FileSystem.FileSystem
      expect(yield* fs.exists(join(roots[1]!, "debug.log"))).toBe(false)
      expect(yield* fs.exists(join(roots[1]!, ".meridian", "index.db"))).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))
  )
})
