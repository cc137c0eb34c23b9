import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { bin, cli, eventually, json, killAll, register, routesEverywhere, runSites, threeSites } from "./support.js"

describe("meridian files rm against real site processes", () => {
  it("deletes a sent transfer at every file server, cancels an unfinished upload, and says why it cannot", async () => {
    const { dir, file: topology, http } = await threeSites({ modules: "{ files: {} }" })
    const url = (site: keyof typeof http, path: string) => `http://127.0.0.1:${http[site]}${path}`
    const as = (user: string) => ({ XDG_CONFIG_HOME: join(dir, `config-${user}`) })
    const at = (site: keyof typeof http) => ["--topology", topology, "--site", site]
    const config = (user: string, ...path: ReadonlyArray<string>) => join(dir, `config-${user}`, "meridian", ...path)
    const tokenOf = (user: string) =>
      (JSON.parse(readFileSync(config(user, "token.json"), "utf8")) as { token: string }).token
    const procs = runSites(topology, dir, ["n1", "s1", "w1"])
    try {
      await routesEverywhere(http)
      for (const [name, region] of [
        ["alice", "north"],
        ["bob", "south"]
      ] as const) {
        expect(await register(url("n1", ""), name, `${name}-password`, region)).toBe(201)
        const login = await cli(["account", "login", name, ...at("w1")], {
          input: `${name}-password\n`,
          env: as(name)
        })
        expect(login.code, login.stderr).toBe(0)
      }
      const inboxAtS1 = async () =>
        (
          (await json(url("s1", "/v1/files/inbox"), { headers: { authorization: `Bearer ${tokenOf("bob")}` } }))
            .transfers as ReadonlyArray<{ id: string }>
        ).map((t) => t.id)

      // A transfer from alice (held at n1) reaches bob's inbox at s1.
      const small = join(dir, "note.txt")
      writeFileSync(small, "for bob only\n")
      const sent = await cli(["files", "send", small, "--to", "bob", ...at("w1"), "--json"], { env: as("alice") })
      expect(sent.code, sent.stderr).toBe(0)
      const id = (JSON.parse(sent.stdout) as { transfer: string }).transfer
      await eventually("the transfer reaches bob's inbox at s1", async () =>
        (await inboxAtS1()).includes(id) ? true : undefined
      )

      // Only its sender may delete it: bob is told so, and it stays.
      const byBob = await cli(["files", "rm", id, ...at("s1"), "--direct"], { env: as("bob") })
      expect(byBob.code).toBe(1)
      expect(byBob.stderr).toContain("only its sender, alice, can delete this transfer")
      expect(await inboxAtS1()).toEqual([id])

      // Alice deletes it through her regional server: gone from bob's inbox at s1 too, and bob
      // can no longer get it.
      const removed = await cli(["files", "rm", id, ...at("w1")], { env: as("alice") })
      expect(removed.code, removed.stderr).toBe(0)
      expect(removed.stdout.trim()).toBe(`deleted the transfer ${id}: its recipients can no longer get it`)
      await eventually("the deletion reaches s1", async () => ((await inboxAtS1()).length === 0 ? true : undefined))
      const get = await cli(["files", "get", id, "-o", join(dir, "got.txt"), ...at("s1"), "--direct"], {
        env: as("bob")
      })
      expect(get.code).toBe(1)
      expect(get.stderr).toContain(`no transfer ${id} for bob`)
      const again = await cli(["files", "rm", id, ...at("w1"), "--json"], { env: as("alice") })
      expect(again.code).toBe(1)
      expect(JSON.parse(again.stderr)).toMatchObject({
        exitCode: 1,
        message: expect.stringContaining(`no upload or transfer ${id} for alice`)
      })

      // An upload interrupted half-way is cancelled where it was going (its address kept for the
      // rerun), and the rerun's state goes with it.
      const big = join(dir, "big.bin")
      writeFileSync(big, randomBytes(2 * 1024 * 1024))
      const slow = spawn(
        process.execPath,
        [bin, "files", "send", big, "--to", "bob", "--chunk-size", "128K", "--limit-rate", "128K", ...at("n1")],
        { env: { ...process.env, ...as("alice") }, stdio: ["ignore", "pipe", "pipe"] }
      )
      let progress = ""
      slow.stderr.on("data", (d: Buffer) => (progress += d.toString()))
      const closed = new Promise((r) => slow.on("close", r))
      await eventually("the slow send confirms a chunk", async () =>
        /send big\.bin {2}[1-9][\d.]* (KiB|MiB)/.test(progress) ? true : undefined
      )
      slow.kill("SIGKILL")
      await closed
      const [state] = readdirSync(config("alice", "uploads"))
      const { upload } = JSON.parse(readFileSync(config("alice", "uploads", state!), "utf8")) as { upload: string }
      const uploadId = upload.slice(upload.lastIndexOf("/") + 1)
      const cancelled = await cli(["files", "rm", uploadId, ...at("w1"), "--json"], { env: as("alice") })
      expect(cancelled.code, cancelled.stderr).toBe(0)
      expect(JSON.parse(cancelled.stdout)).toEqual({ id: uploadId, removed: "upload", server: url("n1", "") })
      expect(existsSync(config("alice", "uploads", state!))).toBe(false)
      const head = await fetch(upload, {
        method: "HEAD",
        headers: { authorization: `Bearer ${tokenOf("alice")}`, "tus-resumable": "1.0.0" }
      })
      expect(head.status).toBe(404)

      // Not an id: bad usage, said as a sentence.
      const bad = await cli(["files", "rm", "x/y", ...at("w1")], { env: as("alice") })
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain("x/y is not a transfer id")
      const help = await cli(["files", "rm", "--help"])
      expect(help.stdout).toContain("meridian files rm 3f9c…")
    } finally {
      killAll(procs.values())
    }
  }, 180_000)
})
