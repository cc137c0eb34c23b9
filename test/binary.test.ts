import { describe, expect, it } from "@effect/vitest"
import { onTestFinished } from "vitest"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { bundleStaleReason, staleReason } from "../packages/cli/bin/compiled.js"
import { bin, cli, eventually, root, threeSites } from "./support.js"

/**
 * A `NODE_OPTIONS` that makes every Node process it reaches (the binary and the sites it starts)
 * log `<pid> <url>` of each module it loads to the returned file.
 */
const moduleLog = () => {
  const dir = mkdtempSync(join(tmpdir(), "meridian-modules-"))
  const log = join(dir, "modules.log")
  writeFileSync(
    join(dir, "hooks.mjs"),
    [
      'import { appendFileSync } from "node:fs"',
      "export const load = (url, context, next) => {",
      `  appendFileSync(${JSON.stringify(log)}, process.pid + " " + url + "\\n")`,
      "  return next(url, context)",
      "}"
    ].join("\n")
  )
  writeFileSync(
    join(dir, "register.mjs"),
    `import { register } from "node:module"\nregister(${JSON.stringify(`file://${join(dir, "hooks.mjs")}`)})\n`
  )
  writeFileSync(log, "")
  const read = () => {
    const byPid = new Map<string, Array<string>>()
    for (const entry of readFileSync(log, "utf8").split("\n")) {
      if (entry === "") continue
      const [pid, url] = entry.split(" ") as [string, string]
      byPid.set(pid, [...(byPid.get(pid) ?? []), url])
    }
    return byPid
  }
  return { env: { NODE_OPTIONS: `--import=${join(dir, "register.mjs")}` }, read }
}

const bundled = join(root, "packages/cli/bundle")
const bundledMain = `file://${join(bundled, "main.js")}`
/** The files of the meridian packages a process loaded: the binary's, the bundle's, dist's. */
const meridianFiles = (urls: ReadonlyArray<string>) =>
  urls
    .filter((url) => url.startsWith("file:"))
    .map((url) => relative(root, fileURLToPath(url)))
    .filter((file) => file.startsWith("packages/"))
/**
 * The files of the bundle that carry `source` (a path under the checkout, e.g.
 * `packages/node/dist/site/SiteNode.js`), as `packages/cli/bundle/<file>`, from the metafile the
 * bundler writes beside them.
 */
const bundleFilesOf = (source: string) => {
  const meta = JSON.parse(readFileSync(join(bundled, "meta.json"), "utf8")) as {
    readonly outputs: Record<string, { readonly inputs: Record<string, unknown> }>
  }
  const files = Object.entries(meta.outputs)
    .filter(([, output]) => source in output.inputs)
    .map(([file]) => `packages/cli/bundle/${file}`)
  expect(files, `${source} is in the bundle`).not.toEqual([])
  return files
}
/** What a process that runs the compiled build never loads: TypeScript sources, tsx. */
const uncompiled = (url: string) => /\.(ts|tsx|mts|cts)$/.test(url) || url.includes("/node_modules/tsx/")

