import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
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
})
