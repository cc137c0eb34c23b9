import { describe, expect, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { connect, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const bin = join(root, "packages/cli/bin/meridian.js")

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

const sleep = (millis: number) => new Promise((r) => setTimeout(r, millis))

/** Polls until `check` returns a value (bounded); the last failure is in the error. */
const eventually = async <A>(what: string, check: () => Promise<A | undefined>, timeoutMillis = 60_000): Promise<A> => {
  const deadline = Date.now() + timeoutMillis
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    await sleep(200)
  }
  throw new Error(`${what}: not within ${timeoutMillis} ms (last: ${String(last)})`)
}

const json = async (url: string, init?: RequestInit) => {
  const response = await fetch(url, init)
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`)
  return (await response.json()) as Record<string, unknown>
}

/** Sends raw bytes on a fresh connection and waits for the peer to close it (or 2 s). */
const garbage = (port: number, bytes: Uint8Array) =>
  new Promise<void>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => socket.write(bytes))
    const timer = setTimeout(() => socket.destroy(), 2000)
    socket.on("data", () => {})
    socket.on("error", () => {})
    socket.on("close", () => {
      clearTimeout(timer)
      resolve()
    })
  })

describe("sites as real processes", () => {
  it("survive hostile bytes, and a kill -9 of the receiver loses no durable message nor applies one twice", async () => {
    const dir = mkdtempSync(join(tmpdir(), "meridian-sites-"))
    const [t1, t2, t3, h1, h2, h3] = await Promise.all(Array.from({ length: 6 }, freePort))
    const topology = join(dir, "topology.yaml")
    writeFileSync(
      topology,
      [
        "name: sites-test",
        "defaultRegion: north",
        "secret: sites-test-secret-0123456789",
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
    const procs = new Map<string, ChildProcess>()
    const run = (site: string) => {
      const proc = spawn(
        process.execPath,
        [bin, "run", "--topology", topology, "--site", site, "--data", join(dir, site)],
        {
          stdio: ["ignore", "ignore", "inherit"]
        }
      )
      procs.set(site, proc)
      return proc
    }
    try {
      for (const site of ["n1", "s1", "w1"]) run(site)
      const echo = `http://127.0.0.1:${h1}/v1/ping/echo?text=ok&site=s1`
      await eventually("an ask from n1 to s1", async () => ((await json(echo)).site === "s1" ? true : undefined))

      // 10,000 hostile frames (random bytes, oversized and malformed frames) on s1's TCP port,
      // while asks keep succeeding.
      const random = new Uint8Array(50 * 64).map((_, i) => (i * 2654435761) % 251)
      const oversized = new Uint8Array(8)
      new DataView(oversized.buffer).setUint32(0, 0x7fffffff)
      const text = new TextEncoder().encode('{"_tag":"Envelope","envelope":{"bogus":true}}')
      const malformed = new Uint8Array(50 * (4 + text.length))
      for (let i = 0; i < 50; i++) {
        new DataView(malformed.buffer).setUint32(i * (4 + text.length), text.length)
        malformed.set(text, i * (4 + text.length) + 4)
      }
      for (let round = 0; round < 100; round++) {
        // 100 rounds × (50 random + 50 malformed + 1 oversized) frames ≈ 10,100 frames.
        await Promise.all([garbage(t2, random), garbage(t2, malformed), garbage(t2, oversized)])
        if (round % 20 === 0) expect((await json(echo)).site).toBe("s1")
      }
      const metrics = await (await fetch(`http://127.0.0.1:${h2}/metrics`)).text()
      const rejected = (reason: string) =>
        Number(
          metrics.match(
            new RegExp(`meridian_tcp_rejected_connections_total\\{site="s1",reason="${reason}"\\} (\\d+)`)
          )?.[1] ?? 0
        )
      expect(rejected("malformed-frame")).toBeGreaterThanOrEqual(100)
      expect(rejected("oversized-frame")).toBeGreaterThanOrEqual(100)
      expect((await json(echo)).site).toBe("s1")

      // Durable increments from n1 to s1's counter; kill -9 s1 while they are in flight.
      const before = Number((await json(`http://127.0.0.1:${h2}/v1/ping/counter`)).count)
      const total = 3000
      const sending = json(`http://127.0.0.1:${h1}/v1/ping/counter/increments?count=${total}&site=s1`, {
        method: "POST"
      })
      await eventually("increments reach s1", async () => {
        const count = Number((await json(`http://127.0.0.1:${h2}/v1/ping/counter`)).count)
        return count > before ? count : undefined
      })
      procs.get("s1")!.kill("SIGKILL")
      await new Promise<void>((resolve) => procs.get("s1")!.once("exit", () => resolve()))
      expect(await sending).toEqual({ accepted: total })
      run("s1")
      const final = await eventually(
        "every increment applied",
        async () => {
          const count = Number((await json(`http://127.0.0.1:${h2}/v1/ping/counter`)).count)
          return count >= before + total ? count : undefined
        },
        90_000
      )
      // Exactly once: all of them, and no more even after retransmissions had time to arrive.
      expect(final).toBe(before + total)
      await sleep(3000)
      expect(Number((await json(`http://127.0.0.1:${h2}/v1/ping/counter`)).count)).toBe(before + total)
    } finally {
      for (const proc of procs.values()) if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL")
    }
  }, 240_000)

  it("a silently failed link (its relay SIGSTOPped) is routed around through the third site", async () => {
    const dir = mkdtempSync(join(tmpdir(), "meridian-relay-"))
    const [t1, t2, t3, h1, h2, h3, relayPort] = await Promise.all(Array.from({ length: 7 }, freePort))
    const topology = join(dir, "topology.yaml")
    writeFileSync(
      topology,
      [
        "name: relay-test",
        "defaultRegion: north",
        "secret: relay-test-secret-0123456789",
        "regions:",
        '  north: { cidrs: ["10.1.0.0/16"] }',
        '  south: { cidrs: ["10.2.0.0/16"] }',
        '  west: { cidrs: ["10.3.0.0/16"] }',
        "sites:",
        `  n1: { region: north, tcp: "127.0.0.1:${t1}", http: "127.0.0.1:${h1}", modules: { ping: {} } }`,
        `  s1: { region: south, tcp: "127.0.0.1:${t2}", http: "127.0.0.1:${h2}", modules: { ping: {} } }`,
        `  w1: { region: west, tcp: "127.0.0.1:${t3}", http: "127.0.0.1:${h3}", modules: { ping: {} } }`,
        "links:",
        `  - { between: [n1, s1], dial: "127.0.0.1:${relayPort}" }`,
        "  - { between: [n1, w1] }",
        "  - { between: [s1, w1] }",
        ""
      ].join("\n")
    )
    // A plain TCP relay in a process of its own, so that it can be stopped like a frozen router.
    const relaySource = `require("node:net").createServer((c) => { const u = require("node:net").connect(${t2}, "127.0.0.1"); c.pipe(u); u.pipe(c); c.on("error", () => u.destroy()); u.on("error", () => c.destroy()) }).listen(${relayPort}, "127.0.0.1")`
    const procs: Array<ChildProcess> = [spawn(process.execPath, ["-e", relaySource], { stdio: "ignore" })]
    for (const site of ["n1", "s1", "w1"]) {
      procs.push(
        spawn(process.execPath, [bin, "run", "--topology", topology, "--site", site, "--data", join(dir, site)], {
          stdio: ["ignore", "ignore", "inherit"]
        })
      )
    }
    const relay = procs[0]!
    try {
      const status = () => json(`http://127.0.0.1:${h1}/status`)
      const echo = `http://127.0.0.1:${h1}/v1/ping/echo?text=around&site=s1`
      await eventually("n1 connected to s1 through the relay, and routing to it directly", async () => {
        const s = await status()
        const routes = s.routes as Record<string, string>
        const connected = (s.tcp as { connected: Array<string> }).connected
        return routes.s1 === "s1" && connected.includes("s1") ? true : undefined
      })
      expect((await json(echo)).site).toBe("s1")
      relay.kill("SIGSTOP")
      // The link goes quiet without closing; the router marks it down and goes through w1.
      await eventually("n1 routes to s1 through w1", async () => {
        const s = await status()
        return (s.routes as Record<string, string>).s1 === "w1" ? true : undefined
      })
      expect((await status()).links).toMatchObject({ s1: "down" })
      expect(await json(echo)).toEqual({ text: "around", site: "s1" })
    } finally {
      relay.kill("SIGCONT")
      for (const proc of procs) if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL")
    }
  }, 120_000)
})
