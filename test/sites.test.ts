import { describe, expect, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { createHmac, randomBytes } from "node:crypto"
import { connect } from "node:net"
import { join } from "node:path"
import {
  bin,
  eventually,
  freePort,
  json,
  killAll,
  logsOf,
  routesEverywhere,
  runSites,
  sleep,
  threeSites
} from "./support.js"

/**
 * A replayed connection, as a hostile tester (or a NAT replaying one) makes it: connects to a
 * site's TCP port, completes the hello as `claiming` with the topology's secret, then closes.
 * `welcomed` when the site took the hello, `refused` when it closed the connection instead.
 */
const replayHello = (port: number, claiming: string, acceptor: string, secret: string) =>
  new Promise<"welcomed" | "refused">((resolve) => {
    const socket = connect({ host: "127.0.0.1", port })
    const frame = (value: object) => {
      const text = Buffer.from(JSON.stringify(value))
      const head = Buffer.alloc(4)
      head.writeUInt32BE(text.length)
      return Buffer.concat([head, text])
    }
    let buffered = Buffer.alloc(0)
    let outcome: "welcomed" | "refused" = "refused"
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
        const message = JSON.parse(buffered.subarray(4, 4 + buffered.readUInt32BE(0)).toString()) as {
          _tag: string
          version: number
          nonce: string
        }
        buffered = buffered.subarray(4 + buffered.readUInt32BE(0))
        if (message._tag === "Challenge") {
          const nonce = randomBytes(16).toString("hex")
          const proof = createHmac("sha256", secret)
            .update(`meridian-hello|${message.version}|dial|${claiming}|${acceptor}|${message.nonce}|${nonce}`)
            .digest("hex")
          socket.write(frame({ _tag: "Hello", version: message.version, site: claiming, nonce, proof }))
        } else if (message._tag === "Welcome") {
          outcome = "welcomed"
          socket.destroy()
        }
      }
    })
    socket.on("error", () => {})
    socket.on("close", () => resolve(outcome))
    setTimeout(() => socket.destroy(), 5000)
  })

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
  it("a replayed connection does not leave a link half-down: both ends agree again within seconds", async () => {
    const { dir, file: topology, tcp, http } = await threeSites()
    const procs = runSites(topology, dir, ["n1", "s1", "w1"])
    const secret = "test-secret-0123456789"
    try {
      await routesEverywhere(http)
      const status = async (site: "n1" | "s1") => {
        const s = await json(`http://127.0.0.1:${http[site]}/status`)
        return s as {
          links: Record<string, string>
          linksAtPeers: Record<string, string>
          routes: Record<string, string>
        }
      }
      /** n1 and s1 both see their link up, say the other sees it up, and route to each other directly. */
      const agree = async () => {
        const [n1, s1] = [await status("n1"), await status("s1")]
        return n1.links.s1 === "up" &&
          s1.links.n1 === "up" &&
          n1.linksAtPeers.s1 === "up" &&
          s1.linksAtPeers.n1 === "up" &&
          n1.routes.s1 === "s1" &&
          s1.routes.n1 === "n1"
          ? true
          : undefined
      }
      await eventually("n1 and s1 linked directly", agree)
      // n1 dials s1: a hello at s1 claiming to be n1 is taken (a newer connection of n1's)...
      expect(await replayHello(tcp.s1, "n1", "s1", secret)).toBe("welcomed")
      // ...and one at n1 claiming to be s1 is refused: s1 never dials n1.
      expect(await replayHello(tcp.n1, "s1", "n1", secret)).toBe("refused")
      await eventually("n1 and s1 agree again on a direct link", agree, 10_000)
      // And it holds (the issue saw it half-down for 27 minutes): still agreed a few seconds on.
      for (let i = 0; i < 5; i++) {
        await sleep(600)
        expect(await agree()).toBe(true)
      }
      const echo = await json(`http://127.0.0.1:${http.n1}/v1/ping/echo?text=again&site=s1`)
      expect(echo).toEqual({ text: "again", site: "s1" })
      expect(logsOf(procs.get("n1"))).toContain("not-the-dialer")
    } finally {
      killAll(procs.values())
    }
  }, 120_000)

  it("survive hostile bytes, and a kill -9 of the receiver loses no durable message nor applies one twice", async () => {
    const { dir, file: topology, tcp, http } = await threeSites()
    const [t2, h1, h2] = [tcp.s1, http.n1, http.s1]
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
    const relayPort = await freePort()
    const { dir, file: topology, tcp, http } = await threeSites({ dialS1: async () => `127.0.0.1:${relayPort}` })
    const [t2, h1] = [tcp.s1, http.n1]
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
      // (The route may move first: s1's advertisement that it lost n1 arrives through w1.)
      await eventually("n1 routes to s1 through w1, and holds the link down", async () => {
        const s = await status()
        const down = (s.links as Record<string, string>).s1 === "down"
        return (s.routes as Record<string, string>).s1 === "w1" && down ? true : undefined
      })
      expect(await json(echo)).toEqual({ text: "around", site: "s1" })
    } finally {
      relay.kill("SIGCONT")
      for (const proc of procs) if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL")
    }
  }, 120_000)
})
