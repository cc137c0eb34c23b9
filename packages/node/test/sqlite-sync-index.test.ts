import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Conformance from "@meridian/core/stores/Conformance"
import type * as SyncIndex from "@meridian/core/stores/SyncIndex"
import { SyncIndexes } from "@meridian/core/stores/SyncIndex"
import * as SyncIndexConformance from "@meridian/core/stores/SyncIndexConformance"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Database, SqliteSyncIndex } from "../src/sqlite/index.js"

/** A fresh database file in its own temp directory. */
const tempDb = (): string => join(mkdtempSync(join(tmpdir(), "meridian-sync-index-")), "site.db")

/** Each index the suite asks for on its own freshly migrated database file, open until the case ends. */
const onFreshDb: Conformance.Make<SyncIndex.SyncIndexService, SyncIndex.SyncIndexConfig> = (config) =>
  Effect.flatMap(Layer.build(Database.layer({ filename: tempDb() })), (database) =>
    Effect.provide(SqliteSyncIndex.make(config), database)
  )

describe("SyncIndex conformance: SQLite", () => {
  for (const c of SyncIndexConformance.syncIndex) it.scoped(c.name, () => c.run(onFreshDb))
})

describe("SqliteSyncIndex", () => {
  const file = (manifest: string, size: number): SyncIndex.FileEntry => ({
    _tag: "File",
    manifest: manifest.repeat(64),
    size,
    sha256: "f".repeat(64),
    mtime: 1
  })

  it.scoped("the index survives closing and reopening the database file", () =>
    Effect.gen(function* () {
      const filename = tempDb()
      const open = <A, E>(use: (index: SyncIndex.SyncIndexService) => Effect.Effect<A, E>) =>
        Effect.scoped(
          Effect.flatMap(Layer.build(Database.layer({ filename })), (database) =>
            Effect.flatMap(Effect.provide(SqliteSyncIndex.make({ versionsKept: 5 }), database), use)
          )
        )
      yield* TestClock.adjust(1000)
      const before = yield* open((index) =>
        Effect.gen(function* () {
          yield* index.commit("alice", { path: "a", base: 0, device: "laptop", entry: file("1", 10) })
          yield* index.commit("alice", { path: "a", base: 1, device: "laptop", entry: file("2", 20) })
          yield* index.rename("alice", { from: "a", to: "b", base: 2, device: "phone" })
          yield* index.resetIndex("alice")
          return yield* index.head("alice")
        })
      )
      const after = yield* open((index) =>
        Effect.all({
          head: index.head("alice"),
          page: index.changesAfter("alice", 0, 10),
          versions: index.versions("alice", "a"),
          usage: index.usage("alice"),
          next: index.commit("alice", { path: "b", base: 1, device: "laptop", entry: file("3", 30) })
        })
      )
      expect(after.head).toEqual(before)
      expect(before.seq).toBe(4)
      expect(after.page.entries.map((e) => [e.path, e.seq, e.version, e.entry._tag])).toEqual([
        ["a", 3, 3, "Tombstone"],
        ["b", 4, 1, "File"]
      ])
      expect(after.versions.map((k) => [k.version, k.entry.manifest[0], k.replacedAt])).toEqual([
        [2, "2", 1000],
        [1, "1", 1000]
      ])
      expect(after.usage).toEqual({ files: 1, bytes: 20 })
      expect(after.next).toEqual({ seq: 5, version: 2, dropped: [] })
      // Reopening migrates nothing twice.
      const ran = yield* open(() => Effect.void).pipe(
        Effect.zipRight(Effect.provide(SqliteSyncIndex.migrate, Database.layer({ filename })))
      )
      expect(ran).toEqual([])
      const reopened = yield* open((index) => index.get("alice", "b"))
      expect(Option.map(reopened, (c) => [c.version, c.device])).toEqual(Option.some([2, "laptop"]))
    })
  )

  it.effect("its queries are answered from indexes, without a full scan or a sort", () =>
    Effect.provide(
      Effect.gen(function* () {
        yield* SqliteSyncIndex.make()
        const sql = yield* SqlClient.SqlClient
        const plan = (query: string) =>
          Effect.map(Effect.orDie(sql.unsafe<{ detail: string }>(`EXPLAIN QUERY PLAN ${query}`)), (rows) =>
            rows.map((r) => r.detail).join("; ")
          )
        const changes = yield* plan(
          "SELECT * FROM sync_current WHERE account = 'a' AND seq > 5 ORDER BY seq LIMIT 1000"
        )
        expect(changes).toContain("USING INDEX sync_current_seq")
        expect(changes).not.toContain("TEMP B-TREE")
        expect(yield* plan("SELECT * FROM sync_current WHERE account = 'a' AND path = 'p'")).toContain("PRIMARY KEY")
        const history = yield* plan(
          "SELECT * FROM sync_history WHERE account = 'a' AND path = 'p' ORDER BY version DESC"
        )
        expect(history).toContain("PRIMARY KEY")
        expect(history).not.toContain("TEMP B-TREE")
        const prune = yield* plan("SELECT * FROM sync_history WHERE replaced_at < 5 ORDER BY replaced_at LIMIT 10")
        expect(prune).toContain("USING INDEX sync_history_replaced_at")
        expect(prune).not.toContain("TEMP B-TREE")
      }),
      Database.layer({ filename: ":memory:" })
    )
  )
})

describe("SyncIndexes conformance: SQLite", () => {
  for (const c of SyncIndexConformance.syncIndexes) {
    it.scoped(c.name, () =>
      c.run(() =>
        Effect.map(
          Layer.build(SqliteSyncIndex.layerIndexes.pipe(Layer.provide(Database.layer({ filename: tempDb() })))),
          Context.get(SyncIndexes)
        )
      )
    )
  }
})
