import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseDuration, parseSize, safeFilename } from "@meridian/cli/files"
import * as Option from "effect/Option"
import { bin, cli, eventually, json, killAll, routesEverywhere, runSites, threeSites, register } from "./support.js"

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

interface Listed {
  readonly id: string
  readonly sender: string
  readonly filename: string
  readonly size: number
  readonly sha256: string
  readonly direction: string
}

describe("meridian files send/inbox/get against real site processes", () => {
  it("sends through the regional server, lists, downloads with verification, resumes a killed send and a partial get", async () => {
    const {
      dir,
      file: topology,
      http
    } = await threeSites({ modules: "{ ping: {}, files: { cleanupIntervalSeconds: 3600 } }" })
    const url = (site: keyof typeof http, path: string) => `http://127.0.0.1:${http[site]}${path}`
    const as = (user: string) => ({ XDG_CONFIG_HOME: join(dir, `config-${user}`) })
    const at = (site: keyof typeof http) => ["--topology", topology, "--site", site]
    const procs = runSites(topology, dir, ["n1", "s1", "w1"])
    try {
      await routesEverywhere(http)
      const accounts = [
        ["alice", "north"],
        ["bob", "south"]
      ] as const
      for (const [name, region] of accounts) {
        expect(await register(url("n1", ""), name, `${name}-password`, region)).toBe(201)
      }
      const logins = await Promise.all(
        accounts.map(([name]) =>
          cli(["account", "login", name, ...at("w1")], { input: `${name}-password\n`, env: as(name) })
        )
      )
      expect(
        logins.map((l) => l.code),
        logins.map((l) => l.stderr).join("")
      ).toEqual([0, 0])

      // A 3 MiB file from alice to bob. Asked at w1, the directory sends this loopback client to
      // the default region's server (n1), which holds the file.
      const content = randomBytes(3 * 1024 * 1024 + 17)
      const file = join(dir, "report.bin")
      writeFileSync(file, content)
      const sent = await cli(["files", "send", file, "--to", "bob", "--expires", "2h", ...at("w1"), "--json"], {
        env: as("alice")
      })
      expect(sent.stderr).toBe("")
      expect(sent.code, sent.stderr).toBe(0)
      const transfer = JSON.parse(sent.stdout) as { transfer: string; server: { site: string } }
      expect(transfer).toMatchObject({ size: content.length, sha256: sha256(content), server: { site: "n1" } })

      // Bob's inbox at his own region's server (s1, asked directly) lists it once n1 has offered it;
      // he downloads it through s1, which brokers the address from the holder n1 (SHA-256 checked).
      const config = (user: string, ...path: ReadonlyArray<string>) => join(dir, `config-${user}`, "meridian", ...path)
      const tokenOf = (user: string) =>
        (JSON.parse(readFileSync(config(user, "token.json"), "utf8")) as { token: string }).token
      await eventually("the transfer reaches bob's inbox at s1", async () => {
        const listed = await json(url("s1", "/v1/files/inbox"), {
          headers: { authorization: `Bearer ${tokenOf("bob")}` }
        })
        return (listed.transfers as ReadonlyArray<unknown>).length > 0 ? true : undefined
      })
      const out = join(dir, "received")
      const [listed, got] = await Promise.all([
        cli(["files", "inbox", ...at("s1"), "--direct", "--json"], { env: as("bob") }),
        cli(["files", "get", transfer.transfer, "-o", out, ...at("s1"), "--direct", "--json"], { env: as("bob") })
      ])
      const inbox = JSON.parse(listed.stdout) as { user: string; transfers: ReadonlyArray<Listed> }
      expect(inbox.user).toBe("bob")
      expect(inbox.transfers).toMatchObject([
        { id: transfer.transfer, sender: "alice", filename: "report.bin", size: content.length, direction: "received" }
      ])
      expect(got.stderr).toBe("")
      expect(got.code, got.stderr).toBe(0)
      expect(JSON.parse(got.stdout)).toMatchObject({ path: out, size: content.length, holder: "n1" })
      expect(sha256(readFileSync(out))).toBe(sha256(content))

      // A send killed after its first chunks (slowed down so that it is still sending); meanwhile,
      // no silent overwrite, an unknown transfer, and the inbox as a table.
      const big = randomBytes(4 * 1024 * 1024)
      const bigFile = join(dir, "big.bin")
      writeFileSync(bigFile, big)
      const send = ["files", "send", bigFile, "--to", "bob", "--chunk-size", "256K", ...at("n1")]
      const slow = spawn(process.execPath, [bin, ...send, "--limit-rate", "256K"], {
        env: { ...process.env, ...as("alice") },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let progress = ""
      slow.stderr.on("data", (d: Buffer) => (progress += d.toString()))
      const killed = new Promise((r) => slow.on("close", r))
      const [, again, unknown, table] = await Promise.all([
        eventually("the slow send confirms a chunk", async () =>
          /send big\.bin {2}[1-9][\d.]* (KiB|MiB)/.test(progress) ? slow.kill("SIGKILL") : undefined
        ).then(() => killed),
        cli(["files", "get", transfer.transfer, "-o", out, ...at("s1")], { env: as("bob") }),
        cli(["files", "get", "nosuchtransfer0000", ...at("n1")], { env: as("bob") }),
        cli(["files", "inbox", ...at("s1"), "--direct"], { env: as("bob") })
      ])
      expect(again.code, again.stderr).toBe(2)
      expect(again.stderr).toContain("--force")
      expect(unknown.code, unknown.stderr).toBe(1)
      expect(table.stdout).toMatch(/from alice\s+report\.bin\s+3\.0 MiB\s+1h 5\dm/)

      // The rerun continues from the server's offset, not from zero.
      const states = readdirSync(config("alice", "uploads"))
      expect(states).toHaveLength(1)
      const { upload } = JSON.parse(readFileSync(config("alice", "uploads", states[0]!), "utf8")) as { upload: string }
      const head = await fetch(upload, {
        method: "HEAD",
        headers: { authorization: `Bearer ${tokenOf("alice")}`, "tus-resumable": "1.0.0" }
      })
      const stored = Number(head.headers.get("upload-offset"))
      expect(stored).toBeGreaterThan(0)
      expect(stored).toBeLessThan(big.length)
      const resumed = await cli(send, { env: as("alice") })
      expect(resumed.code, resumed.stderr).toBe(0)
      // (At least where the server was when asked: bytes of the killed send still in flight may
      // have landed since.)
      const resumedAt = Number(/resuming upload at (\d+) of (\d+) bytes/.exec(resumed.stderr)?.[1])
      expect(resumedAt).toBeGreaterThanOrEqual(stored)
      expect(resumed.stderr).toContain(`of ${big.length} bytes`)
      const bigId = resumed.stdout.trim()
      expect(bigId).toMatch(/^[0-9a-f]{32}$/) // never starts with "-", which the CLI would take for an option
      expect(readdirSync(config("alice", "uploads"))).toEqual([])

      // A partial download is continued with Range, verified, and renamed into place under the
      // transfer's name in the current directory, replacing the old file there (--force).
      const cwd = mkdtempSync(join(tmpdir(), "meridian-get-"))
      writeFileSync(join(cwd, "big.bin"), "old")
      writeFileSync(join(cwd, "big.bin.part"), big.subarray(0, 1024 * 1024))
      const partial = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const proc = spawn(process.execPath, [bin, "files", "get", bigId, "--force", ...at("n1")], {
          cwd,
          env: { ...process.env, ...as("bob") },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let stdout = ""
        let stderr = ""
        proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
        proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
        proc.on("close", (code) => resolve({ code, stdout, stderr }))
      })
      expect(partial.code, partial.stderr).toBe(0)
      expect(partial.stderr).toContain(`resuming download at ${1024 * 1024} of ${big.length} bytes`)
      expect(partial.stdout).toContain("SHA-256 verified")
      expect(sha256(readFileSync(join(cwd, "big.bin")))).toBe(sha256(big))
      expect(existsSync(join(cwd, "big.bin.part"))).toBe(false)
    } finally {
      killAll(procs.values())
    }
  }, 180_000)

  it("reads lifetimes and sizes, and makes received file names safe", () => {
    expect([..."90s 30m 12h 7d 3600".split(" ").map((t) => Option.getOrNull(parseDuration(t)))]).toEqual([
      90, 1800, 43200, 604800, 3600
    ])
    expect(Option.isNone(parseDuration("soon"))).toBe(true)
    expect(Option.isNone(parseDuration("0d"))).toBe(true)
    expect(Option.getOrNull(parseSize("8M"))).toBe(8 * 1024 * 1024)
    expect(Option.getOrNull(parseSize("256KiB"))).toBe(256 * 1024)
    expect(Option.getOrNull(parseSize("1000"))).toBe(1000)
    expect(Option.isNone(parseSize("lots"))).toBe(true)
    expect(safeFilename("../../etc/passwd", "id")).toBe("_._etc_passwd")
    expect(safeFilename("..", "id")).toBe("id")
    expect(safeFilename("a/b\\c..d.txt", "id")).toBe("a_b_c.d.txt")
    expect(safeFilename(".hidden", "id")).toBe("hidden")
    expect(safeFilename("report.pdf", "id")).toBe("report.pdf")
  })
})
