/**
 * Identity: accounts, password hashing, signed tokens and roles.
 *
 * Accounts are global (a user name is unique in the topology) and live in their home region's
 * store. Tokens are HMAC-SHA256 signed with a key every site shares, carry their expiry, and are
 * verified at any site without an account lookup; a revocation reaches every site as a durable
 * message and lands in each site's local revocation set.
 *
 * Everything here takes time from Effect's `Clock` and randomness from Effect's `Random`, so the
 * simulator's virtual clock and seeded random source drive it deterministically. In production,
 * provide a `Random` seeded from a cryptographic source: salts and token ids come from it.
 *
 * @since 0.1.0
 */
import { hmac } from "@noble/hashes/hmac.js"
import { scrypt, scryptAsync } from "@noble/hashes/scrypt.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { utf8ToBytes } from "@noble/hashes/utils.js"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/**
 * What an account may do: every user is a `user`; an `operator` also runs the deployment.
 * Roles are checked literally — give an operator both roles if it also acts as a user.
 *
 * @since 0.1.0
 * @category models
 */
export const Role = Schema.Literal("user", "operator")
export type Role = typeof Role.Type

/**
 * A stored account. `passwordHash` is the encoded scrypt hash (see {@link PasswordHasher}).
 *
 * @since 0.1.0
 * @category models
 */
export const Account = Schema.Struct({
  name: Schema.String,
  homeRegion: Schema.String,
  roles: Schema.Array(Role),
  passwordHash: Schema.String,
  /** Epoch milliseconds. */
  createdAt: Schema.Number
})
export type Account = typeof Account.Type

/**
 * An account as shown to callers: without its password hash.
 *
 * @since 0.1.0
 * @category models
 */
export const AccountInfo = Schema.Struct({
  name: Schema.String,
  homeRegion: Schema.String,
  roles: Schema.Array(Role),
  createdAt: Schema.Number
})
export type AccountInfo = typeof AccountInfo.Type

/**
 * Who a verified token speaks for.
 *
 * @since 0.1.0
 * @category models
 */
export const Principal = Schema.Struct({
  name: Schema.String,
  homeRegion: Schema.String,
  roles: Schema.Array(Role),
  /** The token's id (`jti`), what a revocation names. */
  tokenId: Schema.String,
  /** Epoch milliseconds. */
  expiresAt: Schema.Number
})
export type Principal = typeof Principal.Type

/**
 * The signed part of a token. Times are epoch milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export const TokenPayload = Schema.Struct({
  v: Schema.Literal(1),
  sub: Schema.String,
  region: Schema.String,
  roles: Schema.Array(Role),
  jti: Schema.String,
  iat: Schema.Number,
  exp: Schema.Number
})
export type TokenPayload = typeof TokenPayload.Type

/**
 * A freshly issued token and the principal it stands for.
 *
 * @since 0.1.0
 * @category models
 */
export interface IssuedToken {
  readonly token: string
  readonly principal: Principal
}

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

/**
 * Wrong name or password. Deliberately does not say which.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidCredentials extends Schema.TaggedError<InvalidCredentials>()("InvalidCredentials", {}) {}

/**
 * The user name is taken.
 *
 * @since 0.1.0
 * @category errors
 */
export class AccountExists extends Schema.TaggedError<AccountExists>()("AccountExists", { name: Schema.String }) {}

/**
 * No account with this name (in this store).
 *
 * @since 0.1.0
 * @category errors
 */
export class AccountNotFound extends Schema.TaggedError<AccountNotFound>()("AccountNotFound", {
  name: Schema.String
}) {}

/**
 * A registration with an unacceptable name, password or region.
 *
 * @since 0.1.0
 * @category errors
 */
export class AccountInvalid extends Schema.TaggedError<AccountInvalid>()("AccountInvalid", {
  reason: Schema.String
}) {}

/**
 * Why a token was refused.
 *
 * @since 0.1.0
 * @category errors
 */
export const TokenInvalidReason = Schema.Literal("malformed", "signature", "expired", "revoked")
export type TokenInvalidReason = typeof TokenInvalidReason.Type

