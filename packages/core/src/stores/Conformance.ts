/**
 * The conformance suite every store implementation must pass: the in-memory stores here, SQLite,
 * the blob directory and the disk staging area in the node package. A store's semantics are its
 * interface's, whatever holds the bytes, so one list of cases per store runs against each
 * implementation, and a copy of a test cannot drift from the other copies.
 *
 * Each case is an effect over a {@link Make}: a constructor of fresh, empty stores with the bounds
 * it asks for, whose resources (a database file, a directory) live in the case's scope. Cases move
 * time with `TestClock`, which every implementation reads through Effect's `Clock`: run them where
 * Effect's test services are provided and the clock starts at 0 (`it.scoped` of `@effect/vitest`).
 * No test framework is imported here: a failure is a typed `ConformanceFailure`.
 *
 * @since 0.1.0
 */
import { utf8ToBytes } from "@noble/hashes/utils.js"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { ConformanceFailure } from "../transport/Conformance.js"
import * as Blobs from "./Blobs.js"
import { conformance, equal, failsWith, failure, flip, holds, matches, text } from "./Checks.js"
import type * as Dedupe from "./Dedupe.js"
import * as Identity from "./Identity.js"
import * as KeyValue from "./KeyValue.js"
import type * as Outbox from "./Outbox.js"
import type * as Staging from "./Staging.js"
import type * as UnitOfWork from "./UnitOfWork.js"

export {
  /** @since 0.1.0 */
  ConformanceFailure
}

/**
 * A fresh, empty store with `config`'s bounds (the store's defaults for the rest), kept open
 * until the scope closes. Each call is a new store.
 *
 * @since 0.1.0
 * @category models
 */
export type Make<S, C = Record<never, never>> = (config?: Partial<C>) => Effect.Effect<S, never, Scope.Scope>

/**
 * @since 0.1.0
 * @category models
 */
export interface Case<S, C = Record<never, never>> {
  readonly name: string
  readonly run: (make: Make<S, C>) => Effect.Effect<void, ConformanceFailure, Scope.Scope>
}

/** What a crashing site does to a store: uses it inside a scope that ends with a defect. */
const crashAfter = <A, E>(use: Effect.Effect<A, E>) =>
  Effect.exit(
    Effect.scoped(
      Effect.gen(function* () {
        yield* Effect.addFinalizer(() => Effect.void)
        yield* use
        return yield* Effect.die("crash")
      })
    )
  )

const bytes = (s: string): Uint8Array => utf8ToBytes(s)
/** The cases store ASCII only, so a byte is a character. */
const collect = (stream: Stream.Stream<Uint8Array>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => Chunk.toReadonlyArray(chunks).map(text))
const ids = (entries: ReadonlyArray<{ readonly id: string }>) => entries.map((e) => e.id)

// ---------------------------------------------------------------------------------------------
// Outbox
// ---------------------------------------------------------------------------------------------

const entry = (id: string, destination = "s1", size = 10): Outbox.AppendInput => ({
  id,
  destination,
  envelope: { id },
  bytes: size
})

/**
 * @since 0.1.0
 * @category suites
 */
