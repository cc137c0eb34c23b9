/**
 * Plain synchronous decoders and encoders compiled from a Schema AST, for the messages and
 * answers of remote asks: Effect Schema's interpreter allocates an `Either`, closures and
 * issue objects at every node, which costs several microseconds per message.
 *
 * A compiled function returns exactly what Schema would return on success (same values, same
 * own keys in the same order, same prototypes), or {@link FAIL} when the input is invalid or
 * when it is not sure: the caller then runs the Schema itself, which decides and produces the
 * error. Only a subset of ASTs compiles (see {@link decoder}); anything else compiles to
 * `undefined`, no fast path.
 *
 * Transformations, filters and class constructors are the Schema's own functions, called with
 * the same arguments as the Schema calls them: they must be pure, as Schema expects, since an
 * input the fast path gives up on runs through them again.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"

/**
 * What a compiled function returns when the Schema must decide.
 *
 * @internal
 */
export const FAIL: unique symbol = Symbol("meridian/fastSchema/FAIL")

/**
 * A compiled decoder or encoder: the value Schema would produce, or {@link FAIL}.
 *
 * @internal
 */
export type Fast = (input: unknown) => unknown

/**
 * The decoder of `ast` under `options` (Schema's defaults when omitted), or `undefined` when the
 * AST or the options are outside the subset: string, number, boolean, literal, unknown, any,
 * void, undefined and never keywords; refinements; tuples and arrays (required elements, at most
 * one rest element); structs with string keys and no index signature; unions; transformations
 * (final, compose, and struct-to-struct ones such as `optionalWith` defaults); the declarations of
 * Schema classes. Without `options` the function is cached per AST.
 *
 * @internal
 */
export const decoder = (ast: AST.AST, options?: AST.ParseOptions): Fast | undefined =>
  entry(ast, true, options, decoders)

/**
 * The encoder of `ast`, like {@link decoder}.
 *
 * @internal
 */
export const encoder = (ast: AST.AST, options?: AST.ParseOptions): Fast | undefined =>
  entry(ast, false, options, encoders)

/**
 * `Schema.decodeUnknownEither(schema, options)` with the compiled decoder in front: its result
 * when it has one, the Schema's (which also words every error) otherwise. Without `options` the
 * function is cached per schema.
 *
 * @internal
 */
export const decodeUnknownEither = <A, I>(
  schema: Schema.Schema<A, I>,
  options?: AST.ParseOptions
): ((input: unknown) => Either.Either<A, ParseResult.ParseError>) => {
  if (options !== undefined)
    return withFallback(decoder(schema.ast, options), Schema.decodeUnknownEither(schema, options))
  let codec = decodeEithers.get(schema.ast)
  if (codec === undefined) {
    codec = withFallback(decoder(schema.ast), Schema.decodeUnknownEither(schema))
    decodeEithers.set(schema.ast, codec)
  }
  return codec
}

/**
 * `Schema.encodeEither(schema)` with the compiled encoder in front, like
 * {@link decodeUnknownEither}; cached per schema.
 *
 * @internal
 */
