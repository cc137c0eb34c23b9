import { describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Conformance from "../src/stores/Conformance.js"
import { SyncIndex } from "../src/stores/index.js"
import * as SyncIndexConformance from "../src/stores/SyncIndexConformance.js"

/** Runs the sync index's conformance suite on one implementation, each case with a TestClock at 0. */
const conformance = <S, C>(title: string, cases: ReadonlyArray<Conformance.Case<S, C>>, make: Conformance.Make<S, C>) =>
  describe(title, () => {
    for (const c of cases) it.scoped(c.name, () => c.run(make))
  })

conformance("SyncIndex conformance: memory", SyncIndexConformance.syncIndex, SyncIndex.makeMemory)

conformance("SyncIndexes conformance: memory", SyncIndexConformance.syncIndexes, () =>
  Effect.map(Layer.build(SyncIndex.layerMemoryIndexes), Context.get(SyncIndex.SyncIndexes))
)
