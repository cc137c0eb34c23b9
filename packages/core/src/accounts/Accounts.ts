/**
 * Accounts across the topology, over the kernel: every site runs an `accounts` actor; a region's
 * accounts live on its first site (by name), the region's *accounts site*.
 *
 * A user name is unique in the topology. Each name has an *arbiter*: the accounts site of the
 * region its hash picks. Registration first claims the name at the arbiter (a claim names the
 * home region; claiming again for the same region is allowed, so a retried registration
 * succeeds), then creates the account at the home region's accounts site. Login asks the arbiter
 * where the account lives and checks the password there; the token it issues is verifiable at
 * every site without a lookup. Logout revokes the token here and sends the revocation to every
 * other site as a durable message.
 *
 * Claims and accounts are written by the actors alone, one message at a time, so two
 * registrations of one name never both succeed. A registration needs the arbiter and the home
 * region reachable: names are kept unique rather than registrations always available.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Actor from "../kernel/Actor.js"
import type { ActorRef } from "../kernel/Actor.js"
import * as Address from "../kernel/Address.js"
import type { ActorSystemService } from "../kernel/ActorSystem.js"
import type { AskError, TellError } from "../kernel/Errors.js"
import * as Protocol from "../kernel/Protocol.js"
import {
  Account,
  AccountExists,
  AccountInfo,
  AccountInvalid,
  AccountNotFound,
  type IdentityService,
  InvalidCredentials,
  Principal,
  Role
} from "../stores/Identity.js"
import type { KeyValueService } from "../stores/KeyValue.js"
import type { Topology } from "../topology/Topology.js"
import type { OutboxFull } from "../stores/Outbox.js"

/**
 * The name of the accounts actor on every site.
 *
 * @since 0.1.0
 * @category config
 */
export const ACTOR = "accounts"

const NAMESPACE = "accounts"
const claimKey = (name: string) => `claim/${name}`
const pendingKey = (name: string) => `pending-claim/${name}`
const movesKey = (name: string) => `moves/${name}`

/**
 * The accounts store cannot take the write (full, or the site's store failed); nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class AccountsUnavailable extends Schema.TaggedError<AccountsUnavailable>()("AccountsUnavailable", {
  reason: Schema.String
}) {}

/**
 * A token and who it speaks for.
 *
 * @since 0.1.0
 * @category models
 */
export const IssuedToken = Schema.Struct({ token: Schema.String, principal: Principal })
export type IssuedToken = typeof IssuedToken.Type

/**
 * Ask (at the arbiter): reserve `name` for `homeRegion`.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Claim extends Schema.TaggedRequest<Claim>()("Claim", {
  failure: Schema.Union(AccountExists, AccountsUnavailable),
  success: Schema.Void,
  payload: { name: Schema.String, homeRegion: Schema.String }
}) {}

/**
 * Tell (at the arbiter, durable): the claim of an account created offline on its home site
 * (`meridian account create`). A name already claimed for another region is logged, not taken.
 *
 * @since 0.1.0
 * @category protocol
 */
export class ClaimCreated extends Schema.TaggedClass<ClaimCreated>()("ClaimCreated", {
  name: Schema.String,
  homeRegion: Schema.String
}) {}

/**
 * Ask (at the arbiter): the home region of `name`.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Locate extends Schema.TaggedRequest<Locate>()("Locate", {
  failure: AccountNotFound,
  success: Schema.String,
  payload: { name: Schema.String }
}) {}

/**
 * Ask (at the home region's accounts site): create the account.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Create extends Schema.TaggedRequest<Create>()("Create", {
  failure: Schema.Union(AccountExists, AccountInvalid, AccountsUnavailable),
  success: AccountInfo,
  payload: {
    name: Schema.String,
    password: Schema.String,
    homeRegion: Schema.String,
    roles: Schema.Array(Role)
  }
}) {}

/**
 * Ask (at the home region's accounts site): check the password, issue a token.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Login extends Schema.TaggedRequest<Login>()("Login", {
  failure: InvalidCredentials,
  success: IssuedToken,
  payload: { name: Schema.String, password: Schema.String, ttlMillis: Schema.optional(Schema.Number) }
}) {}

/**
 * Tell (durable, to every site): the token with this id is revoked until it expires.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Revoke extends Schema.TaggedClass<Revoke>()("Revoke", {
  tokenId: Schema.String,
  expiresAt: Schema.Number
}) {}

/**
 * Ask (at the account's home accounts site): the account, with its password hash, to move it.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Export extends Schema.TaggedRequest<Export>()("Export", {
  failure: AccountNotFound,
  success: Account,
  payload: { name: Schema.String }
}) {}

/**
 * Ask (at the new home's accounts site): keep an account moved here. Idempotent.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Import extends Schema.TaggedRequest<Import>()("Import", {
  failure: Schema.Union(AccountExists, AccountsUnavailable),
  success: AccountInfo,
  payload: { account: Account }
}) {}

/**
 * Ask (at the arbiter): the claimed name now lives in `homeRegion`; answers the move's number.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Rehome extends Schema.TaggedRequest<Rehome>()("Rehome", {
  failure: AccountsUnavailable,
  /** How many times the name has moved: orders the moves of one user wherever they are heard of. */
  success: Schema.Int,
  payload: { name: Schema.String, homeRegion: Schema.String }
}) {}

