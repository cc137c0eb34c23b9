import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import { login, oneSite, send } from "./support/site.js"

const b64 = (text: string) => Buffer.from(text).toString("base64")

describe("a finished tus upload, over a real HTTP server", () => {
  it.live(
    "answers HEAD 200 at its full length until it expires; a client that runs again makes no second transfer",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const base = yield* oneSite("{ files: { finishedUploadTtlSeconds: 2 } }")
          const [alice, bob] = yield* Effect.promise(() => Promise.all([login(base, "alice"), login(base, "bob")]))
          const content = Buffer.from("the whole file, sent once")
          const sha = createHash("sha256").update(content).digest("hex")
          const tus = { "tus-resumable": "1.0.0", authorization: `Bearer ${alice}` }
          const inbox = () =>
            Effect.promise(() => send(`${base}/v1/files/inbox`, { headers: { authorization: `Bearer ${bob}` } })).pipe(
              Effect.map((a) => (JSON.parse(a.body) as { transfers: Array<{ id: string }> }).transfers)
            )

          // As a tus client sends it: create, then the bytes.
          const created = yield* Effect.promise(() =>
            send(`${base}/v1/files/uploads`, {
              method: "POST",
              headers: {
                ...tus,
                "upload-length": String(content.length),
                "upload-metadata": `filename ${b64("a.txt")},recipients ${b64("bob")},sha256 ${b64(sha)}`
              }
            })
          )
          expect(created.status).toBe(201)
          const upload = `${base}${String(created.headers.location)}`
          const patch = (offset: number, body: Buffer) =>
            Effect.promise(() =>
              send(upload, {
                method: "PATCH",
                headers: { ...tus, "upload-offset": String(offset), "content-type": "application/offset+octet-stream" },
                body
              })
            )
          const done = yield* patch(0, content)
          expect(done.status).toBe(204)
          const transfer = done.headers["meridian-transfer"]

          // The client runs again (findPreviousUploads): HEAD says it is all there.
          const head = yield* Effect.promise(() => send(upload, { method: "HEAD", headers: tus }))
          expect(head.status).toBe(200)
          expect(head.headers["upload-offset"]).toBe(String(content.length))
          expect(head.headers["upload-length"]).toBe(String(content.length))
          expect(head.headers["meridian-transfer"]).toBe(transfer)
          // A client that resends its last PATCH is told it is complete; one that sends bytes again is refused.
          expect((yield* patch(content.length, Buffer.alloc(0))).status).toBe(204)
          const again = yield* patch(0, content)
          expect(again.status).toBe(409)
          expect(JSON.parse(again.body)).toMatchObject({ error: "Conflict" })
          expect(JSON.parse(again.body).message).toContain("complete")
          // Somebody else's client learns nothing of it.
          const other = yield* Effect.promise(() =>
            send(upload, { method: "HEAD", headers: { ...tus, authorization: `Bearer ${bob}` } })
          )
          expect(other.status).toBe(404)
          expect((yield* inbox()).map((t) => t.id)).toEqual([transfer])

          // After the retention (finishedUploadTtlSeconds) the address is gone; the transfer stays.
          yield* Effect.sleep("2100 millis")
          expect((yield* Effect.promise(() => send(upload, { method: "HEAD", headers: tus }))).status).toBe(410)
          expect((yield* inbox()).map((t) => t.id)).toEqual([transfer])
        })
      ),
    60_000
  )
})
