import { describe, expect, it } from "@effect/vitest"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { bin, cli, eventually, json, loginToken, register, threeSites } from "./support.js"

/** Polls `url` until it answers 200 (bounded). */
const until = (url: string) =>
  eventually(url, async () => {
    const response = await fetch(url)
    return response.ok ? response : undefined
  })

/** The `meridian run` children of `parent`: pid by site. */
const sitesOf = (parent: number): Map<string, number> => {
  let out = ""
  try {
    out = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(parent)], { encoding: "utf8" })
  } catch {
    return new Map()
  }
  const sites = new Map<string, number>()
  for (const line of out.split("\n")) {
    const match = /^\s*(\d+)\s+.*meridian\.js run .*--site (\S+)/.exec(line)
    if (match !== null) sites.set(match[2]!, Number(match[1]))
  }
  return sites
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Whether `url` answers at all. */
const answers = (url: string) =>
  fetch(url).then(
    () => true,
    () => false
  )

/** Without a secret from the environment: only the topology's, or the one `up` writes. */
const noEnvSecret = { MERIDIAN_SECRET: "" }

/**
 * `meridian up ARGS` in `cwd`, in a process group of its own (as a shell runs a command), its
 * output collected; `stop` kills it and every site it started, whatever state the test left.
 */
const startUp = (cwd: string, args: ReadonlyArray<string> = [], env: Record<string, string> = {}) => {
  const proc: ChildProcess = spawn(process.execPath, [bin, "up", ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true
  })
  let output = ""
  proc.stdout!.on("data", (d) => (output += String(d)))
  proc.stderr!.on("data", (d) => (output += String(d)))
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)))
  return {
    proc,
    pid: proc.pid!,
    exited,
    output: () => output,
    says: (text: string, timeoutMillis?: number) =>
      eventually(
        `up says ${JSON.stringify(text)}`,
        async () => (output.includes(text) ? true : undefined),
        timeoutMillis
      ),
    stop: () => {
      for (const pid of sitesOf(proc.pid!).values()) if (alive(pid)) process.kill(pid, "SIGKILL")
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL")
    }
  }
}

