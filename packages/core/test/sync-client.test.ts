import * as FileSystem from "@effect/platform/FileSystem"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { makeFileSystem } from "../src/sim/SimFileSystem.js"
import * as Chunker from "../src/sync/Chunker.js"
import * as Manifest from "../src/sync/Manifest.js"
import * as Ignore from "../src/sync/client/Ignore.js"
import * as LocalIndex from "../src/sync/client/LocalIndex.js"
import * as LocalIndexConformance from "../src/sync/client/LocalIndexConformance.js"
import * as Paths from "../src/sync/client/Paths.js"
import * as Planner from "../src/sync/client/Planner.js"
import * as Scanner from "../src/sync/client/Scanner.js"
import * as Settings from "../src/sync/client/Settings.js"

describe("LocalIndex conformance: memory", () => {
  for (const c of LocalIndexConformance.localIndex)
    it.scoped(c.name, () => c.run((config) => LocalIndex.makeMemory(config)))
})

describe("conflict copies", () => {
  it("are named like Syncthing's, in UTC, keeping the extension", () => {
    const at = Date.UTC(2024, 2, 5, 7, 8, 9)
    expect(Paths.conflictName("docs/report.txt", at, "laptop")).toBe(
      "docs/report.sync-conflict-20240305-070809-laptop.txt"
    )
    expect(Paths.conflictName("a.tar.gz", at, "pc")).toBe("a.tar.sync-conflict-20240305-070809-pc.gz")
    expect(Paths.conflictName(".bashrc", at, "pc")).toBe(".bashrc.sync-conflict-20240305-070809-pc")
    expect(Paths.conflictName("Makefile", at, "pc")).toBe("Makefile.sync-conflict-20240305-070809-pc")
    expect(Paths.isConflictCopy("docs/report.sync-conflict-20240305-070809-laptop.txt")).toBe(true)
  })
})

describe("paths from the server", () => {
  it("refuses what would leave the folder or cannot be a name here", () => {
    for (const bad of [
      "../etc/passwd",
      "/etc/passwd",
      "a/../../b",
      "a//b",
      "./a",
      "a\\b",
      "C:x",
      "con.txt",
      "a\u0000b",
      ".meridian/index.db",
      "dir/name."
    ])
      expect(Either.isLeft(Paths.validate(bad)), bad).toBe(true)
    for (const good of ["a.txt", "docs/report final.pdf", "ünïcode/名前.md", ".meridianignore", ".config/x"])
      expect(Paths.validate(good)).toEqual(Either.right(good))
  })
})

describe("ignore", () => {
  it("follows gitignore rules and never syncs the folder's own directory", () => {
    const ignore = Ignore.fromText("*.tmp\nbuild/\n!keep.tmp\n# comment\n/top.txt\n")
    expect(ignore.ignores("a.tmp")).toBe(true)
    expect(ignore.ignores("x/keep.tmp")).toBe(false)
    expect(ignore.ignores("build/out.js")).toBe(true)
    expect(ignore.ignores("top.txt")).toBe(true)
    expect(ignore.ignores("sub/top.txt")).toBe(false)
    expect(ignore.ignores(".meridian/index.db")).toBe(true)
    expect(ignore.ignores("notes.md")).toBe(false)
  })
})

const bytes = (text: string) => new TextEncoder().encode(text)

const contentOf = (text: string, mtime = 1): Scanner.Content => {
  const manifest = Either.getOrThrow(Manifest.fromBytes(bytes(text), Either.getOrThrow(Chunker.make())))
  return {
    manifest,
    digest: Manifest.digest(manifest),
    encoded: Manifest.encode(manifest),
    stat: { size: manifest.size, mtime, inode: 1 }
  }
}

const entryOf = (path: string, text: string, version: number): LocalIndex.LocalEntry => {
  const c = contentOf(text)
  return {
    path,
    deleted: false,
    size: c.stat.size,
    mtime: 1,
    inode: 1,
    manifest: c.digest,
    sha256: c.manifest.sha256,
    version,
    seq: version,
    checkedAt: 100_000
  }
}

