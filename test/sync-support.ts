/**
 * What the folder-sync tests share: a one-site topology running `sync` on free ports (a real
 * `meridian run`), an account, and devices — each its own config directory (`XDG_CONFIG_HOME`, so
 * its own token and folder list), its own temporary folder and a real `meridian sync run` daemon.
 * Tests wait for what a user would see (the folders' files, `status.json`), never for wall time.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bin, cli, eventually, freePort, json, killAll, runSites } from "./support.js"

export { eventually }

/** What `FOLDER/.meridian/status.json` holds (the fields the tests read). */
export interface Status {
  readonly pid: number
  readonly updatedAt: number
  readonly state: string
  readonly files: number
  readonly bytes: number
  readonly lastSeq: number
  readonly inFlight: ReadonlyArray<{ path: string; direction: string; bytes: number; done: number }>
  readonly conflicts: ReadonlyArray<{ path: string; copy: string; reason: string }>
  readonly errors: ReadonlyArray<{ path?: string; message: string }>
}

export const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex")

/**
 * The files of a folder (its `.meridian` state left out), by `/`-separated path: the content as
 * text when short, else its SHA-256.
 */
export const treeOf = (dir: string): Record<string, string> => {
  const tree: Record<string, string> = {}
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`
      if (path === ".meridian") continue
      if (entry.isDirectory()) walk(path)
      else if (entry.isFile()) {
        const bytes = readFileSync(join(dir, path))
        tree[path] = bytes.length <= 256 ? bytes.toString("utf8") : `sha256:${sha256(bytes)}`
      }
    }
  }
  walk("")
  return tree
}

/** The directories of a folder (its `.meridian` state left out), empty ones included. */
export const directoriesOf = (dir: string): ReadonlyArray<string> => {
  const found: Array<string> = []
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`
      if (path === ".meridian" || !entry.isDirectory()) continue
      found.push(path)
      walk(path)
    }
  }
  walk("")
  return found.sort()
}

const sameTree = (a: Record<string, string>, b: Record<string, string>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort())

/** One device: a config directory, a synced folder, and (while running) its daemon. */
export interface Device {
  readonly name: string
  /** The synced folder. */
  readonly dir: string
  /** The environment of this device's commands (its `XDG_CONFIG_HOME`). */
  readonly env: Record<string, string>
  /** Runs `meridian ARGS` as this device. */
  readonly cli: (args: ReadonlyArray<string>, input?: string) => ReturnType<typeof cli>
  /** Starts `meridian sync run` (fast settling); resolves once its status says it runs. */
  readonly start: () => Promise<void>
  /** SIGTERM, then waits for the daemon's exit; its exit code. */
  readonly stop: () => Promise<number | null>
  /** SIGKILL (`kill -9`), then waits for the daemon's exit. */
  readonly kill: () => Promise<void>
  /** The daemon's last status (undefined before the first). */
  readonly status: () => Status | undefined
  /** What the running (or last) daemon wrote on stderr. */
  readonly log: () => string
  /** Writes a file in the folder (parents made). */
  readonly write: (path: string, content: string | Uint8Array) => void
  readonly path: (rel: string) => string
}

/** A one-site topology with `sync`, its site process, and an account on it. */
export interface SyncSite {
  readonly dir: string
  readonly url: string
  readonly site: ChildProcess
  /** A device of the account: logged in, its folder added as `name` (unless `add` is false). */
  readonly device: (name: string, options?: { readonly add?: boolean; readonly login?: boolean }) => Promise<Device>
  /** The site's `/metrics` value of `name` (0 when absent). */
  readonly metric: (name: string) => Promise<number>
  /** Stops every daemon and the site, removes the directory. */
  readonly close: () => void
}

export const ACCOUNT = "alice"
const PASSWORD = "alice-password-0123"

/** The settle delay of the test daemons: a changed file is taken once still for this long. */
export const SETTLE_MILLIS = 200