export const outbox: ReadonlyArray<Case<Outbox.OutboxService, Outbox.OutboxConfig>> = [
  conformance("appends, lists what is due in order, reschedules and acknowledges", (make) =>
    Effect.gen(function* () {
      const outbox = yield* make()
      yield* TestClock.adjust(1000)
      yield* outbox.append(entry("b"))
      yield* outbox.append(entry("a"))
      yield* TestClock.adjust(10)
      yield* outbox.append(entry("c", "w1"))

      const due = yield* outbox.due(1010, 10)
      yield* equal("due order", ids(due), ["a", "b", "c"])
      yield* equal("a due entry", due[0], {
        id: "a",
        destination: "s1",
        envelope: { id: "a" },
        bytes: 10,
        createdAt: 1000,
        attempts: 0,
        nextAttemptAt: 1000
      })
      yield* equal("due at 1005", ids(yield* outbox.due(1005, 10)), ["a", "b"])
      yield* equal("due, limit 1", ids(yield* outbox.due(1010, 1)), ["a"])
      yield* equal("due, limit 0", yield* outbox.due(1010, 0), [])

      yield* equal("reschedule", yield* outbox.reschedule("a", 2000), true)
      yield* equal("reschedule missing", yield* outbox.reschedule("missing", 2000), false)
      yield* equal("due after reschedule", ids(yield* outbox.due(1010, 10)), ["b", "c"])
      const attempts = (id: string) =>
        Effect.map(
          outbox.get(id),
          Option.map((e) => [e.attempts, e.nextAttemptAt])
        )
      yield* equal("attempts counted", yield* attempts("a"), Option.some([1, 2000]))
      // Postponed without being sent: attempts unchanged.
      yield* equal("postponed", yield* outbox.reschedule("a", 2500, false), true)
      yield* equal("attempts not counted", yield* attempts("a"), Option.some([1, 2500]))
      yield* equal("byDestination", ids(yield* outbox.byDestination("s1")), ["b", "a"])
      yield* equal("get missing", yield* outbox.get("missing"), Option.none())

      yield* equal("ack", yield* outbox.ack("b"), true)
      yield* equal("ack again", yield* outbox.ack("b"), false)
      yield* equal("size", yield* outbox.size, { entries: 2, bytes: 20 })
      yield* equal("due later", ids(yield* outbox.due(5000, 10)), ["c", "a"])
    })
  ),
  conformance("append is idempotent on an existing id", (make) =>
    Effect.gen(function* () {
      const outbox = yield* make()
      yield* outbox.append(entry("a"))
      yield* outbox.reschedule("a", 500)
      yield* outbox.append({ ...entry("a"), envelope: "other" })
      yield* equal("size", yield* outbox.size, { entries: 1, bytes: 10 })
      const stored = Option.map(yield* outbox.get("a"), (e) => [e.envelope, e.attempts])
      yield* equal("the first append kept", stored, Option.some([{ id: "a" }, 1]))
    })
  ),
  conformance("a full outbox answers OutboxFull and loses nothing it holds", (make) =>
    Effect.gen(function* () {
      const outbox = yield* make({ maxEntries: 2, maxBytes: 25 })
      yield* outbox.append(entry("a"))
      yield* outbox.append(entry("b"))
      yield* failsWith("full by count", outbox.append(entry("c")), {
        _tag: "OutboxFull",
        bound: "entries",
        entries: 2,
        maxEntries: 2
      })
      yield* outbox.ack("b")
      yield* failsWith("full by bytes", outbox.append(entry("d", "s1", 16)), {
        _tag: "OutboxFull",
        bound: "bytes",
        bytes: 10,
        maxBytes: 25
      })
      // Already stored: still accepted (idempotent) though the outbox is at its bound.
      yield* outbox.append(entry("e", "s1", 15))
      yield* outbox.append(entry("a"))
      yield* equal("held", ids(yield* outbox.due(0, 10)), ["a", "e"])
      yield* equal("size", yield* outbox.size, { entries: 2, bytes: 25 })
      yield* equal("refused not stored", yield* outbox.get("c"), Option.none())
    })
  ),
  conformance("concurrent appends racing for the last slots: exactly the bound is accepted", (make) =>
    Effect.gen(function* () {
      const outbox = yield* make({ maxEntries: 5 })
      const results = yield* Effect.forEach(
        Array.from({ length: 12 }, (_, i) => `m${i}`),
        (id) => Effect.either(outbox.append(entry(id))),
        { concurrency: "unbounded" }
      )
      yield* equal("accepted", results.filter((r) => r._tag === "Right").length, 5)
      yield* equal("size", yield* outbox.size, { entries: 5, bytes: 50 })
    })
  ),
  conformance("what a crashed site appended is still there", (make) =>
    Effect.gen(function* () {
      const outbox = yield* make()
      yield* crashAfter(outbox.append({ id: "m1", destination: "s1", envelope: { hello: "world" }, bytes: 16 }))
      yield* equal(
        "kept",
        Option.map(yield* outbox.get("m1"), (e) => e.envelope),
        Option.some({ hello: "world" })
      )
    })
  )
]

// ---------------------------------------------------------------------------------------------
// Dedupe
// ---------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category suites
 */
