/**
 * An actor's protocol: the union of the Schema classes it accepts. Tell messages are tagged
 * classes (`Schema.TaggedClass`); ask requests are `Schema.TaggedRequest`s, which carry their
 * success and failure schemas, so a reply can be encoded for the wire and decoded at the asker.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import type * as AST from "effect/SchemaAST"
import * as Schema from "effect/Schema"
import * as FastSchema from "../internal/fastSchema.js"

/**
 * Anything an actor can receive: a tagged value.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tagged {
  readonly _tag: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Protocol<Msg extends Tagged> {
  /** Protocol name, for logs and dead letters. */
  readonly name: string
  /** Version of this protocol: bump it on an incompatible change. */
  readonly version: number
  /** Decodes a message that arrived from the wire (the union of all message classes). */
  readonly decode: (input: unknown) => Either.Either<Msg, ParseResult.ParseError>
  /** Encodes a message for the wire. */
  readonly encode: (message: Msg) => Either.Either<unknown, ParseResult.ParseError>
  /** The tags of the messages, for the exhaustiveness check of handlers. */
  readonly tags: ReadonlyArray<string>
}

/**
 * The messages of a protocol.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Message<P> = P extends Protocol<infer M> ? M : never

/**
 * An ask request: a message that carries its result schemas (`Schema.TaggedRequest`). Matched by
 * structure, not by `Schema.WithResult.Any`, which a request with `failure: Schema.Never` does
 * not satisfy under `exactOptionalPropertyTypes`.
 *
 * @since 0.1.0
 * @category models
 */
export interface AskRequest extends Tagged {
  readonly [Schema.symbolWithResult]: {
    readonly success: { readonly Type: unknown; readonly ast: AST.AST }
    readonly failure: { readonly Type: unknown; readonly ast: AST.AST }
  }
}

/**
 * The answer an ask request produces (`void` for a tell).
 *
 * @since 0.1.0
 * @category type-level
 */
export type Success<M> = M extends AskRequest ? M[typeof Schema.symbolWithResult]["success"]["Type"] : void

/**
 * The typed failure of an ask request (`never` for a tell).
 *
 * @since 0.1.0
 * @category type-level
 */
export type Failure<M> = M extends AskRequest ? M[typeof Schema.symbolWithResult]["failure"]["Type"] : never

/**
 * The messages of a protocol that are asks.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Asks<Msg> = Extract<Msg, AskRequest>

/**
 * The messages of a protocol that are tells.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Tells<Msg> = Exclude<Msg, AskRequest>

/**
 * What a handler returns: for an ask, the request's success and typed failure; for a tell,
 * nothing, either at once (a synchronous state update, the cheapest path) or as an effect. A
 * failure of a tell handler crashes the actor and its supervisor decides.
 *
 * @since 0.1.0
 * @category type-level
 */
export type HandlerResult<M> = M extends AskRequest
  ? Effect.Effect<Success<M>, Failure<M>>
  : Effect.Effect<void, unknown> | void

/**
 * Is this message an ask request (does it carry result schemas)?
 *
 * @since 0.1.0
 * @category guards
 */
export const isAsk = (message: unknown): message is AskRequest =>
  typeof message === "object" && message !== null && Schema.symbolWithResult in message

/**
 * The success and failure schemas of a request, for encoding and decoding its answer.
 *
 * @since 0.1.0
 * @category utils
 */
export const resultSchemas = (
  request: AskRequest
): { readonly success: Schema.Schema<unknown>; readonly failure: Schema.Schema<unknown> } => {
  const result = request[Schema.symbolWithResult]
  return { success: schemaOf(result.success.ast), failure: schemaOf(result.failure.ast) }
}

/** One Schema per AST: `Schema.make` defines a class, far too costly for every reply. */
const schemas = new WeakMap<AST.AST, Schema.Schema<unknown>>()
const schemaOf = (ast: AST.AST): Schema.Schema<unknown> => {
  let schema = schemas.get(ast)
  if (schema === undefined) {
    schema = Schema.make<unknown>(ast)
    schemas.set(ast, schema)
  }
  return schema
}

/** Shared by both paths: filters and transformations see the very same options object. */
const decodeOptions: AST.ParseOptions = { errors: "all", onExcessProperty: "ignore" }

/**
 * Builds a protocol from its message classes.
 *
 * @example
 * class Increment extends Schema.TaggedClass<Increment>()("Increment", { by: Schema.Int }) {}
 * class Get extends Schema.TaggedRequest<Get>()("Get", { success: Schema.Int, failure: Schema.Never, payload: {} }) {}
 * const Counter = Protocol.make("counter", 1, Increment, Get)
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Members extends ReadonlyArray<Schema.Schema.AnyNoContext>>(
  name: string,
  version: number,
  ...members: Members
): Protocol<Schema.Schema.Type<Members[number]>> => {
  const tags = members.map((member) => {
    const ast = member.ast
    const tag = tagOf(ast)
    if (tag === undefined) throw new Error(`protocol ${name}: every message must be a tagged class`)
    return tag
  })
  if (new Set(tags).size !== tags.length) throw new Error(`protocol ${name}: duplicate message tags`)
  const union = Schema.Union(...members) as unknown as Schema.Schema<
    Schema.Schema.Type<Members[number]>,
    unknown,
    never
  >
  return {
    name,
    version,
    // Every remote message goes through these: the compiled fast path first, the Schema for
    // whatever it is not sure of (and for every error).
    decode: FastSchema.decodeUnknownEither(union, decodeOptions),
    encode: FastSchema.encodeEither(union),
    tags
  }
}

const tagOf = (ast: Schema.Schema.AnyNoContext["ast"]): string | undefined => {
  // A class schema is a Transformation whose `to` side is the class declaration; the `from`
  // side is the struct with the `_tag` literal.
  switch (ast._tag) {
    case "Transformation":
      return tagOf(ast.from) ?? tagOf(ast.to)
    case "TypeLiteral": {
      const field = ast.propertySignatures.find((p) => p.name === "_tag")
      if (field !== undefined && field.type._tag === "Literal" && typeof field.type.literal === "string")
        return field.type.literal
      return undefined
    }
    default:
      return undefined
  }
}
