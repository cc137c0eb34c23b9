import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { Blobs, Dedupe, KeyValue, Outbox } from "../src/stores/index.js"

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

/** SHA-256("abc"), the FIPS 180-2 test vector. */
const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

const collect = (stream: Stream.Stream<Uint8Array>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => Chunk.toReadonlyArray(chunks))

describe("Outbox", () => {
  const entry = (id: string, destination = "s1", size = 10) => ({ id, destination, envelope: { id }, bytes: size })

  it.effect("appends, lists what is due in order, reschedules and acknowledges", () =>
    Effect.gen(function* () {
      const outbox = yield* Outbox.makeMemory()
      yield* TestClock.adjust(1000)
      yield* outbox.append(entry("b"))
      yield* outbox.append(entry("a"))
      yield* TestClock.adjust(10)
      yield* outbox.append(entry("c", "w1"))

      const due = yield* outbox.due(1010, 10)
      expect(due.map((e) => e.id)).toEqual(["a", "b", "c"])
      expect(due[0]).toMatchObject({ createdAt: 1000, nextAttemptAt: 1000, attempts: 0, destination: "s1" })
      expect((yield* outbox.due(1005, 10)).map((e) => e.id)).toEqual(["a", "b"])
      expect((yield* outbox.due(1010, 1)).map((e) => e.id)).toEqual(["a"])

      expect(yield* outbox.reschedule("a", 2000)).toBe(true)
      expect(yield* outbox.reschedule("missing", 2000)).toBe(false)
      expect((yield* outbox.due(1010, 10)).map((e) => e.id)).toEqual(["b", "c"])
      expect(Option.map(yield* outbox.get("a"), (e) => [e.attempts, e.nextAttemptAt])).toEqual(Option.some([1, 2000]))
      expect((yield* outbox.byDestination("s1")).map((e) => e.id)).toEqual(["b", "a"])

      expect(yield* outbox.ack("b")).toBe(true)
      expect(yield* outbox.ack("b")).toBe(false)
      expect(yield* outbox.size).toEqual({ entries: 2, bytes: 20 })
      expect((yield* outbox.due(5000, 10)).map((e) => e.id)).toEqual(["c", "a"])
    })
  )

  it.effect("append is idempotent on an existing id", () =>
    Effect.gen(function* () {
      const outbox = yield* Outbox.makeMemory()
      yield* outbox.append(entry("a"))
      yield* outbox.reschedule("a", 500)
      yield* outbox.append({ ...entry("a"), envelope: "other" })
      expect(yield* outbox.size).toEqual({ entries: 1, bytes: 10 })
      expect(Option.map(yield* outbox.get("a"), (e) => [e.envelope, e.attempts])).toEqual(Option.some([{ id: "a" }, 1]))
    })
  )

  it.effect("a full outbox answers OutboxFull and loses nothing it holds", () =>
    Effect.gen(function* () {
      const outbox = yield* Outbox.makeMemory({ maxEntries: 2, maxBytes: 25 })
      yield* outbox.append(entry("a"))
      yield* outbox.append(entry("b"))
      const byCount = yield* Effect.flip(outbox.append(entry("c")))
      expect(byCount).toMatchObject({ _tag: "OutboxFull", bound: "entries", entries: 2 })
      yield* outbox.ack("b")
      const byBytes = yield* Effect.flip(outbox.append(entry("d", "s1", 16)))
      expect(byBytes).toMatchObject({ _tag: "OutboxFull", bound: "bytes", bytes: 10 })
      // Already stored: still accepted (idempotent) though the outbox is at its bound.
      yield* outbox.append(entry("e", "s1", 15))
      yield* outbox.append(entry("a"))
      expect((yield* outbox.due(0, 10)).map((e) => e.id)).toEqual(["a", "e"])
      expect(yield* outbox.size).toEqual({ entries: 2, bytes: 25 })
    })
  )
})