describe("the meridian binary runs the bundle of the compiled JavaScript", () => {
  it("--version loads the bundle's entry alone, no TypeScript and no tsx, and says nothing on stderr", async () => {
    const modules = moduleLog()
    const { code, stdout, stderr } = await cli(["--version"], { env: modules.env })
    expect(code).toBe(0)
    // Byte for byte what @effect/cli answers (cli.ts run directly, which always parses).
    const parsed = spawnSync(process.execPath, [join(root, "packages/cli/dist/cli.js"), "--version"], {
      encoding: "utf8"
    })
    expect(parsed.stdout).toContain("0.1.0")
    expect(stdout).toBe(parsed.stdout)
    expect(stderr).toBe("")
    const [urls] = [...modules.read().values()]
    expect(urls!.filter(uncompiled)).toEqual([])
    // Not the command line (@effect/cli, every command's flags) either: nothing but the version.
    const files = meridianFiles(urls!)
    expect(files.slice(0, 3)).toEqual([
      "packages/cli/bin/meridian.js",
      "packages/cli/bin/compiled.js",
      "packages/cli/bundle/main.js"
    ])
    const commandLine = bundleFilesOf("packages/cli/dist/cli.js")
    expect(files.filter((file) => commandLine.includes(file) || !file.startsWith("packages/cli/"))).toEqual([])
  })

  it("--help and a command's --help load no module, no site and no simulator", async () => {
    const heavy = [
      "packages/cli/dist/registry.js",
      "packages/node/dist/site/SiteNode.js",
      "packages/node/dist/site/Stores.js",
      "packages/core/dist/sim/Runner.js"
    ].flatMap(bundleFilesOf)
    for (const args of [["--help"], ["run", "--help"], ["sim", "--help"]]) {
      const modules = moduleLog()
      const { code, stdout } = await cli(args, { env: modules.env })
      expect(code).toBe(0)
      expect(stdout).toContain("meridian")
      const [urls] = [...modules.read().values()]
      const files = meridianFiles(urls!)
      expect(files).toContain("packages/cli/bundle/main.js")
      expect(files.filter((file) => heavy.includes(file))).toEqual([])
      expect(files.filter((file) => file.includes("/dist/"))).toEqual([])
    }
  })

  it("topology check loads the module registry (it checks module settings) but no site", async () => {
    const modules = moduleLog()
    const { code, stdout } = await cli(["topology", "check", join(root, "examples/three-regions.yaml")], {
      env: modules.env
    })
    expect(code).toBe(0)
    expect(stdout).toContain("ok: three-regions")
    const files = meridianFiles([...modules.read().values()][0]!)
    expect(files).toEqual(expect.arrayContaining(bundleFilesOf("packages/cli/dist/registry.js")))
    const site = bundleFilesOf("packages/node/dist/site/SiteNode.js")
    expect(files.filter((file) => site.includes(file))).toEqual([])
  })

  it("so do the site processes `meridian up` starts", async () => {
    const modules = moduleLog()
    const { dir, http } = await threeSites({ file: "meridian.yaml" })
    const up: ChildProcess = spawn(process.execPath, [bin, "up"], {
      cwd: dir,
      env: { ...process.env, ...modules.env },
      stdio: ["ignore", "ignore", "inherit"]
    })
    try {
      for (const port of Object.values(http)) {
        await eventually(`site on ${port} healthy`, async () =>
          (await fetch(`http://127.0.0.1:${port}/health`)).ok ? true : undefined
        )
      }
      const processes = [...modules.read().values()]
      // `up` itself and its three `meridian run` children.
      expect(processes).toHaveLength(4)
      for (const urls of processes) {
        expect(urls).toContain(bundledMain)
        expect(urls.filter(uncompiled)).toEqual([])
      }
    } finally {
      up.kill("SIGINT")
      await new Promise<void>((resolve) => (up.exitCode === null ? up.once("exit", () => resolve()) : resolve()))
    }
  }, 120_000)

  it("without a build, runs the TypeScript sources through tsx and says so in one line", async () => {
    // A checkout whose packages are not built: the binary's own files, the real sources (linked),
    // the real node_modules.
    const checkout = mkdtempSync(join(tmpdir(), "meridian-unbuilt-"))
    for (const name of ["core", "node", "cli"]) {
      mkdirSync(join(checkout, "packages", name), { recursive: true })
      symlinkSync(join(root, "packages", name, "src"), join(checkout, "packages", name, "src"))
    }
    mkdirSync(join(checkout, "packages/cli/bin"))
    for (const file of ["meridian.js", "compiled.js"]) {
      copyFileSync(join(root, "packages/cli/bin", file), join(checkout, "packages/cli/bin", file))
    }
    symlinkSync(join(root, "node_modules"), join(checkout, "node_modules"))
    // Removes the links, not what they point to.
    onTestFinished(() => rmSync(checkout, { recursive: true, force: true }))
    const result = await cli(["topology", "check", join(root, "examples/three-regions.yaml")], {
      bin: join(checkout, "packages/cli/bin/meridian.js")
    })
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("ok: three-regions")
    expect(result.stderr).toBe(
      "meridian: packages/core is not built; running the TypeScript through tsx (`npm run build` to start faster)\n"
    )
  }, 120_000)
})

