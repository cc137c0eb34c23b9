/**
 * Vitest's global setup. Tests spawn the real `meridian` binary, which runs the bundle of the
 * compiled build (packages/cli/bundle, from packages/*\/dist); when that build is missing or older
 * than the sources (a source changed and no `tsc -b` ran since, as `npm test` does first), it is
 * built here, and the bundle whenever it is older than the build, so that a spawned binary runs
 * the current sources and starts as fast as a user's.
 */
import { execFileSync } from "node:child_process"
import { createRequire } from "node:module"
import { join } from "node:path"
import { bundleStaleReason, staleReason } from "../packages/cli/bin/compiled.js"

const root = join(import.meta.dirname, "..")

export default function setup(): void {
  const stale = staleReason()
  if (stale !== undefined) {
    console.error(`test setup: ${stale}; building it (tsc -b packages/cli)`)
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
    try {
      execFileSync(process.execPath, [tsc, "-b", "packages/cli"], { cwd: root, stdio: "inherit" })
    } catch {
      // Type errors: tsc has printed them and still emitted the JavaScript; the tests may run.
    }
    const still = staleReason()
    if (still !== undefined) throw new Error(`test setup: ${still} after tsc -b packages/cli`)
  }
  const unbundled = bundleStaleReason()
  if (unbundled === undefined) return
  console.error(`test setup: ${unbundled}; bundling it (packages/cli/scripts/bundle.js)`)
  execFileSync(process.execPath, [join(root, "packages/cli/scripts/bundle.js")], { cwd: root, stdio: "inherit" })
  const still = bundleStaleReason()
  if (still !== undefined) throw new Error(`test setup: ${still} after bundling`)
}
