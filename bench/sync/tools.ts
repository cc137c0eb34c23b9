/**
 * The real peers' binaries (`syncthing`, `rsync`) and the helpers the sync benchmark shares.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { freePort } from "../support.js"

export const sleep = (millis: number) => new Promise((r) => setTimeout(r, millis))

export const note = (text: string) => console.error(`bench:sync: ${text}`)

/** Polls `check` every `everyMillis` until it holds; throws after `timeoutMillis`. */
export const waitFor = async (
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMillis = 600_000,
  everyMillis = 50
) => {
  const deadline = Date.now() + timeoutMillis
  while (Date.now() < deadline) {
    if (await Promise.resolve(check()).catch(() => false)) return
    await sleep(everyMillis)
  }
  throw new Error(`${what}: not within ${timeoutMillis} ms`)
}

const present = (binary: string) => spawnSync(binary, ["--version"], { stdio: "ignore" }).status === 0

/**
 * Makes sure `syncthing` and `rsync` are on the PATH: when one is missing, installs both with
 * apt-get (saying so on stderr); exits non-zero with a plain sentence when that is not possible.
 */
export const ensureTools = () => {
  const missing = ["syncthing", "rsync"].filter((binary) => !present(binary))
  if (missing.length === 0) return
  note(`${missing.join(" and ")} missing: apt-get update && apt-get install -y rsync syncthing`)
  const run = (args: ReadonlyArray<string>) =>
    spawnSync("apt-get", args, { stdio: ["ignore", process.stderr, process.stderr] }).status === 0
  if (!(run(["update"]) && run(["install", "-y", "rsync", "syncthing"])) || missing.some((b) => !present(b))) {
    console.error(
      `bench:sync: cannot run: ${missing.join(" and ")} not installed and apt-get could not install them ` +
        `(install them by hand: apt-get install -y rsync syncthing).`
    )
    process.exit(1)
  }
}

export const versionOf = (binary: string) =>
  (spawnSync(binary, ["--version"], { encoding: "utf8" }).stdout ?? "").split("\n")[0]!.trim()

/** The peak resident set of a process (VmHWM from /proc, bytes); 0 when it cannot be read. */
export const peakRss = (pid: number | undefined) => {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return match === null ? 0 : Number(match[1]) * 1024
  } catch {
    return 0
  }
}

/** The process `pid` and its descendants, from /proc (just `pid` without /proc). */
export const processTree = (pid: number) => {
  const parents = new Map<number, number>()
  try {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
        parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]))
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    return [pid]
  }
  const tree = [pid]
  for (let i = 0; i < tree.length; i++)
    for (const [child, parent] of parents) if (parent === tree[i] && !tree.includes(child)) tree.push(child)
  return tree
}

/**
 * The peak resident set of the process doing the work under `pid` (the largest VmHWM among `pid`
 * and its descendants: Syncthing runs a small monitor process whose child serves).
 */
export const peakRssOfTree = (pid: number | undefined) =>
  pid === undefined ? 0 : Math.max(...processTree(pid).map(peakRss))

const children = new Set<ChildProcess>()
const dirs = new Set<string>()

/** Ends `child` and removes `dir` if the harness exits or is interrupted before it does. */
export const track = (what: { readonly child?: ChildProcess; readonly dir?: string }) => {
  if (what.child !== undefined) children.add(what.child)
  if (what.dir !== undefined) dirs.add(what.dir)
}

export const untrack = (what: { readonly child?: ChildProcess; readonly dir?: string }) => {
  if (what.child !== undefined) children.delete(what.child)
  if (what.dir !== undefined) dirs.delete(what.dir)
}

const cleanUp = () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
}
process.on("exit", cleanUp)
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.on(signal, () => {
    note(`${signal}: stopping`)
    cleanUp()
    process.exit(130)
  })

/** Ends a child process (SIGTERM, then SIGKILL after `graceMillis`); resolves when it is gone. */
export const end = (child: ChildProcess, graceMillis = 5000) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMillis)
    child.once("exit", () => {
      clearTimeout(timer)
      children.delete(child)
      resolve()
    })
    child.kill("SIGTERM")
  })

/** The built `meridian` binary the benchmarks run (they refuse a stale build). */
export const meridianBin = fileURLToPath(new URL("../../packages/cli/bin/meridian.js", import.meta.url))

/**
 * A real site process running `sync` alone, on free loopback ports, its data in `root`: the
 * topology written there, `nodeArgs` before the binary (e.g. `--cpu-prof`). Answers once `/health` does.
 */
export const startSyncSite = async (root: string, name: string, nodeArgs: ReadonlyArray<string> = []) => {
  const [tcp, http] = [await freePort(), await freePort()]
  const topology = join(root, "topology.yaml")
  writeFileSync(
    topology,
    [
      `name: ${name}`,
      "defaultRegion: north",
      "secret: bench-secret-0123456789",
      "regions:",
      '  north: { cidrs: ["10.1.0.0/16"] }',
      "sites:",
      `  a: { region: north, tcp: "127.0.0.1:${tcp}", http: "127.0.0.1:${http}", modules: { sync: {} } }`,
      "links: []",
      ""
    ].join("\n")
  )
  const child = spawn(
    process.execPath,
    [...nodeArgs, meridianBin, "run", "--topology", topology, "--site", "a", "--data", join(root, "data")],
    { stdio: ["ignore", "ignore", "inherit"] }
  )
  track({ child })
  const url = `http://127.0.0.1:${http}`
  await waitFor(async () => (await fetch(`${url}/health`)).ok, "the site serves", 60_000, 100)
  return { child, url, http }
}