/**
 * Ask (at the former home's accounts site): forget an account that moved away.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Remove extends Schema.TaggedRequest<Remove>()("Remove", {
  failure: Schema.Never,
  success: Schema.Boolean,
  payload: { name: Schema.String }
}) {}

/**
 * @since 0.1.0
 * @category protocol
 */
export const AccountsProtocol = Protocol.make(
  "accounts",
  1,
  Claim,
  ClaimCreated,
  Locate,
  Create,
  Login,
  Revoke,
  Export,
  Import,
  Rehome,
  Remove
)

/**
 * The message union of the accounts actor.
 *
 * @since 0.1.0
 * @category protocol
 */
export type Message = Claim | ClaimCreated | Locate | Create | Login | Revoke | Export | Import | Rehome | Remove

/**
 * The accounts site of `region`: its first site by name.
 *
 * @since 0.1.0
 * @category placement
 */
export const accountsSite = (topology: Topology, region: string): string | undefined =>
  Object.keys(topology.sites)
    .filter((site) => topology.sites[site]!.region === region)
    .sort()[0]

/**
 * The region whose accounts site arbitrates `name`: FNV-1a of the name over the regions that have
 * sites, sorted by name.
 *
 * @since 0.1.0
 * @category placement
 */
export const arbiterRegion = (topology: Topology, name: string): string => {
  const regions = [...new Set(Object.values(topology.sites).map((s) => s.region))].sort()
  let hash = 0x811c9dc5
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193) >>> 0
  return regions[hash % regions.length]!
}

/**
 * The accounts actor. Claims are kept in the site's key-value store (namespace `accounts`),
 * accounts and revocations in its identity store.
 *
 * @since 0.1.0
 * @category actors
 */
export const actor = (stores: { readonly kv: KeyValueService; readonly identity: IdentityService }) =>
  Actor.make(ACTOR, AccountsProtocol, (self) =>
    Effect.succeed({
      Claim: (message: Claim) =>
        Effect.gen(function* () {
          const held = yield* stores.kv.get(NAMESPACE, claimKey(message.name))
          if (Option.isSome(held) && held.value !== message.homeRegion) {
            return yield* new AccountExists({ name: message.name })
          }
          if (Option.isNone(held)) {
            yield* stores.kv
              .set(NAMESPACE, claimKey(message.name), message.homeRegion)
              .pipe(Effect.mapError((e) => new AccountsUnavailable({ reason: e.message })))
          }
        }),
      ClaimCreated: (message: ClaimCreated) =>
        Effect.gen(function* () {
          const held = yield* stores.kv.get(NAMESPACE, claimKey(message.name))
          if (Option.isNone(held)) {
            yield* Effect.orDie(stores.kv.set(NAMESPACE, claimKey(message.name), message.homeRegion))
          } else if (held.value !== message.homeRegion) {
            yield* Effect.logWarning(
              `accounts: ${message.name} was created offline in ${message.homeRegion} but is claimed by ${held.value}; logins go to ${held.value}`
            )
          }
        }),
      Locate: (message: Locate) =>
        Effect.flatMap(stores.kv.get(NAMESPACE, claimKey(message.name)), (held) =>
          Option.match(held, {
            onNone: () => Effect.fail(new AccountNotFound({ name: message.name })),
            onSome: Effect.succeed
          })
        ),
      Create: (message: Create) =>
        stores.identity
          .register(message.name, message.password, message.roles, message.homeRegion)
          .pipe(
            Effect.catchTag("IdentityStoreFull", (e) =>
              Effect.fail(
                new AccountsUnavailable({ reason: `${e.bound} (${e.limit}) reached on ${self.address.site}` })
              )
            )
          ),
      Login: (message: Login) =>
        stores.identity.login(
          message.name,
          message.password,
          message.ttlMillis === undefined ? undefined : Math.max(0, message.ttlMillis)
        ),
      // A full revocation set fails the handler: the durable message is not acknowledged and comes again.
      Revoke: (message: Revoke) => Effect.orDie(stores.identity.revoke(message.tokenId, message.expiresAt)),
      Export: (message: Export) =>
        Effect.flatMap(stores.identity.exportAccount(message.name), (found) =>
          Option.match(found, {
            onNone: () => Effect.fail(new AccountNotFound({ name: message.name })),
            onSome: Effect.succeed
          })
        ),
      Import: (message: Import) =>
        stores.identity
          .importAccount(message.account)
          .pipe(
            Effect.catchTag("IdentityStoreFull", (e) =>
              Effect.fail(
                new AccountsUnavailable({ reason: `${e.bound} (${e.limit}) reached on ${self.address.site}` })
              )
            )
          ),
      // Idempotent: the claim already naming this region keeps its move number.
      Rehome: (message: Rehome) =>
        Effect.gen(function* () {
          const moves = Option.match(yield* stores.kv.get(NAMESPACE, movesKey(message.name)), {
            onNone: () => 0,
            onSome: (text) => Number.parseInt(text, 10) || 0
          })
          const held = yield* stores.kv.get(NAMESPACE, claimKey(message.name))
          // The same move again (a retried one) keeps its number.
          if (Option.isSome(held) && held.value === message.homeRegion && moves > 0) return moves
          yield* stores.kv.set(NAMESPACE, claimKey(message.name), message.homeRegion)
          yield* stores.kv.set(NAMESPACE, movesKey(message.name), String(moves + 1))
          return moves + 1
        }).pipe(Effect.mapError((e) => new AccountsUnavailable({ reason: e.message }))),
      Remove: (message: Remove) => stores.identity.removeAccount(message.name)
    })
  )

