import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { converged, type Device, directoriesOf, eventually, type SyncSite, syncSite } from "./sync-support.js"

/**
 * `meridian sync` as a user runs it: a real site running `sync`, and two devices of one account
 * (two config directories, two temporary folders, two `meridian sync run` daemons).
 */
describe("meridian sync: a site and two daemons on temporary folders", () => {
  let site: SyncSite
  let a: Device
  let b: Device

  beforeAll(async () => {
    site = await syncSite()
    ;[a, b] = await Promise.all([site.device("devA"), site.device("devB")])
    await Promise.all([a.start(), b.start()])
  })
  afterAll(() => site?.close())

  it("a create, an edit, renames of a file and of a directory, and a delete on A reach B; and the other way", async () => {
    a.write("notes.txt", "one")
    a.write("docs/a.md", "alpha")
    a.write("docs/deep/b.md", "beta")
    await converged([a, b], { "notes.txt": "one", "docs/a.md": "alpha", "docs/deep/b.md": "beta" })

    a.write("notes.txt", "two")
    renameSync(a.path("docs/a.md"), a.path("docs/alpha.md"))
    await converged([a, b], { "notes.txt": "two", "docs/alpha.md": "alpha", "docs/deep/b.md": "beta" })

    renameSync(a.path("docs"), a.path("papers"))
    rmSync(a.path("notes.txt"))
    await converged([a, b], { "papers/alpha.md": "alpha", "papers/deep/b.md": "beta" })

    // And from B: a new file, an edit, a rename, a delete.
    b.write("from-b.txt", "made on B")
    b.write("papers/deep/b.md", "beta, edited on B")
    renameSync(b.path("papers/alpha.md"), b.path("papers/first.md"))
    await converged([b, a], {
      "from-b.txt": "made on B",
      "papers/first.md": "alpha",
      "papers/deep/b.md": "beta, edited on B"
    })
    rmSync(b.path("from-b.txt"))
    renameSync(b.path("papers/deep"), b.path("papers/shallow"))
    await converged([b, a], { "papers/first.md": "alpha", "papers/shallow/b.md": "beta, edited on B" })
  })

  it("a directory renamed away on one device is gone on the other too, not left behind empty", async () => {
    // `docs` went to `papers` on A and `papers/deep` to `papers/shallow` on B (previous test).
    expect({ a: directoriesOf(a.dir), b: directoriesOf(b.dir) }).toEqual({
      a: ["papers", "papers/shallow"],
      b: ["papers", "papers/shallow"]
    })
  })

  it("an edit of one file on both devices while B is stopped keeps both versions, on both devices", async () => {
    a.write("shared.txt", "base")
    const before = await converged([a, b])
    expect(await b.stop()).toBe(0)
    a.write("shared.txt", "edited on A")
    b.write("shared.txt", "edited on B, offline")
    // A's edit is on the server before B comes back.
    const seq = b.status()!.lastSeq
    await eventually("A uploads its edit", async () => (a.status()!.lastSeq > seq ? true : undefined))
    await b.start()
    const tree = await eventually("both devices hold both versions", async () => {
      const t = await converged([a, b])
      return Object.keys(t).length === Object.keys(before).length + 1 ? t : undefined
    })
    const copies = Object.keys(tree).filter((p) => p !== "shared.txt" && p.startsWith("shared"))
    expect(copies).toHaveLength(1)
    expect(copies[0]).toMatch(/^shared\.sync-conflict-\d{8}-\d{6}-dev[AB]\.txt$/)
    // Nothing lost: one holds A's edit, the other B's.
    expect([tree["shared.txt"], tree[copies[0]!]].sort()).toEqual(["edited on A", "edited on B, offline"])
    // The device that kept a copy says so in its status.
    const conflicts = [...a.status()!.conflicts, ...b.status()!.conflicts]
    expect(conflicts.map((c) => [c.path, c.copy])).toContainEqual(["shared.txt", copies[0]])
    const status = await b.cli(["sync", "status"])
    const statusA = await a.cli(["sync", "status"])
    expect(status.stdout + statusA.stdout).toContain(`conflict: shared.txt kept as ${copies[0]}`)
  })

  it("a device stopped during changes on the other catches up when back, and its offline edits go up", async () => {
    await converged([a, b])
    const seq = a.status()!.lastSeq
    expect(await b.stop()).toBe(0)
    // On A while B is away: new files (one in a new directory), an edit, a rename, a delete.
    a.write("while-away/1.txt", "first while B was away")
    a.write("while-away/2.txt", "second while B was away")
    a.write("papers/first.md", "alpha, edited while B was away")
    renameSync(a.path("papers/shallow/b.md"), a.path("papers/b-moved.md"))
    rmSync(a.path("shared.txt"))
    // On B, offline: a file of its own and an edit of another.
    b.write("offline/b.txt", "written on B offline")
    writeFileSync(b.path("from-b-offline.txt"), "also offline")
    await eventually("A uploads its changes", async () => (a.status()!.lastSeq >= seq + 5 ? true : undefined))
    await b.start()
    const tree = await converged([a, b])
    expect(tree).toMatchObject({
      "while-away/1.txt": "first while B was away",
      "while-away/2.txt": "second while B was away",
      "papers/first.md": "alpha, edited while B was away",
      "papers/b-moved.md": "beta, edited on B",
      "offline/b.txt": "written on B offline",
      "from-b-offline.txt": "also offline"
    })
    expect(tree["shared.txt"]).toBeUndefined()
    expect(tree["papers/shallow/b.md"]).toBeUndefined()
  })

  it("sync status --json says every folder is idle at the same change with no errors", async () => {
    await converged([a, b])
    const answers = await Promise.all([a, b].map((d) => d.cli(["sync", "status", "--json"])))
    interface Listed {
      readonly folder: { path: string; device: string }
      readonly running: boolean
      readonly status: {
        state: string
        lastSeq: number
        errors: ReadonlyArray<unknown>
        inFlight: ReadonlyArray<unknown>
      }
    }
    const folders = answers.map((r) => {
      expect(r.code, r.stderr).toBe(0)
      return (JSON.parse(r.stdout) as { folders: ReadonlyArray<Listed> }).folders
    })
    expect(folders.map((f) => f.length)).toEqual([1, 1])
    const [fa, fb] = [folders[0]![0]!, folders[1]![0]!]
    expect(fa.folder).toMatchObject({ path: a.dir, device: "devA" })
    expect(fb.folder).toMatchObject({ path: b.dir, device: "devB" })
    for (const f of [fa, fb]) {
      expect(f.running).toBe(true)
      expect(f.status).toMatchObject({ state: "idle", errors: [], inFlight: [] })
    }
    expect(fa.status.lastSeq).toBe(fb.status.lastSeq)
    expect(fa.status.lastSeq).toBeGreaterThan(0)
  })

  it("sync versions lists an older version of a file and sync restore brings it back on both devices", async () => {
    a.write("report.txt", "draft 1")
    await eventually("B holds draft 1", async () =>
      (await converged([a, b]))["report.txt"] === "draft 1" ? true : undefined
    )
    a.write("report.txt", "draft 2, better")
    await eventually("B holds draft 2", async () =>
      (await converged([a, b]))["report.txt"] === "draft 2, better" ? true : undefined
    )
    const listed = await b.cli(["sync", "versions", b.path("report.txt"), "--json"])
    expect(listed.code, listed.stderr).toBe(0)
    const { versions } = JSON.parse(listed.stdout) as {
      versions: ReadonlyArray<{ version: number; device: string; entry: { size: number } }>
    }
    expect(versions).toHaveLength(1)
    expect(versions[0]).toMatchObject({ device: "devA", entry: { size: "draft 1".length } })
    const human = await a.cli(["sync", "versions", a.path("report.txt")])
    expect(human.stdout).toContain(`older versions of report.txt, newest first`)
    expect(human.stdout).toMatch(new RegExp(`version ${versions[0]!.version} .* from devA`))

    const restored = await b.cli(["sync", "restore", b.path("report.txt"), "--version", String(versions[0]!.version)])
    expect(restored.code, restored.stderr).toBe(0)
    expect(restored.stdout).toMatch(/^restored version \d+ of report\.txt as version \d+ \(change \d+\)/)
    await eventually("both devices hold draft 1 again", async () =>
      (await converged([a, b]))["report.txt"] === "draft 1" ? true : undefined
    )
    // The version the restore replaced is kept in turn.
    const after = await a.cli(["sync", "versions", a.path("report.txt"), "--json"])
    const kept = (JSON.parse(after.stdout) as { versions: ReadonlyArray<{ entry: { size: number } }> }).versions
    expect(kept.map((v) => v.entry.size)).toContain("draft 2, better".length)
  })

  it("bad usage is refused with a sentence and an exit code", async () => {
    const missing = await a.cli(["sync", "add", join(site.dir, "no-such-folder")])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/no-such-folder.* (must exist|does not exist)/)

    mkdirSync(a.path("inner"), { recursive: true })
    const inside = await a.cli(["sync", "add", a.path("inner")])
    expect(inside.code).toBe(2)
    expect(inside.stderr).toContain(`overlaps the synced folder ${a.dir}: a folder cannot hold or be inside another`)

    const elsewhere = await a.cli(["sync", "versions", join(site.dir, "elsewhere.txt")])
    expect(elsewhere.code).toBe(2)
    expect(elsewhere.stderr).toContain(`is in no synced folder (${a.dir})`)

    const state = await a.cli(["sync", "versions", a.path(".meridian/status.json")])
    expect(state.code).toBe(2)
    expect(state.stderr).toContain("is the folder's own state, which is not synced")

    // A second daemon on a folder that one already syncs.
    const second = await a.cli(["sync", "run"])
    expect(second.code).toBe(1)
    expect(second.stderr).toContain(`another daemon (pid ${a.status()!.pid}) already syncs ${a.dir}`)

    // Logged in, no folder added.
    const fresh = await site.device("devC", { add: false })
    const nothing = await fresh.cli(["sync", "run"])
    expect(nothing.code).toBe(2)
    expect(nothing.stderr).toContain("no synced folders: add one first (meridian sync add FOLDER)")

    // Not logged in.
    const stranger = await site.device("devD", { login: false })
    for (const args of [
      ["sync", "run"],
      ["sync", "add", stranger.dir]
    ]) {
      const refused = await stranger.cli(args)
      expect(refused.code).toBe(4)
      expect(refused.stderr).toContain("not logged in (meridian account login NAME)")
    }
  })
})
