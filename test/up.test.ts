import { describe, expect, it } from "@effect/vitest"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { bin, eventually, threeSites } from "./support.js"

/** Polls `url` until it answers 200 (bounded). */
const until = (url: string) =>
  eventually(url, async () => {
    const response = await fetch(url)
    return response.ok ? response : undefined
  })

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
    const { dir, http } = await threeSites({ file: "meridian.yaml" })
    const [h1, h2, h3] = [http.n1, http.s1, http.w1]
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