/**
 * What callers (the HTTP API) use: each operation finds the sites it needs and asks them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Accounts {
  /** Registers `name` with home region `region` (default: this site's region) as a user. */
  readonly register: (
    name: string,
    password: string,
    region?: string
  ) => Effect.Effect<AccountInfo, AccountExists | AccountInvalid | AccountsUnavailable | AskError>
  readonly login: (
    name: string,
    password: string,
    ttlMillis?: number
  ) => Effect.Effect<IssuedToken, InvalidCredentials | AskError>
  /** Revokes the token here at once and, durably, at every other site; returns how many sites were told. */
  readonly revoke: (principal: Principal) => Effect.Effect<number, AccountsUnavailable | TellError | OutboxFull>
  /** The home region of `name`, asked of its arbiter (within `timeout`, the ask default otherwise). */
  readonly locate: (
    name: string,
    options?: { readonly timeout?: Duration.DurationInput }
  ) => Effect.Effect<string, AccountNotFound | AskError>
  /** Moves the account `name` to home region `to` (see {@link move}). */
  readonly move: (
    name: string,
    to: string
  ) => Effect.Effect<
    { readonly from: string; readonly move: number },
    AccountNotFound | AccountExists | AccountInvalid | AccountsUnavailable | AskError
  >
}

/**
 * The accounts client of `site`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const client = (options: {
  readonly site: string
  readonly topology: Topology
  readonly system: Pick<ActorSystemService, "ref">
  readonly identity: IdentityService
  readonly validate: (name: string, password: string) => Effect.Effect<void, AccountInvalid>
}): Accounts => {
  const { site, topology, system, identity } = options
  const ref = (target: string): ActorRef<Message> => system.ref(AccountsProtocol, Address.make(target, ACTOR))
  const siteOf = (region: string) => {
    const target = accountsSite(topology, region)
    return target === undefined
      ? Effect.fail(new AccountInvalid({ reason: `no region named ${region} with a site` }))
      : Effect.succeed(target)
  }
  const arbiter = (name: string) => accountsSite(topology, arbiterRegion(topology, name))!

  const register: Accounts["register"] = (name, password, region) =>
    Effect.gen(function* () {
      const homeRegion = region ?? topology.sites[site]!.region
      const home = yield* siteOf(homeRegion)
      yield* options.validate(name, password)
      yield* ref(arbiter(name)).ask(new Claim({ name, homeRegion }))
      return yield* ref(home).ask(new Create({ name, password, homeRegion, roles: ["user"] }))
    })

  const login: Accounts["login"] = (name, password, ttlMillis) =>
    Effect.gen(function* () {
      const homeRegion = yield* ref(arbiter(name))
        .ask(new Locate({ name }))
        .pipe(Effect.catchTag("AccountNotFound", () => Effect.fail(new InvalidCredentials())))
      const home = yield* Effect.orElseFail(siteOf(homeRegion), () => new InvalidCredentials())
      return yield* ref(home).ask(
        new Login({ name, password, ...(ttlMillis === undefined ? {} : { ttlMillis: Math.max(0, ttlMillis) }) })
      )
    })

  const revoke: Accounts["revoke"] = (principal) =>
    Effect.gen(function* () {
      yield* identity
        .revoke(principal.tokenId, principal.expiresAt)
        .pipe(Effect.mapError((e) => new AccountsUnavailable({ reason: `${e.bound} (${e.limit}) reached` })))
      const others = Object.keys(topology.sites).filter((s) => s !== site)
      const message = new Revoke({ tokenId: principal.tokenId, expiresAt: principal.expiresAt })
      for (const other of others) yield* ref(other).tellDurable(message)
      return others.length
    })

  const locate: Accounts["locate"] = (name, locateOptions) =>
    ref(arbiter(name)).ask(new Locate({ name }), locateOptions)

  return { register, login, revoke, locate, move: (name, to) => move({ topology, system, name, to }) }
}

/**
 * Moves an account to another home region: copied there (password hash and roles kept), the
 * arbiter's claim pointed at it, then forgotten at the former home. Each step is idempotent, so
 * a move that failed half-way is finished by running it again. Returns the region the arbiter
 * had (the former home, or `to` for a move run again) and the move's number.
 * Tokens issued before keep naming the former region until they expire; services that need a
 * user's home look it up (`Locate`) rather than trusting the token.
 *
 * @since 0.1.0
 * @category operations
 */
