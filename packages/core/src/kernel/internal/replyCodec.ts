/**
 * The reply codec: an ask's answer (its exit) to the wire form of a reply and back. Synchronous
 * (Either) throughout, with the common shapes handled by hand, since it runs on every remote reply.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as FastSchema from "../../internal/fastSchema.js"
import { ActorCrashed, type AskError, AskErrorSchema } from "../Errors.js"
import { type AskRequest, isAsk, resultSchemas, type Tagged } from "../Protocol.js"

/**
 * The wire form of a reply (public as `ActorSystem.ReplyPayload`).
 *
 * @internal
 */
export const ReplyPayload = Schema.Union(
  Schema.TaggedStruct("Success", { value: Schema.Unknown }),
  Schema.TaggedStruct("Failure", { error: Schema.Unknown }),
  Schema.TaggedStruct("KernelFailure", { error: AskErrorSchema })
)

type ReplyPayload = typeof ReplyPayload.Type

// Module-level rather than inside `encodeReply`: a named closure per reply costs a
// `defineProperty` under tsx, which keeps function names.
const kernelFailure = (error: AskError): ReplyPayload => ({ _tag: "KernelFailure", error })

const crashedReply = (request: Tagged, defect: string): ReplyPayload =>
  kernelFailure(new ActorCrashed({ address: "", tag: request._tag, defect: defect.slice(0, 500) }))

/** @internal */
export const encodeReply = (
  request: Tagged,
  exit: Exit.Exit<unknown, unknown>
): Either.Either<unknown, ParseResult.ParseError> => {
  // Synchronous encodings (Either): the Effect ones cost a fiber's worth of work on every reply.
  const reply = ((): ReplyPayload => {
    if (Exit.isFailure(exit)) {
      const failure = Cause.failureOption(exit.cause)
      if (failure._tag === "None") return crashedReply(request, Cause.pretty(exit.cause))
      if (!isAsk(request) || isAskError(failure.value)) return kernelFailure(failure.value as AskError)
      const error = FastSchema.encodeEither(resultSchemas(request).failure)(failure.value)
      return Either.isRight(error)
        ? { _tag: "Failure", error: error.right }
        : crashedReply(request, `failure did not encode: ${error.left.message}`)
    }
    if (!isAsk(request)) return { _tag: "Success", value: null }
    const value = FastSchema.encodeEither(resultSchemas(request).success)(exit.value)
    return Either.isRight(value)
      ? { _tag: "Success", value: value.right }
      : crashedReply(request, `answer did not encode: ${value.left.message}`)
  })()
  // An answer or a typed failure is already in its wire form (the union's `Unknown` fields
  // encode as themselves); only a kernel failure's classes need the Schema.
  return reply._tag === "KernelFailure" ? encodeReplyPayload(reply) : Either.right(reply)
}

const isAskError = Schema.is(AskErrorSchema)
const encodeReplyPayload = Schema.encodeEither(ReplyPayload)

const decodeReplyPayload = Schema.decodeUnknownEither(ReplyPayload)

/** @internal */
export const decodeReply = (
  request: AskRequest,
  payload: unknown
): Either.Either<Exit.Exit<unknown, unknown>, ParseResult.ParseError> =>
  Either.flatMap(
    // The common shapes checked by hand (a tag and its one field, which the union leaves as
    // `Unknown`); a kernel failure, or anything unusual, through the Schema.
    typeof payload === "object" &&
      payload !== null &&
      (((payload as { _tag?: unknown })._tag === "Success" && Object.prototype.hasOwnProperty.call(payload, "value")) ||
        ((payload as { _tag?: unknown })._tag === "Failure" && Object.prototype.hasOwnProperty.call(payload, "error")))
      ? Either.right(payload as ReplyPayload)
      : decodeReplyPayload(payload),
    (reply): Either.Either<Exit.Exit<unknown, unknown>, ParseResult.ParseError> => {
      switch (reply._tag) {
        case "Success":
          return Either.map(FastSchema.decodeUnknownEither(resultSchemas(request).success)(reply.value), Exit.succeed)
        case "Failure":
          return Either.map(FastSchema.decodeUnknownEither(resultSchemas(request).failure)(reply.error), Exit.fail)
        case "KernelFailure":
          return Either.right(Exit.fail(reply.error))
      }
    }
  )
