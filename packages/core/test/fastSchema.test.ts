import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import * as Accounts from "../src/accounts/Accounts.js"
import * as Chat from "../src/chat/Protocol.js"
import * as Files from "../src/files/Protocol.js"
import * as FastSchema from "../src/internal/fastSchema.js"
import * as Protocol from "../src/kernel/Protocol.js"
import * as Ping from "../src/ping/Ping.js"

type AnySchema = Schema.Schema.AnyNoContext

/** A protocol of any messages (methods: compared bivariantly). */
interface AnyProtocol {
  readonly name: string
  readonly tags: ReadonlyArray<string>
  decode(input: unknown): Either.Either<unknown, { readonly message: string }>
  encode(message: never): Either.Either<unknown, { readonly message: string }>
}

/** The options `Protocol.make` decodes with. */
const protocolOptions: AST.ParseOptions = { errors: "all", onExcessProperty: "ignore" }

/**
 * The first difference between two values, `undefined` if none: same primitives, same
 * prototypes, same own keys (symbols and non-enumerable ones included) in the same order, with
 * the same descriptors. An error's `stack` differs between two instances and is not compared.
 */
const difference = (a: unknown, b: unknown, path = "$"): string | undefined => {
  if (typeof a !== typeof b) return `${path}: ${typeof a} vs ${typeof b}`
  if (typeof a !== "object" || a === null || b === null) {
    return Object.is(a, b) ? undefined : `${path}: ${String(a)} vs ${String(b)}`
  }
  const x = a as Record<PropertyKey, unknown>
  const y = b as Record<PropertyKey, unknown>
  if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) return `${path}: prototypes differ`
  if (Array.isArray(x) !== Array.isArray(y)) return `${path}: array vs object`
  const keysA = Reflect.ownKeys(x)
  const keysB = Reflect.ownKeys(y)
  if (keysA.length !== keysB.length || keysA.some((key, i) => key !== keysB[i]))
    return `${path}: keys ${keysA.map(String).join(",")} vs ${keysB.map(String).join(",")}`
  for (const key of keysA) {
    const da = Object.getOwnPropertyDescriptor(x, key)!
    const db = Object.getOwnPropertyDescriptor(y, key)!
    if (da.enumerable !== db.enumerable || da.writable !== db.writable || da.configurable !== db.configurable)
      return `${path}.${String(key)}: descriptors differ`
    if (key === "stack") continue
    const inner = difference(da.value ?? da.get, db.value ?? db.get, `${path}.${String(key)}`)
    if (inner !== undefined) return inner
  }
  return undefined
}

