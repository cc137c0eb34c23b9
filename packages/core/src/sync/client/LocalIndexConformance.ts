/**
 * The cases every {@link LocalIndex} implementation passes (memory in core, SQLite in the node
 * package), so the engine can count on one behaviour.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Case } from "../../stores/Conformance.js"
import { conformance, equal, failsWith } from "../../stores/Checks.js"
import type * as LocalIndex from "./LocalIndex.js"

type Service = LocalIndex.LocalIndexService
type Config = LocalIndex.LocalIndexConfig

const hex = (c: string) => c.repeat(64)

const file = (path: string, content: string, version = 1): LocalIndex.LocalEntry => ({
  path,
  deleted: false,
  size: 10,
  mtime: 1000,
  inode: 7,
  manifest: hex(content),
  sha256: hex(content === "a" ? "b" : content),
  version,
  seq: version * 10,
  checkedAt: 5000
})

const tombstone = (path: string, version: number): LocalIndex.LocalEntry => ({
  path,
  deleted: true,
  size: 0,
  mtime: 0,
  inode: 0,
  manifest: "",
  sha256: "",
  version,
  seq: version * 10,
  checkedAt: 0
})

/**
 * @since 0.1.0
 * @category suites
 */
export const localIndex: ReadonlyArray<Case<Service, Config>> = [
  conformance("a new index has no state and no entries; state and entries read back as written", (make) =>
    Effect.gen(function* () {
      const index = yield* make()
      yield* equal("state", yield* index.state, Option.none())
      yield* equal("count", yield* index.count, 0)
      yield* index.setState({ device: "laptop", indexId: "id1", lastSeq: 0 })
      yield* index.setState({ device: "laptop", indexId: "id1", lastSeq: 42 })
      yield* equal("state", yield* index.state, Option.some({ device: "laptop", indexId: "id1", lastSeq: 42 }))
      const bytes = new Uint8Array([1, 2, 3])
      yield* index.put(file("docs/a.txt", "c"), bytes)
      yield* index.put(file("b.txt", "d"), new Uint8Array([4]))
      yield* equal("get", yield* index.get("docs/a.txt"), Option.some(file("docs/a.txt", "c")))
      yield* equal("manifest", yield* index.manifest("docs/a.txt"), Option.some(bytes))
      yield* equal("absent", yield* index.get("nope"), Option.none())
      yield* equal(
        "all, by path",
        (yield* index.all).map((e) => e.path),
        ["b.txt", "docs/a.txt"]
      )
      yield* index.put(file("docs/a.txt", "e", 2), new Uint8Array([9]))
      yield* equal("replaced", yield* index.get("docs/a.txt"), Option.some(file("docs/a.txt", "e", 2)))
      yield* equal("its manifest", yield* index.manifest("docs/a.txt"), Option.some(new Uint8Array([9])))
      yield* index.remove("b.txt")
      yield* equal("removed", yield* index.get("b.txt"), Option.none())
      yield* equal("count", yield* index.count, 1)
    })
  ),
  conformance("tombstones keep their version and no manifest; content lookup skips them", (make) =>
    Effect.gen(function* () {
      const index = yield* make()
      yield* index.put(file("a", "c"), new Uint8Array([1]))
      yield* index.put(file("b", "c"), new Uint8Array([1]))
      yield* index.put(tombstone("gone", 3))
      yield* equal("tombstone", yield* index.get("gone"), Option.some(tombstone("gone", 3)))
      yield* equal("no manifest", yield* index.manifest("gone"), Option.none())
      yield* equal(
        "by content",
        (yield* index.bySha256(hex("c"))).map((e) => e.path),
        ["a", "b"]
      )
      yield* index.put(tombstone("a", 2))
      yield* equal(
        "a tombstone has no content",
        (yield* index.bySha256(hex("c"))).map((e) => e.path),
        ["b"]
      )
    })
  ),
  conformance("forgetting versions keeps content for reconciling and drops tombstones", (make) =>
    Effect.gen(function* () {
      const index = yield* make()
      yield* index.setState({ device: "d", indexId: "old", lastSeq: 30 })
      yield* index.put(file("a", "c", 3), new Uint8Array([1]))
      yield* index.put(tombstone("t", 2))
      yield* index.forgetVersions
      yield* equal("file", yield* index.get("a"), Option.some({ ...file("a", "c", 3), version: 0, seq: 0 }))
      yield* equal("its manifest", yield* index.manifest("a"), Option.some(new Uint8Array([1])))
      yield* equal("tombstone gone", yield* index.get("t"), Option.none())
    })
  ),
  conformance("the bound refuses new paths, not updates of paths it holds", (make) =>
    Effect.gen(function* () {
      const index = yield* make({ maxEntries: 2 })
      yield* index.put(file("a", "c"), new Uint8Array([1]))
      yield* index.put(tombstone("b", 1))
      yield* failsWith("a third path", index.put(file("c", "c"), new Uint8Array([1])), {
        _tag: "LocalIndexFull",
        limit: 2
      })
      yield* index.put(file("b", "d", 2), new Uint8Array([2]))
      yield* equal("count", yield* index.count, 2)
      yield* index.remove("a")
      yield* index.put(file("c", "c"), new Uint8Array([1]))
      yield* equal(
        "room after a removal",
        (yield* index.all).map((e) => e.path),
        ["b", "c"]
      )
    })
  ),
  conformance("a path's entries and the folder's totals read without listing the folder", (make) =>
    Effect.gen(function* () {
      const index = yield* make()
      yield* equal("empty", yield* index.totals, { files: 0, bytes: 0 })
      yield* index.put(file("docs/a.txt", "c"), new Uint8Array([1]))
      yield* index.put(file("docs/sub/b.txt", "c"), new Uint8Array([1]))
      yield* index.put(file("docs.txt", "c"), new Uint8Array([1]))
      yield* index.put(file("docsx/c.txt", "c"), new Uint8Array([1]))
      yield* index.put(tombstone("docs/gone", 2))
      yield* equal(
        "a directory: itself and below, nothing that only starts alike",
        (yield* index.under("docs")).map((e) => e.path),
        ["docs/a.txt", "docs/gone", "docs/sub/b.txt"]
      )
      yield* equal(
        "a file",
        (yield* index.under("docs.txt")).map((e) => e.path),
        ["docs.txt"]
      )
      yield* equal("tombstones count nothing", yield* index.totals, { files: 4, bytes: 40 })
      yield* index.put({ ...file("docs/a.txt", "d", 2), size: 25 }, new Uint8Array([2]))
      yield* index.put(tombstone("docs.txt", 2))
      yield* index.remove("docsx/c.txt")
      yield* index.put(file("docs/gone", "e", 3), new Uint8Array([3]))
      yield* equal("after changes", yield* index.totals, { files: 3, bytes: 45 })
      yield* index.forgetVersions
      yield* equal("forgetting versions keeps files", yield* index.totals, { files: 3, bytes: 45 })
    })
  )
]