export const encodeEither = <A, I>(
  schema: Schema.Schema<A, I>
): ((value: A) => Either.Either<I, ParseResult.ParseError>) => {
  let codec = encodeEithers.get(schema.ast)
  if (codec === undefined) {
    codec = withFallback(encoder(schema.ast), Schema.encodeEither(schema))
    encodeEithers.set(schema.ast, codec)
  }
  return codec
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- one cache for codecs of any schema
type Codec = (input: any) => Either.Either<any, ParseResult.ParseError>

const decodeEithers = new WeakMap<AST.AST, Codec>()
const encodeEithers = new WeakMap<AST.AST, Codec>()

const withFallback = (fast: Fast | undefined, schema: Codec): Codec =>
  fast === undefined
    ? schema
    : (input) => {
        const value = fast(input)
        return value !== FAIL ? Either.right(value) : schema(input)
      }

// ---------------------------------------------------------------------------------------------
// entry points
// ---------------------------------------------------------------------------------------------

const decoders = new WeakMap<AST.AST, Fast | null>()
const encoders = new WeakMap<AST.AST, Fast | null>()

const entry = (
  ast: AST.AST,
  isDecoding: boolean,
  options: AST.ParseOptions | undefined,
  cache: WeakMap<AST.AST, Fast | null>
): Fast | undefined => {
  if (options === undefined) {
    const cached = cache.get(ast)
    if (cached !== undefined) return cached ?? undefined
    const fast = bind(ast, isDecoding, AST.defaultParseOption)
    cache.set(ast, fast ?? null)
    return fast
  }
  return supportedOptions(options) ? bind(ast, isDecoding, options) : undefined
}

/**
 * `options` is what Schema hands to filters and transformations (`options ?? defaultParseOption`
 * at every node), so they see the very same object on both paths.
 */
const bind = (ast: AST.AST, isDecoding: boolean, options: AST.ParseOptions): Fast | undefined => {
  const compiled = compile(ast, isDecoding)
  if (compiled === undefined) return undefined
  const run = compiled.run
  return (input) => run(input, options)
}

/**
 * The options whose results the fast path reproduces: excess properties ignored, output keys in
 * the schema's order. `errors` and `exact` only change which error Schema reports (a missing
 * required key is left to Schema either way).
 */
const supportedOptions = (options: AST.ParseOptions): boolean =>
  (options.onExcessProperty === undefined || options.onExcessProperty === "ignore") &&
  (options.propertyOrder === undefined || options.propertyOrder === "none")

// ---------------------------------------------------------------------------------------------
// compiler
// ---------------------------------------------------------------------------------------------

type Run = (input: unknown, options: AST.ParseOptions) => unknown

interface Compiled {
  readonly run: Run
  /**
   * FAIL means Schema fails too (not merely "not sure"). A union may try its next member only
   * after a total one failed, as Schema returns the first member that succeeds.
   */
  readonly total: boolean
}

const compiledDecoders = new WeakMap<AST.AST, Compiled | null>()
const compiledEncoders = new WeakMap<AST.AST, Compiled | null>()

const compile = (ast: AST.AST, isDecoding: boolean): Compiled | undefined => {
  const cache = isDecoding ? compiledDecoders : compiledEncoders
  const cached = cache.get(ast)
  if (cached !== undefined) return cached ?? undefined
  const compiled = go(ast, isDecoding)
  cache.set(ast, compiled ?? null)
  return compiled
}

const hasOwn = Object.prototype.hasOwnProperty

/** A union's candidates all failed, as Schema's would: try the next ones. */
const NEXT: unique symbol = Symbol("meridian/fastSchema/NEXT")

const isRight = (result: unknown): result is Either.Right<unknown, unknown> =>
  Either.isEither(result) && Either.isRight(result)

const total = (run: Run): Compiled => ({ run, total: true })
const partial = (run: Run): Compiled => ({ run, total: false })

const identity: Run = (input) => input
const never: Run = () => FAIL
const isString: Run = (input) => (typeof input === "string" ? input : FAIL)
const isNumber: Run = (input) => (typeof input === "number" ? input : FAIL)
const isBoolean: Run = (input) => (typeof input === "boolean" ? input : FAIL)
const isUndefined: Run = (input) => (input === undefined ? input : FAIL)
const isNotNullable: Run = (input) => (input !== null && input !== undefined ? input : FAIL)

const go = (ast: AST.AST, isDecoding: boolean): Compiled | undefined => {
  // A parse options annotation changes the options below this node; a decoding fallback turns a
  // failure into a success. Both are left to Schema.
  if (Option.isSome(AST.getParseOptionsAnnotation(ast))) return undefined
  if (isDecoding && Option.isSome(AST.getDecodingFallbackAnnotation(ast))) return undefined
  switch (ast._tag) {
    case "StringKeyword":
      return total(isString)
    case "NumberKeyword":
      return total(isNumber)
    case "BooleanKeyword":
      return total(isBoolean)
    case "UndefinedKeyword":
      return total(isUndefined)
    case "UnknownKeyword":
    case "AnyKeyword":
    case "VoidKeyword":
      return total(identity)
    case "NeverKeyword":
      return total(never)
    case "Literal": {
      const literal = ast.literal
      return total((input) => (input === literal ? input : FAIL))
    }
    case "Refinement":
      return isDecoding ? refinement(ast) : refinementEncoder(ast)
    case "TupleType":
      return tuple(ast, isDecoding)
    case "TypeLiteral":
      return typeLiteral(ast, isDecoding)
    case "Union":
      return union(ast, isDecoding)
    case "Transformation":
      return transformation(ast, isDecoding)
    case "Declaration":
      return declaration(ast, isDecoding)
    default:
      return undefined
  }
}

/** The filter runs on the decoded value, with the options and the node Schema passes it. */
const refinement = (ast: AST.Refinement): Compiled | undefined => {
  const from = compile(ast.from, true)
  if (from === undefined) return undefined
  const fromRun = from.run
  const filter = ast.filter
  return {
    run: (input, options) => {
      const value = fromRun(input, options)
      if (value === FAIL) return FAIL
      return Option.isNone(filter(value, options, ast)) ? value : FAIL
    },
    total: from.total
  }
}

/** As Schema encodes a refinement: validate its type side, then encode what it refines. */
const refinementEncoder = (ast: AST.Refinement): Compiled | undefined => {
  const validate = compile(AST.typeAST(ast), true)
  const encode = compile(dropRightRefinement(ast.from), false)
  if (validate === undefined || encode === undefined) return undefined
  const validateRun = validate.run
  const encodeRun = encode.run
  return {
    run: (input, options) => {
      const value = validateRun(input, options)
      return value === FAIL ? FAIL : encodeRun(value, options)
    },
    total: validate.total && encode.total
  }
}

const dropRightRefinement = (ast: AST.AST): AST.AST => (AST.isRefinement(ast) ? dropRightRefinement(ast.from) : ast)

/** Required elements and at most one rest element (`Schema.Tuple`, `Schema.Array`). */
const tuple = (ast: AST.TupleType, isDecoding: boolean): Compiled | undefined => {
  if (ast.rest.length > 1) return undefined
  const elements: Array<Run> = []
  let isTotal = true
  for (const element of ast.elements) {
    if (element.isOptional) return undefined
    const compiled = compile(element.type, isDecoding)
    if (compiled === undefined) return undefined
    elements.push(compiled.run)
    isTotal = isTotal && compiled.total
  }
  let rest: Run | undefined
  if (ast.rest.length === 1) {
    const compiled = compile(ast.rest[0].type, isDecoding)
    if (compiled === undefined) return undefined
    rest = compiled.run
    isTotal = isTotal && compiled.total
  }
  const count = elements.length
  return {
    run: (input, options) => {
      if (!Array.isArray(input)) return FAIL
      const length = input.length
      if (length < count || (rest === undefined && length > count)) return FAIL
      const output: Array<unknown> = []
      for (let i = 0; i < count; i++) {
        const value = elements[i](input[i], options)
        if (value === FAIL) return FAIL
        output.push(value)
      }
      if (rest !== undefined) {
        for (let i = count; i < length; i++) {
          const value = rest(input[i], options)
          if (value === FAIL) return FAIL
          output.push(value)
        }
      }
      return output
    },
    total: isTotal
  }
}

/**
 * A struct with string keys and no index signature. The output has the schema's keys in the
 * schema's order, the present ones only. A missing required key is left to Schema, which reads
 * it anyway (`undefined`, or a value from the prototype chain): not total.
 */
const typeLiteral = (ast: AST.TypeLiteral, isDecoding: boolean): Compiled | undefined => {
  if (ast.indexSignatures.length > 0) return undefined
  // Schema returns the input itself for `{}`.
  if (ast.propertySignatures.length === 0) return total(isNotNullable)
  const names: Array<string> = []
  const optional: Array<boolean> = []
  const fields: Array<Run> = []
  for (const ps of ast.propertySignatures) {
    if (typeof ps.name !== "string") return undefined
    const compiled = compile(ps.type, isDecoding)
    if (compiled === undefined) return undefined
    names.push(ps.name)
    optional.push(ps.isOptional)
    fields.push(compiled.run)
  }
  const count = names.length
  return partial((input, options) => {
    if (typeof input !== "object" || input === null || Array.isArray(input)) return FAIL
    const output: Record<string, unknown> = {}
    for (let i = 0; i < count; i++) {
      const name = names[i]
      if (!hasOwn.call(input, name)) {
        if (optional[i]) continue
        return FAIL
      }
      const value = fields[i]((input as Record<string, unknown>)[name], options)
      if (value === FAIL) return FAIL
      output[name] = value
    }
    return output
  })
}

/**
 * Schema's union: candidates picked by the literal fields of the members (`_tag`), then the
 * members without one, tried in that order; the first that succeeds is the result. A member
 * that fails without being total (or did not compile) hands the input to Schema, which might
 * still accept it there.
 */
const union = (ast: AST.Union, isDecoding: boolean): Compiled | undefined => {
  const members = new Map<AST.AST, Compiled | undefined>()
  let isTotal = true
  let anyCompiled = false
  for (const member of ast.types) {
    const compiled = compile(member, isDecoding)
    members.set(member, compiled)
    if (compiled === undefined) isTotal = false
    else {
      anyCompiled = true
      isTotal = isTotal && compiled.total
    }
  }
  if (!anyCompiled) return undefined
  const tree = searchTree(ast.types, isDecoding)
  const keys = Reflect.ownKeys(tree.keys).map((name) => {
    const buckets = new Map<string, ReadonlyArray<Compiled | undefined>>()
    for (const [literal, bucket] of Object.entries(tree.keys[name].buckets)) {
      buckets.set(
        literal,
        bucket.map((member) => members.get(member))
      )
    }
    return { name, buckets }
  })
  const otherwise = tree.otherwise.map((member) => members.get(member))
  const single = keys.length === 1 ? keys[0] : undefined
  // Tries `candidates` in order: the first result, FAIL when Schema must decide, or NEXT when
  // every one failed as Schema would.
  const attempt = (
    candidates: ReadonlyArray<Compiled | undefined>,
    input: unknown,
    options: AST.ParseOptions
  ): unknown => {
    for (let i = 0; i < candidates.length; i++) {
      const candidate = candidates[i]
      if (candidate === undefined) return FAIL
      const value = candidate.run(input, options)
      if (value !== FAIL || !candidate.total) return value
    }
    return NEXT
  }
  return {
    run: (input, options) => {
      if (keys.length > 0 && typeof input === "object" && input !== null) {
        if (single !== undefined) {
          if (hasOwn.call(input, single.name)) {
            const bucket = single.buckets.get(String((input as Record<PropertyKey, unknown>)[single.name]))
            if (bucket !== undefined) {
              const value = attempt(bucket, input, options)
              if (value !== NEXT) return value
            }
          }
        } else {
          // Schema reads every key before trying any candidate.
          const buckets: Array<ReadonlyArray<Compiled | undefined>> = []
          for (const key of keys) {
            if (hasOwn.call(input, key.name)) {
              const bucket = key.buckets.get(String((input as Record<PropertyKey, unknown>)[key.name]))
              if (bucket !== undefined) buckets.push(bucket)
            }
          }
          for (const bucket of buckets) {
            const value = attempt(bucket, input, options)
            if (value !== NEXT) return value
          }
        }
      }
      const value = attempt(otherwise, input, options)
      return value === NEXT ? FAIL : value
    },
    total: isTotal
  }
}

/**
 * The from side, Schema's transformation, the to side (for a Schema class: the struct of its
 * fields, the class's constructor, its declaration). A result that is not a synchronous `Right`
 * is left to Schema.
 */
const transformation = (ast: AST.Transformation, isDecoding: boolean): Compiled | undefined => {
  const kind = ast.transformation
  const from = isDecoding ? compile(ast.from, true) : compile(ast.to, false)
  const to = isDecoding ? compile(ast.to, true) : compile(ast.from, false)
  if (from === undefined || to === undefined) return undefined
  const fromRun = from.run
  const toRun = to.run
  switch (kind._tag) {
    case "FinalTransformation": {
      const transform = isDecoding ? kind.decode : kind.encode
      return partial((input, options) => {
        const value = fromRun(input, options)
        if (value === FAIL) return FAIL
        const result = transform(value, options, ast, input)
        return isRight(result) ? toRun(result.right, options) : FAIL
      })
    }
    case "ComposeTransformation":
      return partial((input, options) => {
        const value = fromRun(input, options)
        return value === FAIL ? FAIL : toRun(value, options)
      })
    case "TypeLiteralTransformation": {
      // Schema rewrites the object its from side produced, in place: that must be a fresh object,
      // which a struct with at least one key is (an empty struct returns its input).
      const source = isDecoding ? ast.from : ast.to
      if (!AST.isTypeLiteral(source) || source.propertySignatures.length === 0) return undefined
      const steps = kind.propertySignatureTransformations.map((pst) => ({
        from: isDecoding ? pst.from : pst.to,
        to: isDecoding ? pst.to : pst.from,
        transform: isDecoding ? pst.decode : pst.encode
      }))
      return partial((input, options) => {
        const value = fromRun(input, options)
        if (value === FAIL) return FAIL
        const object = value as Record<PropertyKey, unknown>
        for (let i = 0; i < steps.length; i++) {
          const step = steps[i]
          const result = step.transform(hasOwn.call(object, step.from) ? Option.some(object[step.from]) : Option.none())
          delete object[step.from]
          if (Option.isSome(result)) object[step.to] = result.value
        }
        return toRun(object, options)
      })
    }
  }
}

/**
 * The declaration of a Schema class (which has a surrogate: the struct of its fields): its own
 * parser, made once as Schema makes it, which checks for an instance (and, when encoding a plain
 * object, builds one). Other declarations (`Option`, `Date`, ...) are left to Schema.
 */
const declaration = (ast: AST.Declaration, isDecoding: boolean): Compiled | undefined => {
  if (Option.isNone(AST.getSurrogateAnnotation(ast))) return undefined
  const parse = isDecoding ? ast.decodeUnknown(...ast.typeParameters) : ast.encodeUnknown(...ast.typeParameters)
  return partial((input, options) => {
    const result = parse(input, options, ast)
    return isRight(result) ? result.right : FAIL
  })
}

// ---------------------------------------------------------------------------------------------
// Schema's union search tree (ParseResult.getSearchTree, internal there), to try the same
// candidates in the same order
// ---------------------------------------------------------------------------------------------

interface SearchTree {
  readonly keys: {
    readonly [key: PropertyKey]: { readonly buckets: { readonly [literal: string]: ReadonlyArray<AST.AST> } }
  }
  readonly otherwise: ReadonlyArray<AST.AST>
}

const getLiterals = (ast: AST.AST, isDecoding: boolean): ReadonlyArray<readonly [PropertyKey, AST.Literal]> => {
  switch (ast._tag) {
    case "Declaration": {
      const surrogate = AST.getSurrogateAnnotation(ast)
      if (Option.isSome(surrogate)) return getLiterals(surrogate.value, isDecoding)
      break
    }
    case "TypeLiteral": {
      const out: Array<readonly [PropertyKey, AST.Literal]> = []
      for (const ps of ast.propertySignatures) {
        const type = isDecoding ? AST.encodedAST(ps.type) : AST.typeAST(ps.type)
        if (AST.isLiteral(type) && !ps.isOptional) out.push([ps.name, type])
      }
      return out
    }
    case "TupleType": {
      const out: Array<readonly [PropertyKey, AST.Literal]> = []
      for (let i = 0; i < ast.elements.length; i++) {
        const element = ast.elements[i]
        const type = isDecoding ? AST.encodedAST(element.type) : AST.typeAST(element.type)
        if (AST.isLiteral(type) && !element.isOptional) out.push([i, type])
      }
      return out
    }
    case "Refinement":
      return getLiterals(ast.from, isDecoding)
    case "Suspend":
      return getLiterals(ast.f(), isDecoding)
    case "Transformation":
      return getLiterals(isDecoding ? ast.from : ast.to, isDecoding)
  }
  return []
}

const searchTree = (members: ReadonlyArray<AST.AST>, isDecoding: boolean): SearchTree => {
  const keys: { [key: PropertyKey]: { buckets: { [literal: string]: Array<AST.AST> } } } = {}
  const otherwise: Array<AST.AST> = []
  for (const member of members) {
    const tags = getLiterals(member, isDecoding)
    if (tags.length === 0) {
      otherwise.push(member)
      continue
    }
    for (let j = 0; j < tags.length; j++) {
      const [key, literal] = tags[j]
      const hash = String(literal.literal)
      keys[key] = keys[key] || { buckets: {} }
      const buckets = keys[key].buckets
      if (hasOwn.call(buckets, hash)) {
        if (j < tags.length - 1) continue
        buckets[hash].push(member)
      } else {
        buckets[hash] = [member]
        break
      }
    }
  }
  return { keys, otherwise }
}