/**
 * A token that is not well-formed, not signed by the topology's key, expired or revoked.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenInvalid extends Schema.TaggedError<TokenInvalid>()("TokenInvalid", {
  reason: TokenInvalidReason
}) {}

/**
 * The principal lacks the role an operation requires.
 *
 * @since 0.1.0
 * @category errors
 */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", {
  name: Schema.String,
  required: Role
}) {}

/**
 * The identity store is at a bound (accounts or revocations); nothing was written. For a
 * revocation arriving as a durable message, the caller does not acknowledge it and it is retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class IdentityStoreFull extends Data.TaggedError("IdentityStoreFull")<{
  readonly bound: "maxAccounts" | "maxRevocations"
  readonly limit: number
}> {}

// ---------------------------------------------------------------------------------------------
// bytes
// ---------------------------------------------------------------------------------------------

/**
 * Compares two byte strings in time independent of where they differ (the lengths are not secret).
 *
 * @since 0.1.0
 * @category utils
 */
export const constantTimeEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

/**
 * `n` bytes from Effect's `Random` service (seeded in the simulator).
 *
 * @since 0.1.0
 * @category utils
 */
export const randomBytes = (n: number): Effect.Effect<Uint8Array> =>
  Effect.map(Effect.replicateEffect(Random.nextIntBetween(0, 256), n), (bytes) => Uint8Array.from(bytes))

/** Decodes base64url, accepting only the canonical unpadded form (one string per byte string). */
const decodeCanonicalBase64Url = (s: string): Option.Option<Uint8Array> =>
  Either.match(Encoding.decodeBase64Url(s), {
    onLeft: () => Option.none(),
    onRight: (bytes) => (Encoding.encodeBase64Url(bytes) === s ? Option.some(bytes) : Option.none())
  })

/** Decodes base64url UTF-8 text, accepting only the canonical unpadded encoding of valid UTF-8. */
const decodeCanonicalBase64UrlString = (s: string): Option.Option<string> =>
  Either.match(Encoding.decodeBase64UrlString(s), {
    onLeft: () => Option.none(),
    onRight: (text) => (Encoding.encodeBase64Url(text) === s ? Option.some(text) : Option.none())
  })

// ---------------------------------------------------------------------------------------------
// PasswordHasher
// ---------------------------------------------------------------------------------------------

/**
 * scrypt parameters for new hashes. Stored hashes carry their own parameters, so raising these
 * later keeps old passwords verifiable.
 *
 * @since 0.1.0
 * @category config
 */
export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number
  /** Block size. */
  readonly r: number
  /** Parallelisation. */
  readonly p: number
  /** Derived key length in bytes. */
  readonly dkLen: number
  /** Salt length in bytes. */
  readonly saltBytes: number
  /**
   * Hash synchronously (blocks the thread for the whole derivation). For the simulator, where an
   * external promise would resolve outside the controlled scheduler; keep `false` in production.
   */
  readonly blocking: boolean
}

/**
 * Defaults: N = 2^15, r = 8, p = 1, 32-byte key, 16-byte salt, non-blocking.
 *
 * @since 0.1.0
 * @category config
 */
export const ScryptParams: ScryptParams = {
  N: 2 ** 15,
  r: 8,
  p: 1,
  dkLen: 32,
  saltBytes: 16,
  blocking: false
}

/** Upper bounds on parameters read back from a stored hash, so a corrupt row cannot exhaust memory. */
const maxStoredN = 2 ** 20
const maxStoredR = 32
const maxStoredP = 16
const maxStoredBytes = 256

/**
 * Hashes and checks passwords. Encoded as `scrypt$N$r$p$saltB64$hashB64`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PasswordHasherService {
  readonly hash: (password: string) => Effect.Effect<string>
  /** `false` for a wrong password and for a hash this hasher cannot read. */
  readonly verify: (password: string, encoded: string) => Effect.Effect<boolean>
}

