import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Engine from "@meridian/core/sim/Engine"
import * as Dedupe from "@meridian/core/stores/Dedupe"
import * as Identity from "@meridian/core/stores/Identity"
import * as KeyValue from "@meridian/core/stores/KeyValue"
import * as Outbox from "@meridian/core/stores/Outbox"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  Database,
  layerMemoryStores,
  layerStores,
  SqliteDedupe,
  SqliteIdentityStore,
  SqliteKeyValue,
  SqliteOutbox
} from "../src/sqlite/index.js"

/** A fresh database file in its own temp directory. */
const tempDb = (): string => join(mkdtempSync(join(tmpdir(), "meridian-stores-")), "site.db")

/** Runs `effect` on a freshly migrated database file (closed when the effect ends). */
const onDb = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>, filename: string = tempDb()) =>
  Effect.provide(effect, Database.layer({ filename }))

describe("SqliteOutbox", () => {
  const entry = (id: string, destination = "s1", size = 10) => ({ id, destination, envelope: { id }, bytes: size })

  it.effect("appends, lists what is due in order, reschedules and acknowledges", () =>
    onDb(
      Effect.gen(function* () {
        const outbox = yield* SqliteOutbox.make()
        yield* TestClock.adjust(1000)
        yield* outbox.append(entry("b"))
        yield* outbox.append(entry("a"))
        yield* TestClock.adjust(10)
        yield* outbox.append(entry("c", "w1"))

        const due = yield* outbox.due(1010, 10)
        expect(due.map((e) => e.id)).toEqual(["a", "b", "c"])
        expect(due[0]).toEqual({
          id: "a",
          destination: "s1",
          envelope: { id: "a" },
          bytes: 10,
          createdAt: 1000,
          attempts: 0,
          nextAttemptAt: 1000
        })
        expect((yield* outbox.due(1005, 10)).map((e) => e.id)).toEqual(["a", "b"])
        expect((yield* outbox.due(1010, 1)).map((e) => e.id)).toEqual(["a"])
        expect(yield* outbox.due(1010, 0)).toEqual([])

        expect(yield* outbox.reschedule("a", 2000)).toBe(true)
        expect(yield* outbox.reschedule("missing", 2000)).toBe(false)
        expect((yield* outbox.due(1010, 10)).map((e) => e.id)).toEqual(["b", "c"])
        expect(Option.map(yield* outbox.get("a"), (e) => [e.attempts, e.nextAttemptAt])).toEqual(Option.some([1, 2000]))
        // Postponed without being sent: attempts unchanged.
        expect(yield* outbox.reschedule("a", 2500, false)).toBe(true)
        expect(Option.map(yield* outbox.get("a"), (e) => [e.attempts, e.nextAttemptAt])).toEqual(Option.some([1, 2500]))
        expect((yield* outbox.byDestination("s1")).map((e) => e.id)).toEqual(["b", "a"])
        expect(yield* outbox.get("missing")).toEqual(Option.none())

        expect(yield* outbox.ack("b")).toBe(true)
        expect(yield* outbox.ack("b")).toBe(false)
        expect(yield* outbox.size).toEqual({ entries: 2, bytes: 20 })
        expect((yield* outbox.due(5000, 10)).map((e) => e.id)).toEqual(["c", "a"])
      })
    )
  )

  it.effect("append is idempotent on an existing id", () =>
    onDb(
      Effect.gen(function* () {
        const outbox = yield* SqliteOutbox.make()
        yield* outbox.append(entry("a"))
        yield* outbox.reschedule("a", 500)
        yield* outbox.append({ ...entry("a"), envelope: "other" })
        expect(yield* outbox.size).toEqual({ entries: 1, bytes: 10 })
        expect(Option.map(yield* outbox.get("a"), (e) => [e.envelope, e.attempts])).toEqual(
          Option.some([{ id: "a" }, 1])
        )
      })
    )
  )

  it.effect("a full outbox answers OutboxFull and loses nothing it holds", () =>
    onDb(
      Effect.gen(function* () {
        const outbox = yield* SqliteOutbox.make({ maxEntries: 2, maxBytes: 25 })
        yield* outbox.append(entry("a"))
        yield* outbox.append(entry("b"))
        const byCount = yield* Effect.flip(outbox.append(entry("c")))
        expect(byCount).toMatchObject({ _tag: "OutboxFull", bound: "entries", entries: 2, maxEntries: 2 })
        yield* outbox.ack("b")
        const byBytes = yield* Effect.flip(outbox.append(entry("d", "s1", 16)))
        expect(byBytes).toMatchObject({ _tag: "OutboxFull", bound: "bytes", bytes: 10, maxBytes: 25 })
        // Already stored: still accepted (idempotent) though the outbox is at its bound.
        yield* outbox.append(entry("e", "s1", 15))
        yield* outbox.append(entry("a"))
        expect((yield* outbox.due(0, 10)).map((e) => e.id)).toEqual(["a", "e"])
        expect(yield* outbox.size).toEqual({ entries: 2, bytes: 25 })
        expect(yield* outbox.get("c")).toEqual(Option.none())
      })
    )
  )

  it.effect("concurrent appends racing for the last slots: exactly the bound is accepted", () =>
    onDb(
      Effect.gen(function* () {
        const outbox = yield* SqliteOutbox.make({ maxEntries: 5 })
        const results = yield* Effect.forEach(
          Array.from({ length: 12 }, (_, i) => `m${i}`),
          (id) => Effect.either(outbox.append(entry(id))),
          { concurrency: "unbounded" }
        )
        expect(results.filter((r) => r._tag === "Right")).toHaveLength(5)
        expect(yield* outbox.size).toEqual({ entries: 5, bytes: 50 })
      })
    )
  )

  it.effect("a stored row that does not decode is a defect naming the store, not a silent drop", () =>
    onDb(
      Effect.gen(function* () {
        const outbox = yield* SqliteOutbox.make()
        const sql = yield* SqlClient.SqlClient
        yield* outbox.append(entry("a"))
        yield* Effect.orDie(sql`UPDATE outbox SET envelope = 'not json' WHERE id = 'a'`)
        const exit = yield* Effect.exit(outbox.due(0, 10))
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
        if (Exit.isFailure(exit))
          expect(Cause.pretty(exit.cause)).toContain("SqliteOutbox: a stored row does not decode")
      })
    )
  )

  it.effect("due and byDestination are answered from indexes, without a full scan or a sort", () =>
    onDb(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const plan = (query: string) =>
          Effect.map(Effect.orDie(sql.unsafe<{ detail: string }>(`EXPLAIN QUERY PLAN ${query}`)), (rows) =>
            rows.map((r) => r.detail).join("; ")
          )
        const due = yield* plan(
          "SELECT * FROM outbox WHERE next_attempt_at <= 5 ORDER BY next_attempt_at, created_at, id LIMIT 256"
        )
        expect(due).toContain("USING INDEX outbox_due")
        expect(due).not.toContain("TEMP B-TREE")
        const byDestination = yield* plan(
          "SELECT * FROM outbox WHERE destination = 's1' ORDER BY next_attempt_at, created_at, id"
        )
        expect(byDestination).toContain("USING INDEX outbox_destination")
        expect(byDestination).not.toContain("TEMP B-TREE")
        expect(yield* plan("DELETE FROM dedupe WHERE seen_at < 5")).toContain("dedupe_seen_at")
      })
    )
  )
})

