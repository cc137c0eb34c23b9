import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Conformance from "../src/stores/Conformance.js"
import { Blobs, Dedupe, Identity, KeyValue, Outbox, UnitOfWork } from "../src/stores/index.js"
import * as Staging from "../src/stores/Staging.js"

/** Runs a store's conformance suite on one implementation, each case with a TestClock at 0. */
const conformance = <S, C>(title: string, cases: ReadonlyArray<Conformance.Case<S, C>>, make: Conformance.Make<S, C>) =>
  describe(title, () => {
    for (const c of cases) it.scoped(c.name, () => c.run(make))
  })

conformance("Outbox conformance: memory", Conformance.outbox, Outbox.makeMemory)
conformance("Dedupe conformance: memory", Conformance.dedupe, Dedupe.makeMemory)
conformance("KeyValue conformance: memory", Conformance.keyValue, KeyValue.makeMemory)
conformance("Blobs conformance: memory", Conformance.blobs, Blobs.makeMemory)
conformance("IdentityStore conformance: memory", Conformance.identity, Identity.makeMemoryStore)
conformance("Staging conformance: memory", Conformance.staging, () =>
  Effect.sync(() => Staging.makeMemory({ maxBytes: 1024 ** 3 }))
)
conformance("UnitOfWork conformance: direct", Conformance.unitOfWork, () => Effect.succeed(UnitOfWork.direct))

describe("Dedupe window and configuration", () => {
  it("a window that stays full keeps exactly the newest ids, across many evictions", () => {
    // 20,000 ids through a window of 1,500 (far past its internal compaction), at times that
    // sometimes stand still and sometimes jump past maxAge; the reference is a plain list.
    const maxAge = 5_000
    const window = Dedupe.MemoryWindow.make({ maxAge, minRetention: 0, maxEntries: 1_500 })
    if (Either.isLeft(window)) throw new Error(window.left)
    const w = window.right
    let model: Array<{ id: string; at: number }> = []
    let now = 0
    let seed = 7
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648
    for (let i = 0; i < 20_000; i++) {
      now += random() < 0.001 ? maxAge + 1 : random() < 0.5 ? 1 : 0
      model = model.filter((e) => now - e.at <= maxAge)
      // Mostly new ids, sometimes one seen recently (a retransmission).
      const id = random() < 0.2 && model.length > 0 ? model[Math.floor(random() * model.length)]!.id : `m${i}`
      const isNew = !model.some((e) => e.id === id)
      expect(w.markIfNew(id, now)).toBe(isNew)
      if (isNew) {
        if (model.length >= 1_500) model.shift()
        model.push({ id, at: now })
      }
      expect(w.size).toBe(model.length)
    }
    for (const e of model) expect(w.has(e.id, now)).toBe(true)
    expect(w.has("m0", now)).toBe(false)
  })

  it("validate refuses a window shorter than the retransmit horizon", () => {
    const ok = Dedupe.validate({ maxAge: "1 hour", minRetention: "10 minutes", maxEntries: 100 }, "10 minutes")
    expect(Either.isRight(ok)).toBe(true)
    const short = Dedupe.validate({ maxAge: "5 minutes", minRetention: "5 minutes", maxEntries: 100 }, "10 minutes")
    expect(Either.isLeft(short)).toBe(true)
    if (Either.isLeft(short)) {
      expect(short.left._tag).toBe("DedupeConfigError")
      expect(short.left.problems.some((p) => p.includes("maxAge"))).toBe(true)
      expect(short.left.problems.some((p) => p.includes("minRetention"))).toBe(true)
    }
    expect(Either.isLeft(Dedupe.validate({ ...Dedupe.DedupeConfig, maxEntries: 0 }, "1 minute"))).toBe(true)
  })
})

describe("KeyValue.byteLength", () => {
  it("byteLength matches TextEncoder", () => {
    for (const s of ["", "abc", "é", "€", "😀", "a\ud800b", "\udc00", "x😀y€"]) {
      expect(KeyValue.byteLength(s)).toBe(new TextEncoder().encode(s).length)
    }
  })
})