/**
 * The password hasher service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class PasswordHasher extends Context.Tag("@meridian/core/PasswordHasher")<
  PasswordHasher,
  PasswordHasherService
>() {}

const isPowerOfTwo = (n: number): boolean => Number.isSafeInteger(n) && n > 1 && (n & (n - 1)) === 0
const isPositiveInt = (n: number): boolean => Number.isSafeInteger(n) && n >= 1

/**
 * A pure-JS scrypt password hasher (salt from Effect's `Random`, comparison in constant time).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeScryptHasher = (
  params: Partial<ScryptParams> = {},
  options: { readonly derive?: ScryptDerive } = {}
): Effect.Effect<PasswordHasherService> =>
  Effect.suspend(() => {
    const config = { ...ScryptParams, ...params }
    if (
      !isPowerOfTwo(config.N) ||
      !isPositiveInt(config.r) ||
      !isPositiveInt(config.p) ||
      !isPositiveInt(config.dkLen) ||
      config.saltBytes < 8 ||
      !isPositiveInt(config.saltBytes)
    ) {
      return Effect.dieMessage("PasswordHasher: invalid scrypt parameters")
    }

    const derive = (
      password: string,
      salt: Uint8Array,
      opts: { N: number; r: number; p: number; dkLen: number }
    ): Effect.Effect<Uint8Array, unknown> => {
      const input = password.normalize("NFKC")
      const native = options.derive
      if (native !== undefined) return Effect.tryPromise(() => native(input, salt, opts))
      return config.blocking
        ? Effect.try(() => scrypt(input, salt, opts))
        : Effect.tryPromise(() => scryptAsync(input, salt, opts))
    }

    const hash = (password: string): Effect.Effect<string> =>
      Effect.gen(function* () {
        const salt = yield* randomBytes(config.saltBytes)
        const key = yield* Effect.orDie(
          derive(password, salt, { N: config.N, r: config.r, p: config.p, dkLen: config.dkLen })
        )
        return ["scrypt", config.N, config.r, config.p, Encoding.encodeBase64(salt), Encoding.encodeBase64(key)].join(
          "$"
        )
      })

    const verify = (password: string, encoded: string): Effect.Effect<boolean> =>
      Effect.suspend(() => {
        const parts = encoded.split("$")
        if (parts.length !== 6 || parts[0] !== "scrypt") return Effect.succeed(false)
        const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
        const salt = Encoding.decodeBase64(parts[4]!)
        const expected = Encoding.decodeBase64(parts[5]!)
        if (
          !isPowerOfTwo(N) ||
          N > maxStoredN ||
          !isPositiveInt(r) ||
          r > maxStoredR ||
          !isPositiveInt(p) ||
          p > maxStoredP ||
          Either.isLeft(salt) ||
          Either.isLeft(expected) ||
          salt.right.length > maxStoredBytes ||
          expected.right.length === 0 ||
          expected.right.length > maxStoredBytes
        ) {
          return Effect.succeed(false)
        }
        return derive(password, salt.right, { N, r, p, dkLen: expected.right.length }).pipe(
          Effect.map((key) => constantTimeEqual(key, expected.right)),
          Effect.orElseSucceed(() => false)
        )
      })

    return Effect.succeed<PasswordHasherService>({ hash, verify })
  })

/**
 * A layer with the scrypt password hasher.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerScryptHasher = (
  params: Partial<ScryptParams> = {},
  options: { readonly derive?: ScryptDerive } = {}
): Layer.Layer<PasswordHasher> => Layer.effect(PasswordHasher, makeScryptHasher(params, options))

/**
 * A scrypt key derivation supplied by the host (Node's `crypto.scrypt` runs on the thread pool,
 * where the built-in one in JavaScript would stop the event loop — and the site's heartbeats —
 * for the whole derivation). Same inputs, same output: hashes stay readable either way.
 *
 * @since 0.1.0
 * @category models
 */
export type ScryptDerive = (
  password: string,
  salt: Uint8Array,
  params: { readonly N: number; readonly r: number; readonly p: number; readonly dkLen: number }
) => Promise<Uint8Array>

// ---------------------------------------------------------------------------------------------
// IdentityStore
// ---------------------------------------------------------------------------------------------

/**
 * The identity store bounds.
 *
 * @since 0.1.0
 * @category config
 */
export interface IdentityStoreConfig {
  readonly maxAccounts: number
  /** Revoked token ids kept until their token expires; at most this many at once. */
  readonly maxRevocations: number
  /** The largest page {@link IdentityStoreService.listAccounts} returns. */
  readonly maxListPage: number
}

/**
 * Defaults: one million accounts, 100 000 live revocations, pages of at most 1000.
 *
 * @since 0.1.0
 * @category config
 */
export const IdentityStoreConfig: IdentityStoreConfig = {
  maxAccounts: 1_000_000,
  maxRevocations: 100_000,
  maxListPage: 1000
}