const show = (value: unknown): string => {
  try {
    return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}n` : v))?.slice(0, 300) ?? String(value)
  } catch {
    return String(value)
  }
}

/** Counts of what the fast path did, so a test can tell it really ran. */
interface Tally {
  fast: number
  fallback: number
}

/**
 * The fast path agrees with Schema on `input`: FAIL or the same value where Schema succeeds,
 * FAIL where Schema fails.
 */
const agrees = (
  fast: FastSchema.Fast,
  schema: (input: unknown) => Either.Either<unknown, unknown>,
  input: unknown,
  tally: Tally
): void => {
  const expected = schema(input)
  const actual = fast(input)
  if (Either.isLeft(expected)) {
    if (actual !== FastSchema.FAIL) expect.fail(`Schema failed but the fast path answered, on ${show(input)}`)
    tally.fallback++
    return
  }
  if (actual === FastSchema.FAIL) {
    tally.fallback++
    return
  }
  tally.fast++
  const diff = difference(actual, expected.right)
  if (diff !== undefined) expect.fail(`${diff}, on ${show(input)}`)
}

const junk: ReadonlyArray<unknown> = [
  null,
  undefined,
  Number.NaN,
  Infinity,
  -0,
  1.5,
  -1,
  "",
  "x".repeat(5000),
  true,
  [],
  {},
  [1, "a"],
  { _tag: "Nope" },
  Symbol.for("fastSchema.test"),
  10n
]

const fewJunk: ReadonlyArray<unknown> = [null, undefined, Number.NaN, "", 1.5, true, [], {}]

/** A copy of an object with the same prototype and own enumerable keys. */
const cloneOf = (value: object): Record<PropertyKey, unknown> =>
  Object.assign(Object.create(Object.getPrototypeOf(value)) as Record<PropertyKey, unknown>, value)

/** Invalid (or unusual) variants of a valid value: one change at one place, up to `depth` deep. */
const mutations = (value: unknown, tags: ReadonlyArray<string>, depth = 0): Array<unknown> => {
  const out: Array<unknown> = [...(depth === 0 ? junk : fewJunk)]
  if (depth > 2 || typeof value !== "object" || value === null) return out
  if (Array.isArray(value)) {
    out.push(value.slice(1), [...value, value[0]], [...value, Symbol.for("extra")], { ...value })
    value.forEach((element, i) => {
      for (const mutation of mutations(element, tags, depth + 1)) {
        const copy = value.slice()
        copy[i] = mutation
        out.push(copy)
      }
    })
    return out
  }
  const record = value as Record<PropertyKey, unknown>
  out.push(
    { ...record },
    { ...record, extra: 1, [Symbol.for("extra")]: 2 },
    Object.assign(cloneOf(record), { extra: 1 }),
    // Keys inherited rather than own.
    Object.create(record),
    [record]
  )
  if (typeof record._tag === "string") {
    out.push(Object.assign(cloneOf(record), { _tag: "Nope" }))
    for (const tag of tags) if (tag !== record._tag) out.push(Object.assign(cloneOf(record), { _tag: tag }))
  }
  for (const key of Object.keys(record)) {
    const without = cloneOf(record)
    delete without[key]
    out.push(without)
    for (const mutation of mutations(record[key], tags, depth + 1)) {
      const copy = cloneOf(record)
      copy[key] = mutation
      out.push(copy)
    }
  }
  return out
}

interface Options {
  /** How many valid values to check. */
  readonly runs?: number
  /** Of those, how many to mutate. */
  readonly mutated?: number
  /** Valid values must all go through the fast path (the schema is wholly in the subset). */
  readonly alwaysFast?: boolean
  /** `_tag`s to swap in. */
  readonly tags?: ReadonlyArray<string>
  /** More inputs to check. */
  readonly extra?: ReadonlyArray<unknown>
}

/**
 * Checks the decoder (with Schema's default options and with the protocols') and the encoder of
 * `schema` against Schema, on arbitrary valid values and their mutations.
 */
const equivalent = (schema: AnySchema, options: Options = {}): Tally => {
  const tally: Tally = { fast: 0, fallback: 0 }
  const decoders = [undefined, protocolOptions].map((parseOptions) => ({
    fast: FastSchema.decoder(schema.ast, parseOptions),
    schema: Schema.decodeUnknownEither(schema, parseOptions) as (input: unknown) => Either.Either<unknown, unknown>
  }))
  const encode = {
    fast: FastSchema.encoder(schema.ast),
    schema: Schema.encodeUnknownEither(schema) as (input: unknown) => Either.Either<unknown, unknown>
  }
  expect(decoders[0].fast).toBeDefined()
  expect(decoders[1].fast).toBeDefined()
  expect(encode.fast).toBeDefined()
  const values = FastCheck.sample(Arbitrary.make(schema), { numRuns: options.runs ?? 200, seed: 20240611 })
  const tags = options.tags ?? []
  values.forEach((value, i) => {
    const encoded = Schema.encodeSync(schema)(value)
    const before = tally.fast
    agrees(encode.fast!, encode.schema, value, tally)
    for (const decoder of decoders) agrees(decoder.fast!, decoder.schema, encoded, tally)
    if (options.alwaysFast === true && tally.fast !== before + 3)
      expect.fail(`a valid value did not go through the fast path: ${show(encoded)}`)
    if (i < (options.mutated ?? 20)) {
      for (const input of mutations(value, tags)) agrees(encode.fast!, encode.schema, input, tally)
      for (const input of mutations(encoded, tags))
        for (const decoder of decoders) agrees(decoder.fast!, decoder.schema, input, tally)
    }
  })
  for (const input of [...junk, ...(options.extra ?? [])]) {
    agrees(encode.fast!, encode.schema, input, tally)
    for (const decoder of decoders) agrees(decoder.fast!, decoder.schema, input, tally)
  }
  return tally
}

// ---- hand-written schemas ----------------------------------------------------------------------

class Point extends Schema.Class<Point>("Point")({ x: Schema.Number, y: Schema.Number }) {
  get norm(): number {
    return Math.hypot(this.x, this.y)
  }
}

class Tell extends Schema.TaggedClass<Tell>()("Tell", {
  text: Schema.String.pipe(Schema.maxLength(8)),
  at: Point,
  flag: Schema.optionalWith(Schema.Boolean, { default: () => false })
}) {}

class Oops extends Schema.TaggedError<Oops>()("Oops", { reason: Schema.String }) {}

class Ask extends Schema.TaggedRequest<Ask>()("Ask", {
  failure: Oops,
  success: Schema.Struct({ n: Schema.Int }),
  payload: { ids: Schema.Array(Schema.String), pair: Schema.Tuple(Schema.String, Schema.Int) }
}) {}

class Empty extends Schema.TaggedClass<Empty>()("Empty", {}) {}

/** A constructor of its own: the fast path must call it too. */
class Counted extends Schema.TaggedClass<Counted>()("Counted", { n: Schema.Int }) {
  readonly doubled: number
  constructor(props: { readonly n: number }, options?: Schema.MakeOptions) {
    super(props, options)
    this.doubled = this.n * 2
  }
}

const supported: ReadonlyArray<readonly [string, AnySchema, Options?]> = [
  ["String", Schema.String],
  ["Number", Schema.Number, { extra: [Number.NaN, Infinity] }],
  ["Boolean", Schema.Boolean],
  ["Literal", Schema.Literal("a")],
  ["Literals", Schema.Literal("a", 1, true, null)],
  ["Unknown", Schema.Unknown],
  ["Any", Schema.Any],
  ["Void", Schema.Void],
  ["Undefined", Schema.Undefined],
  ["Int", Schema.Int, { extra: [1.5, 2 ** 53, -0] }],
  ["maxLength", Schema.String.pipe(Schema.maxLength(3)), { extra: ["abc", "abcd"] }],
  ["pattern", Chat.GroupId, { extra: ["north.abcd", "North.abcd", "north.abc"] }],
  ["between", Schema.Number.pipe(Schema.between(1, 10), Schema.int())],
  ["Struct", Schema.Struct({ a: Schema.String, b: Schema.Number, c: Schema.Struct({ d: Schema.Boolean }) })],
  [
    "optional keys",
    Schema.Struct({
      a: Schema.optional(Schema.String),
      b: Schema.optionalWith(Schema.Number, { exact: true }),
      c: Schema.String
    }),
    {
      extra: [
        { c: "x", a: undefined },
        { c: "x", b: undefined },
        { b: 1, c: "x", a: "y" }
      ]
    }
  ],
  ["empty Struct", Schema.Struct({})],
  // A required key that is missing or inherited: Schema reads it anyway (`undefined` or the
  // inherited value), which the fast path leaves to Schema.
  [
    "inherited keys",
    Schema.Struct({ toString: Schema.Unknown, a: Schema.UndefinedOr(Schema.String) }),
    { extra: [{}, { a: "x" }, { toString: 1 }] }
  ],
  ["Array", Schema.Array(Schema.Struct({ user: Schema.String, home: Schema.String }))],
  ["Tuple", Schema.Tuple(Schema.String, Schema.Int)],
  ["NonEmptyArray", Schema.NonEmptyArray(Schema.Number)],
  ["Union of primitives", Schema.Union(Schema.String, Schema.Number, Schema.Boolean)],
  ["NullOr", Schema.NullOr(Schema.String)],
  [
    "tagged Union",
    Schema.Union(
      Schema.TaggedStruct("A", { a: Schema.String }),
      Schema.TaggedStruct("B", { b: Schema.Int }),
      Schema.Struct({ kind: Schema.Literal("C"), c: Schema.Boolean })
    ),
    {
      tags: ["A", "B", "C"],
      extra: [
        { kind: "C", c: true, _tag: "A" },
        { _tag: "B", kind: "C", c: false }
      ]
    }
  ],
  // Members that are not total: Schema may accept an input with the first one (a missing
  // `Unknown` key reads as `undefined`) that the fast path would have given the second.
  [
    "untagged Union",
    Schema.Union(Schema.Struct({ a: Schema.Unknown }), Schema.Struct({ b: Schema.String })),
    { alwaysFast: false, extra: [{ b: "x" }, { a: 1 }, { a: 1, b: "x" }] }
  ],
  ["NumberFromString", Schema.NumberFromString, { extra: ["1", "x", "NaN", " 2 "] }],
  ["compose", Schema.compose(Schema.NumberFromString, Schema.Int)],
  ["Trim", Schema.Trim, { extra: [" a ", "a"] }],
  [
    "fromKey",
    Schema.Struct({ a: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("b")), c: Schema.Number }),
    {
      extra: [
        { b: "x", c: 1 },
        { a: "x", c: 1 }
      ]
    }
  ],
  ["Class", Point, { extra: [new Point({ x: 1, y: 2 }), { x: 1, y: 2 }] }],
  ["TaggedClass", Tell, { extra: [{ _tag: "Tell", text: "a", at: { x: 1, y: 2 } }] }],
  ["TaggedError", Oops, { extra: [new Oops({ reason: "r" }), { _tag: "Oops", reason: "r" }] }],
  ["TaggedRequest", Ask],
  ["empty TaggedClass", Empty],
  ["own constructor", Counted, { extra: [{ _tag: "Counted", n: 2 }, new Counted({ n: 3 })] }],
  ["Union of classes", Schema.Union(Tell, Ask, Empty, Counted), { tags: ["Tell", "Ask", "Empty", "Counted"] }]
]

describe("fastSchema", () => {
  for (const [name, schema, options] of supported) {
    it(`agrees with Schema: ${name}`, () => {
      const tally = equivalent(schema, { alwaysFast: true, ...options })
      expect(tally.fast).toBeGreaterThan(0)
    })
  }

  it("never succeeds on Never", () => {
    const fast = FastSchema.decoder(Schema.Never.ast)!
    for (const input of junk) expect(fast(input)).toBe(FastSchema.FAIL)
    expect(FastSchema.encoder(Schema.Never.ast)!("x")).toBe(FastSchema.FAIL)
  })

  it("builds instances with the class's own constructor", () => {
    const decoded = FastSchema.decoder(Counted.ast)!({ _tag: "Counted", n: 4 }) as Counted
    expect(decoded).toBeInstanceOf(Counted)
    expect(decoded.doubled).toBe(8)
    const point = FastSchema.decoder(Point.ast)!({ x: 3, y: 4 }) as Point
    expect(point.norm).toBe(5)
  })

  it("compiles what is outside the subset to undefined", () => {
    const unsupported: ReadonlyArray<AnySchema> = [
      Schema.Record({ key: Schema.String, value: Schema.String }),
      Schema.Struct({ a: Schema.String }, Schema.Record({ key: Schema.String, value: Schema.Number })),
      Schema.Struct({ [Symbol.for("key")]: Schema.String }),
      Schema.Tuple(Schema.String, Schema.optionalElement(Schema.Number)),
      Schema.Option(Schema.String),
      Schema.DateFromSelf,
      Schema.BigIntFromSelf,
      Schema.Struct({ a: Schema.String }).annotations({ parseOptions: { onExcessProperty: "error" } }),
      Schema.Union(Schema.Record({ key: Schema.String, value: Schema.String }), Schema.DateFromSelf)
    ]
    interface Tree {
      readonly value: number
      readonly children: ReadonlyArray<Tree>
    }
    const Tree: Schema.Schema<Tree> = Schema.Struct({
      value: Schema.Number,
      children: Schema.Array(Schema.suspend(() => Tree))
    })
    for (const schema of [...unsupported, Tree]) {
      expect(FastSchema.decoder(schema.ast)).toBeUndefined()
      expect(FastSchema.encoder(schema.ast)).toBeUndefined()
    }
    // Options whose results the fast path does not reproduce.
    expect(FastSchema.decoder(Schema.String.ast, { onExcessProperty: "error" })).toBeUndefined()
    expect(FastSchema.decoder(Schema.String.ast, { onExcessProperty: "preserve" })).toBeUndefined()
    expect(FastSchema.decoder(Schema.String.ast, { propertyOrder: "original" })).toBeUndefined()
  })

  it("leaves members outside the subset to Schema, through a protocol", () => {
    class Settings extends Schema.TaggedClass<Settings>()("Settings", {
      values: Schema.Record({ key: Schema.String, value: Schema.String })
    }) {}
    class Name extends Schema.TaggedClass<Name>()("Name", { name: Schema.String }) {}
    expect(FastSchema.decoder(Settings.ast)).toBeUndefined()
    expect(FastSchema.decoder(Schema.Union(Settings, Name).ast)).toBeDefined()
    const cases: ReadonlyArray<readonly [AnyProtocol, AnySchema]> = [
      [Protocol.make("test/mixed", 1, Settings, Name), Schema.Union(Settings, Name)],
      [Protocol.make("test/unsupported", 1, Settings), Settings]
    ]
    const inputs: ReadonlyArray<unknown> = [
      { _tag: "Settings", values: { a: "b" } },
      { _tag: "Settings", values: { a: 1 } },
      { _tag: "Name", name: "n" },
      { _tag: "Name", name: 1 },
      { _tag: "Nope" },
      null
    ]
    for (const [protocol, schema] of cases) {
      const decode = Schema.decodeUnknownEither(schema, protocolOptions)
      const encode = Schema.encodeEither(schema)
      for (const input of inputs) {
        const expected = decode(input)
        const actual = protocol.decode(input)
        expect(actual._tag).toBe(expected._tag)
        if (Either.isRight(actual) && Either.isRight(expected)) {
          expect(difference(actual.right, expected.right)).toBeUndefined()
          expect(difference(protocol.encode(actual.right as never), encode(expected.right))).toBeUndefined()
        } else if (Either.isLeft(actual) && Either.isLeft(expected)) {
          expect(actual.left.message).toBe(expected.left.message)
        }
      }
    }
  })

  it("keeps the Schema's errors through a protocol", () => {
    const decode = Schema.decodeUnknownEither(Ping.Echo, protocolOptions)
    for (const input of [{ _tag: "Echo", text: "x".repeat(Ping.MAX_ECHO_LENGTH + 1) }, { _tag: "Echo" }, null]) {
      const expected = decode(input)
      const actual = Ping.EchoProtocol.decode(input)
      expect(Either.isLeft(actual) && Either.isLeft(expected)).toBe(true)
      if (Either.isLeft(actual) && Either.isLeft(expected)) expect(actual.left.message).toBe(expected.left.message)
    }
  })
})

// ---- the repo's protocols -------------------------------------------------------------------

type Members = ReadonlyArray<AnySchema & { readonly _tag: string }>

const protocols: ReadonlyArray<readonly [AnyProtocol, Members]> = [
  [Ping.EchoProtocol, [Ping.Echo]],
  [Ping.CounterProtocol, [Ping.Increment, Ping.GetCount]],
  [Files.FilesProtocol, [Files.RequestDownload, Files.RequestAddress, Files.Offer, Files.Withdraw]],
  [
    Chat.CenterProtocol,
    [
      Chat.Retry,
      Chat.Where,
      Chat.Create,
      Chat.Get,
      Chat.Edit,
      Chat.ChangeMembers,
      Chat.Send,
      Chat.Deliver,
      Chat.History,
      Chat.Move,
      Chat.Adopt,
      Chat.MemberMoved,
      Chat.Receive
    ]
  ],
  [
    Chat.DataProtocol,
    [
      Chat.Where,
      Chat.HomeMoved,
      Chat.UserMoved,
      Chat.Create,
      Chat.Get,
      Chat.Edit,
      Chat.ChangeMembers,
      Chat.History,
      Chat.Move
    ]
  ],
  [Chat.BusinessProtocol, [Chat.Send, Chat.Submit, Chat.Carry, Chat.Handover, Chat.Transplant]],
  [
    Accounts.AccountsProtocol,
    [
      Accounts.Claim,
      Accounts.ClaimCreated,
      Accounts.Locate,
      Accounts.Create,
      Accounts.Login,
      Accounts.Revoke,
      Accounts.Export,
      Accounts.Import,
      Accounts.Rehome,
      Accounts.Remove
    ]
  ]
]

/** The result schemas of a request class (`Schema.TaggedRequest`), if it is one. */
const resultsOf = (member: AnySchema): ReadonlyArray<AnySchema> => {
  const request = member as unknown as { readonly success?: AnySchema; readonly failure?: AnySchema }
  return request.success !== undefined && request.failure !== undefined ? [request.success, request.failure] : []
}

describe("fastSchema on the protocols", () => {
  for (const [protocol, members] of protocols) {
    it(`agrees with Schema: ${protocol.name}`, () => {
      expect(members.map((member) => member._tag)).toEqual(protocol.tags)
      const union = Schema.Union(...members)
      const tally = equivalent(union, { runs: 300, tags: protocol.tags })
      expect(tally.fast).toBeGreaterThan(0)
      // A member that compiles always takes the fast path with valid values, but `Edit`, whose
      // optional `settings` is a record (outside the subset): fast only without it.
      for (const member of members) {
        if (FastSchema.decoder(member.ast) === undefined) continue
        equivalent(member, { runs: 50, mutated: 0, alwaysFast: member !== Chat.Edit })
      }
      // Protocol.decode and encode: the Schema's result, whichever path produced it.
      const decode = Schema.decodeUnknownEither(union, protocolOptions)
      const encode = Schema.encodeEither(union)
      for (const value of FastCheck.sample(Arbitrary.make(union), { numRuns: 100, seed: 7 })) {
        const encoded = protocol.encode(value as never)
        const expected = encode(value)
        expect(Either.isRight(encoded) && Either.isRight(expected)).toBe(true)
        if (Either.isRight(encoded) && Either.isRight(expected)) {
          expect(difference(encoded.right, expected.right)).toBeUndefined()
          const decoded = protocol.decode(encoded.right)
          const schemaDecoded = decode(expected.right)
          expect(Either.isRight(decoded) && Either.isRight(schemaDecoded)).toBe(true)
          if (Either.isRight(decoded) && Either.isRight(schemaDecoded))
            expect(difference(decoded.right, schemaDecoded.right)).toBeUndefined()
        }
      }
    })

    it(`agrees with Schema on the answers: ${protocol.name}`, () => {
      for (const result of members.flatMap(resultsOf)) {
        if (result.ast._tag === "NeverKeyword") continue
        if (FastSchema.decoder(result.ast) === undefined) continue
        equivalent(result, { runs: 100, mutated: 10, alwaysFast: true })
      }
    })
  }

  it("has fast paths for the ping protocols and answers", () => {
    for (const schema of [Ping.Echo, Ping.Increment, Ping.GetCount, Ping.Echo.success, Ping.GetCount.success]) {
      expect(FastSchema.decoder(schema.ast)).toBeDefined()
      expect(FastSchema.encoder(schema.ast)).toBeDefined()
    }
  })
})
