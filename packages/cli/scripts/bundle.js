// Bundles the compiled CLI (packages/cli/dist/main.js, written by `tsc -b`) with everything it
// imports into packages/cli/bundle/, which the `meridian` binary runs when it is current. Node
// resolves and reads about a thousand files to start the unbundled build (effect, @effect/cli,
// @effect/platform): most of a second before the first line of meridian runs. The bundle is a few
// files, and split at the CLI's dynamic imports, so `--help` or `topology check` never read the
// site's or the simulator's code.
//
// Run by `npm run build` after tsc (and by the test setup when the bundle is stale). The bundle
// sits at the depth of dist/ and src/, so run.ts finds bin/meridian.js and the bundled example
// relative to its own file wherever it runs from. Writes bundle/meta.json: which source went into
// which file (the tests read it).
import * as esbuild from "esbuild"
import { renameSync, rmSync, writeFileSync } from "node:fs"
import { basename, join } from "node:path"

const cli = join(import.meta.dirname, "..")
const root = join(cli, "..", "..")
const out = join(cli, "bundle")
const next = join(cli, `bundle.${process.pid}.tmp`)

rmSync(next, { recursive: true, force: true })
const result = await esbuild.build({
  entryPoints: { main: join(cli, "dist", "main.js") },
  outdir: next,
  // Sources named from the checkout's root in the metafile (`packages/node/dist/...`).
  absWorkingDir: root,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // Names stay as tsc wrote them: errors and logs print class and function names.
  keepNames: true,
  // A native addon: loaded from node_modules at run time.
  external: ["better-sqlite3"],
  // The CommonJS packages in the bundle (ws, mime...) call `require` for Node's modules.
  banner: {
    js: 'import { createRequire as __meridianCreateRequire } from "node:module"; const require = __meridianCreateRequire(import.meta.url);'
  },
  chunkNames: "[name]-[hash]",
  metafile: true,
  logLevel: "warning"
})
// Each output named by its file name in the bundle (esbuild names them by the temporary folder).
const outputs = Object.entries(result.metafile.outputs).map(([file, output]) => [basename(file), output])
writeFileSync(join(next, "meta.json"), JSON.stringify({ ...result.metafile, outputs: Object.fromEntries(outputs) }))
// Swapped in at the end: a build that fails leaves the previous bundle (and its date) as it was.
rmSync(out, { recursive: true, force: true })
renameSync(next, out)