/**
 * Where accounts and revoked token ids are kept (memory here, SQLite in the node package).
 *
 * @since 0.1.0
 * @category models
 */
export interface IdentityStoreService {
  readonly createAccount: (account: Account) => Effect.Effect<void, AccountExists | IdentityStoreFull>
  readonly findAccount: (name: string) => Effect.Effect<Option.Option<Account>>
  readonly setRoles: (name: string, roles: ReadonlyArray<Role>) => Effect.Effect<Account, AccountNotFound>
  /** Removes an account (it moved to another region); `false` when there was none. */
  readonly deleteAccount: (name: string) => Effect.Effect<boolean>
  /** Accounts sorted by name, those after `after`, at most `limit` (capped at `maxListPage`). */
  readonly listAccounts: (options?: {
    readonly after?: string
    readonly limit?: number
  }) => Effect.Effect<ReadonlyArray<Account>>
  /**
   * Records a revoked token id until `expiresAt` (epoch ms). A token already expired needs no
   * entry. When full, expired entries are pruned first; fails {@link IdentityStoreFull} if still full.
   */
  readonly addRevocation: (tokenId: string, expiresAt: number) => Effect.Effect<void, IdentityStoreFull>
  readonly isRevoked: (tokenId: string) => Effect.Effect<boolean>
  /** Forgets revocations of tokens expired at `now`; returns how many. */
  readonly pruneRevocations: (now: number) => Effect.Effect<number>
  readonly revocationCount: Effect.Effect<number>
}

/**
 * The identity store service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class IdentityStore extends Context.Tag("@meridian/core/IdentityStore")<IdentityStore, IdentityStoreService>() {}

/**
 * An in-memory identity store whose state lives outside any site scope (it survives a simulated
 * crash).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemoryStore = (config: Partial<IdentityStoreConfig> = {}): Effect.Effect<IdentityStoreService> =>
  Effect.suspend(() => {
    const { maxAccounts, maxListPage, maxRevocations } = { ...IdentityStoreConfig, ...config }
    if (!isPositiveInt(maxAccounts) || !isPositiveInt(maxRevocations) || !isPositiveInt(maxListPage)) {
      return Effect.dieMessage("IdentityStore: bounds must be positive integers")
    }
    const accounts = new Map<string, Account>()
    const revoked = new Map<string, number>()

    const pruneAt = (now: number): number => {
      let removed = 0
      for (const [id, expiresAt] of revoked) {
        if (expiresAt <= now) {
          revoked.delete(id)
          removed++
        }
      }
      return removed
    }

    const createAccount = (account: Account): Effect.Effect<void, AccountExists | IdentityStoreFull> =>
      Effect.suspend((): Effect.Effect<void, AccountExists | IdentityStoreFull> => {
        if (accounts.has(account.name)) return Effect.fail(new AccountExists({ name: account.name }))
        if (accounts.size >= maxAccounts) {
          return Effect.fail(new IdentityStoreFull({ bound: "maxAccounts", limit: maxAccounts }))
        }
        accounts.set(account.name, account)
        return Effect.void
      })

    const setRoles = (name: string, roles: ReadonlyArray<Role>): Effect.Effect<Account, AccountNotFound> =>
      Effect.suspend(() => {
        const account = accounts.get(name)
        if (account === undefined) return Effect.fail(new AccountNotFound({ name }))
        const updated: Account = { ...account, roles: [...new Set(roles)] }
        accounts.set(name, updated)
        return Effect.succeed(updated)
      })

    const listAccounts = (
      options: { readonly after?: string; readonly limit?: number } = {}
    ): Effect.Effect<ReadonlyArray<Account>> =>
      Effect.sync(() => {
        const limit = Math.max(0, Math.min(options.limit ?? maxListPage, maxListPage))
        const after = options.after
        const names = [...accounts.keys()]
          .filter((name) => after === undefined || name > after)
          .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
          .slice(0, limit)
        return names.map((name) => accounts.get(name)!)
      })

    const addRevocation = (tokenId: string, expiresAt: number): Effect.Effect<void, IdentityStoreFull> =>
      Effect.clockWith((clock) =>
        Effect.suspend(() => {
          const now = clock.unsafeCurrentTimeMillis()
          if (expiresAt <= now) return Effect.void
          const existing = revoked.get(tokenId)
          if (existing !== undefined) {
            revoked.set(tokenId, Math.max(existing, expiresAt))
            return Effect.void
          }
          if (revoked.size >= maxRevocations) pruneAt(now)
          if (revoked.size >= maxRevocations) {
            return Effect.fail(new IdentityStoreFull({ bound: "maxRevocations", limit: maxRevocations }))
          }
          revoked.set(tokenId, expiresAt)
          return Effect.void
        })
      )

    return Effect.succeed<IdentityStoreService>({
      createAccount,
      findAccount: (name) => Effect.sync(() => Option.fromNullable(accounts.get(name))),
      setRoles,
      deleteAccount: (name) => Effect.sync(() => accounts.delete(name)),
      listAccounts,
      addRevocation,
      isRevoked: (tokenId) => Effect.sync(() => revoked.has(tokenId)),
      pruneRevocations: (now) => Effect.sync(() => pruneAt(now)),
      revocationCount: Effect.sync(() => revoked.size)
    })
  })

/**
 * A layer with a fresh in-memory identity store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemoryStore = (config: Partial<IdentityStoreConfig> = {}): Layer.Layer<IdentityStore> =>
  Layer.effect(IdentityStore, makeMemoryStore(config))

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

/**
 * The identity service settings. `signingKey` is shared by every site of the topology (the node
 * package derives it from the topology secret).
 *
 * @since 0.1.0
 * @category config
 */
