import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as TestClock from "effect/TestClock"
import { Identity } from "../src/stores/index.js"

const signingKey = new Uint8Array(32).fill(7)
const scrypt = { N: 2 ** 10 }

const IdentityTest = Identity.layerMemory({ signingKey, tokenTtl: "1 hour", scrypt })

/** Runs with a fresh identity stack (the layer is built per test). */
const withIdentity = <A, E>(
  f: (identity: Identity.IdentityService) => Effect.Effect<A, E, Identity.IdentityStore | Identity.PasswordHasher>
) => Effect.flatMap(Identity.Identity, f).pipe(Effect.provide(IdentityTest))

/** The token's payload, read without checking anything (what an attacker can do). */
const decodePayload = (token: string): Record<string, unknown> =>
  JSON.parse(Either.getOrThrow(Encoding.decodeBase64UrlString(token.split(".")[0]!)))

describe("PasswordHasher", () => {
  it.effect("hashes in the documented format and verifies", () =>
    Effect.gen(function* () {
      const hasher = yield* Identity.makeScryptHasher(scrypt)
      const encoded = yield* hasher.hash("correct horse")
      expect(encoded).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/)
      expect(yield* hasher.verify("correct horse", encoded)).toBe(true)
      expect(yield* hasher.verify("wrong horse", encoded)).toBe(false)
      expect(yield* hasher.verify("correct horse", "scrypt$banana")).toBe(false)
      expect(yield* hasher.verify("correct horse", "scrypt$3$8$1$AAAA$AAAA")).toBe(false)
      // A different salt each time.
      expect(yield* hasher.hash("correct horse")).not.toBe(encoded)
    })
  )

  it.effect("salts come from Effect's Random: a seeded run repeats", () =>
    Effect.gen(function* () {
      const hasher = yield* Identity.makeScryptHasher({ ...scrypt, blocking: true })
      const a = yield* Effect.withRandom(hasher.hash("pw-12345"), Random.make(42))
      const b = yield* Effect.withRandom(hasher.hash("pw-12345"), Random.make(42))
      expect(a).toBe(b)
    })
  )
})

