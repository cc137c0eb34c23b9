// Whether the compiled JavaScript of the meridian packages (packages/*/dist, written by `tsc -b`)
// is there and newer than every TypeScript source. Shared by the binary (which runs the sources
// through tsx when it is not) and the test setup (which builds when it is not), so that a binary a
// test spawns always runs the current sources.
import { readdirSync, statSync } from "node:fs"
import { join } from "node:path"

/** The packages the binary loads, in build order (`tsc -b packages/cli` builds them all). */
export const packages = ["core", "node", "cli"]

/** The folder holding the packages (`packages/` of the checkout). */
const packagesDir = join(import.meta.dirname, "..", "..")

/** The newest modification time (ms) of the files under `dir`. */
const newest = (dir) => {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs)
  }
  return latest
}

/**
 * Why the compiled build cannot be used (it is missing, or older than a source), or undefined when
 * it can. `tsc -b` rewrites (or touches) a project's `dist/.tsbuildinfo` whenever it checks that
 * project against changed sources, so that file dates the build.
 */
export const staleReason = (root = packagesDir) => {
  for (const name of packages) {
    const dir = join(root, name)
    let built
    try {
      built = statSync(join(dir, "dist", ".tsbuildinfo")).mtimeMs
    } catch {
      return `packages/${name} is not built`
    }
    if (newest(join(dir, "src")) > built) return `packages/${name}/src changed since the last build`
  }
  return undefined
}

/** The bundle of the compiled CLI (scripts/bundle.js): the file the binary runs when it is current. */
export const bundleMain = (root = packagesDir) => join(root, "cli", "bundle", "main.js")

/**
 * Why the bundle of a current compiled build (see {@link staleReason}) cannot be used (it is
 * missing, or a package was rebuilt after it), or undefined when it can. A `tsc -b` alone (`npm run
 * check`) rebuilds dist but not the bundle; the binary then runs dist until `npm run build`.
 */
export const bundleStaleReason = (root = packagesDir) => {
  let bundled
  try {
    bundled = statSync(bundleMain(root)).mtimeMs
  } catch {
    return "packages/cli is not bundled"
  }
  for (const name of packages) {
    if (statSync(join(root, name, "dist", ".tsbuildinfo")).mtimeMs > bundled) {
      return `packages/${name} was rebuilt since the last bundle`
    }
  }
  return undefined
}
