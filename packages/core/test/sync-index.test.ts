import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Conformance from "../src/stores/Conformance.js"
import { SyncIndex } from "../src/stores/index.js"
import * as SyncIndexConformance from "../src/stores/SyncIndexConformance.js"

/** Runs the sync index's conformance suite on one implementation, each case with a TestClock at 0. */
const conformance = <S, C>(title: string, cases: ReadonlyArray<Conformance.Case<S, C>>, make: Conformance.Make<S, C>) =>
  describe(title, () => {
    for (const c of cases) it.scoped(c.name, () => c.run(make))
  })

conformance("SyncIndex conformance: memory", SyncIndexConformance.syncIndex, SyncIndex.makeMemory)

describe("SyncIndexes in memory", () => {
  it.effect("indexes opened from one site's stores share the accounts, each with its own bounds", () =>
    Effect.gen(function* () {
      const indexes = yield* SyncIndex.SyncIndexes
      const one = yield* indexes.open({ versionsKept: 0 })
      const other = yield* indexes.open({ maxEntries: 1 })
      const entry = { _tag: "File", manifest: "a".repeat(64), size: 1, sha256: "b".repeat(64), mtime: 1 } as const
      yield* one.commit("alice", { path: "x", base: 0, device: "laptop", entry })
      expect((yield* other.head("alice")).seq).toBe(1)
      const refused = yield* Effect.flip(other.commit("alice", { path: "y", base: 0, device: "laptop", entry }))
      expect(refused._tag).toBe("SyncIndexFull")
      yield* one.commit("alice", { path: "y", base: 0, device: "laptop", entry })
      expect((yield* other.head("alice")).seq).toBe(2)
    }).pipe(Effect.provide(SyncIndex.layerMemoryIndexes))
  )
})