describe("meridian up (real processes, real sockets, free ports)", () => {
  it("runs every site of a temporary topology; asks cross sites over TCP; Ctrl-C stops each site cleanly", async () => {
    const { dir, http } = await threeSites({ file: "meridian.yaml" })
    const [h1, h2, h3] = [http.n1, http.s1, http.w1]
    const up = startUp(dir)
    try {
      for (const port of [h1, h2, h3]) {
        const health = await (await until(`http://127.0.0.1:${port}/health`)).json()
        expect(health).toMatchObject({ status: "ok" })
      }
      const sites = [...sitesOf(up.pid).values()]
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
      expect(up.output()).toContain("[n1] site n1 running")
      expect(up.output()).toContain(`data ${join(dir, ".meridian", "test", "n1")}`)

      // Ctrl-C at a terminal signals the whole foreground process group: every site stops once,
      // cleanly (drained, exit 0), and no child survives.
      process.kill(-up.pid, "SIGINT")
      expect(await up.exited).toBe(0)
      for (const pid of sites) expect(alive(pid)).toBe(false)
      for (const site of ["n1", "s1", "w1"]) expect(up.output()).toContain(`meridian up: site ${site} stopped`)
      expect(up.output()).not.toContain("killed")
      expect(up.output()).toContain("meridian up: test stopped")
      expect(existsSync(join(dir, ".meridian", "test", "up.pid"))).toBe(false)
    } finally {
      up.stop()
    }
  }, 120_000)

  it("keeps two topologies with the same site names apart; a data directory has one process; down stops an up", async () => {
    const a = await threeSites({ file: "meridian.yaml" })
    const b = await threeSites()
    // The second deployment: other ports, same site names, in the same working directory.
    writeFileSync(join(a.dir, "other.yaml"), readFileSync(b.file, "utf8").replace("name: test", "name: other"))
    const upA = startUp(a.dir)
    const upB = startUp(a.dir, ["other.yaml"])
    try {
      for (const port of [...Object.values(a.http), ...Object.values(b.http)]) {
        await until(`http://127.0.0.1:${port}/health`)
      }
      // The same name registers in each: two deployments, two databases.
      expect(await register(`http://127.0.0.1:${a.http.n1}`, "alice", "alice-password", "north")).toBe(201)
      expect(await register(`http://127.0.0.1:${b.http.n1}`, "alice", "alice-password", "north")).toBe(201)
      expect(existsSync(join(a.dir, ".meridian", "test", "n1", "site.db"))).toBe(true)
      expect(existsSync(join(a.dir, ".meridian", "other", "n1", "site.db"))).toBe(true)

      // A second up of a running deployment fails at once, naming the first.
      const again = await cli(["up"], { cwd: a.dir })
      expect(again.code).toBe(1)
      expect(again.stderr).toContain(`test is already up: process ${upA.pid}`)
      expect(again.stderr).toContain("`meridian down` stops it")

      // A site run by hand on a data directory in use fails at once, naming the process that has it.
      const n1 = sitesOf(upA.pid).get("n1")!
      const byHand = await cli(["run", "--topology", "meridian.yaml", "--site", "n1"], { cwd: a.dir })
      expect(byHand.code).toBe(1)
      expect(byHand.stderr).toContain(`${join(a.dir, ".meridian", "test", "n1")} is in use by process ${n1}`)
      // So does an offline operator creation, which would write the same database.
      const operator = await cli(["account", "create", "ops", "--operator", "--site", "n1"], {
        cwd: a.dir,
        input: "operator-password\n"
      })
      expect(operator.code).toBe(1)
      expect(operator.stderr).toContain(`is in use by process ${n1}`)
      expect((await json(`http://127.0.0.1:${a.http.n1}/health`)).status).toBe("ok")

      // down stops the up of the topology it is given, and that one only.
      const sitesB = [...sitesOf(upB.pid).values()]
      const downB = await cli(["down", "other.yaml"], { cwd: a.dir })
      expect(downB.stdout).toContain(`meridian down: stopping other (meridian up, process ${upB.pid})`)
      expect(downB.stdout).toContain("meridian down: other stopped")
      expect(downB.code).toBe(0)
      expect(await upB.exited).toBe(0)
      for (const pid of sitesB) expect(alive(pid)).toBe(false)
      expect(await answers(`http://127.0.0.1:${b.http.n1}/health`)).toBe(false)
      expect((await json(`http://127.0.0.1:${a.http.n1}/health`)).status).toBe("ok")

      const downA = await cli(["down"], { cwd: a.dir })
      expect(downA.code).toBe(0)
      expect(await upA.exited).toBe(0)

      // Nothing left to stop: down says so, and where it looked.
      const none = await cli(["down"], { cwd: a.dir })
      expect(none.code).toBe(1)
      expect(none.stderr).toContain("no `meridian up` of test runs here")
      expect(none.stderr).toContain(join(a.dir, ".meridian", "test", "up.pid"))
    } finally {
      upA.stop()
      upB.stop()
    }
  }, 240_000)

  it("run after up: the same data directory, the secret up generated, and a dead process's lock taken over", async () => {
    const { dir, file, http } = await threeSites({ file: "meridian.yaml" })
    writeFileSync(file, readFileSync(file, "utf8").replace(/^secret: .*\n/m, ""))
    const n1 = `http://127.0.0.1:${http.n1}`

    // No secret anywhere yet: run says where it looked and how to set one.
    const secretless = await cli(["run", "--topology", "meridian.yaml", "--site", "n1"], { cwd: dir, env: noEnvSecret })
    expect(secretless.code).toBe(1)
    expect(secretless.stderr).toContain("no shared secret")
    expect(secretless.stderr).toContain("MERIDIAN_SECRET")
    expect(secretless.stderr).toContain(join(dir, ".meridian", "secret"))

    const up = startUp(dir, [], noEnvSecret)
    const hand = new Map<string, ChildProcess>()
    try {
      await up.says("generated one in .meridian/secret")
      await until(`${n1}/health`)
      expect(await register(n1, "alice", "alice-password", "north")).toBe(201)
      expect((await cli(["down"], { cwd: dir })).code).toBe(0)
      await up.exited

      // A lock left by a process that no longer runs (a site killed with -9, say).
      const dead = spawn(process.execPath, ["-e", ""])
      await new Promise((resolve) => dead.once("exit", resolve))
      writeFileSync(join(dir, ".meridian", "test", "n1", "site.lock"), `${dead.pid}\nmeridian site data directory\n`)

      // Each site by hand, no secret in the topology or the environment, no --data: they find
      // both where up left them (alice's login asks her name's arbiter, which may be any region).
      for (const site of ["n1", "s1", "w1"]) {
        const proc = spawn(process.execPath, [bin, "run", "--topology", "meridian.yaml", "--site", site], {
          cwd: dir,
          env: { ...process.env, ...noEnvSecret },
          stdio: ["ignore", "ignore", "inherit"]
        })
        hand.set(site, proc)
      }
      await until(`${n1}/health`)
      const token = await loginToken(n1, "alice", "alice-password")
      const me = await json(`${n1}/v1/accounts/me`, { headers: { authorization: `Bearer ${token}` } })
      expect(me).toMatchObject({ name: "alice" })
      expect(readFileSync(join(dir, ".meridian", "test", "n1", "site.lock"), "utf8")).toContain(
        `${hand.get("n1")!.pid}\n`
      )
    } finally {
      up.stop()
      for (const proc of hand.values()) if (proc.exitCode === null) proc.kill("SIGKILL")
    }
  }, 180_000)

  it("restarts a site that dies, with back-off, while the others keep serving; gives up after the bound", async () => {
    const { dir, http } = await threeSites({ file: "meridian.yaml" })
    const url = (site: keyof typeof http) => `http://127.0.0.1:${http[site]}/health`
    const up = startUp(dir, ["--restart-delay", "1s", "--max-restarts", "2", "--restart-window", "10m"])
    try {
      for (const site of ["n1", "s1", "w1"] as const) await until(url(site))
      const kill = async () => {
        const pid = sitesOf(up.pid).get("s1")!
        process.kill(pid, "SIGKILL")
        await eventually("s1 gone", async () => (alive(pid) ? undefined : true))
        return pid
      }

      const first = await kill()
      await up.says(
        "meridian up: site s1 was killed (SIGKILL); n1, w1 keep running; restarting s1 in 1s (restart 1 of at most 2 within 10m)"
      )
      // The others never stopped serving.
      expect((await json(url("n1"))).status).toBe("ok")
      expect((await json(url("w1"))).status).toBe("ok")
      await until(url("s1"))
      expect(sitesOf(up.pid).get("s1")).not.toBe(first)

      await kill()
      await up.says("restarting s1 in 2s (restart 2 of at most 2 within 10m)")
      await until(url("s1"))

      await kill()
      await up.says("meridian up: site s1 was killed (SIGKILL); gave up on it: 2 restarts within 10m already")
      expect(await answers(url("s1"))).toBe(false)
      expect((await json(url("n1"))).status).toBe("ok")
      expect((await json(url("w1"))).status).toBe("ok")
      expect(up.proc.exitCode).toBe(null)

      // SIGTERM (what `meridian down` sends) stops the rest cleanly.
      const rest = [...sitesOf(up.pid).values()]
      expect(rest).toHaveLength(2)
      const down = await cli(["down"], { cwd: dir })
      expect(down.code).toBe(0)
      expect(await up.exited).toBe(0)
      for (const pid of rest) expect(alive(pid)).toBe(false)
      expect(up.output()).toContain("meridian up: site n1 stopped")
    } finally {
      up.stop()
    }
  }, 180_000)
})