describe("the meridian binary without a current bundle", () => {
  it("runs packages/cli/dist, and says so in one line", async () => {
    // A checkout built but not bundled: the real packages (linked), the binary's own files.
    const checkout = mkdtempSync(join(tmpdir(), "meridian-unbundled-"))
    for (const name of ["core", "node"]) {
      mkdirSync(join(checkout, "packages"), { recursive: true })
      symlinkSync(join(root, "packages", name), join(checkout, "packages", name))
    }
    mkdirSync(join(checkout, "packages/cli/bin"), { recursive: true })
    for (const folder of ["src", "dist"]) {
      symlinkSync(join(root, "packages/cli", folder), join(checkout, "packages/cli", folder))
    }
    for (const file of ["meridian.js", "compiled.js"]) {
      copyFileSync(join(root, "packages/cli/bin", file), join(checkout, "packages/cli/bin", file))
    }
    symlinkSync(join(root, "node_modules"), join(checkout, "node_modules"))
    onTestFinished(() => rmSync(checkout, { recursive: true, force: true }))
    const modules = moduleLog()
    const result = await cli(["topology", "check", join(root, "examples/three-regions.yaml")], {
      bin: join(checkout, "packages/cli/bin/meridian.js"),
      env: modules.env
    })
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("ok: three-regions")
    expect(result.stderr).toBe(
      "meridian: packages/cli is not bundled; running packages/cli/dist (`npm run build` to start faster)\n"
    )
    const [urls] = [...modules.read().values()]
    expect(urls).toContain(`file://${join(root, "packages/cli/dist/main.js")}`)
    expect(urls!.filter(uncompiled)).toEqual([])
  }, 120_000)
})

describe("staleReason", () => {
  /** A packages folder with one source file per package, each built at `built` (seconds since the epoch). */
  const packagesAt = (built: number) => {
    const dir = mkdtempSync(join(tmpdir(), "meridian-packages-"))
    for (const name of ["core", "node", "cli"]) {
      mkdirSync(join(dir, name, "src", "sub"), { recursive: true })
      mkdirSync(join(dir, name, "dist"))
      writeFileSync(join(dir, name, "src", "sub", "a.ts"), "export {}\n")
      utimesSync(join(dir, name, "src", "sub", "a.ts"), built - 10, built - 10)
      writeFileSync(join(dir, name, "dist", ".tsbuildinfo"), "{}")
      utimesSync(join(dir, name, "dist", ".tsbuildinfo"), built, built)
    }
    return dir
  }

  it("is undefined when every package was built after its sources changed", () => {
    expect(staleReason(packagesAt(1_700_000_000))).toBeUndefined()
  })

  it("names a package with no build", () => {
    const dir = packagesAt(1_700_000_000)
    rmSync(join(dir, "node", "dist"), { recursive: true })
    expect(staleReason(dir)).toBe("packages/node is not built")
  })

  it("names a package with a source (in a subfolder) newer than its build", () => {
    const dir = packagesAt(1_700_000_000)
    utimesSync(join(dir, "node", "src", "sub", "a.ts"), 1_700_000_005, 1_700_000_005)
    expect(staleReason(dir)).toBe("packages/node/src changed since the last build")
  })
})

describe("bundleStaleReason", () => {
  /** A built packages folder (as staleReason's tests make it) bundled at `bundledAt`. */
  const bundled = (built: number, bundledAt: number) => {
    const dir = mkdtempSync(join(tmpdir(), "meridian-packages-"))
    for (const name of ["core", "node", "cli"]) {
      mkdirSync(join(dir, name, "dist"), { recursive: true })
      writeFileSync(join(dir, name, "dist", ".tsbuildinfo"), "{}")
      utimesSync(join(dir, name, "dist", ".tsbuildinfo"), built, built)
    }
    mkdirSync(join(dir, "cli", "bundle"))
    writeFileSync(join(dir, "cli", "bundle", "main.js"), "")
    utimesSync(join(dir, "cli", "bundle", "main.js"), bundledAt, bundledAt)
    return dir
  }

  it("is undefined when the bundle was made after every package's build", () => {
    expect(bundleStaleReason(bundled(1_700_000_000, 1_700_000_001))).toBeUndefined()
  })

  it("says so when there is no bundle", () => {
    const dir = bundled(1_700_000_000, 1_700_000_001)
    rmSync(join(dir, "cli", "bundle"), { recursive: true })
    expect(bundleStaleReason(dir)).toBe("packages/cli is not bundled")
  })

  it("names a package rebuilt after the bundle (a `tsc -b` alone)", () => {
    const dir = bundled(1_700_000_000, 1_700_000_001)
    utimesSync(join(dir, "core", "dist", ".tsbuildinfo"), 1_700_000_005, 1_700_000_005)
    expect(bundleStaleReason(dir)).toBe("packages/core was rebuilt since the last bundle")
  })
})