export const move = (options: {
  readonly topology: Topology
  readonly system: Pick<ActorSystemService, "ref">
  readonly name: string
  readonly to: string
}): Effect.Effect<
  { readonly from: string; readonly move: number },
  AccountNotFound | AccountExists | AccountInvalid | AccountsUnavailable | AskError
> =>
  Effect.gen(function* () {
    const { name, system, to, topology } = options
    const ref = (target: string): ActorRef<Message> => system.ref(AccountsProtocol, Address.make(target, ACTOR))
    const arbiter = ref(accountsSite(topology, arbiterRegion(topology, name))!)
    const target = accountsSite(topology, to)
    if (target === undefined) return yield* new AccountInvalid({ reason: `no region named ${to} with a site` })
    const from = yield* arbiter.ask(new Locate({ name }))
    if (from !== to) {
      const fromSite = accountsSite(topology, from)
      if (fromSite === undefined) return yield* new AccountInvalid({ reason: `no site in region ${from}` })
      const account = yield* ref(fromSite)
        .ask(new Export({ name }))
        .pipe(
          // Already copied by a move that stopped half-way: finish it from the new home's copy.
          Effect.catchTag("AccountNotFound", () => ref(target).ask(new Export({ name })))
        )
      yield* ref(target).ask(new Import({ account: { ...account, homeRegion: to } }))
      yield* ref(fromSite).ask(new Remove({ name }))
    }
    // Last, and also when the account already lives in `to` (a retried move): the move's number.
    const move = yield* arbiter.ask(new Rehome({ name, homeRegion: to }))
    return { from, move }
  })

/**
 * Records, on an account's home site while it is offline, that the account's name still has to
 * be claimed at its arbiter; {@link sendPendingClaims} sends it once the site runs.
 *
 * @since 0.1.0
 * @category offline
 */
export const markPendingClaim = (kv: KeyValueService, name: string, homeRegion: string) =>
  kv.set(NAMESPACE, pendingKey(name), homeRegion)

/**
 * Sends the pending claims as durable messages (the outbox keeps them from here on) and forgets
 * them. Runs when a site starts.
 *
 * @since 0.1.0
 * @category offline
 */
export const sendPendingClaims = (options: {
  readonly kv: KeyValueService
  readonly topology: Topology
  readonly system: Pick<ActorSystemService, "ref">
}) =>
  Effect.gen(function* () {
    const pending = yield* options.kv.list(NAMESPACE, "pending-claim/")
    for (const entry of pending) {
      const name = entry.key.slice("pending-claim/".length)
      const arbiter = accountsSite(options.topology, arbiterRegion(options.topology, name))!
      yield* options.system
        .ref(AccountsProtocol, Address.make(arbiter, ACTOR))
        .tellDurable(new ClaimCreated({ name, homeRegion: entry.value }))
      yield* options.kv.delete(NAMESPACE, entry.key)
    }
    return pending.length
  })
