import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const bin = join(root, "packages/cli/bin/meridian.js")

/** Runs the real `meridian` binary as a user would. */
const meridian = (...args: Array<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: root, env: { ...process.env, NO_COLOR: "1" } },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    )
  })

describe("meridian binary", () => {
  it("prints help listing its commands", async () => {
    const { code, stdout } = await meridian("--help")
    expect(code).toBe(0)
    expect(stdout).toContain("topology check")
    expect(stdout).toContain("topology graph")
  })

  it("checks the shipped example", async () => {
    const { code, stdout } = await meridian("topology", "check", "examples/three-regions.yaml")
    expect(code).toBe(0)
    expect(stdout).toContain("ok: three-regions — 3 regions, 3 sites, 3 links")
  })

  it("lists every problem of a broken topology at once and exits 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "meridian-cli-"))
    const file = join(dir, "broken.yaml")
    writeFileSync(
      file,
      [
        "name: broken",
        "defaultRegion: nowhere",
        "regions:",
        '  north: { cidrs: ["10.0.0.0/8"] }',
        '  south: { cidrs: ["10.2.0.0/16"] }',
        "sites:",
        "  a: { region: north, tcp: 127.0.0.1:7000, http: 127.0.0.1:7000, modules: { ping: {}, mystery: {} } }",
        "  b: { region: south, tcp: 127.0.0.1:7001, http: 127.0.0.1:8001 }",
        "links:",
        "  - { between: [a, ghost] }",
        ""
      ].join("\n")
    )
    const { code, stderr } = await meridian("topology", "check", file)
    expect(code).toBe(1)
    expect(stderr).toContain('defaultRegion: unknown region "nowhere"')
    expect(stderr).toContain('unknown site "ghost"')
    expect(stderr).toContain("already used by sites.a.tcp")
    expect(stderr).toMatch(/overlap/)
    expect(stderr).toContain('module "mystery" is not registered')
  })

  it("draws the example as DOT and as Mermaid", async () => {
    const dot = await meridian("topology", "graph", "examples/three-regions.yaml")
    expect(dot.code).toBe(0)
    expect(dot.stdout).toMatch(/^graph /)
    expect(dot.stdout).toContain("cluster_north")
    const mermaid = await meridian("topology", "graph", "--mermaid", "examples/three-regions.yaml")
    expect(mermaid.stdout).toMatch(/^flowchart LR/)
  })

  it("reports a missing file in one line and exits 1", async () => {
    const { code, stderr } = await meridian("topology", "check", "no/such/file.yaml")
    expect(code).toBe(1)
    expect(stderr.trim().split("\n")).toHaveLength(1)
  })
})
