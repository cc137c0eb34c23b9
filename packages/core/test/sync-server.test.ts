import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as SimHost from "../src/sim/SimHost.js"
import * as Site from "../src/site/Site.js"
import { hashOf } from "../src/stores/Blobs.js"
import * as MemoryStores from "../src/stores/Memory.js"
import * as Chunker from "../src/sync/Chunker.js"
import * as Manifest from "../src/sync/Manifest.js"
import type { Event, Session } from "../src/sync/Protocol.js"
import * as Sync from "../src/sync/Sync.js"
import * as Builder from "../src/topology/Builder.js"

const stores = Layer.merge(
  MemoryStores.layer({ signingKey: new Uint8Array(32).fill(7), scrypt: { N: 1024 } }),
  SimHost.layerStandalone()
)

const settings = { minSize: 1024, avgSize: 4096, maxSize: 16_384 }

/** Bytes that differ from seed to seed. */
const content = (size: number, seed: number) => {
  const out = new Uint8Array(size)
  let x = seed * 2654435761 + 1
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

/** A file cut into chunks: its manifest and each chunk's bytes. */
const cut = (bytes: Uint8Array) => {
  const manifest = Either.getOrThrow(Manifest.fromBytes(bytes, Either.getOrThrow(Chunker.make(settings))))
  const chunks = new Map<string, Uint8Array>()
  let at = 0
  for (const c of manifest.chunks) {
    chunks.set(c.hash, bytes.slice(at, at + c.size))
    at += c.size
  }
  return { manifest, chunks }
}

/** Uploads what the server lacks and commits the whole manifest. */
const upload = (session: Session, path: string, base: number, bytes: Uint8Array) =>
  Effect.gen(function* () {
    const { chunks, manifest } = cut(bytes)
    const missing = yield* session.missing([...chunks.keys()])
    for (const hash of missing) yield* session.putChunk(hash, chunks.get(hash)!)
    const result = yield* session.commit({
      path,
      base,
      op: { _tag: "Put", mtime: 1, content: { _tag: "Manifest", bytes: Manifest.encode(manifest) } }
    })
    return { result, manifest, missing }
  })

const start = (settings: Record<string, unknown> = {}) =>
  Effect.gen(function* () {
    const topology = yield* Builder.make("t")
      .region("north", { cidrs: ["10.1.0.0/16"] })
      .defaultRegion("north")
      .site("n1", { region: "north", tcp: "127.0.0.1:0", http: "127.0.0.1:0", modules: { sync: settings } })
      .build()
    const site = yield* Site.start({ topology, site: "n1", modules: [Sync.module] })
    for (const name of ["alice", "bob"]) yield* site.accounts.register(name, `${name}-password-1`)
    return site.service(Sync.module)!
  })

const failure = <A, E>(effect: Effect.Effect<A, E>) => Effect.flip(effect)

describe("sync server", () => {
  it.scoped("numbers commits strictly increasing and refuses a second commit on one base", () =>
    Effect.gen(function* () {
      const sync = yield* start()
      const laptop = sync.session("alice", "laptop")
      const phone = sync.session("alice", "phone")
      const a = yield* upload(laptop, "a.txt", 0, content(20_000, 1))
      const b = yield* upload(laptop, "b.txt", 0, content(30_000, 2))
      const a2 = yield* upload(laptop, "a.txt", 1, content(20_000, 3))
      const seqs = [a, b, a2].map((x) => x.result.changes[0]!.seq)
      expect(seqs).toEqual([1, 2, 3])
      expect(a2.result.changes[0]!.version).toBe(2)

      // The phone edits version 1 too: refused, nothing recorded.
      const lost = yield* failure(upload(phone, "a.txt", 1, content(20_000, 4)))
      expect(lost).toMatchObject({ _tag: "SyncConflict", path: "a.txt", current: 2 })
      const head = yield* phone.head
      expect(head.head).toBe(3)
      const page = yield* phone.changes(0)
      expect(page.entries.map((c) => [c.path, c.seq])).toEqual([
        ["b.txt", 2],
        ["a.txt", 3]
      ])
    }).pipe(Effect.provide(stores))
  )

  it.scoped("a delta commit, a rename without upload, a delete, versions and a restore", () =>
    Effect.gen(function* () {
      const sync = yield* start()
      const s = sync.session("alice", "laptop")
      const original = content(100_000, 5)
      const first = yield* upload(s, "doc.bin", 0, original)
      // A 100-byte edit in the middle: the delta names the few new chunks.
      const edited = original.slice()
      edited.set(content(100, 6), 50_000)
      const next = cut(edited)
      const missing = yield* s.missing([...next.chunks.keys()])
      expect(missing.length).toBeGreaterThan(0)
      expect(missing.length).toBeLessThan(next.chunks.size)
      for (const hash of missing) yield* s.putChunk(hash, next.chunks.get(hash)!)
      const delta = Manifest.encodeDelta(Manifest.diff(first.manifest, next.manifest))
      expect(delta.length).toBeLessThan(Manifest.encode(next.manifest).length)
      const committed = yield* s.commit({
        path: "doc.bin",
        base: 1,
        op: { _tag: "Put", mtime: 2, content: { _tag: "Delta", bytes: delta } }
      })
      const entry = committed.changes[0]!.entry
      expect(entry).toMatchObject({ _tag: "File", manifest: Manifest.digest(next.manifest), size: edited.length })

      // The server answers the new manifest as a delta against the one the device holds.
      const answered = yield* s.manifest(Manifest.digest(next.manifest), Manifest.digest(first.manifest))
      expect(answered._tag).toBe("Delta")
      const applied = Manifest.apply(first.manifest, Either.getOrThrow(Manifest.decodeDelta(answered.bytes)))
      expect(Manifest.digest(Either.getOrThrow(applied))).toBe(Manifest.digest(next.manifest))

      // A rename moves the content: no chunk to upload, two numbers.
      const renamed = yield* s.commit({ path: "doc.bin", base: 2, op: { _tag: "Rename", to: "docs/doc.bin" } })
      expect(renamed.changes.map((c) => [c.path, c.entry._tag, c.seq])).toEqual([
        ["doc.bin", "Tombstone", 3],
        ["docs/doc.bin", "File", 4]
      ])
      expect(renamed.changes[1]!.entry).toEqual(entry)

      // A delete is a tombstone with a number; the content stays restorable.
      const deleted = yield* s.commit({ path: "docs/doc.bin", base: 1, op: { _tag: "Delete" } })
      expect(deleted.changes[0]).toMatchObject({ path: "docs/doc.bin", seq: 5, entry: { _tag: "Tombstone" } })
      const kept = yield* s.versions("docs/doc.bin")
      expect(kept.map((v) => v.version)).toEqual([1])
      const restored = yield* s.restore("docs/doc.bin", 1)
      expect(restored.changes[0]).toMatchObject({ path: "docs/doc.bin", version: 3, seq: 6, entry })
      // Every chunk of the restored version is still there.
      for (const [hash, bytes] of next.chunks) expect(yield* s.getChunk(hash)).toEqual(bytes)
      // The older version of doc.bin is kept too.
      expect((yield* s.versions("doc.bin")).map((v) => v.version)).toEqual([2, 1])
    }).pipe(Effect.provide(stores))
  )

  it.scoped("quota: a put past it is 507, a delete is always taken", () =>
    Effect.gen(function* () {
      const sync = yield* start({ quotaBytes: 50_000 })
      const s = sync.session("alice", "laptop")
      yield* upload(s, "a", 0, content(40_000, 7))
      const refused = yield* failure(upload(s, "b", 0, content(20_000, 8)))
      expect(refused).toMatchObject({ _tag: "QuotaExceeded", what: "bytes", limit: 50_000 })
      expect((yield* s.head).head).toBe(1)
      yield* s.commit({ path: "a", base: 1, op: { _tag: "Delete" } })
      const retried = yield* upload(s, "b", 0, content(20_000, 8))
      expect(retried.result.changes[0]!.seq).toBe(3)
    }).pipe(Effect.provide(stores))
  )

  it.scoped("too many devices: the one past the bound is refused, the others go on", () =>
    Effect.gen(function* () {
      const sync = yield* start({ maxDevices: 2 })
      yield* sync.session("alice", "one").head
      yield* sync.session("alice", "two").head
      expect(yield* failure(sync.session("alice", "three").head)).toMatchObject({ _tag: "TooManyDevices", limit: 2 })
      expect((yield* sync.session("alice", "one").head).head).toBe(0)
      // Another account's devices count apart.
      yield* sync.session("bob", "three").head
    }).pipe(Effect.provide(stores))
  )

  it.scoped("an account never sees another's chunks", () =>
    Effect.gen(function* () {
      const sync = yield* start()
      const alice = sync.session("alice", "laptop")
      const bob = sync.session("bob", "desk")
      const bytes = content(10_000, 9)
      const { chunks } = cut(bytes)
      const [hash] = [...chunks.keys()]
      yield* alice.putChunk(hash!, chunks.get(hash!)!)
      expect(yield* alice.missing([hash!])).toEqual([])
      // Bob is told he lacks it, though the site stores it, and may not read it.
      expect(yield* bob.missing([hash!])).toEqual([hash])
      expect(yield* failure(bob.getChunk(hash!))).toMatchObject({ _tag: "SyncNotFound" })
      // Nor commit a manifest naming it without uploading it himself.
      const { manifest } = cut(bytes)
      const refused = yield* failure(
        bob.commit({
          path: "x",
          base: 0,
          op: { _tag: "Put", mtime: 0, content: { _tag: "Manifest", bytes: Manifest.encode(manifest) } }
        })
      )
      expect(refused._tag).toBe("ChunksMissing")
      // Once he uploads the same bytes (deduplicated), they are his too.
      for (const [h, b] of chunks) yield* bob.putChunk(h, b)
      expect(yield* bob.getChunk(hash!)).toEqual(chunks.get(hash!))
    }).pipe(Effect.provide(stores))
  )

  it.scoped("bad input is refused and records nothing", () =>
    Effect.gen(function* () {
      const sync = yield* start()
      const s = sync.session("alice", "laptop")
      const bytes = content(5000, 10)
      const wrongName = hashOf(content(5000, 11))
      expect(yield* failure(s.putChunk(wrongName, bytes))).toMatchObject({ _tag: "SyncInvalid" })
      expect(yield* s.missing([wrongName])).toEqual([wrongName])
      // A manifest naming chunks never uploaded.
      const { manifest } = cut(content(50_000, 12))
      const missing = yield* failure(
        s.commit({
          path: "f",
          base: 0,
          op: { _tag: "Put", mtime: 0, content: { _tag: "Manifest", bytes: Manifest.encode(manifest) } }
        })
      )
      expect(missing).toMatchObject({ _tag: "ChunksMissing" })
      expect((missing as { chunks: ReadonlyArray<string> }).chunks.length).toBe(
        new Set(manifest.chunks.map((c) => c.hash)).size
      )
      // Garbage for a manifest, a path with `..`, a bad device name.
      const garbage = yield* failure(
        s.commit({
          path: "f",
          base: 0,
          op: { _tag: "Put", mtime: 0, content: { _tag: "Manifest", bytes: new Uint8Array([1, 2, 3]) } }
        })
      )
      expect(garbage._tag).toBe("SyncInvalid")
      expect((yield* failure(s.commit({ path: "../x", base: 0, op: { _tag: "Delete" } })))._tag).toBe("SyncInvalid")
      expect((yield* failure(sync.session("alice", "bad name!").head))._tag).toBe("SyncInvalid")
      expect((yield* s.head).head).toBe(0)
    }).pipe(Effect.provide(stores))
  )

  it.scoped("events: a Head first, then each commit as it is made", () =>
    Effect.gen(function* () {
      const sync = yield* start()
      const s = sync.session("alice", "laptop")
      yield* upload(s, "before", 0, content(3000, 13))
      const events = yield* Queue.unbounded<Event>()
      yield* Effect.forkScoped(Stream.runForEach(s.events(0), (e) => Queue.offer(events, e)))
      const describe = (e: Event) => (e._tag === "Head" ? `head ${e.head}` : `${e.change.path} ${e.change.seq}`)
      expect(describe(yield* Queue.take(events))).toBe("head 1")
      expect(describe(yield* Queue.take(events))).toBe("before 1")
      // Live: committed after the stream caught up.
      yield* upload(s, "after", 0, content(3000, 14))
      expect(describe(yield* Queue.take(events))).toBe("after 2")
      // Another device's commit reaches it too.
      yield* upload(sync.session("alice", "phone"), "from-phone", 0, content(3000, 15))
      expect(describe(yield* Queue.take(events))).toBe("from-phone 3")
    }).pipe(Effect.provide(stores))
  )
})

describe("sync server: batches", () => {
  it.scoped("putChunks keeps the good chunks of a batch and names the bad one; getChunks answers them", () =>
    Effect.gen(function* () {
      const sync = yield* start()
      const s = sync.session("alice", "laptop")
      const good = [content(3000, 20), content(4000, 21), content(5000, 22)].map((bytes) => ({
        hash: hashOf(bytes),
        bytes
      }))
      const bad = { hash: hashOf(content(3000, 23)), bytes: content(3000, 24) }
      const refused = yield* failure(s.putChunks([good[0]!, bad, good[1]!, good[2]!]))
      expect(refused).toMatchObject({ _tag: "SyncInvalid" })
      expect((refused as { reason: string }).reason).toContain(bad.hash)
      for (const g of good) expect((refused as { reason: string }).reason).not.toContain(g.hash)
      // The good ones are held, the bad one is not.
      expect(yield* s.missing([...good.map((g) => g.hash), bad.hash])).toEqual([bad.hash])
      const fetched = yield* s.getChunks(good.map((g) => g.hash))
      expect(fetched.map((c) => c.hash)).toEqual(good.map((g) => g.hash))
      expect(fetched.map((c) => c.bytes)).toEqual(good.map((g) => g.bytes))
      // A smaller budget: a prefix, at least one chunk, to ask again for the rest.
      const names = good.map((g) => g.hash)
      expect((yield* s.getChunks(names, 7000)).map((c) => c.hash)).toEqual(names.slice(0, 2))
      expect((yield* s.getChunks(names, 6999)).map((c) => c.hash)).toEqual(names.slice(0, 1))
      expect(
        (yield* s.getChunks(
          good.map((g) => g.hash),
          1
        )).map((c) => c.hash)
      ).toEqual([good[0]!.hash])
      // A chunk the account does not hold (another's, or none) is not found.
      expect(yield* failure(sync.session("bob", "desk").getChunks([good[0]!.hash]))).toMatchObject({
        _tag: "SyncNotFound"
      })
      expect(yield* failure(s.getChunks([good[0]!.hash, bad.hash]))).toMatchObject({ _tag: "SyncNotFound" })
      // The same chunks again: nothing new, no refusal.
      yield* s.putChunks(good)
    }).pipe(Effect.provide(stores))
  )

  it.scoped("commitMany answers each commit; a conflict in the middle undoes none of the others", () =>
    Effect.gen(function* () {
      const sync = yield* start()
      const laptop = sync.session("alice", "laptop")
      const phone = sync.session("alice", "phone")
      yield* upload(phone, "b.txt", 0, content(2000, 30))
      const files = [content(2000, 31), content(2000, 32), content(2000, 33)].map(cut)
      yield* laptop.putChunks(files.flatMap((f) => [...f.chunks].map(([hash, bytes]) => ({ hash, bytes }))))
      const put = (path: string, base: number, f: ReturnType<typeof cut>) => ({
        path,
        base,
        op: {
          _tag: "Put" as const,
          mtime: 1,
          content: { _tag: "Manifest" as const, bytes: Manifest.encode(f.manifest) }
        }
      })
      const outcomes = yield* laptop.commitMany([
        put("a.txt", 0, files[0]!),
        put("b.txt", 0, files[1]!), // b.txt is at version 1: a conflict
        put("c.txt", 0, files[2]!),
        { path: "a.txt", base: 1, op: { _tag: "Rename", to: "d.txt" } }
      ])
      expect(outcomes.map((o) => o._tag)).toEqual(["Committed", "Refused", "Committed", "Committed"])
      expect(outcomes[1]).toMatchObject({ _tag: "Refused", error: { _tag: "SyncConflict", path: "b.txt", current: 1 } })
      const page = yield* phone.changes(0)
      expect(page.entries.map((c) => [c.path, c.entry._tag])).toEqual([
        ["b.txt", "File"],
        ["c.txt", "File"],
        ["a.txt", "Tombstone"],
        ["d.txt", "File"]
      ])
      // b.txt kept the phone's version.
      expect(page.entries[0]!.device).toBe("phone")
    }).pipe(Effect.provide(stores))
  )

  it.scoped("a batch over its bounds is refused whole, with a typed error, and records nothing", () =>
    Effect.gen(function* () {
      const sync = yield* start({ maxBatchChunks: 2, maxBatchBytes: 65_536, maxBatchCommits: 2 })
      const s = sync.session("alice", "laptop")
      const chunks = [content(1000, 40), content(1000, 41), content(1000, 42)].map((bytes) => ({
        hash: hashOf(bytes),
        bytes
      }))
      expect(yield* failure(s.putChunks(chunks))).toMatchObject({ _tag: "SyncInvalid" })
      const large = [content(40_000, 43), content(40_000, 44)].map((bytes) => ({ hash: hashOf(bytes), bytes }))
      expect(yield* failure(s.putChunks(large))).toMatchObject({ _tag: "SyncInvalid" })
      expect(yield* s.missing([...chunks, ...large].map((c) => c.hash))).toHaveLength(5)
      expect(yield* failure(s.getChunks(chunks.map((c) => c.hash)))).toMatchObject({ _tag: "SyncInvalid" })
      expect(yield* failure(s.getChunks([]))).toMatchObject({ _tag: "SyncInvalid" })
      const deletes = ["x", "y", "z"].map((path) => ({ path, base: 0, op: { _tag: "Delete" as const } }))
      expect(yield* failure(s.commitMany(deletes))).toMatchObject({ _tag: "SyncInvalid" })
      expect(yield* failure(s.commitMany([]))).toMatchObject({ _tag: "SyncInvalid" })
      expect((yield* s.head).head).toBe(0)
    }).pipe(Effect.provide(stores))
  )
})
