import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Ping from "@meridian/core/ping/Ping"
import { hashOf } from "@meridian/core/stores/Blobs"
import * as Chunker from "@meridian/core/sync/Chunker"
import * as Frames from "@meridian/core/sync/Frames"
import * as HttpSession from "@meridian/core/sync/HttpSession"
import * as Manifest from "@meridian/core/sync/Manifest"
import type { Event } from "@meridian/core/sync/Protocol"
import * as Sync from "@meridian/core/sync/Sync"
import * as Loader from "@meridian/core/topology/Loader"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SiteNode from "../src/site/SiteNode.js"
import * as Stores from "../src/site/Stores.js"
import { freePort, login, loginOnly, oneSite, send } from "./support/site.js"

const content = (size: number, seed: number) => {
  const out = new Uint8Array(size)
  let x = seed * 2654435761 + 1
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

const cut = (bytes: Uint8Array) => {
  const manifest = Either.getOrThrow(
    Manifest.fromBytes(bytes, Either.getOrThrow(Chunker.make({ minSize: 1024, avgSize: 4096, maxSize: 16_384 })))
  )
  const chunks = new Map<string, Uint8Array>()
  let at = 0
  for (const c of manifest.chunks) {
    chunks.set(c.hash, bytes.slice(at, at + c.size))
    at += c.size
  }
  return { manifest, chunks }
}

const client = NodeHttpClient.layerUndici

describe("sync over HTTP on a real site", () => {
  it.live(
    "a device's flow through HttpSession: head, missing, chunks, commit, changes, delta manifest, events",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const base = yield* oneSite("{ sync: {} }")
          const token = yield* Effect.promise(() => login(base, "alice"))
          const laptop = yield* HttpSession.make({ baseUrl: base, token, device: "laptop" })
          const phone = yield* HttpSession.make({ baseUrl: base, token, device: "phone" })
          const head = yield* laptop.head
          expect(head.head).toBe(0)

          const events = yield* Queue.unbounded<Event>()
          yield* Effect.forkScoped(Stream.runForEach(phone.events(0), (e) => Queue.offer(events, e)))
          expect((yield* Queue.take(events))._tag).toBe("Head")

          const original = content(60_000, 1)
          const first = cut(original)
          const missing = yield* laptop.missing([...first.chunks.keys()])
          expect(new Set(missing)).toEqual(new Set(first.chunks.keys()))
          for (const hash of missing) yield* laptop.putChunk(hash, first.chunks.get(hash)!)
          expect(yield* laptop.missing([...first.chunks.keys()])).toEqual([])
          const committed = yield* laptop.commit({
            path: "notes/a.txt",
            base: 0,
            op: { _tag: "Put", mtime: 5, content: { _tag: "Manifest", bytes: Manifest.encode(first.manifest) } }
          })
          expect(committed.changes[0]).toMatchObject({ path: "notes/a.txt", seq: 1, version: 1, device: "laptop" })

          // The phone hears of it live, then fetches it.
          const heard = yield* Queue.take(events)
          expect(heard).toMatchObject({ _tag: "Changed", change: { path: "notes/a.txt", seq: 1 } })
          const page = yield* phone.changes(0)
          expect(page.entries.map((c) => c.path)).toEqual(["notes/a.txt"])
          const digest = Manifest.digest(first.manifest)
          const whole = yield* phone.manifest(digest)
          expect(whole._tag).toBe("Manifest")
          expect(Manifest.digest(Either.getOrThrow(Manifest.decode(whole.bytes)))).toBe(digest)
          const [hash] = [...first.chunks.keys()]
          expect(yield* phone.getChunk(hash!)).toEqual(first.chunks.get(hash!))

          // An edit; the phone, which holds version 1, gets the new manifest as a delta.
          const edited = original.slice()
          edited.set(content(50, 2), 30_000)
          const next = cut(edited)
          for (const h of yield* laptop.missing([...next.chunks.keys()])) yield* laptop.putChunk(h, next.chunks.get(h)!)
          yield* laptop.commit({
            path: "notes/a.txt",
            base: 1,
            op: {
              _tag: "Put",
              mtime: 6,
              content: { _tag: "Delta", bytes: Manifest.encodeDelta(Manifest.diff(first.manifest, next.manifest)) }
            }
          })
          const delta = yield* phone.manifest(Manifest.digest(next.manifest), digest)
          expect(delta._tag).toBe("Delta")
          expect(delta.bytes.length).toBeLessThan(Manifest.encode(next.manifest).length)
          expect(yield* Queue.take(events)).toMatchObject({ _tag: "Changed", change: { seq: 2, version: 2 } })

          // A conflict comes back as the wire error, with the current version.
          const lost = yield* Effect.flip(phone.commit({ path: "notes/a.txt", base: 1, op: { _tag: "Delete" } }))
          expect(lost).toMatchObject({ _tag: "SyncConflict", current: 2 })
          expect((yield* phone.versions("notes/a.txt")).map((v) => v.version)).toEqual([1])
          const restored = yield* phone.restore("notes/a.txt", 1)
          expect(restored.changes[0]).toMatchObject({ version: 3, seq: 3 })
        }).pipe(Effect.provide(client))
      ),
    60_000
  )

  it.live(
    "401 without a token, 4xx for bad input, every refusal in the one shape",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const base = yield* oneSite("{ sync: {} }")
          const token = yield* Effect.promise(() => login(base, "bob"))
          const auth = { authorization: `Bearer ${token}`, "meridian-device": "desk" }
          const go = (path: string, init: Parameters<typeof send>[1] = {}) =>
            Effect.promise(() => send(`${base}${path}`, init))
          expect((yield* go("/v1/sync/head")).status).toBe(401)
          expect(
            (yield* go("/v1/sync/head", { headers: { authorization: "Bearer nope", "meridian-device": "d" } })).status
          ).toBe(401)
          const noDevice = yield* go("/v1/sync/head", { headers: { authorization: `Bearer ${token}` } })
          expect(noDevice.status).toBe(400)
          expect(JSON.parse(noDevice.body)).toMatchObject({ error: "SyncInvalid" })
          const bytes = Buffer.from(content(1000, 3))
          const wrong = yield* go(`/v1/sync/chunks/${hashOf(content(1000, 4))}`, {
            method: "PUT",
            headers: auth,
            body: bytes
          })
          expect(wrong.status).toBe(400)
          const right = yield* go(`/v1/sync/chunks/${hashOf(bytes)}`, { method: "PUT", headers: auth, body: bytes })
          expect(right.status).toBe(204)
          const tooLarge = yield* go(`/v1/sync/chunks/${hashOf(bytes)}`, {
            method: "PUT",
            headers: auth,
            body: Buffer.alloc(300 * 1024)
          })
          expect(tooLarge.status).toBe(413)
          expect((yield* go("/v1/sync/chunks/xyz", { headers: auth })).status).toBe(400)
          expect((yield* go(`/v1/sync/chunks/${hashOf(content(5, 5))}`, { headers: auth })).status).toBe(404)
          const json = { ...auth, "content-type": "application/json" }
          const badCommit = yield* go("/v1/sync/commit", {
            method: "POST",
            headers: json,
            body: '{"path":"../x","base":0,"op":{"_tag":"Delete"}}'
          })
          expect(badCommit.status).toBe(400)
          expect((yield* go("/v1/sync/commit", { method: "POST", headers: json, body: "{" })).status).toBe(400)
          expect((yield* go("/v1/sync/changes?after=-1", { headers: auth })).status).toBe(400)
          expect((yield* go("/v1/sync/events", { headers: { ...auth, "last-event-id": "x" } })).status).toBe(400)
          const missing = yield* go("/v1/sync/commit", {
            method: "POST",
            headers: json,
            body: JSON.stringify({ path: "f", base: 0, op: { _tag: "Delete" } })
          })
          expect(missing.status).toBe(404)
          expect(Object.keys(JSON.parse(missing.body))).toEqual(expect.arrayContaining(["error", "message"]))
          // Nothing was recorded by any of it.
          expect(JSON.parse((yield* go("/v1/sync/head", { headers: auth })).body)).toMatchObject({ head: 0 })
        })
      ),
    60_000
  )

  it.live(
    "a device of an account homed in another region commits through its nearer site: numbered at the home",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const ports = yield* Effect.promise(() => Promise.all([freePort(), freePort(), freePort(), freePort()]))
          const topology = yield* Loader.parse(
            [
              "name: two-regions",
              "defaultRegion: north",
              "regions: { north: {}, south: {} }",
              "sites:",
              `  n1: { region: north, tcp: "127.0.0.1:${ports[0]}", http: "127.0.0.1:${ports[1]}", modules: { ping: {}, sync: {} } }`,
              `  s1: { region: south, tcp: "127.0.0.1:${ports[2]}", http: "127.0.0.1:${ports[3]}", modules: { ping: {}, sync: { relayBatchBytes: 65536 } } }`,
              "links:",
              "  - { between: [n1, s1] }"
            ].join("\n")
          )
          const secret = "test-secret-of-two-regions"
          for (const site of ["n1", "s1"]) {
            const dir = yield* Effect.acquireRelease(
              Effect.sync(() => mkdtempSync(join(tmpdir(), `meridian-sync-${site}-`))),
              (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
            )
            const stores = yield* Layer.build(
              Stores.layer({ dataDir: dir, secret }).pipe(Layer.provide(NodeContext.layer))
            )
            yield* SiteNode.start({
              topology,
              site,
              modules: [Ping.module, Sync.module],
              secret,
              keepV8Defaults: true
            }).pipe(Effect.provide(stores))
          }
          const north = `http://127.0.0.1:${ports[1]}`
          const south = `http://127.0.0.1:${ports[3]}`
          // Carol's home is north; her device talks to the south site.
          yield* Effect.promise(() => login(north, "carol"))
          const token = yield* Effect.promise(() => loginOnly(south, "carol"))
          const device = yield* HttpSession.make({ baseUrl: south, token, device: "travel" })
          const atHome = yield* HttpSession.make({
            baseUrl: north,
            token: yield* Effect.promise(() => loginOnly(north, "carol")),
            device: "home"
          })
          const bytes = content(20_000, 9)
          const file = cut(bytes)
          // The relay may need the link up first: retried while the home is unreachable.
          const missing = yield* device.missing([...file.chunks.keys()]).pipe(
            Effect.retry({
              while: (e) => e._tag === "SyncHomeUnreachable",
              times: 50,
              schedule: Schedule.spaced("200 millis")
            })
          )
          for (const h of missing) yield* device.putChunk(h, file.chunks.get(h)!)
          const committed = yield* device.commit({
            path: "trip.txt",
            base: 0,
            op: { _tag: "Put", mtime: 1, content: { _tag: "Manifest", bytes: Manifest.encode(file.manifest) } }
          })
          expect(committed.changes[0]).toMatchObject({ path: "trip.txt", seq: 1 })
          // The home holds it: its own numbering, its chunks.
          const page = yield* atHome.changes(0)
          expect(page.entries.map((c) => [c.path, c.seq, c.device])).toEqual([["trip.txt", 1, "travel"]])
          const [h] = [...file.chunks.keys()]
          expect(yield* atHome.getChunk(h!)).toEqual(file.chunks.get(h!))
          expect((yield* device.head).indexId).toBe((yield* atHome.head).indexId)

          // Batches through the relay, in several asks (relayBatchBytes 64 KiB at s1): one bad chunk
          // refused and named, the good ones kept; fetched back; commits answered each.
          const files = [content(150_000, 20), content(30_000, 21)].map(cut)
          const good = files.flatMap((f) => [...f.chunks].map(([hash, bytes]) => ({ hash, bytes })))
          const bad = { hash: hashOf(content(1000, 22)), bytes: content(1000, 23) }
          const refused = yield* Effect.flip(device.putChunks([...good.slice(0, 3), bad, ...good.slice(3)]))
          expect(refused).toMatchObject({ _tag: "SyncInvalid" })
          expect((refused as { reason: string }).reason).toContain(bad.hash)
          expect(yield* atHome.missing([...good.map((g) => g.hash), bad.hash])).toEqual([bad.hash])
          const fetched: Array<{ hash: string; bytes: Uint8Array }> = []
          while (fetched.length < good.length) {
            const part = yield* device.getChunks(good.slice(fetched.length).map((g) => g.hash))
            expect(part.length).toBeGreaterThan(0)
            fetched.push(...part)
          }
          expect(fetched.map((c) => c.hash)).toEqual(good.map((g) => g.hash))
          expect(fetched.map((c) => Buffer.from(c.bytes))).toEqual(good.map((g) => Buffer.from(g.bytes)))
          const outcomes = yield* device.commitMany([
            {
              path: "big.bin",
              base: 0,
              op: { _tag: "Put", mtime: 1, content: { _tag: "Manifest", bytes: Manifest.encode(files[0]!.manifest) } }
            },
            { path: "trip.txt", base: 0, op: { _tag: "Delete" } },
            {
              path: "small.bin",
              base: 0,
              op: { _tag: "Put", mtime: 1, content: { _tag: "Manifest", bytes: Manifest.encode(files[1]!.manifest) } }
            }
          ])
          expect(outcomes.map((o) => o._tag)).toEqual(["Committed", "Refused", "Committed"])
          expect(outcomes[1]).toMatchObject({ error: { _tag: "SyncConflict", path: "trip.txt", current: 1 } })
          expect((yield* atHome.changes(0)).entries.map((c) => c.path)).toEqual(["trip.txt", "big.bin", "small.bin"])
        }).pipe(Effect.provide(client))
      ),
    60_000
  )

  it.live(
    "batch routes over HTTP: framed chunks in and out, commits answered each, 401, 400 and 413 at the bounds",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const base = yield* oneSite("{ sync: { maxBatchChunks: 4, maxBatchBytes: 65536, maxBatchCommits: 3 } }")
          const token = yield* Effect.promise(() => login(base, "dora"))
          const laptop = yield* HttpSession.make({ baseUrl: base, token, device: "laptop" })
          const file = cut(content(12_000, 30))
          const chunks = [...file.chunks].map(([hash, bytes]) => ({ hash, bytes }))
          expect(chunks.length).toBeLessThanOrEqual(4)
          const bad = { hash: hashOf(content(500, 31)), bytes: content(500, 32) }
          const refused = yield* Effect.flip(laptop.putChunks([bad, ...chunks.slice(0, 3)]))
          expect(refused).toMatchObject({ _tag: "SyncInvalid" })
          expect((refused as { reason: string }).reason).toContain(bad.hash)
          yield* laptop.putChunks(chunks.slice(3))
          expect(yield* laptop.missing(chunks.map((c) => c.hash))).toEqual([])
          const back = yield* laptop.getChunks(chunks.map((c) => c.hash))
          expect(back.map((c) => Buffer.from(c.bytes))).toEqual(chunks.map((c) => Buffer.from(c.bytes)))
          const outcomes = yield* laptop.commitMany([
            {
              path: "a.txt",
              base: 0,
              op: { _tag: "Put", mtime: 1, content: { _tag: "Manifest", bytes: Manifest.encode(file.manifest) } }
            },
            { path: "a.txt", base: 0, op: { _tag: "Delete" } },
            { path: "a.txt", base: 1, op: { _tag: "Rename", to: "b.txt" } }
          ])
          expect(outcomes.map((o) => o._tag)).toEqual(["Committed", "Refused", "Committed"])
          expect(outcomes[1]).toMatchObject({ error: { _tag: "SyncConflict", current: 1 } })

          const go = (path: string, init: Parameters<typeof send>[1] = {}) =>
            Effect.promise(() => send(`${base}${path}`, init))
          const auth = { authorization: `Bearer ${token}`, "meridian-device": "laptop" }
          const octets = { ...auth, "content-type": "application/octet-stream" }
          const json = { ...auth, "content-type": "application/json" }
          const framed = Buffer.from(Frames.encode(chunks.slice(0, 1)))
          // No token: 401 on every batch route.
          for (const path of ["/v1/sync/chunks", "/v1/sync/chunks/fetch", "/v1/sync/commits"]) {
            expect((yield* go(path, { method: "POST", body: framed })).status).toBe(401)
          }
          // A truncated frame, five chunks where four are the bound: 400; over the bytes: 413.
          const truncated = yield* go("/v1/sync/chunks", {
            method: "POST",
            headers: octets,
            body: framed.subarray(0, 40)
          })
          expect(truncated.status).toBe(400)
          expect(JSON.parse(truncated.body)).toMatchObject({ error: "SyncInvalid" })
          const five = Buffer.from(
            Frames.encode(
              [0, 1, 2, 3, 4].map((i) => ({ hash: hashOf(content(10, 40 + i)), bytes: content(10, 40 + i) }))
            )
          )
          expect((yield* go("/v1/sync/chunks", { method: "POST", headers: octets, body: five })).status).toBe(400)
          const huge = Buffer.from(
            Frames.encode(
              [0, 1].map((i) => ({ hash: hashOf(content(40_000, 50 + i)), bytes: content(40_000, 50 + i) }))
            )
          )
          expect((yield* go("/v1/sync/chunks", { method: "POST", headers: octets, body: huge })).status).toBe(413)
          const fiveNames = JSON.stringify({ chunks: [0, 1, 2, 3, 4].map((i) => hashOf(content(10, 40 + i))) })
          expect((yield* go("/v1/sync/chunks/fetch", { method: "POST", headers: json, body: fiveNames })).status).toBe(
            400
          )
          const unknown = JSON.stringify({ chunks: [hashOf(content(10, 60))] })
          expect((yield* go("/v1/sync/chunks/fetch", { method: "POST", headers: json, body: unknown })).status).toBe(
            404
          )
          const four = JSON.stringify({
            commits: ["w", "x", "y", "z"].map((path) => ({ path, base: 0, op: { _tag: "Delete" } }))
          })
          expect((yield* go("/v1/sync/commits", { method: "POST", headers: json, body: four })).status).toBe(400)
          expect((yield* go("/v1/sync/commits", { method: "POST", headers: json, body: "{" })).status).toBe(400)
          // None of the refused requests recorded anything: a.txt then its rename.
          expect(JSON.parse((yield* go("/v1/sync/head", { headers: auth })).body)).toMatchObject({ head: 3 })
        }).pipe(Effect.provide(client))
      ),
    60_000
  )
})