export const dedupe: ReadonlyArray<Case<Dedupe.DedupeService, Dedupe.DedupeConfig>> = [
  conformance("the second sighting of an id is not new", (make) =>
    Effect.gen(function* () {
      const dedupe = yield* make({ maxAge: "1 minute", minRetention: "10 seconds", maxEntries: 10 })
      yield* equal("first", yield* dedupe.markIfNew("m1"), true)
      yield* equal("second", yield* dedupe.markIfNew("m1"), false)
      yield* equal("has seen", yield* dedupe.has("m1"), true)
      yield* equal("has unseen", yield* dedupe.has("m2"), false)
    })
  ),
  conformance("forgets ids older than maxAge", (make) =>
    Effect.gen(function* () {
      const dedupe = yield* make({ maxAge: "1 minute", minRetention: "10 seconds", maxEntries: 10 })
      yield* dedupe.markIfNew("old")
      yield* TestClock.adjust("30 seconds")
      yield* dedupe.markIfNew("young")
      yield* TestClock.adjust("30 seconds")
      yield* equal("at maxAge, still seen", yield* dedupe.markIfNew("old"), false)
      yield* TestClock.adjust("1 milli")
      yield* equal("past maxAge, forgotten", yield* dedupe.has("old"), false)
      yield* equal("size before prune", yield* dedupe.size, 2)
      yield* equal("pruned", yield* dedupe.prune, 1)
      yield* equal("size after prune", yield* dedupe.size, 1)
      yield* equal("old is new again", yield* dedupe.markIfNew("old"), true)
      yield* equal("young still seen", yield* dedupe.markIfNew("young"), false)
    })
  ),
  conformance("at the count bound evicts only ids older than minRetention, else DedupeFull", (make) =>
    Effect.gen(function* () {
      const dedupe = yield* make({ maxAge: "1 hour", minRetention: "1 minute", maxEntries: 2 })
      yield* dedupe.markIfNew("a")
      yield* TestClock.adjust("30 seconds")
      yield* dedupe.markIfNew("b")
      yield* failsWith("full", dedupe.markIfNew("c"), {
        _tag: "DedupeFull",
        id: "c",
        entries: 2,
        maxEntries: 2,
        retryAfter: 60_001
      })
      yield* equal("nothing evicted", yield* dedupe.has("a"), true)

      yield* TestClock.adjust("31 seconds")
      yield* equal("room made", yield* dedupe.markIfNew("c"), true)
      yield* equal("oldest evicted", yield* dedupe.has("a"), false)
      yield* equal("younger kept", yield* dedupe.has("b"), true)
      yield* equal("size", yield* dedupe.size, 2)
      // "c" was refused once and not recorded, so a retransmission of it is applied exactly once.
      yield* equal("retransmission", yield* dedupe.markIfNew("c"), false)
    })
  ),
  conformance("what a crashed site marked is still seen", (make) =>
    Effect.gen(function* () {
      const dedupe = yield* make()
      yield* crashAfter(dedupe.markIfNew("m0"))
      yield* equal("still seen", yield* dedupe.markIfNew("m0"), false)
    })
  )
]

// ---------------------------------------------------------------------------------------------
// KeyValue
// ---------------------------------------------------------------------------------------------

const Counter = Schema.Struct({ count: Schema.Int })

/**
 * @since 0.1.0
 * @category suites
 */
export const keyValue: ReadonlyArray<Case<KeyValue.KeyValueService, KeyValue.KeyValueConfig>> = [
  conformance("sets, gets, lists by prefix in key order, deletes, per namespace", (make) =>
    Effect.gen(function* () {
      const kv = yield* make()
      yield* kv.set("files", "b/2", "two")
      yield* kv.set("files", "a/1", "one")
      yield* kv.set("files", "b/1", "uno")
      yield* kv.set("files", "b", "not under b/")
      yield* kv.set("files", "b0", "not under b/ either")
      yield* kv.set("roaming", "b/1", "other module")
      yield* equal("get", yield* kv.get("files", "b/1"), Option.some("uno"))
      yield* equal("other namespace", yield* kv.get("sync", "b/1"), Option.none())
      yield* equal("list by prefix", yield* kv.list("files", "b/"), [
        { key: "b/1", value: "uno" },
        { key: "b/2", value: "two" }
      ])
      yield* equal(
        "list all",
        (yield* kv.list("files")).map((e) => e.key),
        ["a/1", "b", "b/1", "b/2", "b0"]
      )
      yield* equal("delete", yield* kv.delete("files", "b/1"), true)
      yield* equal("delete again", yield* kv.delete("files", "b/1"), false)
      yield* equal("size", yield* kv.size, 5)
    })
  ),
  conformance("lists in code-unit order, also past U+FFFF", (make) =>
    Effect.gen(function* () {
      const kv = yield* make()
      for (const key of ["p/\uffff", "p/\u{10000}", "p/a", "p/é", "q"]) yield* kv.set("m", key, key)
      const keys = (yield* kv.list("m", "p/")).map((e) => e.key)
      yield* equal("order", keys, ["p/a", "p/é", "p/\u{10000}", "p/\uffff"])
    })
  ),
  conformance("refuses writes past its bounds, writing nothing", (make) =>
    Effect.gen(function* () {
      const kv = yield* make({ maxKeys: 2, maxValueBytes: 4, maxKeyBytes: 3 })
      yield* kv.set("m", "a", "1")
      yield* kv.set("m", "b", "2")
      yield* failsWith("maxKeys", kv.set("m", "c", "3"), { _tag: "KeyValueLimit", bound: "maxKeys" })
      yield* kv.set("m", "a", "1234") // overwriting does not add a key
      // "é" is two UTF-8 bytes: 5 bytes in all.
      yield* failsWith("maxValueBytes", kv.set("m", "a", "abcé"), {
        _tag: "KeyValueLimit",
        bound: "maxValueBytes",
        limit: 4,
        actual: 5
      })
      yield* failsWith("key too long", kv.set("m", "long", "1"), { bound: "maxKeyBytes", actual: 4 })
      yield* failsWith("namespace too long", kv.set("mods", "a", "1"), { bound: "maxKeyBytes", actual: 4 })
      yield* equal("value kept", yield* kv.get("m", "a"), Option.some("1234"))
      yield* equal("refused not written", yield* kv.get("m", "c"), Option.none())
      yield* equal("size", yield* kv.size, 2)
    })
  ),
  conformance("typed access decodes, and a stale value is a KeyValueDecodeError with the reason", (make) =>
    Effect.gen(function* () {
      const kv = yield* make()
      const run = Effect.provideService(KeyValue.KeyValue, kv)
      yield* run(KeyValue.setSchema("ping", "counter", Counter, { count: 3 }))
      yield* equal("stored as JSON", yield* kv.get("ping", "counter"), Option.some(`{"count":3}`))
      yield* equal("decoded", yield* run(KeyValue.getSchema("ping", "counter", Counter)), Option.some({ count: 3 }))
      yield* equal("missing", yield* run(KeyValue.getSchema("ping", "missing", Counter)), Option.none())

      yield* kv.set("ping", "counter", `{"count":"three"}`)
      const error = yield* flip("stale value", run(KeyValue.getSchema("ping", "counter", Counter)))
      yield* equal("stale value", error._tag, "KeyValueDecodeError")
      yield* holds("the reason", error.reason.includes("count"), "a reason naming count", error.reason)
      yield* kv.set("ping", "counter", `not json`)
      const garbage = yield* flip("not JSON", run(KeyValue.getSchema("ping", "counter", Counter)))
      yield* equal("not JSON", garbage._tag, "KeyValueDecodeError")
    })
  ),
  conformance("what a crashed site wrote is still there", (make) =>
    Effect.gen(function* () {
      const kv = yield* make()
      yield* crashAfter(kv.set("ping", "greeting", "hello"))
      yield* equal("kept", yield* kv.get("ping", "greeting"), Option.some("hello"))
    })
  ),
  conformance("a layer-provided store survives a site restart when built once", (make) =>
    Effect.gen(function* () {
      const kv = yield* make()
      const incarnation = (n: number) =>
        Effect.scoped(
          Effect.gen(function* () {
            const store = yield* KeyValue.KeyValue
            const previous = yield* store.get("site", "boots")
            yield* store.set("site", "boots", String(n))
            return previous
          })
        ).pipe(Effect.provideService(KeyValue.KeyValue, kv))
      yield* equal("first boot", yield* incarnation(1), Option.none())
      yield* equal("second boot", yield* incarnation(2), Option.some("1"))
    })
  )
]

