import { afterAll, describe, expect, it } from "@effect/vitest"
import { SystemError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as NodeContext from "@effect/platform-node/NodeContext"
import type * as Blobs from "@meridian/core/stores/Blobs"
import * as Conformance from "@meridian/core/stores/Conformance"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DiskBlobs } from "../src/blobs/index.js"

const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const collect = (s: Stream.Stream<Uint8Array>) => Effect.map(Stream.runCollect(s), Chunk.toArray)

const created: Array<string> = []
const freshDirectory = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "meridian-blobs-"))
  created.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of created) rmSync(dir, { recursive: true, force: true })
})

/** Every file under `<dir>/blobs`, as `ab/name`. */
const blobFiles = (dir: string): Array<string> =>
  readdirSync(join(dir, "blobs")).flatMap((fan) => readdirSync(join(dir, "blobs", fan)).map((f) => `${fan}/${f}`))
const tmpFiles = (dir: string): Array<string> => readdirSync(join(dir, "tmp"))

/** A FileSystem whose writes fail the way Node reports a full disk, while `state.full` is set. */
const fullDiskFileSystem = (state: { full: boolean }) =>
  Effect.map(FileSystem.FileSystem, (fs): FileSystem.FileSystem => {
    const enospc = (fd: number) =>
      new SystemError({
        reason: "Unknown",
        module: "FileSystem",
        method: "writeAll",
        pathOrDescriptor: fd,
        syscall: "write",
        description: "ENOSPC: no space left on device, write",
        cause: Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", syscall: "write" })
      })
    const wrap = (file: FileSystem.File): FileSystem.File => ({
      [FileSystem.FileTypeId]: FileSystem.FileTypeId,
      fd: file.fd,
      stat: file.stat,
      sync: file.sync,
      seek: (offset, from) => file.seek(offset, from),
      read: (buffer) => file.read(buffer),
      readAlloc: (size) => file.readAlloc(size),
      truncate: (length) => file.truncate(length),
      write: (buffer) => (state.full ? Effect.fail(enospc(file.fd)) : file.write(buffer)),
      writeAll: (buffer) => (state.full ? Effect.fail(enospc(file.fd)) : file.writeAll(buffer))
    })
    return { ...fs, open: (path, options) => Effect.map(fs.open(path, options), wrap) }
  })

describe("Blobs conformance: DiskBlobs", () => {
  // Each store in its own fresh directory.
  const make: Conformance.Make<DiskBlobs.DiskBlobsService, Blobs.BlobsConfig> = (config) =>
    DiskBlobs.make({ directory: freshDirectory(), ...config }).pipe(Effect.provide(NodeContext.layer))
  for (const c of Conformance.blobs) it.scoped(c.name, () => c.run(make))
})

