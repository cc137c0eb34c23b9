import { describe, expect, it } from "@effect/vitest"
import * as Identity from "@meridian/core/stores/Identity"
import * as Effect from "effect/Effect"
import { nativeScrypt } from "../src/site/Stores.js"

describe("scrypt on the thread pool", () => {
  it.effect("reads the built-in hasher's hashes and writes hashes it reads", () =>
    Effect.gen(function* () {
      const builtIn = yield* Identity.makeScryptHasher({ N: 1024, blocking: true })
      const native = yield* Identity.makeScryptHasher({ N: 1024 }, { derive: nativeScrypt })
      const fromBuiltIn = yield* builtIn.hash("pässword")
      expect(yield* native.verify("pässword", fromBuiltIn)).toBe(true)
      expect(yield* native.verify("password", fromBuiltIn)).toBe(false)
      const fromNative = yield* native.hash("pässword")
      expect(fromNative).toMatch(/^scrypt\$1024\$8\$1\$/)
      expect(yield* builtIn.verify("pässword", fromNative)).toBe(true)
    })
  )

  it.effect("derives with the production cost (which needs more than Node's default memory cap)", () =>
    Effect.gen(function* () {
      const native = yield* Identity.makeScryptHasher({}, { derive: nativeScrypt })
      const hash = yield* native.hash("correct horse battery staple")
      expect(hash).toMatch(/^scrypt\$32768\$8\$1\$/)
      expect(yield* native.verify("correct horse battery staple", hash)).toBe(true)
    })
  )
})