// ---------------------------------------------------------------------------------------------
// Blobs
// ---------------------------------------------------------------------------------------------

/** SHA-256("abc"), the FIPS 180-2 test vector. */
const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/**
 * @since 0.1.0
 * @category suites
 */
export const blobs: ReadonlyArray<Case<Blobs.BlobsService, Blobs.BlobsConfig>> = [
  conformance("addresses content by SHA-256 and counts references", (make) =>
    Effect.gen(function* () {
      const blobs = yield* make()
      yield* equal("put", yield* blobs.put(bytes("abc")), { hash: abc, size: 3 })
      yield* equal("put again", (yield* blobs.put(bytes("abc"))).hash, abc)
      yield* equal("stat", yield* blobs.stat(abc), Option.some({ hash: abc, size: 3, refs: 2 }))
      yield* matches("usage", yield* blobs.usage, { blobs: 1, bytes: 3 })
      yield* equal("get", text(yield* blobs.get(abc)), "abc")

      yield* equal("release one of two", yield* blobs.release(abc), { deleted: false })
      yield* equal("still there", text(yield* blobs.get(abc)), "abc")
      yield* equal("release the last", yield* blobs.release(abc), { deleted: true })
      yield* equal("stat gone", yield* blobs.stat(abc), Option.none())
      yield* failsWith("get gone", blobs.get(abc), { _tag: "BlobNotFound", hash: abc })
      yield* failsWith("release gone", blobs.release(abc), { _tag: "BlobNotFound" })
      yield* matches("usage empty", yield* blobs.usage, { blobs: 0, bytes: 0 })
    })
  ),
  conformance("retain adds a reference", (make) =>
    Effect.gen(function* () {
      const blobs = yield* make()
      const { hash } = yield* blobs.put(bytes("x"))
      yield* blobs.retain(hash)
      yield* equal("release one of two", yield* blobs.release(hash), { deleted: false })
      yield* equal("release the last", yield* blobs.release(hash), { deleted: true })
      yield* failsWith("retain gone", blobs.retain(hash), { _tag: "BlobNotFound" })
    })
  ),
  conformance("a caller mutating its buffer does not corrupt the blob", (make) =>
    Effect.gen(function* () {
      const blobs = yield* make()
      const data = bytes("abc")
      yield* blobs.put(data)
      data[0] = 0
      const out = yield* blobs.get(abc)
      out[1] = 0
      yield* equal("content", text(yield* blobs.get(abc)), "abc")
    })
  ),
  conformance("refuses content past capacity without storing it", (make) =>
    Effect.gen(function* () {
      const blobs = yield* make({ maxBytes: 10 })
      yield* blobs.put(bytes("123456"))
      yield* failsWith("full", blobs.put(bytes("abcde")), { _tag: "BlobStoreFull", needed: 5, used: 6, capacity: 10 })
      yield* equal("usage", yield* blobs.usage, { blobs: 1, bytes: 6, capacity: 10 })
      // The same content again needs no space.
      yield* blobs.put(bytes("123456"))
      yield* blobs.put(bytes("abcd"))
      yield* equal("usage at capacity", yield* blobs.usage, { blobs: 2, bytes: 10, capacity: 10 })
    })
  ),
  conformance("putStream hashes incrementally and aborts as soon as the bound is crossed", (make) =>
    Effect.gen(function* () {
      const blobs = yield* make({ maxBytes: 8 })
      yield* equal("streamed", yield* blobs.putStream(Stream.make(bytes("a"), bytes("b"), bytes("c"))), {
        hash: abc,
        size: 3
      })
      yield* equal("stat", yield* blobs.stat(abc), Option.some({ hash: abc, size: 3, refs: 1 }))

      let pulled = 0
      const endless = Stream.repeatEffect(
        Effect.sync(() => {
          pulled++
          return bytes("xx")
        })
      )
      yield* failsWith("endless", blobs.putStream(endless), { _tag: "BlobStoreFull", used: 3, capacity: 8 })
      yield* holds("stopped pulling", pulled <= 4, "at most 4 chunks pulled", pulled)
      yield* equal("usage", yield* blobs.usage, { blobs: 1, bytes: 3, capacity: 8 })

      const failing = Stream.concat(Stream.make(bytes("z")), Stream.fail("source broke" as const))
      yield* equal("source error", yield* flip("source error", blobs.putStream(failing)), "source broke")
      yield* equal("nothing stored", (yield* blobs.usage).blobs, 1)
    })
  ),
  conformance("streams content in chunks, with a range", (make) =>
    Effect.gen(function* () {
      const blobs = yield* make({ chunkSize: 4 })
      const { hash } = yield* blobs.put(bytes("0123456789"))
      yield* equal("whole", yield* collect(yield* blobs.stream(hash)), ["0123", "4567", "89"])
      yield* equal("middle", yield* collect(yield* blobs.stream(hash, { start: 2, end: 9 })), ["2345", "678"])
      yield* equal("tail", yield* collect(yield* blobs.stream(hash, { start: 7 })), ["789"])
      yield* equal("past the end", yield* collect(yield* blobs.stream(hash, { start: 20 })), [])
      yield* failsWith("unknown", blobs.stream("00"), { _tag: "BlobNotFound" })
    })
  ),
  conformance("a stream reads the content even if the blob is released before it runs", (make) =>
    Effect.gen(function* () {
      const blobs = yield* make({ chunkSize: 4 })
      const { hash } = yield* blobs.put(bytes("0123456789"))
      const stream = yield* blobs.stream(hash)
      yield* equal("released", yield* blobs.release(hash), { deleted: true })
      yield* equal("stat gone", yield* blobs.stat(hash), Option.none())
      yield* matches("usage empty", yield* blobs.usage, { blobs: 0, bytes: 0 })
      yield* equal("content", yield* collect(stream), ["0123", "4567", "89"])
    })
  ),
  conformance("what a crashed site stored is still there", (make) =>
    Effect.gen(function* () {
      const blobs = yield* make()
      yield* crashAfter(blobs.put(bytes("abc")))
      yield* equal(
        "kept",
        Option.map(yield* blobs.stat(abc), (s) => s.refs),
        Option.some(1)
      )
    })
  )
]

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

