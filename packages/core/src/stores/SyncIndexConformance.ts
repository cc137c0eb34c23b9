/**
 * The conformance cases of the sync index (`SyncIndex.ts`), run over the in-memory index here and
 * over SQLite in the node package, in the shape of the other stores' suites (`Conformance.ts`):
 * each case is an effect over a {@link Conformance.Make} of fresh, empty indexes, moving time with
 * `TestClock`, and failing with a typed `ConformanceFailure`. No test framework is imported.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import type { Case } from "./Conformance.js"
import { conformance, equal, failsWith, holds, show } from "./Checks.js"
import type * as SyncIndex from "./SyncIndex.js"

type Service = SyncIndex.SyncIndexService
type Config = SyncIndex.SyncIndexConfig

/** A 64-hex digest named by one character, so the cases read `digest("a")`. */
const digest = (c: string): string => c.repeat(64)

const file = (manifest: string, size = 10, mtime = 1): SyncIndex.FileEntry => ({
  _tag: "File",
  manifest: digest(manifest),
  size,
  sha256: digest("f"),
  mtime
})

const put = (index: Service, account: string, path: string, base: number, manifest: string, size = 10) =>
  index.commit(account, { path, base, device: "laptop", entry: file(manifest, size) })

const remove = (index: Service, account: string, path: string, base: number) =>
  index.commit(account, { path, base, device: "laptop", entry: { _tag: "Tombstone" } })

const seqs = (page: SyncIndex.Page) => page.entries.map((e) => [e.path, e.seq, e.version])

/** Everything a device or the caller can see of an account, to show a refusal changed nothing. */
const snapshot = (index: Service, account: string, paths: ReadonlyArray<string>) =>
  Effect.all({
    head: index.head(account),
    page: index.changesAfter(account, 0, 1000),
    usage: index.usage(account),
    versions: Effect.forEach(paths, (p) => index.versions(account, p))
  })

/**
 * @since 0.1.0
 * @category suites
 */
