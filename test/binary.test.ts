import { describe, expect, it } from "@effect/vitest"
import { onTestFinished } from "vitest"
import { type ChildProcess, spawn } from "node:child_process"
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
import { join } from "node:path"
import { staleReason } from "../packages/cli/bin/compiled.js"
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

const compiledMain = `file://${join(root, "packages/cli/dist/main.js")}`
/** What a process that runs the compiled build never loads: TypeScript sources, tsx. */
const uncompiled = (url: string) => /\.(ts|tsx|mts|cts)$/.test(url) || url.includes("/node_modules/tsx/")

describe("the meridian binary runs the compiled JavaScript", () => {
  it("--version loads packages/cli/dist, no TypeScript and no tsx, and says nothing on stderr", async () => {
    const modules = moduleLog()
    const { code, stdout, stderr } = await cli(["--version"], { env: modules.env })
    expect(code).toBe(0)
    expect(stdout.trim()).toBe("0.1.0")
    expect(stderr).toBe("")
    const [urls] = [...modules.read().values()]
    expect(urls).toContain(compiledMain)
    expect(urls!.filter(uncompiled)).toEqual([])
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
        expect(urls).toContain(compiledMain)
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
