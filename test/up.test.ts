import { describe, expect, it } from "@effect/vitest"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const bin = join(root, "packages/cli/bin/meridian.js")

/** A free TCP port on loopback (bound, read, released). */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** Polls `url` until it answers 200 (bounded). */
const until = async (url: string, timeoutMillis = 60_000): Promise<Response> => {
  const deadline = Date.now() + timeoutMillis
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url)
      if (response.ok) return response
      last = response.status
    } catch (error) {
      last = error
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`${url} did not answer within ${timeoutMillis} ms (last: ${String(last)})`)
}

/** Process ids of the `meridian run` children of `parent`. */
const children = (parent: number): Array<number> => {
  try {
    return execFileSync("pgrep", ["-P", String(parent), "-f", "meridian.js run"], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter((l) => l !== "")
      .map(Number)
  } catch {
    return []
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("meridian up (real processes, real sockets, free ports)", () => {
  it("runs every site of a temporary topology; asks cross sites over TCP; Ctrl-C stops them all", async () => {
    const dir = mkdtempSync(join(tmpdir(), "meridian-up-"))
    const ports = await Promise.all(Array.from({ length: 6 }, freePort))
    const [t1, t2, t3, h1, h2, h3] = ports
    writeFileSync(
      join(dir, "meridian.yaml"),
      [
        "name: up-test",
        "defaultRegion: north",
        "secret: up-test-secret-0123456789",
        "regions:",
        '  north: { cidrs: ["10.1.0.0/16"] }',
        '  south: { cidrs: ["10.2.0.0/16"] }',
        '  west: { cidrs: ["10.3.0.0/16"] }',
        "sites:",
        `  n1: { region: north, tcp: "127.0.0.1:${t1}", http: "127.0.0.1:${h1}", modules: { ping: {} } }`,
        `  s1: { region: south, tcp: "127.0.0.1:${t2}", http: "127.0.0.1:${h2}", modules: { ping: {} } }`,
        `  w1: { region: west, tcp: "127.0.0.1:${t3}", http: "127.0.0.1:${h3}", modules: { ping: {} } }`,
        "links:",
        "  - { between: [n1, s1] }",
        "  - { between: [n1, w1] }",
        "  - { between: [s1, w1] }",
        ""
      ].join("\n")
    )
    const up: ChildProcess = spawn(process.execPath, [bin, "up"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    up.stdout!.on("data", (d) => (output += String(d)))
    up.stderr!.on("data", (d) => (output += String(d)))
    try {
      for (const port of [h1, h2, h3]) {
        const health = await (await until(`http://127.0.0.1:${port}/health`)).json()
        expect(health).toMatchObject({ status: "ok" })
      }
      const sites = children(up.pid!)
      expect(sites).toHaveLength(3)
      // An ask from n1 to the echo actor of s1, over TCP.
      const echo = await (await until(`http://127.0.0.1:${h1}/v1/ping/echo?text=over-tcp&site=s1`)).json()
      expect(echo).toEqual({ text: "over-tcp", site: "s1" })
      // Once the links are connected, /metrics shows them up.
      const linkUp = 'meridian_link_state{site="n1",peer="s1",state="up"} 1'
      const deadline = Date.now() + 30_000
      let metrics = ""
      while (!metrics.includes(linkUp) && Date.now() < deadline) {
        metrics = await (await fetch(`http://127.0.0.1:${h1}/metrics`)).text()
        if (!metrics.includes(linkUp)) await new Promise((r) => setTimeout(r, 200))
      }
      expect(metrics).toContain(linkUp)
      expect(output).toContain("[n1] site n1 running")

      // Ctrl-C: every site stops, no child survives.
      up.kill("SIGINT")
      await new Promise<void>((resolve) => up.once("exit", () => resolve()))
      for (const pid of sites) expect(alive(pid)).toBe(false)
    } finally {
      if (up.exitCode === null) up.kill("SIGKILL")
    }
  }, 120_000)
})
