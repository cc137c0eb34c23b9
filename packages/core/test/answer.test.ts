import { describe, expect, it } from "@effect/vitest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Answer from "../src/api/Answer.js"
import * as Refusals from "../src/api/Refusals.js"
import { ChatBusy, GroupNotFound } from "../src/chat/Protocol.js"
import { AskTimeout, Unreachable } from "../src/kernel/Errors.js"

/** The status, headers and JSON body a route failing with `error` answers. */
const answered = (error: unknown, otherwise?: (e: unknown) => Answer.Refusal) =>
  Effect.gen(function* () {
    const response = yield* Answer.answer(Effect.fail(error), otherwise)
    const body = response.body
    const json = body._tag === "Uint8Array" ? JSON.parse(new TextDecoder().decode(body.body)) : undefined
    return { status: response.status, headers: response.headers, json }
  })

class Teapot extends Schema.TaggedError<Teapot>()(
  "Teapot",
  { reason: Schema.String },
  Answer.annotations({ status: 418, headers: { "x-brew": "tea" } })
) {
  override get message() {
    return `short and stout: ${this.reason}`
  }
}

describe("answering a route's failure", () => {
  it.effect("a domain error answers with the status and headers its class carries, its tag and message", () =>
    Effect.gen(function* () {
      expect(yield* answered(new Teapot({ reason: "no coffee" }))).toEqual({
        status: 418,
        headers: expect.objectContaining({ "x-brew": "tea" }),
        json: { error: "Teapot", message: "short and stout: no coffee" }
      })
      const missing = yield* answered(new GroupNotFound({ group: "g1" }))
      expect([missing.status, missing.json]).toEqual([404, { error: "GroupNotFound", message: "no group g1" }])
      const unauthorized = yield* answered(new Refusals.Unauthorized({ message: "token expired" }))
      expect([unauthorized.status, unauthorized.headers["www-authenticate"]]).toEqual([401, "Bearer"])
    })
  )

  it.effect("headers for one answer are added to the class's own", () =>
    Effect.gen(function* () {
      const busy = yield* answered(Answer.withHeaders(new ChatBusy({ reason: "full" }), { "retry-after": "5" }))
      expect(busy).toEqual({
        status: 503,
        headers: expect.objectContaining({ "retry-after": "5" }),
        json: { error: "ChatBusy", message: "busy: full" }
      })
      expect((yield* answered(new ChatBusy({ reason: "full" }))).headers["retry-after"]).toBe("2")
    })
  )

  it.effect("the kernel's errors have their statuses; a malformed body is 400 or 413", () =>
    Effect.gen(function* () {
      const timeout = yield* answered(new AskTimeout({ address: "echo@s1", tag: "Echo", timeoutMillis: 5 }))
      expect([timeout.status, timeout.json.error]).toEqual([504, "AskTimeout"])
      expect((yield* answered(new Unreachable({ site: "zz", reason: "no route" }))).status).toBe(502)
      const decoded = yield* Effect.either(Schema.decodeUnknown(Schema.Number)("x"))
      expect(decoded._tag === "Left" && (yield* answered(decoded.left)).status).toBe(400)
      const tooLarge = { _tag: "RequestError", reason: "Decode", cause: new Error("maxBytes exceeded") }
      expect((yield* answered(tooLarge)).json).toEqual({
        error: "PayloadTooLarge",
        message: "the request body is over the site's limit"
      })
      expect((yield* answered({ _tag: "RequestError", reason: "Decode", cause: "bad" })).status).toBe(400)
    })
  )

  it.effect("what has no status goes to the module's word for it, else 500", () =>
    Effect.gen(function* () {
      const odd = { _tag: "Odd", message: "odd" }
      expect((yield* answered(odd)).status).toBe(500)
      const mine = yield* answered(odd, () => ({ status: 422, error: "Mine", message: "mine", headers: {} }))
      expect([mine.status, mine.json]).toEqual([422, { error: "Mine", message: "mine" }])
      // A success passes through untouched.
      const ok = yield* Answer.answer(Effect.succeed(HttpServerResponse.text("fine")))
      expect(ok.status).toBe(200)
    })
  )
})