export const syncSite = async (): Promise<SyncSite> => {
  const dir = mkdtempSync(join(tmpdir(), "meridian-sync-"))
  const [tcp, http] = await Promise.all([freePort(), freePort()])
  const topology = join(dir, "topology.yaml")
  writeFileSync(
    topology,
    [
      "name: sync-test",
      "defaultRegion: north",
      "secret: test-secret-0123456789",
      "regions:",
      '  north: { cidrs: ["10.1.0.0/16"] }',
      "sites:",
      `  a: { region: north, tcp: "127.0.0.1:${tcp}", http: "127.0.0.1:${http}", modules: { sync: {} } }`,
      "links: []",
      ""
    ].join("\n")
  )
  const site = runSites(topology, dir, ["a"]).get("a")!
  const url = `http://127.0.0.1:${http}`
  const daemons = new Set<ChildProcess>()
  await eventually("the site serves", () => json(`${url}/status`))
  const created = await cli(["account", "create", ACCOUNT, "--url", url], { input: `${PASSWORD}\n` })
  if (created.code !== 0) throw new Error(`account create: ${created.code} ${created.stderr}`)

  const device = async (name: string, options: { readonly add?: boolean; readonly login?: boolean } = {}) => {
    const env = { XDG_CONFIG_HOME: join(dir, `config-${name}`) }
    const folder = join(dir, `folder-${name}`)
    mkdirSync(folder, { recursive: true })
    const run = (args: ReadonlyArray<string>, input?: string) =>
      cli(args, { env, ...(input === undefined ? {} : { input }) })
    if (options.login !== false) {
      const login = await run(["account", "login", ACCOUNT, "--url", url], `${PASSWORD}\n`)
      if (login.code !== 0) throw new Error(`login of ${name}: ${login.code} ${login.stderr}`)
    }
    if (options.add !== false && options.login !== false) {
      const added = await run(["sync", "add", folder, "--device", name])
      if (added.code !== 0) throw new Error(`sync add of ${name}: ${added.code} ${added.stderr}`)
    }
    let proc: ChildProcess | undefined
    let stderr = ""
    const statusFile = join(folder, ".meridian", "status.json")
    const status = (): Status | undefined => {
      try {
        return JSON.parse(readFileSync(statusFile, "utf8")) as Status
      } catch {
        return undefined
      }
    }
    const exited = (p: ChildProcess) =>
      p.exitCode !== null || p.signalCode !== null
        ? Promise.resolve(p.exitCode)
        : new Promise<number | null>((r) => p.on("close", (code) => r(code)))
    const self: Device = {
      name,
      dir: folder,
      env,
      cli: run,
      path: (rel) => join(folder, rel),
      write: (rel, content) => {
        mkdirSync(join(folder, rel, ".."), { recursive: true })
        writeFileSync(join(folder, rel), content)
      },
      status,
      log: () => stderr,
      start: async () => {
        if (proc !== undefined && proc.exitCode === null && proc.signalCode === null) throw new Error(`${name} runs`)
        stderr = ""
        const p = spawn(process.execPath, [bin, "sync", "run", "--settle-millis", String(SETTLE_MILLIS)], {
          env: { ...process.env, ...env },
          stdio: ["ignore", "ignore", "pipe"]
        })
        p.stderr!.on("data", (d: Buffer) => (stderr += d.toString()))
        proc = p
        daemons.add(p)
        await eventually(`${name}'s daemon reports`, async () => {
          if (p.exitCode !== null) throw new Error(`${name}'s daemon exited ${p.exitCode}: ${stderr}`)
          const s = status()
          return s !== undefined && s.pid === p.pid ? true : undefined
        })
      },
      stop: async () => {
        if (proc === undefined) return null
        proc.kill("SIGTERM")
        return exited(proc)
      },
      kill: async () => {
        if (proc === undefined) return
        proc.kill("SIGKILL")
        await exited(proc)
      }
    }
    return self
  }

  const metric = async (name: string) => {
    const text = await (await fetch(`${url}/metrics`)).text()
    const found = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    return found === undefined ? 0 : Number(found.slice(found.lastIndexOf(" ") + 1))
  }

  return {
    dir,
    url,
    site,
    device,
    metric,
    close: () => {
      killAll([...daemons, site])
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/**
 * Waits until every device's folder holds `expected` (or, without it, the same files as the first
 * device) and every daemon says so: idle, nothing in flight, at the same change number. The tree.
 */
export const converged = async (
  devices: ReadonlyArray<Device>,
  expected?: Record<string, string>,
  timeoutMillis = 30_000
) =>
  eventually(
    `${devices.map((d) => d.name).join(", ")} converge`,
    async () => {
      const want = expected ?? treeOf(devices[0]!.dir)
      for (const d of devices) {
        const tree = treeOf(d.dir)
        if (!sameTree(tree, want))
          throw new Error(`${d.name} holds ${JSON.stringify(tree)}, not ${JSON.stringify(want)}`)
      }
      const statuses = devices.map((d) => d.status())
      for (const [i, s] of statuses.entries()) {
        if (s === undefined || s.state !== "idle" || s.inFlight.length > 0)
          throw new Error(`${devices[i]!.name} is ${JSON.stringify(s)}`)
      }
      const seqs = new Set(statuses.map((s) => s!.lastSeq))
      if (seqs.size !== 1) throw new Error(`the devices are at changes ${[...seqs].join(", ")}`)
      return want
    },
    timeoutMillis
  )

/** Whether a path exists in a device's folder. */
export const holds = (device: Device, rel: string) => existsSync(device.path(rel))