export interface IdentityConfig {
  /** HMAC-SHA256 key, at least 32 bytes. */
  readonly signingKey: Uint8Array
  /** Token lifetime when `login` is given none. */
  readonly tokenTtl: Duration.DurationInput
  /** The longest lifetime a token may be issued with. */
  readonly maxTokenTtl: Duration.DurationInput
  /** Longer tokens are refused as malformed before any work is done. */
  readonly maxTokenLength: number
  readonly maxNameLength: number
  readonly minPasswordLength: number
  /** Bounds the work one login does. */
  readonly maxPasswordLength: number
}

/**
 * Defaults for everything but the key: 12-hour tokens (at most 30 days), 4 KiB tokens, names of
 * at most 64 characters, passwords of 8 to 1024 characters.
 *
 * @since 0.1.0
 * @category config
 */
export const IdentityConfig: Omit<IdentityConfig, "signingKey"> = {
  tokenTtl: Duration.hours(12),
  maxTokenTtl: Duration.days(30),
  maxTokenLength: 4096,
  maxNameLength: 64,
  minPasswordLength: 8,
  maxPasswordLength: 1024
}

/**
 * What {@link make} takes: the key, and any setting to override.
 *
 * @since 0.1.0
 * @category config
 */
export type IdentityOptions = { readonly signingKey: Uint8Array } & Partial<Omit<IdentityConfig, "signingKey">>

/**
 * Registration, login and token checks.
 *
 * @since 0.1.0
 * @category models
 */
export interface IdentityService {
  /** Creates an account in this store (the caller routes it to the user's home region). */
  readonly register: (
    name: string,
    password: string,
    roles: ReadonlyArray<Role>,
    homeRegion: string
  ) => Effect.Effect<AccountInfo, AccountExists | AccountInvalid | IdentityStoreFull>
  /** Checks the password and issues a token (lifetime `ttl`, default `tokenTtl`, capped at `maxTokenTtl`). */
  readonly login: (
    name: string,
    password: string,
    ttl?: Duration.DurationInput
  ) => Effect.Effect<IssuedToken, InvalidCredentials>
  /** Issues a token for an account already authenticated (e.g. by its home region). */
  readonly issue: (account: AccountInfo, ttl?: Duration.DurationInput) => Effect.Effect<IssuedToken>
  /** Checks signature, expiry and the local revocation set — no account lookup. */
  readonly verify: (token: string) => Effect.Effect<Principal, TokenInvalid>
  /** Records a revocation locally (revocations reach other sites as durable messages). */
  readonly revoke: (tokenId: string, expiresAt: number) => Effect.Effect<void, IdentityStoreFull>
  readonly requireRole: (principal: Principal, role: Role) => Effect.Effect<void, Forbidden>
  /** The account kept here, with its password hash (to move it to another region). */
  readonly exportAccount: (name: string) => Effect.Effect<Option.Option<Account>>
  /**
   * Keeps an account moved here from another region, under `homeRegion`. Idempotent: the same
   * account again (same password hash) succeeds.
   */
  readonly importAccount: (account: Account) => Effect.Effect<AccountInfo, AccountExists | IdentityStoreFull>
  /** Forgets an account that moved to another region. */
  readonly removeAccount: (name: string) => Effect.Effect<boolean>
  /**
   * Signs `data` for `purpose` with the deployment's key (domain-separated from tokens), so any
   * site can check a capability another site handed out (a download address...).
   */
  readonly sign: (purpose: string, data: string) => string
  /** Checks a {@link IdentityService.sign} signature in constant time. */
  readonly verifySignature: (purpose: string, data: string, signature: string) => boolean
}

