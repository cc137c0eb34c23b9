/**
 * Meridian's own folder sync as a {@link Contender} for `npm run bench:sync`: a real site process
 * (a temporary one-site topology running `sync: {}` on free loopback ports, its own data
 * directory), one account, and two devices — two `meridian sync run` daemons of the compiled
 * binary (`packages/cli/bin/meridian.js`, as a user runs it; the bench refuses a stale build), each
 * with its own `XDG_CONFIG_HOME`, on the harness' folders, with `--settle-millis 1000` (Syncthing's
 * watcher delay is 1 s: the same footing).
 *
 * Bytes on the wire: each daemon reaches the site through its own byte-counting TCP relay on
 * 127.0.0.1 (`node:net`), so every byte of the sync protocol both ways (manifests, chunk
 * queries, chunks, commits, the live event stream, HTTP headers) is counted on both devices'
 * connections: A's upload and B's download both count, as Syncthing's A-to-B connection counts
 * once what goes from A to B. Logins go to the site directly (not sync traffic). The split per
 * device and direction is told on stderr.
 *
 * Quiet ({@link Contender.settle}): both daemons' `status.json` say idle, nothing in flight, at the
 * same change number, in two reports in a row of each (they are written every second).
 *
 * Peak RSS: VmHWM of the two daemon processes (the site's on stderr). The initial scan: a fresh
 * site and a fresh daemon on the folder, timed from the daemon's start until its status leaves
 * `scanning` (every file read, hashed and planned: what Syncthing's scan does; this daemon then
 * uploads the files to the site one by one, which at 100,000 files takes far longer and is not
 * waited for). The status is written every second, so these times are read to about a second.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type Server, type Socket, connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { bundleStaleReason, staleReason } from "../../packages/cli/bin/compiled.js"
import type { Contender } from "./contender.js"
import { end, note, peakRss, startSyncSite, track, untrack, waitFor } from "./tools.js"

const bin = fileURLToPath(new URL("../../packages/cli/bin/meridian.js", import.meta.url))
const ACCOUNT = "bench"
const PASSWORD = "bench-password-0123456789"
const SETTLE_MILLIS = 1000

/** The daemon's `FOLDER/.meridian/status.json`, the fields read here. */
interface Status {
  readonly pid: number
  readonly updatedAt: number
  readonly state: string
  readonly files: number
  readonly lastSeq: number
  readonly inFlight: ReadonlyArray<unknown>
  readonly errors: ReadonlyArray<{ readonly path?: string; readonly message: string }>
}

const statusOf = (dir: string): Status | undefined => {
  try {
    return JSON.parse(readFileSync(join(dir, ".meridian", "status.json"), "utf8")) as Status
  } catch {
    return undefined
  }
}

/** Runs the binary to completion with `input` on stdin; throws with its stderr unless it exits 0. */
const meridian = (args: ReadonlyArray<string>, env: Record<string, string>, input = "") =>
  new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let out = ""
    let err = ""
    child.stdout.on("data", (d: Buffer) => (out += d.toString()))
    child.stderr.on("data", (d: Buffer) => (err += d.toString()))
    child.on("error", reject)
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`meridian ${args.join(" ")}: exit ${code}: ${err}`))
    )
    child.stdin.end(input)
  })

/** A TCP relay on 127.0.0.1 to `port`, counting the bytes each way. */
interface Relay {
  port: number
  /** Bytes from the device to the site. */
  up: number
  /** Bytes from the site to the device. */
  down: number
  readonly close: () => Promise<void>
}

const relay = (port: number) =>
  new Promise<Relay>((resolve, reject) => {
    const sockets = new Set<Socket>()
    const server: Server = createServer((client) => {
      const upstream = connect({ host: "127.0.0.1", port })
      sockets.add(client)
      sockets.add(upstream)
      client.on("data", (d: Buffer) => {
        counts.up += d.length
        if (!upstream.write(d)) client.pause()
      })
      upstream.on("drain", () => client.resume())
      upstream.on("data", (d: Buffer) => {
        counts.down += d.length
        if (!client.write(d)) upstream.pause()
      })
      client.on("drain", () => upstream.resume())
      const close = () => {
        client.destroy()
        upstream.destroy()
        sockets.delete(client)
        sockets.delete(upstream)
      }
      client.on("close", close)
      upstream.on("close", close)
      client.on("error", close)
      upstream.on("error", close)
    })
    const counts: Relay = {
      port: 0,
      up: 0,
      down: 0,
      close: () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy()
          server.close(() => r())
        })
    }
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      counts.port = typeof address === "object" && address !== null ? address.port : 0
      resolve(counts)
    })
  })

/** A running site with the account, in `root`. */
const startSite = async (root: string) => {
  const { child: site, url, http } = await startSyncSite(root, "bench-sync")
  await meridian(["account", "create", ACCOUNT, "--url", url], {}, `${PASSWORD}\n`)
  return { site, url, http }
}

/** A device: logged in (directly), `dir` added with the site reached at `syncUrl`. */
const addDevice = async (root: string, name: string, dir: string, url: string, syncUrl: string) => {
  const env = { XDG_CONFIG_HOME: join(root, `config-${name}`) }
  mkdirSync(env.XDG_CONFIG_HOME, { recursive: true })
  await meridian(["account", "login", ACCOUNT, "--url", url], env, `${PASSWORD}\n`)
  await meridian(["sync", "add", dir, "--device", name, "--url", syncUrl], env)
  return env
}

