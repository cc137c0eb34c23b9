/**
 * Accounts and revoked token ids in the site's SQLite database. Same semantics as the kernel's
 * in-memory identity store (`@meridian/core/stores/Identity`): an account lives in its home
 * region's database; revocations are kept until their token expires and are bounded, expired ones
 * making room first.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import {
  type Account,
  AccountExists,
  AccountNotFound,
  IdentityStore,
  IdentityStoreConfig,
  IdentityStoreFull,
  type IdentityStoreService,
  Role
} from "@meridian/core/stores/Identity"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { changes, decodeRows, readCounter, requireWellFormed } from "./internal.js"

const AccountRow = Schema.Struct({
  name: Schema.String,
  home_region: Schema.String,
  roles: Schema.parseJson(Schema.Array(Role)),
  password_hash: Schema.String,
  created_at: Schema.Number
})

const toAccount = (row: typeof AccountRow.Type): Account => ({
  name: row.name,
  homeRegion: row.home_region,
  roles: row.roles,
  passwordHash: row.password_hash,
  createdAt: row.created_at
})

const decodeAccounts = decodeRows(AccountRow, "SqliteIdentityStore(accounts)")
const RevocationRow = Schema.Struct({ expires_at: Schema.Number })
const decodeRevocations = decodeRows(RevocationRow, "SqliteIdentityStore(revocations)")

const isPositiveInt = (n: number): boolean => Number.isSafeInteger(n) && n >= 1

/**
 * The identity store over the `accounts` and `revocations` tables. Each check-then-write is one
 * transaction. Accounts are listed in SQLite's byte order of names, which is code-unit order for
 * the names `Identity.register` accepts (ASCII).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: Partial<IdentityStoreConfig> = {}
): Effect.Effect<IdentityStoreService, never, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const { maxAccounts, maxListPage, maxRevocations } = { ...IdentityStoreConfig, ...config }
    if (!isPositiveInt(maxAccounts) || !isPositiveInt(maxRevocations) || !isPositiveInt(maxListPage)) {
      return yield* Effect.dieMessage("SqliteIdentityStore: bounds must be positive integers")
    }
    const sql = yield* SqlClient.SqlClient
    const columns = sql.literal("name, home_region, roles, password_hash, created_at")

    const findRow = (name: string) =>
      sql`SELECT ${columns} FROM accounts WHERE name = ${name}`.pipe(Effect.flatMap(decodeAccounts))

    const createAccount = (account: Account): Effect.Effect<void, AccountExists | IdentityStoreFull> =>
      Effect.gen(function* () {
        yield* requireWellFormed("SqliteIdentityStore.createAccount", {
          name: account.name,
          homeRegion: account.homeRegion,
          passwordHash: account.passwordHash
        })
        if ((yield* findRow(account.name)).length > 0) return yield* new AccountExists({ name: account.name })
        const { entries } = yield* readCounter(sql, "accounts")
        if (entries >= maxAccounts) return yield* new IdentityStoreFull({ bound: "maxAccounts", limit: maxAccounts })
        yield* sql`INSERT INTO accounts ${sql.insert({
          name: account.name,
          home_region: account.homeRegion,
          roles: JSON.stringify(account.roles),
          password_hash: account.passwordHash,
          created_at: account.createdAt
        })}`
      }).pipe(sql.withTransaction, Effect.catchTag("SqlError", Effect.die))

    const findAccount = (name: string): Effect.Effect<Option.Option<Account>> =>
      requireWellFormed("SqliteIdentityStore.findAccount", { name }).pipe(
        Effect.zipRight(findRow(name).pipe(Effect.orDie)),
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toAccount))
      )

    const setRoles = (name: string, roles: ReadonlyArray<Role>): Effect.Effect<Account, AccountNotFound> =>
      Effect.gen(function* () {
        const rows = yield* findRow(name)
        if (rows.length === 0) return yield* new AccountNotFound({ name })
        const updated: Account = { ...toAccount(rows[0]!), roles: [...new Set(roles)] }
        yield* sql`UPDATE accounts SET roles = ${JSON.stringify(updated.roles)} WHERE name = ${name}`
        return updated
      }).pipe(sql.withTransaction, Effect.catchTag("SqlError", Effect.die))

    const deleteAccount = (name: string): Effect.Effect<boolean> =>
      Effect.gen(function* () {
        const rows = yield* findRow(name)
        if (rows.length === 0) return false
        yield* sql`DELETE FROM accounts WHERE name = ${name}`
        return true
      }).pipe(sql.withTransaction, Effect.orDie)

    const listAccounts = (
      options: { readonly after?: string; readonly limit?: number } = {}
    ): Effect.Effect<ReadonlyArray<Account>> => {
      const limit = Math.floor(Math.min(options.limit ?? maxListPage, maxListPage))
      if (!(limit >= 1)) return Effect.succeed([])
      const after = options.after
      const query =
        after === undefined
          ? sql`SELECT ${columns} FROM accounts ORDER BY name LIMIT ${limit}`
          : sql`SELECT ${columns} FROM accounts WHERE name > ${after} ORDER BY name LIMIT ${limit}`
      return query.pipe(
        Effect.orDie,
        Effect.flatMap(decodeAccounts),
        Effect.map((rows) => rows.map(toAccount))
      )
    }

    const pruneAt = (now: number): Effect.Effect<number, never> =>
      sql`DELETE FROM revocations WHERE expires_at <= ${now}`.raw.pipe(
        Effect.orDie,
        Effect.flatMap((raw) => changes(raw, "SqliteIdentityStore.pruneRevocations"))
      )

    /** Decided in the transaction and failed after it, so a prune made to find room is kept. */
    const recordRevocation = (tokenId: string, expiresAt: number, now: number) =>
      Effect.gen(function* () {
        const existing = yield* sql`SELECT expires_at FROM revocations WHERE token_id = ${tokenId}`.pipe(
          Effect.flatMap(decodeRevocations)
        )
        if (existing.length > 0) {
          if (expiresAt > existing[0]!.expires_at) {
            yield* sql`UPDATE revocations SET expires_at = ${expiresAt} WHERE token_id = ${tokenId}`
          }
          return Option.none<IdentityStoreFull>()
        }
        if ((yield* readCounter(sql, "revocations")).entries >= maxRevocations) yield* pruneAt(now)
        if ((yield* readCounter(sql, "revocations")).entries >= maxRevocations) {
          return Option.some(new IdentityStoreFull({ bound: "maxRevocations", limit: maxRevocations }))
        }
        yield* sql`INSERT INTO revocations (token_id, expires_at) VALUES (${tokenId}, ${expiresAt})`
        return Option.none<IdentityStoreFull>()
      }).pipe(sql.withTransaction, Effect.orDie)

    const addRevocation = (tokenId: string, expiresAt: number): Effect.Effect<void, IdentityStoreFull> =>
      Effect.gen(function* () {
        yield* requireWellFormed("SqliteIdentityStore.addRevocation", { tokenId })
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        if (expiresAt <= now) return
        const full = yield* recordRevocation(tokenId, expiresAt, now)
        if (Option.isSome(full)) return yield* full.value
      })

    const isRevoked = (tokenId: string): Effect.Effect<boolean> =>
      requireWellFormed("SqliteIdentityStore.isRevoked", { tokenId }).pipe(
        Effect.zipRight(sql`SELECT 1 AS found FROM revocations WHERE token_id = ${tokenId}`.pipe(Effect.orDie)),
        Effect.map((rows) => rows.length > 0)
      )

    return {
      createAccount,
      findAccount,
      setRoles,
      deleteAccount,
      listAccounts,
      addRevocation,
      isRevoked,
      pruneRevocations: pruneAt,
      revocationCount: Effect.map(readCounter(sql, "revocations"), ({ entries }) => entries)
    }
  })

/**
 * A layer with the SQLite identity store, over the `SqlClient` of `Database.layer`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: Partial<IdentityStoreConfig> = {}
): Layer.Layer<IdentityStore, never, SqlClient.SqlClient> => Layer.effect(IdentityStore, make(config))