const account = (name: string, createdAt = 0): Identity.Account => ({
  name,
  homeRegion: "north",
  roles: ["user"],
  passwordHash: "scrypt$1024$8$1$AAAA$AAAA",
  createdAt
})

const signingKey = new Uint8Array(32).fill(7)

/** The identity service on `store`, with a cheap scrypt (N = 1024) and tokens of an hour. */
const identityOn = (store: Identity.IdentityStoreService) =>
  Identity.make({ signingKey, tokenTtl: "1 hour" }).pipe(
    Effect.provideService(Identity.IdentityStore, store),
    Effect.provide(Identity.layerScryptHasher({ N: 2 ** 10 }))
  )

/** A fresh store and the identity service on it. */
const identityStack = (make: Make<Identity.IdentityStoreService, Identity.IdentityStoreConfig>) =>
  Effect.flatMap(make(), (store) => Effect.map(identityOn(store), (identity) => ({ store, identity })))

/** The token's payload, read without checking anything (what an attacker can do). */
const tokenPayload = (token: string): unknown =>
  JSON.parse(Either.getOrElse(Encoding.decodeBase64UrlString(token.split(".")[0]!), () => "null"))

/**
 * The identity store's operations, and the identity service's that stand on them.
 *
 * @since 0.1.0
 * @category suites
 */