/**
 * The identity service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class Identity extends Context.Tag("@meridian/core/Identity")<Identity, IdentityService>() {}

const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/**
 * Fails a check of the principal's roles.
 *
 * @since 0.1.0
 * @category utils
 */
export const requireRole = (principal: Principal, role: Role): Effect.Effect<void, Forbidden> =>
  principal.roles.includes(role) ? Effect.void : Effect.fail(new Forbidden({ name: principal.name, required: role }))

/**
 * Checks a new account's name and password against the configured rules (before any work).
 *
 * @since 0.1.0
 * @category utils
 */
export const validateRegistration = (
  name: string,
  password: string,
  config: Pick<IdentityConfig, "maxNameLength" | "minPasswordLength" | "maxPasswordLength"> = IdentityConfig
): Effect.Effect<void, AccountInvalid> => {
  if (name.length > config.maxNameLength || !namePattern.test(name)) {
    return Effect.fail(
      new AccountInvalid({
        reason: `name must be 1 to ${config.maxNameLength} characters of letters, digits, '.', '_' or '-', starting with a letter or digit`
      })
    )
  }
  if (password.length < config.minPasswordLength || password.length > config.maxPasswordLength) {
    return Effect.fail(
      new AccountInvalid({
        reason: `password must be ${config.minPasswordLength} to ${config.maxPasswordLength} characters`
      })
    )
  }
  return Effect.void
}

const decodePayload = Schema.decodeUnknownEither(Schema.parseJson(TokenPayload))

