/**
 * What a newcomer met in the first hour (issue 13), on the real binary: a password typed at a
 * real pseudo-terminal (`script` from util-linux), refusals said as sentences, a wrong `--url`
 * said at once, and a closed output pipe as a normal end.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bin, cli, freePort, killAll, root, routesEverywhere, runSites, threeSites } from "./support.js"

const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`

/**
 * Runs the binary on a pseudo-terminal (`script -qec`), typing `typed` and Enter once the
 * password prompt shows; everything the terminal showed, and the exit code.
 */
const onTerminal = (args: ReadonlyArray<string>, typed: string, env: Record<string, string>) =>
  new Promise<{ code: number | null; screen: string }>((resolve, reject) => {
    const command = [process.execPath, bin, ...args].map(quote).join(" ")
    const proc = spawn("script", ["-qec", command, "/dev/null"], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let screen = ""
    let answered = false
    const seen = (d: Buffer) => {
      screen += d.toString()
      if (!answered && screen.includes("password")) {
        answered = true
        proc.stdin.write(`${typed}\r`)
      }
    }
    proc.stdout.on("data", seen)
    proc.stderr.on("data", seen)
    proc.on("error", reject)
    proc.on("close", (code) => {
      proc.stdin.destroy()
      resolve({ code, screen })
    })
  })

describe("a newcomer's first hour", () => {
  it("a password typed at the terminal is the password; refusals are sentences", async () => {
    const { dir, file: topology, http } = await threeSites()
    const config = mkdtempSync(join(tmpdir(), "meridian-config-"))
    const env = { XDG_CONFIG_HOME: config }
    const at = (site: string) => ["--topology", topology, "--site", site]
    const ops = await cli(["account", "create", "ops", "--operator", ...at("n1"), "--data", join(dir, "n1")], {
      input: "operator-password\n",
      env
    })
    expect(ops.code).toBe(0)
    const procs = runSites(topology, dir, ["n1", "s1", "w1"])
    try {
      await routesEverywhere(http)

      // Typed at a terminal: created with it, then logged in with it at another site.
      const created = await onTerminal(["account", "create", "dora", ...at("n1")], "typed-at-a-tty", env)
      expect(created.screen).toContain("account dora created")
      expect(created.code).toBe(0)
      const login = await onTerminal(["account", "login", "dora", ...at("s1")], "typed-at-a-tty", env)
      expect(login.screen).toContain("logged in as dora")
      expect(login.code).toBe(0)

      // Refusals are sentences: what failed, why, what to do; --json keeps the structured form.
      const wrong = await cli(["account", "login", "dora", ...at("w1")], { input: "not-her-password\n", env })
      expect(wrong.code).toBe(1)
      expect(wrong.stderr.trim()).toBe(
        "meridian: log in as dora: wrong name or password (401 InvalidCredentials); check both and try again"
      )
      const taken = await cli(["account", "create", "dora", ...at("w1")], { input: "another-password\n", env })
      expect(taken.stderr).toContain("create account dora: the name dora is taken (409 AccountExists)")
      const short = await cli(["account", "create", "eve", ...at("w1")], { input: "short\n", env })
      expect(short.stderr).toMatch(/create account eve: password must be .* \(400 AccountInvalid\)/)
      const forbidden = await cli(["link", "down", "--peer", "s1", ...at("n1")], { env })
      expect(forbidden.code).toBe(1)
      expect(forbidden.stderr.trim()).toBe(
        "meridian: take the link to s1 out of service: dora is not an operator (403 Forbidden); " +
          "log in as an account with the operator role (`meridian account login NAME`)"
      )
      const structured = await cli(["link", "down", "--peer", "s1", ...at("n1"), "--json"], { env })
      expect(JSON.parse(structured.stderr)).toMatchObject({
        error: "Forbidden",
        status: 403,
        name: "dora",
        required: "operator",
        exitCode: 1
      })
      expect((await cli(["account", "login", "ops", ...at("n1")], { input: "operator-password\n", env })).code).toBe(0)
      const nowhere = await cli(["link", "down", "--peer", "zz", ...at("n1")], { env })
      expect(nowhere.code).toBe(1)
      expect(nowhere.stderr.trim()).toBe(
        "meridian: take the link to zz out of service: zz is not a neighbour of n1 (404 NotFound); " +
          "`meridian status` lists the site's links"
      )
      for (const output of [wrong, taken, short, forbidden, nowhere]) expect(output.stderr).not.toContain("_tag")
    } finally {
      killAll(procs.values())
    }
  }, 240_000)

  it("a --url where nothing answers is said at once, not retried", async () => {
    const config = mkdtempSync(join(tmpdir(), "meridian-config-"))
    mkdirSync(join(config, "meridian"))
    // A saved login (the token is never looked at: nothing answers).
    writeFileSync(
      join(config, "meridian", "token.json"),
      JSON.stringify({ token: "t", name: "alice", roles: ["user"], expiresAt: Date.now() + 3_600_000, url: "x" })
    )
    const port = await freePort()
    const sent = await cli(["files", "send", "README.md", "--to", "bob", "--url", `http://127.0.0.1:${port}`], {
      env: { XDG_CONFIG_HOME: config }
    })
    expect(sent.code).toBe(3)
    expect(sent.stderr).not.toContain("retrying")
    expect(sent.stderr).toContain(`nothing answers at http://127.0.0.1:${port}`)
    expect(sent.stderr).toContain("is the site running?")
  }, 60_000)

  it("a closed output pipe ends the command quietly with status 0", async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const proc = spawn(process.execPath, [bin, "topology", "graph", "examples/three-regions.yaml"], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"]
      })
      // The reader goes away before the graph is written (`| head -0`, `| dot` not installed).
      proc.stdout.destroy()
      let stderr = ""
      proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
      proc.on("error", reject)
      proc.on("close", (code) => resolve({ code, stderr }))
    })
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
  }, 60_000)
})