export const identity: ReadonlyArray<Case<Identity.IdentityStoreService, Identity.IdentityStoreConfig>> = [
  conformance("creates, finds, re-roles and pages accounts; bounded", (make) =>
    Effect.gen(function* () {
      const store = yield* make({ maxAccounts: 3, maxListPage: 2 })
      yield* store.createAccount(account("carol", 3))
      yield* store.createAccount(account("alice", 1))
      yield* store.createAccount(account("bob", 2))
      yield* failsWith("taken", store.createAccount(account("alice")), { _tag: "AccountExists", name: "alice" })
      yield* failsWith("full", store.createAccount(account("dave")), {
        _tag: "IdentityStoreFull",
        bound: "maxAccounts",
        limit: 3
      })
      yield* equal("find", yield* store.findAccount("alice"), Option.some(account("alice", 1)))
      yield* equal("find missing", yield* store.findAccount("dave"), Option.none())

      const promoted = yield* store.setRoles("bob", ["user", "operator", "user"])
      yield* equal("roles once each", promoted.roles, ["user", "operator"])
      const roles = Option.map(yield* store.findAccount("bob"), (a) => a.roles)
      yield* equal("roles stored", roles, Option.some(["user", "operator"]))
      yield* failsWith("re-role missing", store.setRoles("dave", ["user"]), { _tag: "AccountNotFound" })

      const names = (options?: { readonly after?: string; readonly limit?: number }) =>
        Effect.map(store.listAccounts(options), (accounts) => accounts.map((a) => a.name))
      yield* equal("first page", yield* names(), ["alice", "bob"])
      yield* equal("after alice", yield* names({ after: "alice", limit: 5 }), ["bob", "carol"])
      yield* equal("after bob", yield* names({ after: "bob", limit: 1 }), ["carol"])
      yield* equal("limit 0", yield* names({ limit: 0 }), [])

      // A moved account is deleted here, which makes room for another.
      yield* equal("delete", yield* store.deleteAccount("carol"), true)
      yield* equal("delete again", yield* store.deleteAccount("carol"), false)
      yield* equal("deleted", yield* store.findAccount("carol"), Option.none())
      yield* store.createAccount(account("dave", 4))
    })
  ),
  conformance("revocations are bounded; expired ones make room", (make) =>
    Effect.gen(function* () {
      const store = yield* make({ maxRevocations: 2 })
      yield* store.addRevocation("t1", 1000)
      yield* store.addRevocation("t2", 5000)
      yield* failsWith("full", store.addRevocation("t3", 5000), {
        _tag: "IdentityStoreFull",
        bound: "maxRevocations"
      })
      // Re-revoking a known id extends it, even when full.
      yield* store.addRevocation("t2", 6000)
      yield* TestClock.adjust(1000)
      yield* store.addRevocation("t3", 5000)
      yield* equal("expired one made room", yield* store.isRevoked("t1"), false)
      yield* equal("revoked", yield* store.isRevoked("t3"), true)
      // Already expired: nothing to remember.
      yield* store.addRevocation("t4", 500)
      yield* equal("count", yield* store.revocationCount, 2)
      yield* equal("pruned at 5000", yield* store.pruneRevocations(5000), 1)
      yield* equal("extended", yield* store.isRevoked("t2"), true)
      yield* equal("pruned at 6000", yield* store.pruneRevocations(6000), 1)
      yield* equal("count after prune", yield* store.revocationCount, 0)
    })
  ),
  conformance("the identity service registers, logs in and verifies a token without a lookup", (make) =>
    Effect.gen(function* () {
      const { identity, store } = yield* identityStack(make)
      yield* TestClock.adjust(5000)
      const registered = yield* identity.register("alice", "s3cret-pass", ["user"], "north")
      yield* equal("registered", registered, { name: "alice", homeRegion: "north", roles: ["user"], createdAt: 5000 })
      const stored = Option.map(yield* store.findAccount("alice"), (a) => a.passwordHash.startsWith("scrypt$1024$8$1$"))
      yield* equal("hash stored", stored, Option.some(true))

      const { principal, token } = yield* identity.login("alice", "s3cret-pass")
      yield* matches("principal", principal, {
        name: "alice",
        homeRegion: "north",
        roles: ["user"],
        expiresAt: 5000 + 3600_000
      })
      yield* equal("token parts", token.split(".").length, 2)
      yield* equal("verified", yield* identity.verify(token), principal)

      const payload = tokenPayload(token)
      yield* matches("payload", payload, {
        v: 1,
        sub: "alice",
        region: "north",
        roles: ["user"],
        iat: 5000,
        exp: 3605000
      })
      yield* matches("token id", payload, { jti: principal.tokenId })
    })
  ),
  conformance("a wrong password or unknown name is InvalidCredentials", (make) =>
    Effect.gen(function* () {
      const { identity } = yield* identityStack(make)
      yield* identity.register("alice", "s3cret-pass", ["user"], "north")
      yield* failsWith("wrong password", identity.login("alice", "wrong-pass"), { _tag: "InvalidCredentials" })
      yield* failsWith("unknown name", identity.login("nobody", "s3cret-pass"), { _tag: "InvalidCredentials" })
    })
  ),
  conformance("a taken name is AccountExists; a bad name or password is AccountInvalid", (make) =>
    Effect.gen(function* () {
      const { identity } = yield* identityStack(make)
      yield* identity.register("alice", "s3cret-pass", ["user"], "north")
      yield* failsWith("taken", identity.register("alice", "another-pass", ["user"], "south"), {
        _tag: "AccountExists",
        name: "alice"
      })
      yield* failsWith("bad name", identity.register("al ice", "s3cret-pass", ["user"], "north"), {
        _tag: "AccountInvalid"
      })
      yield* failsWith("short password", identity.register("carol", "short", ["user"], "north"), {
        _tag: "AccountInvalid"
      })
    })
  ),
  conformance("a revoked token is TokenInvalid revoked, and the revocation is pruned after expiry", (make) =>
    Effect.gen(function* () {
      const { identity, store } = yield* identityStack(make)
      yield* identity.register("alice", "s3cret-pass", ["user"], "north")
      const first = yield* identity.login("alice", "s3cret-pass")
      const second = yield* identity.login("alice", "s3cret-pass")
      yield* holds("token ids", first.principal.tokenId !== second.principal.tokenId, "two ids", first.principal)
      yield* identity.revoke(first.principal.tokenId, first.principal.expiresAt)
      yield* failsWith("revoked", identity.verify(first.token), { _tag: "TokenInvalid", reason: "revoked" })
      yield* equal("the other token", (yield* identity.verify(second.token)).name, "alice")

      yield* equal("count", yield* store.revocationCount, 1)
      yield* equal("pruned", yield* store.pruneRevocations(first.principal.expiresAt), 1)
      yield* equal("count after prune", yield* store.revocationCount, 0)
    })
  ),
  conformance("roles are required and changed; an account moves out and in", (make) =>
    Effect.gen(function* () {
      const { identity, store } = yield* identityStack(make)
      yield* identity.register("alice", "s3cret-pass", ["user"], "north")
      yield* identity.register("root", "operator-pass", ["user", "operator"], "north")
      const alice = (yield* identity.login("alice", "s3cret-pass")).principal
      const root = yield* identity.verify((yield* identity.login("root", "operator-pass")).token)
      yield* identity.requireRole(root, "operator")
      yield* identity.requireRole(alice, "user")
      yield* failsWith("forbidden", identity.requireRole(alice, "operator"), {
        _tag: "Forbidden",
        name: "alice",
        required: "operator"
      })

      yield* store.setRoles("alice", ["user", "operator"])
      const promoted = (yield* identity.login("alice", "s3cret-pass")).principal
      yield* identity.requireRole(promoted, "operator")
      yield* equal(
        "accounts",
        (yield* store.listAccounts()).map((a) => a.name),
        ["alice", "root"]
      )
      const after = (yield* store.listAccounts({ after: "alice", limit: 5 })).map((a) => a.name)
      yield* equal("accounts after alice", after, ["root"])

      // Moving an account: exported with its hash, imported elsewhere (idempotent), removed here.
      const exported = yield* identity.exportAccount("alice")
      if (Option.isNone(exported)) return yield* Effect.fail(failure("export", "the account", exported))
      yield* equal("removed", yield* identity.removeAccount("alice"), true)
      yield* failsWith("gone", identity.login("alice", "s3cret-pass"), { _tag: "InvalidCredentials" })
      const moved = { ...exported.value, homeRegion: "south" }
      yield* matches("imported", yield* identity.importAccount(moved), { name: "alice", homeRegion: "south" })
      yield* matches("imported again", yield* identity.importAccount(moved), { name: "alice", homeRegion: "south" })
      yield* equal("home", (yield* identity.login("alice", "s3cret-pass")).principal.homeRegion, "south")
      yield* failsWith("another account", identity.importAccount({ ...moved, passwordHash: "another-hash" }), {
        _tag: "AccountExists"
      })
    })
  ),
  conformance("identity state outlives the scope that used it", (make) =>
    Effect.gen(function* () {
      const store = yield* make()
      const stack = Identity.layer({ signingKey }).pipe(
        Layer.provide(
          Layer.merge(Layer.succeed(Identity.IdentityStore, store), Identity.layerScryptHasher({ N: 2 ** 10 }))
        )
      )
      const incarnation = <A, E>(f: (identity: Identity.IdentityService) => Effect.Effect<A, E>) =>
        Effect.scoped(Effect.flatMap(Identity.Identity, f)).pipe(Effect.provide(stack))
      yield* incarnation((identity) => identity.register("alice", "s3cret-pass", ["user"], "north"))
      const { token } = yield* incarnation((identity) => identity.login("alice", "s3cret-pass"))
      yield* equal("account kept", Option.isSome(yield* store.findAccount("alice")), true)
      yield* equal("verified", (yield* incarnation((identity) => identity.verify(token))).name, "alice")
    })
  )
]