describe("Identity", () => {
  it.effect("registers, logs in and verifies a token without a lookup", () =>
    withIdentity((identity) =>
      Effect.gen(function* () {
        yield* TestClock.adjust(5000)
        const account = yield* identity.register("alice", "s3cret-pass", ["user"], "north")
        expect(account).toEqual({ name: "alice", homeRegion: "north", roles: ["user"], createdAt: 5000 })
        const store = yield* Identity.IdentityStore
        const stored = yield* store.findAccount("alice")
        expect(Option.map(stored, (a) => a.passwordHash.startsWith("scrypt$1024$8$1$"))).toEqual(Option.some(true))

        const { principal, token } = yield* identity.login("alice", "s3cret-pass")
        expect(principal).toMatchObject({
          name: "alice",
          homeRegion: "north",
          roles: ["user"],
          expiresAt: 5000 + 3600_000
        })
        expect(token.split(".")).toHaveLength(2)
        expect(yield* identity.verify(token)).toEqual(principal)

        const payload = decodePayload(token)
        expect(payload).toMatchObject({ v: 1, sub: "alice", region: "north", roles: ["user"], iat: 5000, exp: 3605000 })
        expect(payload.jti).toBe(principal.tokenId)
      })
    )
  )

  it.effect("a token is verifiable at another site that shares only the key", () =>
    Effect.gen(function* () {
      const { token } = yield* withIdentity((identity) =>
        Effect.zipRight(identity.register("bob", "password-1", ["user"], "west"), identity.login("bob", "password-1"))
      )
      const principal = yield* withIdentity((identity) => identity.verify(token))
      expect(principal.name).toBe("bob")
      const otherKey = Identity.layerMemory({ signingKey: new Uint8Array(32).fill(8), scrypt })
      const refused = yield* Effect.flip(
        Effect.flatMap(Identity.Identity, (identity) => identity.verify(token)).pipe(Effect.provide(otherKey))
      )
      expect(refused).toMatchObject({ _tag: "TokenInvalid", reason: "signature" })
    })
  )

  it.effect("a wrong password or unknown name is InvalidCredentials", () =>
    withIdentity((identity) =>
      Effect.gen(function* () {
        yield* identity.register("alice", "s3cret-pass", ["user"], "north")
        expect((yield* Effect.flip(identity.login("alice", "wrong-pass")))._tag).toBe("InvalidCredentials")
        expect((yield* Effect.flip(identity.login("nobody", "s3cret-pass")))._tag).toBe("InvalidCredentials")
      })
    )
  )

  it.effect("a taken name is AccountExists; a bad name or password is AccountInvalid", () =>
    withIdentity((identity) =>
      Effect.gen(function* () {
        yield* identity.register("alice", "s3cret-pass", ["user"], "north")
        const exists = yield* Effect.flip(identity.register("alice", "another-pass", ["user"], "south"))
        expect(exists).toMatchObject({ _tag: "AccountExists", name: "alice" })
        expect((yield* Effect.flip(identity.register("al ice", "s3cret-pass", ["user"], "north")))._tag).toBe(
          "AccountInvalid"
        )
        expect((yield* Effect.flip(identity.register("carol", "short", ["user"], "north")))._tag).toBe("AccountInvalid")
      })
    )
  )

  it.effect("an expired token is TokenInvalid expired", () =>
    withIdentity((identity) =>
      Effect.gen(function* () {
        yield* identity.register("alice", "s3cret-pass", ["user"], "north")
        const { token } = yield* identity.login("alice", "s3cret-pass", "10 minutes")
        yield* TestClock.adjust("9 minutes")
        expect((yield* identity.verify(token)).name).toBe("alice")
        yield* TestClock.adjust("1 minute")
        expect(yield* Effect.flip(identity.verify(token))).toMatchObject({ _tag: "TokenInvalid", reason: "expired" })
      })
    )
  )

  it.effect("a tampered token is TokenInvalid signature; garbage is malformed", () =>
    withIdentity((identity) =>
      Effect.gen(function* () {
        yield* identity.register("alice", "s3cret-pass", ["user"], "north")
        const { token } = yield* identity.login("alice", "s3cret-pass")
        const [payloadPart, signaturePart] = token.split(".") as [string, string]
        const payload = decodePayload(token)
        const forged = Encoding.encodeBase64Url(JSON.stringify({ ...payload, roles: ["user", "operator"] }))
        expect(yield* Effect.flip(identity.verify(`${forged}.${signaturePart}`))).toMatchObject({
          _tag: "TokenInvalid",
          reason: "signature"
        })
        const flipped = signaturePart.slice(0, -2) + (signaturePart.at(-2) === "A" ? "B" : "A") + signaturePart.at(-1)
        expect((yield* Effect.flip(identity.verify(`${payloadPart}.${flipped}`))).reason).toBe("signature")
        for (const bad of ["", "abc", "a.b.c", `${payloadPart}.!!`, `${payloadPart}.${signaturePart}=`]) {
          expect((yield* Effect.flip(identity.verify(bad))).reason).toBe("malformed")
        }
        expect((yield* Effect.flip(identity.verify("x".repeat(5000)))).reason).toBe("malformed")
      })
    )
  )

  it.effect("a revoked token is TokenInvalid revoked, and the revocation is pruned after expiry", () =>
    withIdentity((identity) =>
      Effect.gen(function* () {
        yield* identity.register("alice", "s3cret-pass", ["user"], "north")
        const first = yield* identity.login("alice", "s3cret-pass")
        const second = yield* identity.login("alice", "s3cret-pass")
        expect(first.principal.tokenId).not.toBe(second.principal.tokenId)
        yield* identity.revoke(first.principal.tokenId, first.principal.expiresAt)
        expect(yield* Effect.flip(identity.verify(first.token))).toMatchObject({
          _tag: "TokenInvalid",
          reason: "revoked"
        })
        expect((yield* identity.verify(second.token)).name).toBe("alice")

        const store = yield* Identity.IdentityStore
        expect(yield* store.revocationCount).toBe(1)
        expect(yield* store.pruneRevocations(first.principal.expiresAt)).toBe(1)
        expect(yield* store.revocationCount).toBe(0)
      })
    )
  )

  it.effect("revocations are bounded; expired ones make room", () =>
    Effect.gen(function* () {
      const store = yield* Identity.makeMemoryStore({ maxRevocations: 2 })
      yield* store.addRevocation("t1", 1000)
      yield* store.addRevocation("t2", 5000)
      expect(yield* Effect.flip(store.addRevocation("t3", 5000))).toMatchObject({
        _tag: "IdentityStoreFull",
        bound: "maxRevocations"
      })
      yield* TestClock.adjust(1000)
      yield* store.addRevocation("t3", 5000)
      expect(yield* store.isRevoked("t1")).toBe(false)
      expect(yield* store.isRevoked("t3")).toBe(true)
      // Already expired: nothing to remember.
      yield* store.addRevocation("t4", 500)
      expect(yield* store.revocationCount).toBe(2)
    })
  )

  it.effect("requireRole operator", () =>
    withIdentity((identity) =>
      Effect.gen(function* () {
        yield* identity.register("alice", "s3cret-pass", ["user"], "north")
        yield* identity.register("root", "operator-pass", ["user", "operator"], "north")
        const alice = (yield* identity.login("alice", "s3cret-pass")).principal
        const root = yield* identity.verify((yield* identity.login("root", "operator-pass")).token)
        yield* identity.requireRole(root, "operator")
        yield* identity.requireRole(alice, "user")
        expect(yield* Effect.flip(identity.requireRole(alice, "operator"))).toMatchObject({
          _tag: "Forbidden",
          name: "alice",
          required: "operator"
        })

        const store = yield* Identity.IdentityStore
        yield* store.setRoles("alice", ["user", "operator"])
        const promoted = (yield* identity.login("alice", "s3cret-pass")).principal
        yield* identity.requireRole(promoted, "operator")
        expect((yield* store.listAccounts()).map((a) => a.name)).toEqual(["alice", "root"])
        expect((yield* store.listAccounts({ after: "alice", limit: 5 })).map((a) => a.name)).toEqual(["root"])

        // Moving an account: exported with its hash, imported elsewhere (idempotent), removed here.
        const exported = Option.getOrThrow(yield* identity.exportAccount("alice"))
        expect(yield* identity.removeAccount("alice")).toBe(true)
        expect(yield* Effect.flip(identity.login("alice", "s3cret-pass"))).toMatchObject({ _tag: "InvalidCredentials" })
        const moved = { ...exported, homeRegion: "south" }
        expect(yield* identity.importAccount(moved)).toMatchObject({ name: "alice", homeRegion: "south" })
        expect(yield* identity.importAccount(moved)).toMatchObject({ name: "alice", homeRegion: "south" })
        expect((yield* identity.login("alice", "s3cret-pass")).principal.homeRegion).toBe("south")
        expect(yield* Effect.flip(identity.importAccount({ ...moved, passwordHash: "another-hash" }))).toMatchObject({
          _tag: "AccountExists"
        })
      })
    )
  )

  it.effect("identity state outlives the scope that used it", () =>
    Effect.gen(function* () {
      const store = yield* Identity.makeMemoryStore()
      const stack = Identity.layer({ signingKey }).pipe(
        Layer.provide(Layer.merge(Layer.succeed(Identity.IdentityStore, store), Identity.layerScryptHasher(scrypt)))
      )
      const incarnation = <A, E>(f: (identity: Identity.IdentityService) => Effect.Effect<A, E>) =>
        Effect.scoped(Effect.flatMap(Identity.Identity, f)).pipe(Effect.provide(stack))
      yield* incarnation((identity) => identity.register("alice", "s3cret-pass", ["user"], "north"))
      const { token } = yield* incarnation((identity) => identity.login("alice", "s3cret-pass"))
      expect(Option.isSome(yield* store.findAccount("alice"))).toBe(true)
      expect((yield* incarnation((identity) => identity.verify(token))).name).toBe("alice")
    })
  )
})
