/**
 * The real peers' binaries (`syncthing`, `rsync`) and the helpers the sync benchmark shares.
 */
import { type ChildProcess, spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"

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

/** Ends a child process (SIGTERM, then SIGKILL after `graceMillis`); resolves when it is gone. */
export const end = (child: ChildProcess, graceMillis = 5000) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMillis)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill("SIGTERM")
  })