// ---------------------------------------------------------------------------------------------
// Staging
// ---------------------------------------------------------------------------------------------

const body = (...chunks: ReadonlyArray<string>) => Stream.fromIterable(chunks.map(bytes))
const staged = (staging: Staging.StagingService, id: string) =>
  Effect.flatMap(staging.read(id), (stream) => Effect.map(collect(stream), (parts) => parts.join("")))

/**
 * @since 0.1.0
 * @category suites
 */
export const staging: ReadonlyArray<Case<Staging.StagingService>> = [
  conformance("appends at the staged size, reads back, truncates, and commits into the blob store", (make) =>
    Effect.gen(function* () {
      const staging = yield* make()
      const blobs = yield* Blobs.makeMemory()
      yield* equal("before create", yield* staging.size("up1"), Option.none())
      yield* staging.create("up1")
      yield* equal("created empty", yield* staging.size("up1"), Option.some(0))
      yield* staging.append("up1", 0, body("ab", "c"), 100)
      yield* equal("appended", yield* staging.size("up1"), Option.some(3))
      yield* failsWith("offset behind", staging.append("up1", 1, body("x"), 100), {
        _tag: "OffsetMismatch",
        expected: 3,
        given: 1
      })
      yield* staging.append("up1", 3, body("def"), 100)
      yield* equal("content", yield* staged(staging, "up1"), "abcdef")
      yield* staging.truncate("up1", 3)
      yield* equal("truncated", yield* staging.size("up1"), Option.some(3))
      yield* equal("after truncate", yield* staged(staging, "up1"), "abc")
      yield* equal("committed", yield* staging.commit("up1", blobs), { hash: abc, size: 3 })
      yield* equal("in the blob store", text(yield* blobs.get(abc)), "abc")
      yield* equal("forgotten here", yield* staging.size("up1"), Option.none())
    })
  ),
  conformance("append answers the staged size after it", (make) =>
    Effect.gen(function* () {
      const staging = yield* make()
      yield* staging.create("up5")
      yield* equal("first append", yield* staging.append("up5", 0, body("ab", "c"), 100), 3)
      yield* equal("second append", yield* staging.append("up5", 3, body("def"), 100), 6)
    })
  ),
  conformance("refuses bytes past the limit, keeping what came before", (make) =>
    Effect.gen(function* () {
      const staging = yield* make()
      yield* staging.create("up2")
      yield* failsWith("too long", staging.append("up2", 0, body("abcd", "efgh", "ijkl"), 10), {
        _tag: "TooLong",
        limit: 10
      })
      yield* equal("kept", yield* staged(staging, "up2"), "abcdefgh")
      yield* staging.append("up2", 8, body("ij"), 10)
      yield* equal("resumed up to the limit", yield* staging.size("up2"), Option.some(10))
    })
  ),
  conformance("an upload that is not staged is StagingNotFound; remove forgets one", (make) =>
    Effect.gen(function* () {
      const staging = yield* make()
      const blobs = yield* Blobs.makeMemory()
      yield* failsWith("append", staging.append("nope", 0, body("x"), 10), { _tag: "StagingNotFound" })
      yield* failsWith("read", staging.read("nope"), { _tag: "StagingNotFound" })
      yield* failsWith("truncate", staging.truncate("nope", 0), { _tag: "StagingNotFound" })
      yield* failsWith("commit", staging.commit("nope", blobs), { _tag: "StagingNotFound" })
      yield* staging.create("up3")
      yield* staging.append("up3", 0, body("abc"), 10)
      yield* staging.remove("up3")
      yield* equal("removed", yield* staging.size("up3"), Option.none())
      yield* staging.remove("up3")
    })
  ),
  conformance("a body that fails keeps what arrived before it", (make) =>
    Effect.gen(function* () {
      const staging = yield* make()
      yield* staging.create("up4")
      const broken = Stream.concat(body("abc"), Stream.fail("client went away" as const))
      yield* equal(
        "the body's error",
        yield* flip("broken body", staging.append("up4", 0, broken, 100)),
        "client went away"
      )
      yield* equal("kept", yield* staging.size("up4"), Option.some(3))
    })
  )
]

// ---------------------------------------------------------------------------------------------
// UnitOfWork
// ---------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category suites
 */
export const unitOfWork: ReadonlyArray<Case<UnitOfWork.UnitOfWorkService>> = [
  conformance("a unit of work gives the effect's value and its failure, nested too", (make) =>
    Effect.gen(function* () {
      const unit = yield* make()
      yield* equal("value", yield* unit.atomically(Effect.succeed(42)), 42)
      yield* equal("failure", yield* flip("failure", unit.atomically(Effect.fail("refused" as const))), "refused")
      const nested = yield* unit.atomically(Effect.map(unit.atomically(Effect.succeed(1)), (n) => n + 1))
      yield* equal("nested", nested, 2)
    })
  )
]
