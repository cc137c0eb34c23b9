import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { bin, cli, eventually, killAll, register, routesEverywhere, runSites, threeSites } from "./support.js"

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

/** Progress lines with their rate and time left, e.g. `send big.bin  384.0 KiB / 2.0 MiB  18%  128.0 KiB/s  ETA 13s`. */
const withEta = (label: string) =>
  new RegExp(
    `${label} {2}[1-9][\\d.]* (KiB|MiB) / 2\\.0 MiB {2}\\d+% {2}[\\d.]+ (B|KiB|MiB)/s {2}ETA (\\d+s|\\d+m \\d\\ds)\\n`,
    "g"
  )
/** Two progress lines (a second apart) have been shown: bytes have moved and been kept. */
const twoLines = (label: string) => (stderr: string) => (stderr.match(withEta(label)) ?? []).length >= 2

describe("Ctrl-C during files send/get", () => {
  it("shows the time left, says how to resume, exits 130, and the same command resumes", async () => {
    const { dir, file: topology, http } = await threeSites({ modules: "{ files: {} }" })
    const url = (site: keyof typeof http) => `http://127.0.0.1:${http[site]}`
    const as = (user: string) => ({ XDG_CONFIG_HOME: join(dir, `config-${user}`) })
    const at = ["--topology", topology, "--site", "n1"]
    const procs = runSites(topology, dir, ["n1", "s1", "w1"])
    /** The binary, slowed down, interrupted once `ready` holds of its stderr: exit code and stderr. */
    const interrupted = async (args: ReadonlyArray<string>, user: string, ready: (stderr: string) => boolean) => {
      const proc = spawn(process.execPath, [bin, ...args], {
        env: { ...process.env, ...as(user) },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stderr = ""
      proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
      const closed = new Promise<number | null>((r) => proc.on("close", (code) => r(code)))
      try {
        await eventually(`progress with the time left (${args[1]})`, async () => (ready(stderr) ? true : undefined))
        proc.kill("SIGINT")
        return { code: await closed, stderr }
      } finally {
        killAll([proc])
      }
    }
    try {
      await routesEverywhere(http)
      for (const name of ["alice", "bob"]) {
        expect(await register(url("n1"), name, `${name}-password`, "north")).toBe(201)
        const login = await cli(["account", "login", name, ...at], { input: `${name}-password\n`, env: as(name) })
        expect(login.code, login.stderr).toBe(0)
      }
      const content = randomBytes(2 * 1024 * 1024)
      const file = join(dir, "big.bin")
      writeFileSync(file, content)

      const send = ["files", "send", file, "--to", "bob", "--chunk-size", "128K", ...at]
      const stopped = await interrupted([...send, "--limit-rate", "128K"], "alice", twoLines("send big\\.bin"))
      expect(stopped.code, stopped.stderr).toBe(130)
      expect(stopped.stderr).toMatch(
        /\ninterrupted: run the same command again to resume\n\(or cancel it: meridian files rm [0-9a-f]{32}\)\n$/
      )
      const sent = await cli(send, { env: as("alice") })
      expect(sent.code, sent.stderr).toBe(0)
      expect(sent.stderr).toMatch(/resuming upload at [1-9]\d* of 2097152 bytes/)
      const id = sent.stdout.trim()

      const out = join(dir, "received.bin")
      const get = ["files", "get", id, "-o", out, ...at]
      const cut = await interrupted([...get, "--limit-rate", "128K"], "bob", twoLines("get big\\.bin"))
      expect(cut.code, cut.stderr).toBe(130)
      expect(cut.stderr).toMatch(/\ninterrupted: run the same command again to resume\n$/)
      expect(existsSync(`${out}.part`)).toBe(true)
      const got = await cli(get, { env: as("bob") })
      expect(got.code, got.stderr).toBe(0)
      expect(got.stderr).toMatch(/resuming download at [1-9]\d* of 2097152 bytes/)
      expect(sha256(readFileSync(out))).toBe(sha256(content))

      // With --json the same word is one JSON object on stderr (and no progress).
      const again = join(dir, "again.bin")
      const quiet = await interrupted(
        ["files", "get", id, "-o", again, "--limit-rate", "128K", ...at, "--json"],
        "bob",
        () => existsSync(`${again}.part`) && statSync(`${again}.part`).size > 0
      )
      expect(quiet.code).toBe(130)
      expect(JSON.parse(quiet.stderr)).toEqual({
        error: "Interrupted",
        message: "interrupted: run the same command again to resume",
        exitCode: 130
      })
    } finally {
      killAll(procs.values())
    }
  }, 180_000)
})