describe("SqliteDedupe", () => {
  it.effect("the second sighting of an id is not new", () =>
    onDb(
      Effect.gen(function* () {
        const dedupe = yield* SqliteDedupe.make({ maxAge: "1 minute", minRetention: "10 seconds", maxEntries: 10 })
        expect(yield* dedupe.markIfNew("m1")).toBe(true)
        expect(yield* dedupe.markIfNew("m1")).toBe(false)
        expect(yield* dedupe.has("m1")).toBe(true)
        expect(yield* dedupe.has("m2")).toBe(false)
      })
    )
  )

  it.effect("forgets ids older than maxAge", () =>
    onDb(
      Effect.gen(function* () {
        const dedupe = yield* SqliteDedupe.make({ maxAge: "1 minute", minRetention: "10 seconds", maxEntries: 10 })
        yield* dedupe.markIfNew("old")
        yield* TestClock.adjust("30 seconds")
        yield* dedupe.markIfNew("young")
        yield* TestClock.adjust("30 seconds")
        expect(yield* dedupe.markIfNew("old")).toBe(false)
        yield* TestClock.adjust("1 milli")
        expect(yield* dedupe.has("old")).toBe(false)
        expect(yield* dedupe.size).toBe(2)
        expect(yield* dedupe.prune).toBe(1)
        expect(yield* dedupe.size).toBe(1)
        expect(yield* dedupe.markIfNew("old")).toBe(true)
        expect(yield* dedupe.markIfNew("young")).toBe(false)
      })
    )
  )

  it.effect("at the count bound evicts only ids older than minRetention, else DedupeFull", () =>
    onDb(
      Effect.gen(function* () {
        const dedupe = yield* SqliteDedupe.make({ maxAge: "1 hour", minRetention: "1 minute", maxEntries: 2 })
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
  )

  it.effect("a database reopened with a smaller bound evicts down to it, still honouring minRetention", () =>
    Effect.gen(function* () {
      const filename = tempDb()
      yield* onDb(
        Effect.flatMap(SqliteDedupe.make({ maxEntries: 10 }), (dedupe) =>
          Effect.forEach(["a", "b", "c", "d"], dedupe.markIfNew)
        ),
        filename
      )
      yield* TestClock.adjust("2 hours")
      yield* onDb(
        Effect.gen(function* () {
          const dedupe = yield* SqliteDedupe.make({ maxEntries: 2, maxAge: "1 day", minRetention: "1 hour" })
          expect(yield* dedupe.markIfNew("e")).toBe(true)
          expect(yield* dedupe.size).toBe(2)
          expect(yield* dedupe.has("d")).toBe(true)
          expect(yield* dedupe.has("a")).toBe(false)
          // "d" is still past minRetention, so it makes room; "e" and "f" are not.
          expect(yield* dedupe.markIfNew("f")).toBe(true)
          expect(yield* dedupe.has("d")).toBe(false)
          expect(yield* Effect.flip(dedupe.markIfNew("g"))).toMatchObject({ _tag: "DedupeFull", entries: 2 })
        }),
        filename
      )
    })
  )

  it.effect("an id with a lone surrogate is refused loudly rather than stored lossily", () =>
    onDb(
      Effect.gen(function* () {
        const dedupe = yield* SqliteDedupe.make()
        const exit = yield* Effect.exit(dedupe.markIfNew("m\ud800"))
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
        expect(yield* dedupe.markIfNew("m\ud83d\ude00")).toBe(true)
      })
    )
  )
})

describe("SqliteKeyValue", () => {
  const Counter = Schema.Struct({ count: Schema.Int })

  it.effect("sets, gets, lists by prefix in key order, deletes, per namespace", () =>
    onDb(
      Effect.gen(function* () {
        const kv = yield* SqliteKeyValue.make()
        yield* kv.set("files", "b/2", "two")
        yield* kv.set("files", "a/1", "one")
        yield* kv.set("files", "b/1", "uno")
        yield* kv.set("files", "b", "not under b/")
        yield* kv.set("files", "b0", "not under b/ either")
        yield* kv.set("roaming", "b/1", "other module")
        expect(yield* kv.get("files", "b/1")).toEqual(Option.some("uno"))
        expect(yield* kv.get("sync", "b/1")).toEqual(Option.none())
        expect(yield* kv.list("files", "b/")).toEqual([
          { key: "b/1", value: "uno" },
          { key: "b/2", value: "two" }
        ])
        expect((yield* kv.list("files")).map((e) => e.key)).toEqual(["a/1", "b", "b/1", "b/2", "b0"])
        expect(yield* kv.delete("files", "b/1")).toBe(true)
        expect(yield* kv.delete("files", "b/1")).toBe(false)
        expect(yield* kv.size).toBe(5)
      })
    )
  )

  it.effect("lists in code-unit order, as the in-memory store does, also past U+FFFF", () =>
    onDb(
      Effect.gen(function* () {
        const kv = yield* SqliteKeyValue.make()
        const memory = yield* KeyValue.makeMemory()
        for (const key of ["p/\uffff", "p/\u{10000}", "p/a", "p/é", "q"]) {
          yield* kv.set("m", key, key)
          yield* memory.set("m", key, key)
        }
        expect(yield* kv.list("m", "p/")).toEqual(yield* memory.list("m", "p/"))
        expect((yield* kv.list("m", "p/")).map((e) => e.key)).toEqual(["p/a", "p/é", "p/\u{10000}", "p/\uffff"])
      })
    )
  )

  it.effect("refuses writes past its bounds, writing nothing", () =>
    onDb(
      Effect.gen(function* () {
        const kv = yield* SqliteKeyValue.make({ maxKeys: 2, maxValueBytes: 4, maxKeyBytes: 3 })
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
        expect(yield* Effect.flip(kv.set("m", "long", "1"))).toMatchObject({ bound: "maxKeyBytes", actual: 4 })
        expect(yield* Effect.flip(kv.set("mods", "a", "1"))).toMatchObject({ bound: "maxKeyBytes", actual: 4 })
        expect(yield* kv.get("m", "a")).toEqual(Option.some("1234"))
        expect(yield* kv.get("m", "c")).toEqual(Option.none())
        expect(yield* kv.size).toBe(2)
      })
    )
  )

  it.effect("typed access decodes, and a stale value is a KeyValueDecodeError with the reason", () =>
    onDb(
      Effect.gen(function* () {
        const kv = yield* SqliteKeyValue.make()
        const run = Effect.provideService(KeyValue.KeyValue, kv)
        yield* run(KeyValue.setSchema("ping", "counter", Counter, { count: 3 }))
        expect(yield* kv.get("ping", "counter")).toEqual(Option.some(`{"count":3}`))
        expect(yield* run(KeyValue.getSchema("ping", "counter", Counter))).toEqual(Option.some({ count: 3 }))
        yield* kv.set("ping", "counter", `{"count":"three"}`)
        const error = yield* Effect.flip(run(KeyValue.getSchema("ping", "counter", Counter)))
        expect(error._tag).toBe("KeyValueDecodeError")
        expect(error.reason).toContain("count")
      })
    )
  )
})

describe("SqliteIdentityStore", () => {
  const account = (name: string, createdAt = 0): Identity.Account => ({
    name,
    homeRegion: "north",
    roles: ["user"],
    passwordHash: "scrypt$1024$8$1$AAAA$AAAA",
    createdAt
  })

  it.effect("creates, finds, re-roles and pages accounts; bounded", () =>
    onDb(
      Effect.gen(function* () {
        const store = yield* SqliteIdentityStore.make({ maxAccounts: 3, maxListPage: 2 })
        yield* store.createAccount(account("carol", 3))
        yield* store.createAccount(account("alice", 1))
        yield* store.createAccount(account("bob", 2))
        expect(yield* Effect.flip(store.createAccount(account("alice")))).toMatchObject({
          _tag: "AccountExists",
          name: "alice"
        })
        expect(yield* Effect.flip(store.createAccount(account("dave")))).toMatchObject({
          _tag: "IdentityStoreFull",
          bound: "maxAccounts",
          limit: 3
        })
        expect(yield* store.findAccount("alice")).toEqual(Option.some(account("alice", 1)))
        expect(yield* store.findAccount("dave")).toEqual(Option.none())

        const promoted = yield* store.setRoles("bob", ["user", "operator", "user"])
        expect(promoted.roles).toEqual(["user", "operator"])
        expect(Option.map(yield* store.findAccount("bob"), (a) => a.roles)).toEqual(Option.some(["user", "operator"]))
        expect(yield* Effect.flip(store.setRoles("dave", ["user"]))).toMatchObject({ _tag: "AccountNotFound" })

        expect((yield* store.listAccounts()).map((a) => a.name)).toEqual(["alice", "bob"])
        expect((yield* store.listAccounts({ after: "alice", limit: 5 })).map((a) => a.name)).toEqual(["bob", "carol"])
        expect((yield* store.listAccounts({ after: "bob", limit: 1 })).map((a) => a.name)).toEqual(["carol"])
        expect(yield* store.listAccounts({ limit: 0 })).toEqual([])

        // A moved account is deleted here, which makes room for another.
        expect(yield* store.deleteAccount("carol")).toBe(true)
        expect(yield* store.deleteAccount("carol")).toBe(false)
        expect(yield* store.findAccount("carol")).toEqual(Option.none())
        yield* store.createAccount(account("dave", 4))
      })
    )
  )

  it.effect("revocations are bounded; expired ones make room", () =>
    onDb(
      Effect.gen(function* () {
        const store = yield* SqliteIdentityStore.make({ maxRevocations: 2 })
        yield* store.addRevocation("t1", 1000)
        yield* store.addRevocation("t2", 5000)
        expect(yield* Effect.flip(store.addRevocation("t3", 5000))).toMatchObject({
          _tag: "IdentityStoreFull",
          bound: "maxRevocations"
        })
        // Re-revoking a known id extends it, even when full.
        yield* store.addRevocation("t2", 6000)
        yield* TestClock.adjust(1000)
        yield* store.addRevocation("t3", 5000)
        expect(yield* store.isRevoked("t1")).toBe(false)
        expect(yield* store.isRevoked("t3")).toBe(true)
        // Already expired: nothing to remember.
        yield* store.addRevocation("t4", 500)
        expect(yield* store.revocationCount).toBe(2)
        expect(yield* store.pruneRevocations(5000)).toBe(1)
        expect(yield* store.isRevoked("t2")).toBe(true)
        expect(yield* store.pruneRevocations(6000)).toBe(1)
        expect(yield* store.revocationCount).toBe(0)
      })
    )
  )

  it.effect("the identity service runs on it: register, login, verify, revoke", () =>
    Effect.gen(function* () {
      const identity = yield* Identity.Identity
      yield* TestClock.adjust(5000)
      expect(yield* identity.register("alice", "s3cret-pass", ["user"], "north")).toEqual({
        name: "alice",
        homeRegion: "north",
        roles: ["user"],
        createdAt: 5000
      })
      const { principal, token } = yield* identity.login("alice", "s3cret-pass")
      expect((yield* identity.verify(token)).name).toBe("alice")
      expect(yield* Effect.flip(identity.login("alice", "wrong-pass"))).toMatchObject({ _tag: "InvalidCredentials" })
      yield* identity.revoke(principal.tokenId, principal.expiresAt)
      expect(yield* Effect.flip(identity.verify(token))).toMatchObject({ _tag: "TokenInvalid", reason: "revoked" })
    }).pipe(
      Effect.provide(
        Identity.layer({ signingKey: new Uint8Array(32).fill(7) }).pipe(
          Layer.provide(Identity.layerScryptHasher({ N: 2 ** 10 })),
          Layer.provide(SqliteIdentityStore.layer()),
          Layer.provide(Database.layer({ filename: tempDb() }))
        )
      )
    )
  )
})

describe("the database file", () => {
  it.effect("data survives closing and reopening; migrations run once; WAL is on", () =>
    Effect.gen(function* () {
      const filename = tempDb()
      yield* Effect.gen(function* () {
        yield* TestClock.adjust(100)
        const outbox = yield* Outbox.Outbox
        yield* outbox.append({ id: "m1", destination: "s1", envelope: { hello: ["world", 1] }, bytes: 16 })
        yield* (yield* Dedupe.Dedupe).markIfNew("m0")
        yield* (yield* KeyValue.KeyValue).set("ping", "greeting", "hello")
        const identity = yield* Identity.IdentityStore
        yield* identity.createAccount({
          name: "alice",
          homeRegion: "north",
          roles: ["user", "operator"],
          passwordHash: "h",
          createdAt: 1
        })
        yield* identity.addRevocation("t1", 10_000)
      }).pipe(Effect.provide(layerStores({ filename })))

      // A second layer on the same file: migrations already applied, content still there.
      yield* Effect.gen(function* () {
        const outbox = yield* Outbox.Outbox
        expect(yield* outbox.get("m1")).toEqual(
          Option.some({
            id: "m1",
            destination: "s1",
            envelope: { hello: ["world", 1] },
            bytes: 16,
            createdAt: 100,
            attempts: 0,
            nextAttemptAt: 100
          })
        )
        expect(yield* outbox.size).toEqual({ entries: 1, bytes: 16 })
        expect(yield* (yield* Dedupe.Dedupe).markIfNew("m0")).toBe(false)
        expect(yield* (yield* KeyValue.KeyValue).get("ping", "greeting")).toEqual(Option.some("hello"))
        const identity = yield* Identity.IdentityStore
        expect(Option.map(yield* identity.findAccount("alice"), (a) => a.roles)).toEqual(
          Option.some(["user", "operator"])
        )
        expect(yield* identity.isRevoked("t1")).toBe(true)
      }).pipe(Effect.provide(layerStores({ filename })))

      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        expect(yield* Database.migrate).toEqual([])
        const applied = yield* sql<{ migration_id: number }>`SELECT migration_id FROM ${sql(Database.migrationsTable)}`
        expect(applied.map((row) => row.migration_id)).toEqual([1])
        const [mode] = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
        expect(mode!.journal_mode).toBe("wal")
      }).pipe(Effect.orDie, Effect.provide(Database.layer({ filename })))
    })
  )
})

describe("under the simulator", () => {
  it("the stores run real SQL on the engine's scheduler and virtual clock", () => {
    const program = Effect.gen(function* () {
      const outbox = yield* Outbox.Outbox
      const dedupe = yield* Dedupe.Dedupe
      const kv = yield* KeyValue.KeyValue
      const store = yield* Identity.IdentityStore
      const identity = yield* Identity.Identity

      yield* outbox.append({ id: "m1", destination: "s1", envelope: { n: 1 }, bytes: 8 })
      yield* Effect.sleep("1 second")
      yield* outbox.append({ id: "m2", destination: "s1", envelope: { n: 2 }, bytes: 8 })
      const now = yield* Clock.currentTimeMillis
      yield* outbox.reschedule("m1", now + 5000)
      const due = (yield* outbox.due(now, 256)).map((e) => e.id)
      const full = yield* Effect.flip(outbox.append({ id: "m3", destination: "s1", envelope: null, bytes: 8 }))

      yield* dedupe.markIfNew("d1")
      yield* Effect.sleep("2 minutes")
      const forgotten = !(yield* dedupe.has("d1"))
      // Concurrent fibers share the one connection through the client's semaphore.
      const marks = yield* Effect.forEach(["d2", "d2", "d3"], dedupe.markIfNew, { concurrency: "unbounded" })

      yield* kv.set("sim", "k", "v")
      yield* identity.register("alice", "s3cret-pass", ["user"], "north")
      const { token } = yield* identity.login("alice", "s3cret-pass")
      const verified = (yield* identity.verify(token)).name

      return {
        now,
        due,
        full: full._tag,
        forgotten,
        marks,
        value: yield* kv.get("sim", "k"),
        accounts: (yield* store.listAccounts()).map((a) => a.name),
        verified,
        end: yield* Clock.currentTimeMillis
      }
    })
    const stores = layerMemoryStores({
      outbox: { maxEntries: 2 },
      dedupe: { maxAge: "1 minute", minRetention: "1 minute" }
    })
    const layer = Identity.layer({ signingKey: new Uint8Array(32).fill(7) }).pipe(
      Layer.provide(Identity.layerScryptHasher({ N: 2 ** 10, blocking: true })),
      Layer.provideMerge(stores)
    )
    const result = Engine.run(Effect.provide(program, layer), { seed: 1, startTime: 1_000_000 })
    expect(result.stoppedBy).toBe("completed")
    expect(result.exit).toStrictEqual(
      Exit.succeed({
        now: 1_001_000,
        due: ["m2"],
        full: "OutboxFull",
        forgotten: true,
        marks: [true, false, true],
        value: Option.some("v"),
        accounts: ["alice"],
        verified: "alice",
        end: 1_121_000
      })
    )
    expect(result.simulatedMillis).toBe(121_000)
  })
})