const daemon = (root: string, name: string, env: Record<string, string>) => {
  const child = spawn(process.execPath, [bin, "sync", "run", "--settle-millis", String(SETTLE_MILLIS)], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"]
  })
  track({ child })
  // The daemon's own account of what it does, kept for a look after a run.
  const log: Array<Buffer> = []
  child.stderr.on("data", (d: Buffer) => log.push(d))
  child.on("exit", () => writeFileSync(join(root, `daemon-${name}.log`), Buffer.concat(log)))
  return child
}

const mib = (bytes: number) => (bytes / (1024 * 1024)).toFixed(0)

export const ours: (() => Contender) | undefined = () => {
  let root: string | undefined
  let site: ChildProcess | undefined
  let daemons: ReadonlyArray<ChildProcess> = []
  let relays: ReadonlyArray<Relay> = []
  let dirs: ReadonlyArray<string> = []

  const fresh = () => {
    const stale = staleReason() ?? bundleStaleReason()
    if (stale !== undefined)
      throw new Error(`${stale}: run \`npm run build\` first (this bench runs the compiled binary)`)
  }

  /** Both daemons idle, nothing in flight, at the same change: in two reports in a row of each. */
  const settle = async () => {
    let since: Array<number> | undefined
    await waitFor(
      () => {
        const statuses = dirs.map(statusOf)
        const quiet =
          statuses.every((s) => s !== undefined && s.state === "idle" && s.inFlight.length === 0) &&
          new Set(statuses.map((s) => s!.lastSeq)).size === 1
        if (!quiet) {
          since = undefined
          return false
        }
        if (since === undefined) {
          since = statuses.map((s) => s!.updatedAt)
          return false
        }
        return statuses.every((s, i) => s!.updatedAt > since![i]!)
      },
      "meridian: both daemons quiet",
      1_800_000,
      100
    )
  }

  const stop = async () => {
    await Promise.all(daemons.map((d) => end(d)))
    if (site !== undefined) await end(site)
    await Promise.all(relays.map((r) => r.close()))
    daemons = []
    relays = []
    site = undefined
    if (root !== undefined) {
      rmSync(root, { recursive: true, force: true })
      untrack({ dir: root })
    }
    root = undefined
  }

  return {
    name: "meridian",
    async start(dirA, dirB) {
      fresh()
      root = mkdtempSync(join(tmpdir(), "bench-sync-ours-"))
      track({ dir: root })
      const started = await startSite(root)
      site = started.site
      relays = [await relay(started.http), await relay(started.http)]
      dirs = [dirA, dirB]
      const envs = [
        await addDevice(root, "devA", dirA, started.url, `http://127.0.0.1:${relays[0]!.port}`),
        await addDevice(root, "devB", dirB, started.url, `http://127.0.0.1:${relays[1]!.port}`)
      ]
      daemons = [daemon(root, "devA", envs[0]!), daemon(root, "devB", envs[1]!)]
      await waitFor(
        () => dirs.every((d, i) => statusOf(d)?.pid === daemons[i]!.pid),
        "meridian: both daemons report",
        60_000,
        100
      )
      await settle()
    },
    settle,
    async bytesOnWire() {
      const [a, b] = relays as [Relay, Relay]
      note(`meridian: bytes so far: A up ${a.up} down ${a.down}, B up ${b.up} down ${b.down}`)
      return a.up + a.down + b.up + b.down
    },
    async peakRssBytes() {
      note(`meridian: peak RSS of the site ${mib(peakRss(site?.pid))} MiB`)
      for (const [i, dir] of dirs.entries()) {
        const errors = statusOf(dir)?.errors ?? []
        if (errors.length > 0) note(`meridian: device ${i === 0 ? "A" : "B"} reports errors: ${JSON.stringify(errors)}`)
      }
      return daemons.map((d) => peakRss(d.pid))
    },
    stop,
    async initialScan(dir, files) {
      fresh()
      const scanRoot = mkdtempSync(join(tmpdir(), "bench-sync-ours-scan-"))
      track({ dir: scanRoot })
      let scanSite: ChildProcess | undefined
      let child: ChildProcess | undefined
      try {
        const started = await startSite(scanRoot)
        scanSite = started.site
        const env = await addDevice(scanRoot, "scan", dir, started.url, started.url)
        const start = performance.now()
        child = daemon(scanRoot, "scan", env)
        let seen: Status | undefined
        await waitFor(
          () => {
            seen = statusOf(dir)
            // Past "scanning": every file was read, hashed and planned; the uploads start.
            return (
              seen !== undefined && seen.pid === child!.pid && seen.state !== "starting" && seen.state !== "scanning"
            )
          },
          `meridian: initial scan of ${files} files`,
          3_600_000,
          50
        )
        const seconds = (performance.now() - start) / 1000
        const peakRssBytes = peakRss(child.pid)
        note(
          `meridian scan: every file of ${files} read and hashed after ${seconds.toFixed(1)} s (then ${seen?.state}: uploading them, not waited for); site peak RSS ${mib(peakRss(scanSite.pid))} MiB`
        )
        if (seen !== undefined && seen.errors.length > 0) note(`meridian scan: errors ${JSON.stringify(seen.errors)}`)
        return { seconds, peakRssBytes }
      } finally {
        if (child !== undefined) await end(child)
        if (scanSite !== undefined) await end(scanSite)
        rmSync(scanRoot, { recursive: true, force: true })
        untrack({ dir: scanRoot })
      }
    }
  }
}