describe("DiskBlobs", () => {
  it.scoped("one file per content and one for its count, both gone with the last reference", () =>
    Effect.gen(function* () {
      const directory = freshDirectory()
      const blobs = yield* DiskBlobs.make({ directory })
      yield* blobs.put(bytes("abc"))
      yield* blobs.put(bytes("abc"))
      expect(blobFiles(directory)).toEqual([`ba/${abc}`, `ba/${abc}.refs`])
      expect(readFileSync(join(directory, "blobs", "ba", abc), "utf8")).toBe("abc")
      yield* blobs.release(abc)
      expect(blobFiles(directory)).toEqual([`ba/${abc}`, `ba/${abc}.refs`])
      yield* blobs.release(abc)
      expect(blobFiles(directory)).toEqual([])
      expect(tmpFiles(directory)).toEqual([])
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("content refused past capacity writes no file", () =>
    Effect.gen(function* () {
      const directory = freshDirectory()
      const blobs = yield* DiskBlobs.make({ directory, maxBytes: 10 })
      yield* blobs.put(bytes("123456"))
      yield* Effect.flip(blobs.put(bytes("abcde")))
      expect(blobFiles(directory)).toHaveLength(2)
      expect(tmpFiles(directory)).toEqual([])
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("a stream aborted at the bound, or whose source fails, leaves no file", () =>
    Effect.gen(function* () {
      const directory = freshDirectory()
      const blobs = yield* DiskBlobs.make({ directory, maxBytes: 8 })
      yield* blobs.putStream(Stream.make(bytes("a"), bytes("b"), bytes("c")))
      yield* Effect.flip(blobs.putStream(Stream.repeatEffect(Effect.succeed(bytes("xx")))))
      yield* Effect.flip(blobs.putStream(Stream.concat(Stream.make(bytes("z")), Stream.fail("source broke" as const))))
      expect(blobFiles(directory)).toEqual([`ba/${abc}`, `ba/${abc}.refs`])
      expect(tmpFiles(directory)).toEqual([])
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("a blob released while a stream reads it: the file goes with its last reader", () =>
    Effect.gen(function* () {
      const directory = freshDirectory()
      const blobs = yield* DiskBlobs.make({ directory, chunkSize: 4 })
      const { hash } = yield* blobs.put(bytes("0123456789"))
      const stream = yield* blobs.stream(hash)
      expect(yield* blobs.release(hash)).toEqual({ deleted: true })
      expect((yield* collect(stream)).map(text)).toEqual(["0123", "4567", "89"])
      expect(blobFiles(directory)).toEqual([])
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("a hash that is not 64 lowercase hex characters is BlobNotFound", () =>
    Effect.gen(function* () {
      const directory = freshDirectory()
      const blobs = yield* DiskBlobs.make({ directory })
      // A file the path trick would reach if the hash were joined into a path unchecked.
      writeFileSync(join(directory, "secret"), "secret")
      for (const hash of ["../../etc/passwd", "../secret", "../../secret", abc.toUpperCase(), `${abc}.refs`, ""]) {
        expect(yield* Effect.flip(blobs.get(hash))).toMatchObject({ _tag: "BlobNotFound", hash })
        expect(yield* Effect.flip(blobs.stream(hash))).toMatchObject({ _tag: "BlobNotFound" })
        expect(yield* Effect.flip(blobs.retain(hash))).toMatchObject({ _tag: "BlobNotFound" })
        expect(yield* Effect.flip(blobs.release(hash))).toMatchObject({ _tag: "BlobNotFound" })
        expect(yield* blobs.stat(hash)).toEqual(Option.none())
      }
      expect(readFileSync(join(directory, "secret"), "utf8")).toBe("secret")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("reference counts survive reopening the store on the same directory", () =>
    Effect.gen(function* () {
      const directory = freshDirectory()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const blobs = yield* DiskBlobs.make({ directory })
          yield* blobs.put(bytes("abc"))
          yield* blobs.put(bytes("abc"))
          const { hash } = yield* blobs.put(bytes("other"))
          yield* blobs.retain(abc)
          expect(yield* blobs.release(hash)).toEqual({ deleted: true })
        })
      )
      const blobs = yield* DiskBlobs.make({ directory, maxBytes: 100 })
      expect(yield* blobs.stat(abc)).toEqual(Option.some({ hash: abc, size: 3, refs: 3 }))
      expect(yield* blobs.usage).toEqual({ blobs: 1, bytes: 3, capacity: 100 })
      expect(yield* blobs.release(abc)).toEqual({ deleted: false })
      expect(yield* blobs.release(abc)).toEqual({ deleted: false })
      expect(text(yield* blobs.get(abc))).toBe("abc")
      expect(yield* blobs.release(abc)).toEqual({ deleted: true })
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
  )

  it.effect("start-up removes what a crash left: temp files, blobs without a count, counts without a blob", () =>
    Effect.gen(function* () {
      const directory = freshDirectory()
      yield* Effect.scoped(Effect.flatMap(DiskBlobs.make({ directory }), (blobs) => blobs.put(bytes("kept"))))
      const kept = blobFiles(directory)
      // A crash mid-write, one between a blob's rename and its count's, and one mid-release.
      writeFileSync(join(directory, "tmp", "0123abcd.blob"), "half a fi")
      writeFileSync(join(directory, "blobs", "ba", abc), "abc")
      const orphan = "00".padEnd(64, "1")
      writeFileSync(join(directory, "blobs", "00", `${orphan}.refs`), "2\n")

      const blobs = yield* DiskBlobs.make({ directory })
      expect(tmpFiles(directory)).toEqual([])
      expect(blobFiles(directory)).toEqual(kept)
      expect(yield* blobs.stat(abc)).toEqual(Option.none())
      expect(yield* blobs.usage).toMatchObject({ blobs: 1, bytes: 4 })
      // The collected content can be stored again.
      expect(yield* blobs.put(bytes("abc"))).toEqual({ hash: abc, size: 3 })
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
  )

  it.scoped("no partial file ever appears under a final name, even when the write is interrupted", () =>
    Effect.gen(function* () {
      const directory = freshDirectory()
      const blobs = yield* DiskBlobs.make({ directory })
      const stalled = Stream.concat(Stream.make(bytes("half of ")), Stream.never)
      const fiber = yield* Effect.fork(blobs.putStream(stalled))
      while (tmpFiles(directory).length === 0) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
      expect(blobFiles(directory)).toEqual([])
      yield* Fiber.interrupt(fiber)
      expect(tmpFiles(directory)).toEqual([])
      expect(blobFiles(directory)).toEqual([])
      expect(yield* blobs.usage).toMatchObject({ blobs: 0, bytes: 0 })
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("a full disk (ENOSPC) is BlobStoreFull, and the temp file is removed", () => {
    const state = { full: false }
    return Effect.gen(function* () {
      const directory = freshDirectory()
      const blobs = yield* DiskBlobs.make({ directory, maxBytes: 100 })
      yield* blobs.put(bytes("abc"))
      state.full = true

      expect(yield* Effect.flip(blobs.put(bytes("new")))).toMatchObject({
        _tag: "BlobStoreFull",
        needed: 3,
        used: 3,
        capacity: 100
      })
      const streamed = yield* Effect.flip(blobs.putStream(Stream.make(bytes("ne"), bytes("w"))))
      expect(streamed).toMatchObject({ _tag: "BlobStoreFull", used: 3 })
      // Another reference to stored content rewrites its count, which needs space too.
      expect(yield* Effect.flip(blobs.put(bytes("abc")))).toMatchObject({ _tag: "BlobStoreFull" })
      expect(yield* blobs.stat(abc)).toEqual(Option.some({ hash: abc, size: 3, refs: 1 }))
      expect(tmpFiles(directory)).toEqual([])
      expect(blobFiles(directory)).toEqual([`ba/${abc}`, `ba/${abc}.refs`])
      expect(yield* blobs.usage).toEqual({ blobs: 1, bytes: 3, capacity: 100 })

      // retain and release have no typed error for it: a defect naming the path, not a crash.
      const exit = yield* Effect.exit(blobs.retain(abc))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      expect(Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "").toContain("disk full")

      state.full = false
      expect(yield* blobs.put(bytes("new"))).toMatchObject({ size: 3 })
      expect(yield* blobs.usage).toEqual({ blobs: 2, bytes: 6, capacity: 100 })
    }).pipe(
      Effect.provideServiceEffect(FileSystem.FileSystem, fullDiskFileSystem(state)),
      Effect.provide(NodeContext.layer)
    )
  })

  it.scoped("rejects a corrupt layout loudly rather than guessing", () =>
    Effect.gen(function* () {
      const directory = freshDirectory()
      mkdirSync(join(directory, "blobs", "ba"), { recursive: true })
      writeFileSync(join(directory, "blobs", "ba", abc), "abc")
      writeFileSync(join(directory, "blobs", "ba", `${abc}.refs`), "lots")
      const exit = yield* Effect.exit(DiskBlobs.make({ directory }))
      expect(Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "").toContain("corrupt reference count")
      expect(existsSync(join(directory, "blobs", "ba", abc))).toBe(true)
    }).pipe(Effect.provide(NodeContext.layer))
  )
})
