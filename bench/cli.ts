/**
 * `npm run bench:cli`: how long the `meridian` binary takes to start, as a user runs it (the
 * bundle of the compiled build, `node packages/cli/bin/meridian.js`):
 *
 * - `meridian --version` and `meridian topology check examples/three-regions.yaml`, each against
 *   `node -e ""` (a bare Node start) measured in the same rounds, interleaved: the median of
 *   `BENCH_ROUNDS` runs (default 7) of each.
 * - a site ready: from spawning `meridian run` for site n1 of a temporary copy of the three-region
 *   topology (free ports, its own data directory) until its `/health` answers 200, polled every
 *   `BENCH_POLL_MS` (default 10); the median of `BENCH_SITE_ROUNDS` starts (default 3). Its
 *   baseline is the target, 2000 ms (so a ratio below 1 meets it).
 *
 * The build and its bundle must be current (`npm run build`): the bench refuses to time the
 * fallbacks (dist unbundled, or tsx). On a
 * machine shared with other work, `nice -n -5 npm run bench:cli` (as root) measures the binary
 * rather than its neighbours.
 *
 * Prints one JSON object per line (name, value, unit, baseline, ratio = value/baseline, better).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bundleStaleReason, staleReason } from "../packages/cli/bin/compiled.js"
import { freePort, line } from "./support.js"

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const SITE_ROUNDS = Number(process.env.BENCH_SITE_ROUNDS ?? 3)
const POLL_MILLIS = Number(process.env.BENCH_POLL_MS ?? 10)
/** The target for a site to answer /health after its process is spawned. */
const SITE_READY_TARGET_MILLIS = 2000
/** How long a site may take to answer before the bench gives up on it. */
const SITE_READY_TIMEOUT_MILLIS = 120_000
const SECRET = "bench-cli-secret-0123456789"

const root = join(import.meta.dirname, "..")
const bin = join(root, "packages/cli/bin/meridian.js")
const example = join(root, "examples/three-regions.yaml")

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Runs `node ...args` to completion in `root`; its wall time (ms). A failure stops the bench. */
const timed = (args: ReadonlyArray<string>) => {
  const start = performance.now()
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
  const millis = performance.now() - start
  if (result.status !== 0) {
    throw new Error(`node ${args.join(" ")}: exit ${result.status}\n${result.stdout}${result.stderr}`)
  }
  return millis
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** A three-site topology like the bundled example, on free ports, in `dir`. */
const topology = async (dir: string) => {
  const [t1, t2, t3, h1, h2, h3] = await Promise.all(Array.from({ length: 6 }, freePort))
  const modules = "{ ping: {}, files: {} }"
  const file = join(dir, "topology.yaml")
  writeFileSync(
    file,
    [
      "name: bench-cli",
      "defaultRegion: north",
      `secret: ${SECRET}`,
      "regions:",
      '  north: { cidrs: ["10.1.0.0/16"] }',
      '  south: { cidrs: ["10.2.0.0/16"] }',
      '  west: { cidrs: ["10.3.0.0/16"] }',
      "sites:",
      `  n1: { region: north, tcp: "127.0.0.1:${t1}", http: "127.0.0.1:${h1}", modules: ${modules} }`,
      `  s1: { region: south, tcp: "127.0.0.1:${t2}", http: "127.0.0.1:${h2}", modules: ${modules} }`,
      `  w1: { region: west, tcp: "127.0.0.1:${t3}", http: "127.0.0.1:${h3}", modules: ${modules} }`,
      "links: [{ between: [n1, s1] }, { between: [n1, w1] }, { between: [s1, w1] }]",
      ""
    ].join("\n")
  )
  return { file, health: `http://127.0.0.1:${h1}/health` }
}

/** SIGTERM, then SIGKILL after 10 s; resolves when the process has exited. */
const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill("SIGTERM")
  })

/** Milliseconds from spawning `meridian run` (site n1 of a fresh topology) until /health answers 200. */
const siteReady = async () => {
  const dir = mkdtempSync(join(tmpdir(), "meridian-bench-cli-"))
  const { file, health } = await topology(dir)
  const start = performance.now()
  const child = spawn(process.execPath, [bin, "run", "--topology", file, "--site", "n1", "--data", join(dir, "n1")], {
    stdio: ["ignore", "ignore", "inherit"]
  })
  try {
    while (performance.now() - start < SITE_READY_TIMEOUT_MILLIS) {
      if (child.exitCode !== null) throw new Error(`meridian run exited with ${child.exitCode} before /health answered`)
      const ok = await fetch(health).then(
        (response) => response.ok,
        () => false
      )
      if (ok) return performance.now() - start
      await sleep(POLL_MILLIS)
    }
    throw new Error(`meridian run: /health did not answer within ${SITE_READY_TIMEOUT_MILLIS} ms`)
  } finally {
    await stop(child)
    rmSync(dir, { recursive: true, force: true })
  }
}

const stale = staleReason() ?? bundleStaleReason()
if (stale !== undefined) {
  console.error(`bench:cli: ${stale}; run \`npm run build\` first (this bench times the compiled binary)`)
  process.exit(1)
}

const bare: Array<number> = []
const version: Array<number> = []
const check: Array<number> = []
for (let round = 0; round < ROUNDS; round++) {
  bare.push(timed(["-e", ""]))
  version.push(timed([bin, "--version"]))
  check.push(timed([bin, "topology", "check", example]))
}
const baseline = median(bare)
line(`meridian --version (median of ${ROUNDS}; baseline node -e "")`, median(version), "ms", baseline, "lower", 1)
line(
  `meridian topology check examples/three-regions.yaml (median of ${ROUNDS}; baseline node -e "")`,
  median(check),
  "ms",
  baseline,
  "lower",
  1
)

const ready: Array<number> = []
for (let round = 0; round < SITE_ROUNDS; round++) ready.push(await siteReady())
line(
  `meridian run: spawn to /health answering (median of ${SITE_ROUNDS}; baseline the ${SITE_READY_TARGET_MILLIS} ms target)`,
  median(ready),
  "ms",
  SITE_READY_TARGET_MILLIS,
  "lower",
  1
)
