import * as FileSystem from "@effect/platform/FileSystem"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as TestClock from "effect/TestClock"
import type * as Module from "../src/site/Module.js"
import { makeFileSystem } from "../src/sim/SimFileSystem.js"
import * as Blobs from "../src/stores/Blobs.js"
import * as KeyValue from "../src/stores/KeyValue.js"
import * as Memory from "../src/stores/Memory.js"
import * as SyncIndex from "../src/stores/SyncIndex.js"
import * as UnitOfWork from "../src/stores/UnitOfWork.js"
import * as Folder from "../src/sync/client/Folder.js"
import * as LocalIndex from "../src/sync/client/LocalIndex.js"
import * as Settings from "../src/sync/client/Settings.js"
import * as Protocol from "../src/sync/Protocol.js"
import * as Server from "../src/sync/Server.js"

/**
 * The real server (`Server.makeLocal`) over the memory stores. Its `makeLocal` reads only the
 * context's stores; the site's other parts (actor system, topology) belong to the relay, which a
 * device talking to its home does not use.
 */
const server = Effect.gen(function* () {
  const ctx = yield* Layer.build(Memory.layer({ signingKey: new Uint8Array(32).fill(7) }))
  const syncIndexes = Context.get(ctx, SyncIndex.SyncIndexes)
  const stores = {
    kv: Context.get(ctx, KeyValue.KeyValue),
    blobs: Context.get(ctx, Blobs.Blobs),
    syncIndexes,
    atomically: UnitOfWork.direct.atomically
  }
  const context = { stores } as unknown as Module.SiteContext
  const local = yield* Server.makeLocal(context, Schema.decodeSync(Server.Settings)({}), Server.makeCounters())
  const admin = yield* syncIndexes.open({})
  return { local, admin }
})

interface Device {
  readonly fs: FileSystem.FileSystem
  readonly folder: Folder.Folder
  readonly write: (path: string, text: string) => Effect.Effect<void>
  readonly read: (path: string) => Effect.Effect<string | undefined>
  readonly tree: Effect.Effect<Record<string, string>>
  readonly getChunks: () => number
}

const device = (
  local: Server.Local,
  name: string,
  overrides: Partial<Settings.Settings> = {},
  wrap: (s: Protocol.Session) => Protocol.Session = (s) => s
): Effect.Effect<Device, never, Scope.Scope> =>
  Effect.gen(function* () {
    const fs = makeFileSystem()
    yield* Effect.orDie(fs.makeDirectory("/sync", { recursive: true }))
    let getChunks = 0
    const real = wrap(local.session("alice", name))
    const session: Protocol.Session = {
      ...real,
      getChunk: (hash) =>
        Effect.zipRight(
          Effect.sync(() => getChunks++),
          real.getChunk(hash)
        )
    }
    const index = yield* LocalIndex.makeMemory()
    const folder = yield* Folder.make({
      root: "/sync",
      device: name,
      session,
      settings: Settings.make({ watch: false, live: false, ...overrides })
    }).pipe(Effect.provideService(FileSystem.FileSystem, fs), Effect.provideService(LocalIndex.LocalIndex, index))
    const tree = Effect.gen(function* () {
      const names = yield* Effect.orDie(fs.readDirectory("/sync", { recursive: true }))
      const out: Record<string, string> = {}
      for (const n of names.sort()) {
        if (n.startsWith(".meridian")) continue
        const info = yield* Effect.orDie(fs.stat(`/sync/${n}`))
        if (info.type === "File") out[n] = yield* Effect.orDie(fs.readFileString(`/sync/${n}`))
      }
      return out
    })
    return {
      fs,
      folder,
      tree,
      getChunks: () => getChunks,
      write: (path, text) =>
        Effect.orDie(
          Effect.zipRight(
            fs.makeDirectory(`/sync/${path}`.slice(0, `/sync/${path}`.lastIndexOf("/")), { recursive: true }),
            fs.writeFileString(`/sync/${path}`, text)
          )
        ),
      read: (path) => fs.readFileString(`/sync/${path}`).pipe(Effect.orElseSucceed(() => undefined))
    }
  })

/** Every device syncs, twice round, moving the clock so stats are not racy. */
const settle = (...devices: ReadonlyArray<Device>) =>
  Effect.gen(function* () {
    for (let round = 0; round < 2; round++)
      for (const d of devices) {
        yield* TestClock.adjust("5 seconds")
        yield* d.folder.sync
      }
  })

const big = (n: number) => Array.from({ length: n }, (_, i) => `line ${i} ${(i * 7919) % 1000}\n`).join("")

