/**
 * The checks the stores' conformance suites share (`Conformance.ts`, `SyncIndexConformance.ts`):
 * structural equality of plain data and effects that fail a case with a typed
 * `ConformanceFailure` naming what was expected. Internal to the suites.
 *
 * @since 0.1.0
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { ConformanceFailure } from "../transport/Conformance.js"
import type { Case, Make } from "./Conformance.js"

/** Bytes as text, for messages. */
export const text = (b: Uint8Array): string => String.fromCharCode(...b)

/** JSON for a failure's message; bytes as text, an unprintable value as `String`. */
export const show = (value: unknown): string => {
  try {
    const json = JSON.stringify(value, (_, v: unknown) =>
      v instanceof Uint8Array ? `bytes(${text(v)})` : typeof v === "bigint" ? `${v}n` : v
    )
    return json === undefined ? String(value) : json
  } catch {
    return String(value)
  }
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null

/** Structural equality of plain data: Options, arrays, records (undefined fields ignored), bytes. */
export const same = (a: unknown, b: unknown): boolean => {
  if (Object.is(a, b)) return true
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && a.length === b.length && a.every((x, i) => x === b[i])
  }
  if (Option.isOption(a) || Option.isOption(b)) {
    if (!Option.isOption(a) || !Option.isOption(b)) return false
    return Option.isSome(a) && Option.isSome(b) ? same(a.value, b.value) : Option.isNone(a) && Option.isNone(b)
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]))
  }
  if (!isRecord(a) || !isRecord(b)) return false
  const keys = (r: Record<string, unknown>) => Object.keys(r).filter((k) => r[k] !== undefined)
  const ka = keys(a)
  return ka.length === keys(b).length && ka.every((k) => same(a[k], b[k]))
}

/** `actual` has every field of `pattern`, recursively (a tagged error's tag and details). */
export const like = (actual: unknown, pattern: unknown): boolean =>
  isRecord(pattern) && !Array.isArray(pattern) && !Option.isOption(pattern) && !(pattern instanceof Uint8Array)
    ? isRecord(actual) && Object.keys(pattern).every((k) => like(actual[k], pattern[k]))
    : same(actual, pattern)

export const failure = (what: string, expected: string, actual: unknown) =>
  new ConformanceFailure({ case: what, expected, actual: show(actual) })

/** `actual` equals `expected` as plain data. */
export const equal = (what: string, actual: unknown, expected: unknown): Effect.Effect<void, ConformanceFailure> =>
  same(actual, expected) ? Effect.void : Effect.fail(failure(what, show(expected), actual))

/** `actual` has at least `pattern`'s fields. */
export const matches = (what: string, actual: unknown, pattern: unknown): Effect.Effect<void, ConformanceFailure> =>
  like(actual, pattern) ? Effect.void : Effect.fail(failure(what, `at least ${show(pattern)}`, actual))

export const holds = (
  what: string,
  ok: boolean,
  expected: string,
  actual: unknown
): Effect.Effect<void, ConformanceFailure> => (ok ? Effect.void : Effect.fail(failure(what, expected, actual)))

/** The error `effect` fails with, or a failure of the case when it succeeds. */
export const flip = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>): Effect.Effect<E, ConformanceFailure, R> =>
  Effect.flatMap(Effect.either(effect), (result) =>
    result._tag === "Left" ? Effect.succeed(result.left) : Effect.fail(failure(what, "a failure", result.right))
  )

/** `effect` fails with at least `pattern`'s fields. */
export const failsWith = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>, pattern: unknown) =>
  Effect.flatMap(flip(what, effect), (error) => matches(what, error, pattern))

/**
 * A case whose body may fail with anything: a store's unexpected error is a failure of the case
 * that names it, so a body can yield store operations without handling each error.
 */
export const conformance = <S, C = Record<never, never>>(
  name: string,
  body: (make: Make<S, C>) => Effect.Effect<void, unknown, Scope.Scope>
): Case<S, C> => ({
  name,
  run: (make) =>
    Effect.catchAll(body(make), (error) =>
      Effect.fail(error instanceof ConformanceFailure ? error : failure(name, "no error", error))
    )
})