export const syncIndex: ReadonlyArray<Case<Service, Config>> = [
  conformance("numbers strictly increase per account and are independent between accounts", (make) =>
    Effect.gen(function* () {
      const index = yield* make()
      const first = yield* index.head("alice")
      yield* equal("a new account's number", first.seq, 0)
      yield* holds("index id", /^[0-9a-f]{16}$/.test(first.indexId), "16 lowercase hex characters", first.indexId)
      yield* TestClock.adjust(5000)
      yield* equal("first commit", yield* put(index, "alice", "a.txt", 0, "1"), { seq: 1, version: 1, dropped: [] })
      yield* equal("second path", yield* put(index, "alice", "b.txt", 0, "2"), { seq: 2, version: 1, dropped: [] })
      yield* equal("an edit", yield* put(index, "alice", "a.txt", 1, "3"), { seq: 3, version: 2, dropped: [] })
      yield* equal("another account starts at 1", yield* put(index, "bob", "a.txt", 0, "4"), {
        seq: 1,
        version: 1,
        dropped: []
      })
      yield* equal("alice's head", yield* index.head("alice"), { indexId: first.indexId, seq: 3 })
      const bob = yield* index.head("bob")
      yield* equal("bob's head", bob.seq, 1)
      yield* holds("ids per account", bob.indexId !== first.indexId, "a different index id", bob.indexId)
      yield* equal(
        "get",
        yield* index.get("alice", "a.txt"),
        Option.some({ path: "a.txt", version: 2, seq: 3, device: "laptop", committedAt: 5000, entry: file("3") })
      )
      yield* equal("get absent", yield* index.get("alice", "c.txt"), Option.none())
      yield* equal("get in another account", yield* index.get("carol", "a.txt"), Option.none())
    })
  ),
  conformance("a conflict leaves nothing changed and takes no number", (make) =>
    Effect.gen(function* () {
      const index = yield* make()
      yield* put(index, "alice", "a.txt", 0, "1")
      yield* put(index, "alice", "a.txt", 1, "2")
      const before = yield* snapshot(index, "alice", ["a.txt", "new.txt"])
      yield* failsWith("a stale base", put(index, "alice", "a.txt", 1, "3"), {
        _tag: "VersionConflict",
        path: "a.txt",
        current: 2
      })
      yield* failsWith("a new path named as new twice", put(index, "alice", "a.txt", 0, "3"), {
        _tag: "VersionConflict",
        current: 2
      })
      yield* failsWith("a base from the future", put(index, "alice", "a.txt", 9, "3"), { current: 2 })
      yield* failsWith("a base on an absent path", put(index, "alice", "new.txt", 1, "3"), {
        _tag: "VersionConflict",
        path: "new.txt",
        current: 0
      })
      yield* equal("unchanged", yield* snapshot(index, "alice", ["a.txt", "new.txt"]), before)
      yield* equal("the next number", (yield* put(index, "alice", "a.txt", 2, "3")).seq, 3)
    })
  ),
  conformance("two commits on one base: exactly one wins", (make) =>
    Effect.gen(function* () {
      const index = yield* make()
      yield* put(index, "alice", "a.txt", 0, "1")
      const results = yield* Effect.forEach(
        ["2", "3", "4", "5", "6", "7"],
        (m) => Effect.either(put(index, "alice", "a.txt", 1, m)),
        { concurrency: "unbounded" }
      )
      yield* equal("winners", results.filter((r) => r._tag === "Right").length, 1)
      yield* equal("head", (yield* index.head("alice")).seq, 2)
    })
  ),
  conformance("changesAfter pages in order and shows only a path's latest version", (make) =>
    Effect.gen(function* () {
      const index = yield* make({ maxPage: 3 })
      yield* put(index, "alice", "a", 0, "1") // 1
      yield* put(index, "alice", "b", 0, "2") // 2
      yield* put(index, "alice", "c", 0, "3") // 3
      yield* put(index, "alice", "a", 1, "4") // 4: a's number 1 is gone
      yield* put(index, "alice", "d", 0, "5") // 5
      yield* put(index, "bob", "z", 0, "6")
      const { indexId } = yield* index.head("alice")
      const first = yield* index.changesAfter("alice", 0, 2)
      yield* equal("first page", seqs(first), [
        ["b", 2, 1],
        ["c", 3, 1]
      ])
      yield* equal("page header", [first.indexId, first.head], [indexId, 5])
      yield* equal("next page", seqs(yield* index.changesAfter("alice", 3, 2)), [
        ["a", 4, 2],
        ["d", 5, 1]
      ])
      yield* equal("at most maxPage", seqs(yield* index.changesAfter("alice", 0, 100)).length, 3)
      yield* equal("an entry", (yield* index.changesAfter("alice", 3, 1)).entries[0]?.entry, file("4"))
      yield* equal("equal numbers give an empty page", yield* index.changesAfter("alice", 5, 10), {
        indexId,
        head: 5,
        entries: []
      })
      yield* equal("a limit of 0", (yield* index.changesAfter("alice", 0, 0)).entries, [])
      const fresh = yield* index.changesAfter("carol", 0, 10)
      yield* equal("a new account's page", [fresh.head, fresh.entries], [0, []])
      yield* equal("its index id is kept", (yield* index.head("carol")).indexId, fresh.indexId)
    })
  ),
  conformance("tombstones count as versions; re-creating a deleted path names the tombstone", (make) =>
    Effect.gen(function* () {
      const index = yield* make()
      yield* put(index, "alice", "a", 0, "1", 7)
      yield* equal("delete", yield* remove(index, "alice", "a", 1), { seq: 2, version: 2, dropped: [] })
      yield* equal(
        "the tombstone is current",
        Option.map(yield* index.get("alice", "a"), (c) => [c.version, c.entry]),
        Option.some([2, { _tag: "Tombstone" }])
      )
      yield* equal("devices learn of it", (yield* index.changesAfter("alice", 1, 10)).entries[0]?.entry, {
        _tag: "Tombstone"
      })
      yield* equal("usage without it", yield* index.usage("alice"), { files: 0, bytes: 0 })
      yield* failsWith("re-create as new", put(index, "alice", "a", 0, "2"), {
        _tag: "VersionConflict",
        current: 2
      })
      yield* failsWith("delete the tombstone", remove(index, "alice", "a", 2), { _tag: "NoSuchFile", path: "a" })
      yield* failsWith("delete what never was", remove(index, "alice", "none", 0), { _tag: "NoSuchFile" })
      yield* equal("re-create on the tombstone", yield* put(index, "alice", "a", 2, "2"), {
        seq: 3,
        version: 3,
        dropped: []
      })
      yield* equal(
        "only file versions are kept",
        (yield* index.versions("alice", "a")).map((k) => [k.version, k.seq, k.entry.manifest]),
        [[1, 1, digest("1")]]
      )
      yield* equal("head", (yield* index.head("alice")).seq, 3)
    })
  ),
  conformance("rename keeps the manifest and takes two numbers", (make) =>
    Effect.gen(function* () {
      const index = yield* make()
      yield* put(index, "alice", "docs/a.txt", 0, "1", 42)
      yield* put(index, "alice", "docs/b.txt", 0, "2")
      const before = yield* snapshot(index, "alice", ["docs/a.txt"])
      yield* failsWith(
        "onto a file",
        index.rename("alice", { from: "docs/a.txt", to: "docs/b.txt", base: 1, device: "phone" }),
        { _tag: "VersionConflict", path: "docs/b.txt", current: 1 }
      )
      yield* failsWith(
        "a stale base",
        index.rename("alice", { from: "docs/a.txt", to: "docs/c.txt", base: 0, device: "phone" }),
        { _tag: "VersionConflict", path: "docs/a.txt", current: 1 }
      )
      yield* failsWith(
        "from nothing",
        index.rename("alice", { from: "docs/x.txt", to: "docs/c.txt", base: 0, device: "phone" }),
        { _tag: "NoSuchFile", path: "docs/x.txt" }
      )
      yield* equal("refusals changed nothing", yield* snapshot(index, "alice", ["docs/a.txt"]), before)

      const renamed = yield* index.rename("alice", { from: "docs/a.txt", to: "c.txt", base: 1, device: "phone" })
      yield* equal("two numbers", renamed, {
        from: { seq: 3, version: 2, dropped: [] },
        to: { seq: 4, version: 1, dropped: [] }
      })
      yield* equal(
        "the same content at the new path",
        Option.map(yield* index.get("alice", "c.txt"), (c) => [c.entry, c.device]),
        Option.some([file("1", 42), "phone"])
      )
      yield* equal(
        "a tombstone at the old one",
        Option.map(yield* index.get("alice", "docs/a.txt"), (c) => c.entry._tag),
        Option.some("Tombstone")
      )
      yield* equal("usage unchanged", yield* index.usage("alice"), { files: 2, bytes: 52 })
      yield* failsWith(
        "renaming a tombstone",
        index.rename("alice", { from: "docs/a.txt", to: "d.txt", base: 2, device: "phone" }),
        { _tag: "NoSuchFile" }
      )
      // Back onto the tombstone: the target's version continues from it.
      yield* equal(
        "onto a tombstone",
        yield* index.rename("alice", { from: "c.txt", to: "docs/a.txt", base: 1, device: "phone" }),
        { from: { seq: 5, version: 2, dropped: [] }, to: { seq: 6, version: 3, dropped: [] } }
      )
      yield* equal("the catch-up", seqs(yield* index.changesAfter("alice", 2, 10)), [
        ["c.txt", 5, 2],
        ["docs/a.txt", 6, 3]
      ])
    })
  ),
  conformance("the history is bounded by count; what falls out is returned", (make) =>
    Effect.gen(function* () {
      const index = yield* make({ versionsKept: 2 })
      yield* put(index, "alice", "a", 0, "1")
      yield* put(index, "alice", "a", 1, "2")
      yield* equal("nothing dropped yet", (yield* put(index, "alice", "a", 2, "3")).dropped, [])
      yield* equal("the oldest dropped", (yield* put(index, "alice", "a", 3, "4")).dropped, [digest("1")])
      yield* equal(
        "newest first",
        (yield* index.versions("alice", "a")).map((k) => [k.version, k.entry.manifest]),
        [
          [3, digest("3")],
          [2, digest("2")]
        ]
      )
      yield* equal("other paths have none", yield* index.versions("alice", "b"), [])

      const none = yield* make({ versionsKept: 0 })
      yield* put(none, "alice", "a", 0, "1")
      yield* equal("kept none", (yield* put(none, "alice", "a", 1, "2")).dropped, [digest("1")])
      yield* equal("a deletion drops the file", (yield* remove(none, "alice", "a", 2)).dropped, [digest("2")])
      yield* equal("no versions", yield* none.versions("alice", "a"), [])
    })
  ),
  conformance("the history is bounded by age: prune and commits drop what is too old", (make) =>
    Effect.gen(function* () {
      const index = yield* make({ versionsMaxAge: "1 hour", versionsKept: 10 })
      yield* put(index, "alice", "a", 0, "1")
      yield* put(index, "alice", "a", 1, "2") // v1 replaced at 0
      yield* put(index, "bob", "b", 0, "7")
      yield* put(index, "bob", "b", 1, "8") // bob's v1 replaced at 0
      yield* TestClock.adjust("30 minutes")
      yield* put(index, "alice", "a", 2, "3") // v2 replaced at 30 minutes
      yield* equal("a kept version", (yield* index.versions("alice", "a"))[1], {
        path: "a",
        version: 1,
        seq: 1,
        device: "laptop",
        committedAt: 0,
        replacedAt: 0,
        entry: file("1")
      })
      yield* TestClock.adjust("30 minutes")
      yield* equal("at the age bound, kept", (yield* index.versions("alice", "a")).length, 2)
      yield* TestClock.adjust("1 milli")
      yield* equal(
        "past it, not listed",
        (yield* index.versions("alice", "a")).map((k) => k.version),
        [2]
      )
      const pruned = yield* index.prune
      yield* equal("pruned", [pruned.removed, [...pruned.dropped].sort()], [2, [digest("1"), digest("7")]])
      yield* equal("pruned again", yield* index.prune, { removed: 0, dropped: [], accounts: [] })
      yield* TestClock.adjust("30 minutes")
      // v2 is now 61 minutes past its replacement: the commit drops it.
      yield* equal("a commit drops it", (yield* put(index, "alice", "a", 3, "4")).dropped, [digest("2")])
      yield* equal(
        "what is left",
        (yield* index.versions("alice", "a")).map((k) => k.version),
        [3]
      )
    })
  ),
  conformance("prune removes at most pruneBatch, oldest first", (make) =>
    Effect.gen(function* () {
      const index = yield* make({ versionsMaxAge: "1 minute", pruneBatch: 2 })
      yield* put(index, "alice", "a", 0, "1")
      yield* put(index, "alice", "a", 1, "2") // v1 replaced at 0
      yield* TestClock.adjust("1 second")
      yield* put(index, "alice", "b", 0, "3")
      yield* put(index, "alice", "b", 1, "4") // b v1 replaced at 1 s
      yield* TestClock.adjust("1 second")
      yield* put(index, "alice", "a", 2, "5") // v2 replaced at 2 s
      yield* TestClock.adjust("10 minutes")
      yield* equal("first batch", yield* index.prune, {
        removed: 2,
        dropped: [digest("1"), digest("3")],
        accounts: ["alice", "alice"]
      })
      yield* equal("second batch", yield* index.prune, { removed: 1, dropped: [digest("2")], accounts: ["alice"] })
      yield* equal("done", (yield* index.prune).removed, 0)
    })
  ),
  conformance("usage counts the current files and their bytes", (make) =>
    Effect.gen(function* () {
      const index = yield* make()
      yield* equal("an unknown account", yield* index.usage("alice"), { files: 0, bytes: 0 })
      yield* put(index, "alice", "a", 0, "1", 100)
      yield* put(index, "alice", "b", 0, "2", 20)
      yield* put(index, "alice", "c", 0, "3", 3)
      yield* put(index, "bob", "a", 0, "4", 1000)
      yield* put(index, "alice", "a", 1, "5", 50) // an edit: 100 becomes 50
      yield* remove(index, "alice", "c", 1)
      yield* equal("alice", yield* index.usage("alice"), { files: 2, bytes: 70 })
      yield* equal("bob", yield* index.usage("bob"), { files: 1, bytes: 1000 })
    })
  ),
  conformance("paths are checked and refused with InvalidPath", (make) =>
    Effect.gen(function* () {
      const index = yield* make({ maxPathBytes: 8 })
      const refused: ReadonlyArray<string> = [
        "",
        "/a",
        "a/",
        "a//b",
        "./a",
        "a/./b",
        "../a",
        "a/..",
        "a\u0000b",
        "a\ud800",
        "123456789",
        "éééé/"
      ]
      for (const path of refused) {
        yield* failsWith(`commit ${show(path)}`, put(index, "alice", path, 0, "1"), { _tag: "InvalidPath", path })
      }
      yield* failsWith("get", index.get("alice", "a//b"), { _tag: "InvalidPath" })
      yield* failsWith("versions", index.versions("alice", "/a"), { _tag: "InvalidPath" })
      yield* failsWith("rename target", index.rename("alice", { from: "a", to: "../b", base: 0, device: "d" }), {
        _tag: "InvalidPath",
        path: "../b"
      })
      // Eight bytes exactly, dots inside names, and spaces are paths.
      for (const path of ["éééé", "a/b/c/d", ".a/b..", "a b"]) yield* put(index, "alice", path, 0, "1")
      yield* equal("accepted", (yield* index.head("alice")).seq, 4)
    })
  ),
  conformance("bounds and fields are refused with typed errors, taking no number", (make) =>
    Effect.gen(function* () {
      const index = yield* make({ maxEntries: 2, maxDeviceBytes: 6 })
      yield* put(index, "alice", "a", 0, "1")
      yield* put(index, "alice", "b", 0, "2")
      yield* failsWith("a third path", put(index, "alice", "c", 0, "3"), {
        _tag: "SyncIndexFull",
        account: "alice",
        entries: 2,
        maxEntries: 2
      })
      yield* failsWith("a rename to a new path", index.rename("alice", { from: "a", to: "c", base: 1, device: "d" }), {
        _tag: "SyncIndexFull"
      })
      // Existing paths can still change, and a tombstone is still a path.
      yield* remove(index, "alice", "a", 1)
      yield* put(index, "alice", "b", 1, "4")
      yield* failsWith("still full", put(index, "alice", "c", 0, "3"), { _tag: "SyncIndexFull" })
      yield* index.rename("alice", { from: "b", to: "a", base: 2, device: "d" })
      yield* equal("another account is not full", (yield* put(index, "bob", "c", 0, "3")).seq, 1)
      const seq = (yield* index.head("alice")).seq

      const bad = (entry: Partial<SyncIndex.FileEntry>) => ({ ...file("5"), ...entry })
      yield* failsWith(
        "a manifest not hex",
        index.commit("alice", { path: "a", base: 3, device: "d", entry: bad({ manifest: "x".repeat(64) }) }),
        { _tag: "InvalidEntry", field: "manifest" }
      )
      yield* failsWith(
        "an upper-case digest",
        index.commit("alice", { path: "a", base: 3, device: "d", entry: bad({ sha256: "A".repeat(64) }) }),
        { _tag: "InvalidEntry", field: "sha256" }
      )
      yield* failsWith(
        "a negative size",
        index.commit("alice", { path: "a", base: 3, device: "d", entry: bad({ size: -1 }) }),
        { _tag: "InvalidEntry", field: "size" }
      )
      yield* failsWith(
        "a fractional base",
        index.commit("alice", { path: "a", base: 1.5, device: "d", entry: file("5") }),
        { _tag: "InvalidEntry", field: "base" }
      )
      yield* failsWith(
        "a device name too long",
        index.commit("alice", { path: "a", base: 3, device: "desktop", entry: file("5") }),
        { _tag: "InvalidEntry", field: "device" }
      )
      yield* equal("no number taken", (yield* index.head("alice")).seq, seq)
    })
  ),
  conformance("resetIndex changes the index id and keeps the numbering", (make) =>
    Effect.gen(function* () {
      const index = yield* make()
      yield* put(index, "alice", "a", 0, "1")
      yield* put(index, "alice", "b", 0, "2")
      const before = yield* index.head("alice")
      const after = yield* index.resetIndex("alice")
      yield* holds("a new id", after.indexId !== before.indexId, `an id other than ${before.indexId}`, after.indexId)
      yield* equal("numbering kept", after.seq, 2)
      yield* equal("the id is kept", yield* index.head("alice"), after)
      yield* equal("pages carry it", (yield* index.changesAfter("alice", 0, 10)).indexId, after.indexId)
      yield* equal("numbers continue", (yield* put(index, "alice", "c", 0, "3")).seq, 3)
      yield* equal("content kept", (yield* index.changesAfter("alice", 0, 10)).entries.length, 3)
    })
  )
]

/**
 * The cases of a site's {@link SyncIndex.SyncIndexes}: the indexes it opens share the accounts,
 * each keeping the bounds it was opened with.
 *
 * @since 0.1.0
 * @category cases
 */
export const syncIndexes: ReadonlyArray<Case<SyncIndex.SyncIndexes["Type"]>> = [
  conformance("indexes opened from one site's stores share the accounts, each with its own bounds", (make) =>
    Effect.gen(function* () {
      const indexes = yield* make()
      const one = yield* indexes.open({ versionsKept: 0 })
      const other = yield* indexes.open({ maxEntries: 1 })
      yield* put(one, "alice", "x", 0, "1")
      yield* equal("the other sees the commit", (yield* other.head("alice")).seq, 1)
      yield* failsWith("the other's bound holds", put(other, "alice", "y", 0, "2"), { _tag: "SyncIndexFull" })
      yield* put(one, "alice", "y", 0, "2")
      yield* equal("and sees the next", (yield* other.head("alice")).seq, 2)
    })
  )
]
