import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Effect from "effect/Effect"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

// The node package's storage stands on better-sqlite3, which `npm ci` builds from source: this
// proves the native module was built and opens a real database file in WAL mode.
describe("SQLite (better-sqlite3 built by npm ci)", () => {
  it.scoped("opens a database file in WAL mode and round-trips rows", () => {
    const filename = join(mkdtempSync(join(tmpdir(), "meridian-sqlite-")), "site.db")
    return Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const [mode] = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
      expect(mode!.journal_mode).toBe("wal")
      yield* sql`CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)`
      yield* sql`INSERT INTO kv ${sql.insert({ key: "a", value: "1" })}`
      const rows = yield* sql<{ key: string; value: string }>`SELECT key, value FROM kv`
      expect(rows).toEqual([{ key: "a", value: "1" }])
      expect(existsSync(filename)).toBe(true)
    }).pipe(Effect.provide(SqliteClient.layer({ filename })))
  })
})
