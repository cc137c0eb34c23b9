import { afterAll, describe, expect, it } from "@effect/vitest"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import { createHash, randomBytes } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PassThrough, Writable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { DiskBlobs } from "../src/blobs/index.js"
import { FileBody } from "../src/blobs/FileBody.js"
import * as DiskStaging from "../src/files/DiskStaging.js"

const created: Array<string> = []
const freshDirectory = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "meridian-file-body-"))
  created.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of created) rmSync(dir, { recursive: true, force: true })
})

/** A destination that keeps each chunk's bytes as they were when written, calling back late. */
const slowSink = () => {
  const copies: Array<Buffer> = []
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, callback) {
      copies.push(Buffer.from(chunk))
      setTimeout(callback, 1)
    }
  })
  return { sink, bytes: () => Buffer.concat(copies) }
}

describe("FileBody", () => {
  const content = randomBytes(300_000)
  const file = join(freshDirectory(), "content.bin")
  writeFileSync(file, content)

  it("piped, sends the range through its few reused buffers, each reused only once written", async () => {
    const seen: Array<number> = []
    const body = new FileBody({
      file,
      start: 1_000,
      end: 290_001,
      chunkBytes: 4096,
      buffers: 2,
      onBytes: (n) => seen.push(n)
    })
    const { sink, bytes } = slowSink()
    await pipeline(body, sink)
    expect(bytes().equals(content.subarray(1_000, 290_001))).toBe(true)
    expect(seen.reduce((a, b) => a + b, 0)).toBe(289_001)
    expect(body.destroyed).toBe(true)
  })

  it("read as a plain stream, a fresh buffer per read", async () => {
    const chunks: Array<Buffer> = []
    for await (const chunk of new FileBody({ file, start: 0, end: content.length, chunkBytes: 65_536 })) {
      chunks.push(chunk as Buffer)
    }
    expect(Buffer.concat(chunks).equals(content)).toBe(true)
    expect(new Set(chunks.map((c) => c.buffer)).size).toBe(chunks.length)
  })

  it("stops reading and closes the file when the destination goes away", async () => {
    const body = new FileBody({ file, start: 0, end: content.length, chunkBytes: 4096, buffers: 2 })
    let written = 0
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        written += chunk.length
        if (written > 10_000) return callback(new Error("client went away"))
        callback()
      }
    })
    await expect(pipeline(body, sink)).rejects.toThrow("client went away")
    expect(body.destroyed).toBe(true)
    expect(written).toBeLessThan(content.length)
  })

  it("a file that is gone fails the body", async () => {
    const body = new FileBody({ file: join(freshDirectory(), "missing"), start: 0, end: 10 })
    await expect(pipeline(body, slowSink().sink)).rejects.toMatchObject({ code: "ENOENT" })
  })

  it.scoped("is the disk store's raw body: the blob's bytes, a range of them, the pin held until done", () =>
    Effect.gen(function* () {
      const blobs = yield* DiskBlobs.make({ directory: freshDirectory(), rawBody: { chunkBytes: 8192, buffers: 3 } })
      const { hash } = yield* blobs.put(content)
      let bytes = 0
      let ended = 0
      const hooks = { onBytes: (n: number) => void (bytes += n), onEnd: () => void ended++ }
      const whole = slowSink()
      const body = yield* blobs.rawBody(hash, undefined, hooks)
      yield* Effect.promise(() => pipeline(body as FileBody, whole.sink))
      expect(whole.bytes().equals(content)).toBe(true)
      const part = slowSink()
      const range = yield* blobs.rawBody(hash, { start: 10, end: 20_010 }, hooks)
      yield* Effect.promise(() => pipeline(range as FileBody, part.sink))
      expect(part.bytes().equals(content.subarray(10, 20_010))).toBe(true)
      expect(bytes).toBe(content.length + 20_000)
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      expect(ended).toBe(2)
    }).pipe(Effect.provide(NodeContext.layer))
  )
})

describe("DiskStaging.appendNative", () => {
  it.scoped("stages the body in order, hashed as written, and gives each chunk's memory back once on disk", () =>
    Effect.gen(function* () {
      const staging = yield* DiskStaging.make({ directory: freshDirectory(), writeBytes: 64 * 1024 })
      const blobs = yield* DiskBlobs.make({ directory: freshDirectory() })
      const chunks = Array.from({ length: 40 }, () => randomBytes(10_000))
      const whole = Buffer.concat(chunks)
      yield* staging.create("up1")
      const body = new PassThrough()
      const appended = Effect.runPromise(staging.appendNative("up1", 0, body, whole.length))
      for (const chunk of chunks) body.write(chunk)
      body.end()
      expect(yield* Effect.promise(() => appended)).toBe(whole.length)
      // Written and hashed: detached (their memory freed without a garbage collection).
      expect(chunks.every((c) => c.byteLength === 0)).toBe(true)
      const blob = yield* staging.commit("up1", blobs)
      expect(blob).toEqual({ hash: createHash("sha256").update(whole).digest("hex"), size: whole.length })
      expect(Buffer.from(yield* blobs.get(blob.hash)).equals(whole)).toBe(true)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("refuses bytes past the limit, keeping what came before", () =>
    Effect.gen(function* () {
      const staging = yield* DiskStaging.make({ directory: freshDirectory(), writeBytes: 16 * 1024 })
      yield* staging.create("up2")
      const body = new PassThrough()
      const appended = Effect.runPromise(Effect.either(staging.appendNative("up2", 0, body, 50_000)))
      for (let i = 0; i < 8; i++) body.write(randomBytes(10_000))
      body.end()
      const result = yield* Effect.promise(() => appended)
      expect(result).toMatchObject({ _tag: "Left", left: { _tag: "TooLong", limit: 50_000 } })
      expect(yield* staging.size("up2")).toMatchObject({ _tag: "Some", value: 50_000 })
    })
  )
})