/**
 * The identity service over an {@link IdentityStore} and a {@link PasswordHasher}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: IdentityOptions): Effect.Effect<IdentityService, never, IdentityStore | PasswordHasher> =>
  Effect.gen(function* () {
    const config: IdentityConfig = { ...IdentityConfig, ...options }
    if (config.signingKey.length < 32) return yield* Effect.dieMessage("Identity: signingKey must be at least 32 bytes")
    const key = config.signingKey.slice()
    const defaultTtl = Duration.toMillis(Duration.decode(config.tokenTtl))
    const maxTtl = Duration.toMillis(Duration.decode(config.maxTokenTtl))
    const store = yield* IdentityStore
    const hasher = yield* PasswordHasher
    // Verified against when the name is unknown, so a login takes as long either way.
    const dummyHash = yield* Effect.cached(hasher.hash("meridian: no such account"))

    const sign = (payloadPart: string): Uint8Array => hmac(sha256, key, utf8ToBytes(payloadPart))

    const register: IdentityService["register"] = (name, password, roles, homeRegion) =>
      Effect.gen(function* () {
        yield* validateRegistration(name, password, config)
        if (homeRegion.length === 0) return yield* new AccountInvalid({ reason: "homeRegion must not be empty" })
        if (Option.isSome(yield* store.findAccount(name))) return yield* new AccountExists({ name })
        const passwordHash = yield* hasher.hash(password)
        const createdAt = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        const account: Account = { name, homeRegion, roles: [...new Set(roles)], passwordHash, createdAt }
        yield* store.createAccount(account)
        return { name, homeRegion, roles: account.roles, createdAt }
      })

    const issue: IdentityService["issue"] = (account, ttl) =>
      Effect.gen(function* () {
        const lifetime = Math.min(ttl === undefined ? defaultTtl : Duration.toMillis(Duration.decode(ttl)), maxTtl)
        const iat = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        const jti = Encoding.encodeBase64Url(yield* randomBytes(16))
        const payload: TokenPayload = {
          v: 1,
          sub: account.name,
          region: account.homeRegion,
          roles: account.roles,
          jti,
          iat,
          exp: iat + Math.max(0, lifetime)
        }
        const payloadPart = Encoding.encodeBase64Url(JSON.stringify(payload))
        const token = `${payloadPart}.${Encoding.encodeBase64Url(sign(payloadPart))}`
        return {
          token,
          principal: {
            name: payload.sub,
            homeRegion: payload.region,
            roles: payload.roles,
            tokenId: jti,
            expiresAt: payload.exp
          }
        }
      })

    const login: IdentityService["login"] = (name, password, ttl) =>
      Effect.gen(function* () {
        if (password.length > config.maxPasswordLength) return yield* new InvalidCredentials()
        const account = yield* store.findAccount(name)
        if (Option.isNone(account)) {
          yield* hasher.verify(password, yield* dummyHash)
          return yield* new InvalidCredentials()
        }
        if (!(yield* hasher.verify(password, account.value.passwordHash))) return yield* new InvalidCredentials()
        return yield* issue(account.value, ttl)
      })

    const verify: IdentityService["verify"] = (token) =>
      Effect.gen(function* () {
        const malformed = new TokenInvalid({ reason: "malformed" })
        if (token.length > config.maxTokenLength) return yield* malformed
        const parts = token.split(".")
        if (parts.length !== 2) return yield* malformed
        const [payloadPart, signaturePart] = parts as [string, string]
        const signature = decodeCanonicalBase64Url(signaturePart)
        if (Option.isNone(signature)) return yield* malformed
        if (!constantTimeEqual(sign(payloadPart), signature.value)) {
          return yield* new TokenInvalid({ reason: "signature" })
        }
        const payloadJson = decodeCanonicalBase64UrlString(payloadPart)
        if (Option.isNone(payloadJson)) return yield* malformed
        const payload = decodePayload(payloadJson.value)
        if (Either.isLeft(payload)) return yield* malformed
        const { exp, jti, region, roles, sub } = payload.right
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        if (now >= exp) return yield* new TokenInvalid({ reason: "expired" })
        if (yield* store.isRevoked(jti)) return yield* new TokenInvalid({ reason: "revoked" })
        return { name: sub, homeRegion: region, roles, tokenId: jti, expiresAt: exp }
      })

    return {
      register,
      login,
      issue,
      verify,
      revoke: (tokenId, expiresAt) => store.addRevocation(tokenId, expiresAt),
      requireRole,
      exportAccount: store.findAccount,
      importAccount: (account) =>
        Effect.gen(function* () {
          const held = yield* store.findAccount(account.name)
          if (Option.isNone(held)) yield* store.createAccount(account)
          else if (held.value.passwordHash !== account.passwordHash) {
            return yield* new AccountExists({ name: account.name })
          }
          return {
            name: account.name,
            homeRegion: account.homeRegion,
            roles: account.roles,
            createdAt: account.createdAt
          }
        }),
      removeAccount: store.deleteAccount,
      sign: (purpose, data) => Encoding.encodeBase64Url(sign(`${purpose}\n${data}`)),
      verifySignature: (purpose, data, signature) => {
        const given = decodeCanonicalBase64Url(signature)
        return Option.isSome(given) && constantTimeEqual(sign(`${purpose}\n${data}`), given.value)
      }
    }
  })

/**
 * The identity service layer, over whichever store and hasher are provided.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: IdentityOptions): Layer.Layer<Identity, never, IdentityStore | PasswordHasher> =>
  Layer.effect(Identity, make(options))

/**
 * Identity with an in-memory store and the scrypt hasher; also provides the store and hasher.
 * For crash simulation, build the store once with {@link makeMemoryStore} and provide it instead.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (
  options: IdentityOptions & {
    readonly store?: Partial<IdentityStoreConfig>
    readonly scrypt?: Partial<ScryptParams>
  }
): Layer.Layer<Identity | IdentityStore | PasswordHasher> => {
  const { scrypt: scryptParams, store, ...identity } = options
  return layer(identity).pipe(
    Layer.provideMerge(Layer.merge(layerMemoryStore(store ?? {}), layerScryptHasher(scryptParams ?? {})))
  )
}
