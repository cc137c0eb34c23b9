import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Engine from "@meridian/core/sim/Engine"
import * as Conformance from "@meridian/core/stores/Conformance"
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
  SqliteOutbox,
  SqliteUnitOfWork
} from "../src/sqlite/index.js"

/** A fresh database file in its own temp directory. */
const tempDb = (): string => join(mkdtempSync(join(tmpdir(), "meridian-stores-")), "site.db")

/** Runs `effect` on a freshly migrated database file (closed when the effect ends). */
const onDb = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>, filename: string = tempDb()) =>
  Effect.provide(effect, Database.layer({ filename }))

/** Each store the suite asks for on its own freshly migrated database file, open until the case ends. */
const onFreshDb =
  <S, C>(make: (config?: Partial<C>) => Effect.Effect<S, never, SqlClient.SqlClient>): Conformance.Make<S, C> =>
  (config) =>
    Effect.flatMap(Layer.build(Database.layer({ filename: tempDb() })), (database) =>
      Effect.provide(make(config), database)
    )

/** Runs a store's conformance suite on SQLite, each case with a TestClock at 0. */
const conformance = <S, C>(title: string, cases: ReadonlyArray<Conformance.Case<S, C>>, make: Conformance.Make<S, C>) =>
  describe(title, () => {
    for (const c of cases) it.scoped(c.name, () => c.run(make))
  })

conformance("Outbox conformance: SQLite", Conformance.outbox, onFreshDb(SqliteOutbox.make))
conformance("Dedupe conformance: SQLite", Conformance.dedupe, onFreshDb(SqliteDedupe.make))
conformance("KeyValue conformance: SQLite", Conformance.keyValue, onFreshDb(SqliteKeyValue.make))
conformance("IdentityStore conformance: SQLite", Conformance.identity, onFreshDb(SqliteIdentityStore.make))
conformance(
  "UnitOfWork conformance: SQLite",
  Conformance.unitOfWork,
  onFreshDb(() => SqliteUnitOfWork.make)
)

describe("SqliteOutbox", () => {
  const entry = (id: string, destination = "s1", size = 10) => ({ id, destination, envelope: { id }, bytes: size })

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