describe("planner", () => {
  const settings = Settings.make({ minDeleteCountForHalt: 3 })

  it("puts new and changed files on their base, deletes missing ones, and sends a move as a rename", () => {
    const entries = new Map([
      ["a.txt", entryOf("a.txt", "alpha", 3)],
      ["old/b.txt", entryOf("old/b.txt", "bravo", 4)],
      ["c.txt", entryOf("c.txt", "charlie", 5)],
      ["d.txt", entryOf("d.txt", "delta", 6)]
    ])
    const observed = new Map<string, Planner.Observation>([
      ["a.txt", { _tag: "Read", content: contentOf("alpha, edited") }],
      ["new/b.txt", { _tag: "Read", content: contentOf("bravo") }],
      ["c.txt", { _tag: "Unchanged", stat: { size: 7, mtime: 1, inode: 1 } }],
      ["e.txt", { _tag: "Read", content: contentOf("echo") }]
    ])
    const plan = Planner.plan(entries, observed, { full: true, folderFiles: 4, settings })
    expect(plan.halted).toBeUndefined()
    expect(
      plan.actions.map((a) =>
        a._tag === "Rename"
          ? [a._tag, a.from, a.to, a.base]
          : a._tag === "Touch"
            ? [a._tag, a.path]
            : [a._tag, a.path, a.base]
      )
    ).toEqual([
      ["Rename", "old/b.txt", "new/b.txt", 4],
      ["Put", "a.txt", 3],
      ["Put", "e.txt", 0],
      ["Delete", "d.txt", 6]
    ])
  })

  it("halts a scan that would delete most of the folder and sends nothing", () => {
    const entries = new Map(
      Array.from({ length: 10 }, (_, i) => [`f${i}`, entryOf(`f${i}`, `file ${i}`, i + 1)] as const)
    )
    const observed = new Map<string, Planner.Observation>([
      ["f0", { _tag: "Unchanged", stat: { size: 6, mtime: 1, inode: 1 } }]
    ])
    const plan = Planner.plan(entries, observed, { full: true, folderFiles: 10, settings })
    expect(plan.actions).toEqual([])
    expect(plan.halted).toMatch(/delete 9 of the folder's 10 files/)
    // Fewer deletes than the minimum are not a halt.
    const few = Planner.plan(new Map([...entries].slice(0, 3)), new Map(), {
      full: true,
      folderFiles: 3,
      settings: Settings.make({ minDeleteCountForHalt: 4 })
    })
    expect(few.halted).toBeUndefined()
    expect(few.actions).toHaveLength(3)
  })

  it("only records a new stat when the content did not change", () => {
    const entries = new Map([["a.txt", entryOf("a.txt", "alpha", 3)]])
    const observed = new Map<string, Planner.Observation>([
      ["a.txt", { _tag: "Read", content: contentOf("alpha", 99) }]
    ])
    const plan = Planner.plan(entries, observed, { full: true, folderFiles: 1, settings })
    expect(plan.actions.map((a) => a._tag)).toEqual(["Touch"])
  })
})

describe("scanner", () => {
  it.scoped("walks the folder without the ignored paths and reads a file as its manifest", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      yield* fs.makeDirectory("/f/.meridian/tmp", { recursive: true })
      yield* fs.makeDirectory("/f/docs/build", { recursive: true })
      yield* fs.writeFileString("/f/.meridianignore", "build/\n")
      yield* fs.writeFileString("/f/docs/a.txt", "hello")
      yield* fs.writeFileString("/f/docs/build/x.o", "obj")
      yield* fs.writeFileString("/f/.meridian/tmp/x.part", "partial")
      const big = new Uint8Array(1_000_000).map((_, i) => (i * 7919) % 251)
      yield* fs.writeFile("/f/big.bin", big)
      const files = yield* Scanner.walk("/f", yield* Ignore.load("/f"))
      // The ignore file is the device's own unless the folder shares it.
      expect([...files.keys()]).toEqual(["big.bin", "docs/a.txt"])
      const shared = yield* Scanner.walk("/f", yield* Ignore.load("/f", true))
      expect([...shared.keys()]).toEqual([".meridianignore", "big.bin", "docs/a.txt"])
      const content = yield* Scanner.content("/f", "big.bin", Settings.make({ readChunkSize: 4096 }))
      const whole = Either.getOrThrow(Manifest.fromBytes(big, Either.getOrThrow(Chunker.make())))
      expect(content.digest).toBe(Manifest.digest(whole))
      expect(content.manifest.chunks.length).toBeGreaterThan(3)
      const tooBig = yield* Effect.flip(Scanner.content("/f", "big.bin", Settings.make({ maxFileSize: 1000 })))
      expect(tooBig.reason).toMatch(/over the bound/)
      expect(Option.isSome(yield* Scanner.stat("/f/docs/a.txt"))).toBe(true)
    }).pipe(Effect.provideService(FileSystem.FileSystem, makeFileSystem()))
  )
})