describe("Dedupe", () => {
  it.effect("the second sighting of an id is not new", () =>
    Effect.gen(function* () {
      const dedupe = yield* Dedupe.makeMemory({ maxAge: "1 minute", minRetention: "10 seconds", maxEntries: 10 })
      expect(yield* dedupe.markIfNew("m1")).toBe(true)
      expect(yield* dedupe.markIfNew("m1")).toBe(false)
      expect(yield* dedupe.has("m1")).toBe(true)
      expect(yield* dedupe.has("m2")).toBe(false)
    })
  )

  it.effect("forgets ids older than maxAge", () =>
    Effect.gen(function* () {
      const dedupe = yield* Dedupe.makeMemory({ maxAge: "1 minute", minRetention: "10 seconds", maxEntries: 10 })
      yield* dedupe.markIfNew("old")
      yield* TestClock.adjust("30 seconds")
      yield* dedupe.markIfNew("young")
      yield* TestClock.adjust("30 seconds")
      expect(yield* dedupe.markIfNew("old")).toBe(false)
      yield* TestClock.adjust("1 milli")
      expect(yield* dedupe.has("old")).toBe(false)
      expect(yield* dedupe.prune).toBe(1)
      expect(yield* dedupe.size).toBe(1)
      expect(yield* dedupe.markIfNew("old")).toBe(true)
      expect(yield* dedupe.markIfNew("young")).toBe(false)
    })
  )

  it.effect("at the count bound evicts only ids older than minRetention, else DedupeFull", () =>
    Effect.gen(function* () {
      const dedupe = yield* Dedupe.makeMemory({ maxAge: "1 hour", minRetention: "1 minute", maxEntries: 2 })
      yield* dedupe.markIfNew("a")
      yield* TestClock.adjust("30 seconds")
      yield* dedupe.markIfNew("b")
      const full = yield* Effect.flip(dedupe.markIfNew("c"))
      expect(full).toMatchObject({ _tag: "DedupeFull", id: "c", entries: 2, maxEntries: 2, retryAfter: 60_001 })
      expect(yield* dedupe.has("a")).toBe(true)

      yield* TestClock.adjust("31 seconds")
      expect(yield* dedupe.markIfNew("c")).toBe(true)
      expect(yield* dedupe.has("a")).toBe(false)
      expect(yield* dedupe.has("b")).toBe(true)
      expect(yield* dedupe.size).toBe(2)
      // "c" was refused once and not recorded, so a retransmission of it is applied exactly once.
      expect(yield* dedupe.markIfNew("c")).toBe(false)
    })
  )

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

describe("KeyValue", () => {
  const Counter = Schema.Struct({ count: Schema.Int })

  it.effect("sets, gets, lists by prefix in key order, deletes, per namespace", () =>
    Effect.gen(function* () {
      const kv = yield* KeyValue.makeMemory()
      yield* kv.set("files", "b/2", "two")
      yield* kv.set("files", "a/1", "one")
      yield* kv.set("files", "b/1", "uno")
      yield* kv.set("roaming", "b/1", "other module")
      expect(yield* kv.get("files", "b/1")).toEqual(Option.some("uno"))
      expect(yield* kv.get("sync", "b/1")).toEqual(Option.none())
      expect(yield* kv.list("files", "b/")).toEqual([
        { key: "b/1", value: "uno" },
        { key: "b/2", value: "two" }
      ])
      expect((yield* kv.list("files")).map((e) => e.key)).toEqual(["a/1", "b/1", "b/2"])
      expect(yield* kv.delete("files", "b/1")).toBe(true)
      expect(yield* kv.delete("files", "b/1")).toBe(false)
      expect(yield* kv.size).toBe(3)
    })
  )

  it.effect("refuses writes past its bounds, writing nothing", () =>
    Effect.gen(function* () {
      const kv = yield* KeyValue.makeMemory({ maxKeys: 2, maxValueBytes: 4 })
      yield* kv.set("m", "a", "1")
      yield* kv.set("m", "b", "2")
      expect(yield* Effect.flip(kv.set("m", "c", "3"))).toMatchObject({ _tag: "KeyValueLimit", bound: "maxKeys" })
      yield* kv.set("m", "a", "1234") // overwriting does not add a key
      // "é" is two UTF-8 bytes: 5 bytes in all.
      expect(yield* Effect.flip(kv.set("m", "a", "abcé"))).toMatchObject({
        _tag: "KeyValueLimit",
        bound: "maxValueBytes",
        limit: 4,
        actual: 5
      })
      expect(yield* kv.get("m", "a")).toEqual(Option.some("1234"))
      expect(yield* kv.get("m", "c")).toEqual(Option.none())
    })
  )

  it.effect("typed access decodes, and a stale value is a KeyValueDecodeError with the reason", () =>
    Effect.gen(function* () {
      const kv = yield* KeyValue.makeMemory()
      const run = Effect.provideService(KeyValue.KeyValue, kv)
      yield* run(KeyValue.setSchema("ping", "counter", Counter, { count: 3 }))
      expect(yield* kv.get("ping", "counter")).toEqual(Option.some(`{"count":3}`))
      expect(yield* run(KeyValue.getSchema("ping", "counter", Counter))).toEqual(Option.some({ count: 3 }))
      expect(yield* run(KeyValue.getSchema("ping", "missing", Counter))).toEqual(Option.none())

      yield* kv.set("ping", "counter", `{"count":"three"}`)
      const error = yield* Effect.flip(run(KeyValue.getSchema("ping", "counter", Counter)))
      expect(error._tag).toBe("KeyValueDecodeError")
      expect(error.reason).toContain("count")
      yield* kv.set("ping", "counter", `not json`)
      expect((yield* Effect.flip(run(KeyValue.getSchema("ping", "counter", Counter))))._tag).toBe("KeyValueDecodeError")
    })
  )

  it("byteLength matches TextEncoder", () => {
    for (const s of ["", "abc", "é", "€", "😀", "a\ud800b", "\udc00", "x😀y€"]) {
      expect(KeyValue.byteLength(s)).toBe(new TextEncoder().encode(s).length)
    }
  })
})

describe("Blobs", () => {
  it.effect("addresses content by SHA-256 and counts references", () =>
    Effect.gen(function* () {
      const blobs = yield* Blobs.makeMemory()
      const first = yield* blobs.put(bytes("abc"))
      expect(first).toEqual({ hash: abc, size: 3 })
      const second = yield* blobs.put(bytes("abc"))
      expect(second.hash).toBe(abc)
      expect(yield* blobs.stat(abc)).toEqual(Option.some({ hash: abc, size: 3, refs: 2 }))
      expect(yield* blobs.usage).toMatchObject({ blobs: 1, bytes: 3 })
      expect(text(yield* blobs.get(abc))).toBe("abc")

      expect(yield* blobs.release(abc)).toEqual({ deleted: false })
      expect(text(yield* blobs.get(abc))).toBe("abc")
      expect(yield* blobs.release(abc)).toEqual({ deleted: true })
      expect(yield* blobs.stat(abc)).toEqual(Option.none())
      expect(yield* Effect.flip(blobs.get(abc))).toMatchObject({ _tag: "BlobNotFound", hash: abc })
      expect(yield* Effect.flip(blobs.release(abc))).toMatchObject({ _tag: "BlobNotFound" })
      expect(yield* blobs.usage).toMatchObject({ blobs: 0, bytes: 0 })
    })
  )

  it.effect("retain adds a reference", () =>
    Effect.gen(function* () {
      const blobs = yield* Blobs.makeMemory()
      const { hash } = yield* blobs.put(bytes("x"))
      yield* blobs.retain(hash)
      expect(yield* blobs.release(hash)).toEqual({ deleted: false })
      expect(yield* blobs.release(hash)).toEqual({ deleted: true })
      expect(yield* Effect.flip(blobs.retain(hash))).toMatchObject({ _tag: "BlobNotFound" })
    })
  )

  it.effect("a caller mutating its buffer does not corrupt the blob", () =>
    Effect.gen(function* () {
      const blobs = yield* Blobs.makeMemory()
      const data = bytes("abc")
      yield* blobs.put(data)
      data[0] = 0
      const out = yield* blobs.get(abc)
      out[1] = 0
      expect(text(yield* blobs.get(abc))).toBe("abc")
    })
  )

  it.effect("refuses content past capacity without storing it", () =>
    Effect.gen(function* () {
      const blobs = yield* Blobs.makeMemory({ maxBytes: 10 })
      yield* blobs.put(bytes("123456"))
      const full = yield* Effect.flip(blobs.put(bytes("abcde")))
      expect(full).toMatchObject({ _tag: "BlobStoreFull", needed: 5, used: 6, capacity: 10 })
      expect(yield* blobs.usage).toEqual({ blobs: 1, bytes: 6, capacity: 10 })
      // The same content again needs no space.
      yield* blobs.put(bytes("123456"))
      yield* blobs.put(bytes("abcd"))
      expect(yield* blobs.usage).toEqual({ blobs: 2, bytes: 10, capacity: 10 })
    })
  )

  it.effect("putStream hashes incrementally and aborts as soon as the bound is crossed", () =>
    Effect.gen(function* () {
      const blobs = yield* Blobs.makeMemory({ maxBytes: 8 })
      const info = yield* blobs.putStream(Stream.make(bytes("a"), bytes("b"), bytes("c")))
      expect(info).toEqual({ hash: abc, size: 3 })
      expect(yield* blobs.stat(abc)).toEqual(Option.some({ hash: abc, size: 3, refs: 1 }))

      let pulled = 0
      const endless = Stream.repeatEffect(
        Effect.sync(() => {
          pulled++
          return bytes("xx")
        })
      )
      const full = yield* Effect.flip(blobs.putStream(endless))
      expect(full).toMatchObject({ _tag: "BlobStoreFull", used: 3, capacity: 8 })
      expect(pulled).toBeLessThanOrEqual(4)
      expect(yield* blobs.usage).toEqual({ blobs: 1, bytes: 3, capacity: 8 })

      const failing = Stream.concat(Stream.make(bytes("z")), Stream.fail("source broke" as const))
      expect(yield* Effect.flip(blobs.putStream(failing))).toBe("source broke")
      expect((yield* blobs.usage).blobs).toBe(1)
    })
  )

  it.effect("streams content in chunks, with a range", () =>
    Effect.gen(function* () {
      const blobs = yield* Blobs.makeMemory({ chunkSize: 4 })
      const { hash } = yield* blobs.put(bytes("0123456789"))
      const whole = yield* collect(yield* blobs.stream(hash))
      expect(whole.map(text)).toEqual(["0123", "4567", "89"])
      const middle = yield* collect(yield* blobs.stream(hash, { start: 2, end: 9 }))
      expect(middle.map(text)).toEqual(["2345", "678"])
      const tail = yield* collect(yield* blobs.stream(hash, { start: 7 }))
      expect(tail.map(text)).toEqual(["789"])
      expect(yield* collect(yield* blobs.stream(hash, { start: 20 }))).toEqual([])
      expect(yield* Effect.flip(blobs.stream("00"))).toMatchObject({ _tag: "BlobNotFound" })
    })
  )
})

describe("stores outlive the scope that used them", () => {
  it.effect("content written inside a closed scope is still there", () =>
    Effect.gen(function* () {
      const outbox = yield* Outbox.makeMemory()
      const dedupe = yield* Dedupe.makeMemory()
      const kv = yield* KeyValue.makeMemory()
      const blobs = yield* Blobs.makeMemory()

      // A "site" that uses the stores and then crashes: its scope is closed with a defect.
      const site = Effect.gen(function* () {
        yield* Effect.addFinalizer(() => Effect.void)
        yield* outbox.append({ id: "m1", destination: "s1", envelope: { hello: "world" }, bytes: 16 })
        yield* dedupe.markIfNew("m0")
        yield* kv.set("ping", "greeting", "hello")
        yield* blobs.put(bytes("abc"))
        return yield* Effect.die("crash")
      })
      yield* Effect.exit(Effect.scoped(site))

      expect(Option.isSome(yield* outbox.get("m1"))).toBe(true)
      expect(yield* dedupe.markIfNew("m0")).toBe(false)
      expect(yield* kv.get("ping", "greeting")).toEqual(Option.some("hello"))
      expect((yield* blobs.stat(abc)).pipe(Option.map((s) => s.refs))).toEqual(Option.some(1))
    })
  )

  it.effect("a layer-provided store survives a site restart when built once", () =>
    Effect.gen(function* () {
      const kv = yield* KeyValue.makeMemory()
      const incarnation = (n: number) =>
        Effect.scoped(
          Effect.gen(function* () {
            const store = yield* KeyValue.KeyValue
            const previous = yield* store.get("site", "boots")
            yield* store.set("site", "boots", String(n))
            return previous
          })
        ).pipe(Effect.provideService(KeyValue.KeyValue, kv))
      expect(yield* incarnation(1)).toEqual(Option.none())
      expect(yield* incarnation(2)).toEqual(Option.some("1"))
    })
  )
})