describe("sync client end to end (two devices, the real server over memory stores)", () => {
  it.scoped("create, edit, rename, delete converge; a rename moves no chunk", () =>
    Effect.gen(function* () {
      const { local } = yield* server
      const a = yield* device(local, "laptop")
      const b = yield* device(local, "desktop")
      yield* a.write("docs/report.txt", big(20_000))
      yield* a.write("notes.md", "hello")
      yield* settle(a, b)
      expect(yield* b.tree).toEqual(yield* a.tree)
      expect(yield* b.read("notes.md")).toBe("hello")

      yield* b.write("notes.md", "hello, edited on the desktop")
      yield* settle(b, a)
      expect(yield* a.read("notes.md")).toBe("hello, edited on the desktop")

      const before = b.getChunks()
      yield* Effect.orDie(a.fs.makeDirectory("/sync/archive"))
      yield* Effect.orDie(a.fs.rename("/sync/docs/report.txt", "/sync/archive/report.txt"))
      yield* settle(a, b)
      expect(Object.keys(yield* b.tree)).toEqual(["archive/report.txt", "notes.md"])
      expect(b.getChunks()).toBe(before)
      // The directory the file left is gone there too, not left behind empty.
      expect(yield* Effect.orDie(b.fs.exists("/sync/docs"))).toBe(false)

      yield* Effect.orDie(b.fs.remove("/sync/notes.md"))
      yield* settle(b, a)
      expect(yield* a.tree).toEqual({ "archive/report.txt": big(20_000) })
      const status = yield* SubscriptionRef.get(a.folder.status)
      expect(status).toMatchObject({ state: "idle", files: 1, errors: [] })
    })
  )

  it.scoped("the ignore file stays on its device unless both devices share it (opt-in)", () =>
    Effect.gen(function* () {
      const { local } = yield* server
      const a = yield* device(local, "laptop")
      const b = yield* device(local, "desktop")
      yield* a.write(".meridianignore", "*.tmp\n")
      yield* a.write("build.tmp", "scratch")
      yield* a.write("kept.txt", "kept")
      yield* settle(a, b)
      // Each device keeps its own rules: A's file and what it ignores stay on A.
      expect(Object.keys(yield* b.tree)).toEqual(["kept.txt"])
      expect(yield* Effect.orDie(b.fs.exists("/sync/.meridianignore"))).toBe(false)

      const c = yield* device(local, "tablet", { shareIgnoreFile: true })
      const d = yield* device(local, "phone", { shareIgnoreFile: true })
      yield* c.write(".meridianignore", "*.log\n")
      yield* c.write("debug.log", "noise")
      yield* settle(c, d)
      // Shared: the rules arrive, and D ignores what they say (D's own debug.log is not sent).
      expect(yield* d.read(".meridianignore")).toBe("*.log\n")
      yield* d.write("trace.log", "local noise")
      yield* settle(d, c)
      expect(Object.keys(yield* c.tree)).not.toContain("trace.log")
      expect(Object.keys(yield* d.tree)).not.toContain("debug.log")
    })
  )

  it.scoped("a concurrent edit keeps both: the loser's bytes are a conflict copy on every device", () =>
    Effect.gen(function* () {
      const { local } = yield* server
      const a = yield* device(local, "laptop")
      const b = yield* device(local, "desktop")
      yield* a.write("plan.txt", "v1")
      yield* settle(a, b)
      yield* TestClock.adjust("5 seconds")
      yield* a.write("plan.txt", "laptop's edit")
      yield* b.write("plan.txt", "desktop's edit, longer")
      yield* TestClock.adjust("5 seconds")
      yield* a.folder.sync
      yield* b.folder.sync
      yield* settle(a, b)
      const tree = yield* a.tree
      expect(yield* b.tree).toEqual(tree)
      expect(tree["plan.txt"]).toBe("laptop's edit")
      const copies = Object.entries(tree).filter(([p]) => p.startsWith("plan.sync-conflict-"))
      expect(copies).toHaveLength(1)
      expect(copies[0]![0]).toMatch(/^plan\.sync-conflict-\d{8}-\d{6}-desktop\.txt$/)
      expect(copies[0]![1]).toBe("desktop's edit, longer")
      expect((yield* SubscriptionRef.get(b.folder.status)).conflicts).toHaveLength(1)
    })
  )

  it.scoped("a device offline for a while uploads its changes and takes the others'", () =>
    Effect.gen(function* () {
      const { local } = yield* server
      const a = yield* device(local, "laptop")
      const b = yield* device(local, "desktop")
      yield* a.write("shared.txt", "one")
      yield* settle(a, b)
      // b is offline: it does not sync while a changes many things, and it changes its own.
      for (let i = 0; i < 30; i++) yield* a.write(`a/${i}.txt`, `from a ${i}`)
      yield* Effect.orDie(a.fs.remove("/sync/shared.txt"))
      yield* b.write("b-only.txt", "written offline")
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust("1 minute")
        yield* a.folder.sync
      }
      yield* settle(b, a)
      const tree = yield* a.tree
      expect(yield* b.tree).toEqual(tree)
      expect(tree["b-only.txt"]).toBe("written offline")
      expect(tree["shared.txt"]).toBeUndefined()
      expect(Object.keys(tree)).toHaveLength(31)
    })
  )

  it.scoped("an index reset re-downloads nothing the device holds", () =>
    Effect.gen(function* () {
      const { local, admin } = yield* server
      const a = yield* device(local, "laptop")
      const b = yield* device(local, "desktop")
      yield* a.write("x.txt", big(5000))
      yield* a.write("y.txt", "why")
      yield* settle(a, b)
      const fetched = b.getChunks()
      const before = yield* admin.head("alice")
      yield* admin.resetIndex("alice")
      yield* settle(a, b)
      expect((yield* admin.head("alice")).indexId).not.toBe(before.indexId)
      expect(b.getChunks()).toBe(fetched)
      expect(yield* b.tree).toEqual(yield* a.tree)
      expect((yield* SubscriptionRef.get(b.folder.status)).indexId).toBe((yield* admin.head("alice")).indexId)
    })
  )

  it.scoped("the safety halt keeps a folder that lost most of its files from deleting them everywhere", () =>
    Effect.gen(function* () {
      const { local } = yield* server
      const a = yield* device(local, "laptop")
      const b = yield* device(local, "desktop")
      for (let i = 0; i < 20; i++) yield* a.write(`f${i}.txt`, `file ${i}`)
      yield* settle(a, b)
      yield* Effect.orDie(a.fs.remove("/sync", { recursive: true }))
      yield* Effect.orDie(a.fs.makeDirectory("/sync"))
      yield* settle(a, b)
      expect((yield* SubscriptionRef.get(a.folder.status)).state).toBe("halted")
      expect((yield* SubscriptionRef.get(a.folder.status)).reason).toMatch(/would delete 20 of the folder's 20 files/)
      expect(Object.keys(yield* b.tree)).toHaveLength(20)
    })
  )

  it.scoped("bad input from the server is refused per file; the rest syncs", () =>
    Effect.gen(function* () {
      const { local } = yield* server
      const a = yield* device(local, "laptop")
      const evil = (s: Protocol.Session): Protocol.Session => ({
        ...s,
        changes: (after, limit) =>
          Effect.map(s.changes(after, limit), (page) => ({
            ...page,
            entries: page.entries.map((c) => (c.path === "trap.txt" ? { ...c, path: "../../etc/trap.txt" } : c))
          })),
        getChunk: (hash) => Effect.map(s.getChunk(hash), (bytes) => (bytes.length === 7 ? new Uint8Array(7) : bytes))
      })
      const b = yield* device(local, "desktop", {}, evil)
      yield* a.write("trap.txt", "caught")
      yield* a.write("seven.t", "7 bytes")
      yield* a.write("fine.txt", "all good")
      yield* settle(a, b)
      expect(yield* b.tree).toEqual({ "fine.txt": "all good" })
      const errors = (yield* SubscriptionRef.get(b.folder.status)).errors.map((e) => e.message).join("\n")
      expect(errors).toMatch(/refused path "\.\.\/\.\.\/etc\/trap\.txt"/)
      expect(errors).toMatch(/does not hash to its name/)
    })
  )
  it.scoped("a commit whose answer was lost is not taken for a conflict when its retry finds it done", () =>
    Effect.gen(function* () {
      const { local } = yield* server
      // The network loses the answer to every other commit: the server recorded it, the device
      // hears a failure, retries on the same base and is refused (its own version is current).
      let commits = 0
      const lossy = (s: Protocol.Session): Protocol.Session => ({
        ...s,
        commit: (request) =>
          Effect.flatMap(s.commit(request), (result) =>
            ++commits % 2 === 1
              ? Effect.fail(new Protocol.SyncHomeUnreachable({ region: "north", reason: "the answer was lost" }))
              : Effect.succeed(result)
          )
      })
      const a = yield* device(local, "laptop", {}, lossy)
      const b = yield* device(local, "desktop")
      // The retry waits on the clock: each sync runs while the test moves it.
      const syncAll = Effect.forEach(
        [a, b, a, b],
        (d) =>
          Effect.gen(function* () {
            const running = yield* Effect.fork(d.folder.sync)
            while ((yield* Fiber.poll(running))._tag === "None") yield* TestClock.adjust("1 second")
          }),
        { discard: true }
      )
      yield* a.write("notes.md", "first")
      yield* a.write("docs/plan.txt", "plan")
      yield* TestClock.adjust("5 seconds")
      yield* syncAll
      yield* a.write("notes.md", "second")
      yield* TestClock.adjust("5 seconds")
      yield* syncAll
      const tree = yield* a.tree
      expect(tree).toEqual({ "docs/plan.txt": "plan", "notes.md": "second" })
      expect(yield* b.tree).toEqual(tree)
      expect((yield* SubscriptionRef.get(a.folder.status)).conflicts).toEqual([])
    })
  )
})
