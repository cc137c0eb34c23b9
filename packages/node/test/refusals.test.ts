import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { type Answer, login, loginOnly, oneSite, send } from "./support/site.js"

const b64 = (text: string) => Buffer.from(text).toString("base64")
const call = (url: string, options: Parameters<typeof send>[1] = {}) => Effect.promise(() => send(url, options))
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  call(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) })

/** The one refusal shape: `error` and `message` (strings), whatever fields the error adds. */
const refusal = (answer: Answer) => {
  const body = JSON.parse(answer.body) as Record<string, unknown>
  expect(typeof body.error, answer.body).toBe("string")
  expect(typeof body.message, answer.body).toBe("string")
  return body as { error: string; message: string } & Record<string, unknown>
}

describe("refusals of a real site over HTTP", () => {
  it.live(
    "one shape on every route, never the refused value, in words",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const base = yield* oneSite(undefined, { operators: ["ops"] })
          const alice = yield* Effect.promise(() => login(base, "alice"))
          const ops = yield* Effect.promise(() => loginOnly(base, "ops"))

          // Accounts and operator routes answer as module routes do: { error, message }.
          const taken = yield* post(`${base}/v1/accounts`, { name: "alice", password: "another-password" })
          expect(taken.status).toBe(409)
          expect(refusal(taken)).toMatchObject({
            error: "AccountExists",
            message: "the name alice is taken",
            name: "alice"
          })
          const anonymous = yield* call(`${base}/v1/admin/status`)
          expect(anonymous.status).toBe(401)
          expect(refusal(anonymous)).toMatchObject({ error: "Unauthorized", reason: "missing" })
          const forbidden = yield* call(`${base}/v1/admin/status`, { headers: { authorization: `Bearer ${alice}` } })
          expect(forbidden.status).toBe(403)
          expect(refusal(forbidden)).toMatchObject({
            error: "Forbidden",
            message: "alice does not have the operator role"
          })
          const wrong = yield* post(`${base}/v1/accounts/login`, { name: "alice", password: "not her password" })
          expect(refusal(wrong)).toMatchObject({ error: "InvalidCredentials", message: "wrong name or password" })
          expect(refusal(yield* call(`${base}/v1/files/inbox`))).toMatchObject({ error: "Unauthorized" })
          expect(refusal(yield* call(`${base}/no/such/route`))).toMatchObject({ error: "NotFound" })

          // A 4,097-character password is refused without coming back (nor any of it).
          const password = "p".repeat(4097)
          const long = yield* post(`${base}/v1/accounts`, { name: "mallory", password })
          expect(long.status).toBe(400)
          expect(long.body.length).toBeLessThan(1000)
          expect(long.body).not.toContain("pppppppp")
          expect(refusal(long).message).toContain("password")
          expect(refusal(long).message).toContain("4096")
          // ping's echo: the text's bound, not the text.
          const echo = yield* call(`${base}/v1/ping/echo?text=${"a".repeat(5000)}`)
          expect(echo.status).toBe(400)
          expect(echo.body).not.toContain("aaaaaaaa")
          expect(refusal(echo).message).toContain("text")
          expect(refusal(echo).message).toContain("4096")

          // A chat user move of a name nobody has: said in words.
          const move = yield* post(
            `${base}/v1/chat/admin/users/south../move`,
            { region: "north" },
            { authorization: `Bearer ${ops}` }
          )
          expect(move.status).toBe(400)
          expect(refusal(move).message).toBe('no user named "south.."')

          // tus: what is wrong with Upload-Length.
          const tus = { "tus-resumable": "1.0.0", authorization: `Bearer ${alice}` }
          for (const value of ["-1", "abc"]) {
            const created = yield* call(`${base}/v1/files/uploads`, {
              method: "POST",
              headers: { ...tus, "upload-length": value, "upload-metadata": `recipients ${b64("alice")}` }
            })
            expect(created.status).toBe(400)
            expect(refusal(created).message).toContain("Upload-Length must be the file's size in bytes")
          }

          // The bearer scheme in any case (RFC 7235), on every kind of route.
          for (const scheme of ["bearer", "BEARER"]) {
            expect(
              (yield* call(`${base}/v1/files/inbox`, { headers: { authorization: `${scheme} ${alice}` } })).status
            ).toBe(200)
            expect(
              (yield* call(`${base}/v1/accounts/me`, { headers: { authorization: `${scheme} ${alice}` } })).status
            ).toBe(200)
            expect(
              (yield* call(`${base}/v1/chat/groups`, { headers: { authorization: `${scheme} ${alice}` } })).status
            ).not.toBe(401)
          }

          // A download: If-None-Match by the weak comparison, HEAD with its type.
          const content = Buffer.from("cached content")
          const created = yield* call(`${base}/v1/files/uploads`, {
            method: "POST",
            headers: {
              ...tus,
              "upload-length": String(content.length),
              "upload-metadata": `recipients ${b64("alice")}`
            }
          })
          const done = yield* call(`${base}${String(created.headers.location)}`, {
            method: "PATCH",
            headers: { ...tus, "upload-offset": "0", "content-type": "application/offset+octet-stream" },
            body: content
          })
          const download = `${base}/v1/files/data/${String(done.headers["meridian-transfer"])}`
          const address = yield* call(
            `${base}/v1/files/transfers/${String(done.headers["meridian-transfer"])}/download`,
            {
              headers: { authorization: `Bearer ${alice}`, accept: "application/json" }
            }
          )
          const url = (JSON.parse(address.body) as { url?: string }).url ?? download
          const full = yield* call(url)
          expect(full.status).toBe(200)
          const etag = String(full.headers.etag)
          for (const match of [etag, `W/${etag}`, `"other", ${etag}`, `"a", W/${etag}`, "*"]) {
            expect((yield* call(url, { headers: { "if-none-match": match } })).status, match).toBe(304)
          }
          expect((yield* call(url, { headers: { "if-none-match": '"other", W/"else"' } })).status).toBe(200)
          const head = yield* call(url, { method: "HEAD" })
          expect(head.status).toBe(200)
          expect(head.headers["content-type"]).toBe("application/octet-stream")
          expect(head.headers["content-length"]).toBe(String(content.length))
        })
      ),
    60_000
  )
})
