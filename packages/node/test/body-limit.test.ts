import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { login, oneSite, raw, send } from "./support/site.js"

/** A 2 MiB JSON-looking body: twice the site's default bound (1 MiB). */
const big = Buffer.concat([Buffer.from('{"name":"'), Buffer.alloc(2 * 1024 * 1024, 97), Buffer.from('"}')])

/** The status line and JSON body of a raw HTTP answer. */
const parse = (answer: string) => {
  const [head = "", body = ""] = answer.split("\r\n\r\n")
  return { status: head.split("\r\n")[0] ?? "", head: head.toLowerCase(), body }
}

const chunked = (body: Buffer) =>
  Buffer.concat([
    ...Array.from({ length: Math.ceil(body.length / 65536) }, (_, i) => {
      const part = body.subarray(i * 65536, (i + 1) * 65536)
      return Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from("\r\n")])
    }),
    Buffer.from("0\r\n\r\n")
  ])

describe("bodies over the site's limit, on a real HTTP server", () => {
  it.live(
    "get 413 with a JSON error on accounts, chat and operator routes, declared or chunked; tus PATCH keeps its own bound",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const base = yield* oneSite()
          const port = Number(new URL(base).port)
          const token = yield* Effect.promise(() => login(base, "alice"))
          const routes = ["/v1/accounts", "/v1/accounts/login", "/v1/chat/groups", "/v1/admin/deadletters/replay"]
          for (const path of routes) {
            for (const framing of ["content-length", "chunked"] as const) {
              const head = [
                `POST ${path} HTTP/1.1`,
                "Host: 127.0.0.1",
                `Authorization: Bearer ${token}`,
                "Content-Type: application/json",
                framing === "chunked" ? "Transfer-Encoding: chunked" : `Content-Length: ${big.length}`,
                "",
                ""
              ].join("\r\n")
              const answer = parse(
                yield* Effect.promise(() => raw(port, head, framing === "chunked" ? chunked(big) : big))
              )
              expect(answer.status, `${path} ${framing}`).toBe("HTTP/1.1 413 Payload Too Large")
              expect(answer.head, `${path} ${framing}`).toContain("content-type: application/json")
              expect(answer.head, `${path} ${framing}`).toContain("connection: close")
              expect(JSON.parse(answer.body), `${path} ${framing}`).toMatchObject({
                error: "PayloadTooLarge",
                message: expect.stringContaining("1048576 bytes")
              })
            }
          }
          // The site still answers, and a small body on the same routes is read as usual.
          expect((yield* Effect.promise(() => send(`${base}/health`))).status).toBe(200)

          // A tus PATCH takes a body over the site's bound: its upload's length is the bound.
          const created = yield* Effect.promise(() =>
            send(`${base}/v1/files/uploads`, {
              method: "POST",
              headers: {
                "tus-resumable": "1.0.0",
                authorization: `Bearer ${token}`,
                "upload-length": String(big.length),
                "upload-metadata": `recipients ${Buffer.from("alice").toString("base64")}`
              }
            })
          )
          expect(created.status).toBe(201)
          const patched = yield* Effect.promise(() =>
            send(`${base}${String(created.headers.location)}`, {
              method: "PATCH",
              headers: {
                "tus-resumable": "1.0.0",
                authorization: `Bearer ${token}`,
                "upload-offset": "0",
                "content-type": "application/offset+octet-stream"
              },
              body: big
            })
          )
          expect(patched.status).toBe(204)
          expect(patched.headers["upload-offset"]).toBe(String(big.length))
        })
      ),
    120_000
  )
})
