import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { examples } from "../packages/cli/src/help.js"

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

  it("help piped reads like git's: no colour, no long lines, a summary per command", async () => {
    const top = await meridian("--help")
    const viaHelp = await meridian("help")
    expect(viaHelp.code).toBe(0)
    expect(viaHelp.stdout).toBe(top.stdout)
    // eslint-disable-next-line no-control-regex
    expect(top.stdout).not.toMatch(/\u001b\[/)
    for (const line of top.stdout.split("\n")) expect(line.length).toBeLessThanOrEqual(100)
    expect(top.stdout).toContain("usage: meridian COMMAND")
    expect(top.stdout).not.toContain("chat chat")
    // Every command listed has examples.
    const commands = top.stdout
      .split("\n")
      .slice(top.stdout.split("\n").indexOf("Commands:") + 1)
      .filter((line) => /^ {2}[a-z]/.test(line))
      .map((line) => line.trim().split(/\s{2,}/)[0]!)
    expect(commands).toContain("files send")
    expect(commands).toContain("chat group create")
    for (const command of commands) expect(Object.keys(examples)).toContain(command)
  })

  it("a command's help: its usage, flags with meanings and defaults, examples", async () => {
    const { code, stdout } = await meridian("files", "send", "--help")
    expect(code).toBe(0)
    // eslint-disable-next-line no-control-regex
    expect(stdout).not.toMatch(/\u001b\[/)
    const lines = stdout.trimEnd().split("\n")
    expect(lines.length).toBeLessThan(40)
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(100)
    expect(lines[0]).toBe("usage: meridian files send FILE --to USER... [options]")
    expect(stdout).toMatch(/--retries N +how often[\s\S]*?\(default 6\)/)
    expect(stdout).toMatch(/--to USER +required: a recipient's user name/)
    expect(stdout).toContain("Examples:\n  meridian files send report.pdf --to bob")
    expect(stdout).not.toContain("This setting is optional")
    // An optional repeatable flag is not shown as required; --set says what keys it takes.
    const create = await meridian("help", "chat", "group", "create")
    expect(create.stdout.split("\n")[0]).toBe("usage: meridian chat group create NAME [options]")
    expect(create.stdout).toMatch(/--set KEY=VALUE +a free-form setting kept with the group: any KEY=VALUE/)
  })

  it("a bad number is said plainly, with where to look", async () => {
    const { code, stderr } = await meridian("sim", "--scenario", "examples/scenarios/partition.yaml", "--seed", "abc")
    expect(code).toBe(2)
    expect(stderr).toContain("--seed wants a whole number, not 'abc'")
    expect(stderr).toContain("see 'meridian sim --help'")
  })

  it("sim says which faults ran and what was accepted and delivered, keeps the trace with --trace", async () => {
    const trace = join(mkdtempSync(join(tmpdir(), "meridian-sim-")), "files.jsonl")
    const { code, stdout } = await meridian("sim", "--scenario", "examples/scenarios/files.yaml", "--trace", trace)
    expect(code).toBe(0)
    const lines = stdout.trim().split("\n")
    expect(lines[0]).toContain("faults: 6 applied: 3 s partition n1–s1")
    expect(lines[1]).toContain("durable messages: 100 accepted (files 100), 100 applied exactly once")
    expect(lines[2]).toContain("other envelopes applied (asks, answers, plain tells): 52")
    expect(lines.some((l) => l.startsWith("invariants: exactly-once ok, files/transfers-everywhere ok"))).toBe(true)
    // The last line is the one scripts read, unchanged.
    expect(lines.at(-1)).toMatch(
      /^seed=1 events=\d+ simulated=30\.000s accepted=100 delivered=152 trace=[0-9a-f]{64} invariants=ok$/
    )
    const kept = readFileSync(trace, "utf8").trim().split("\n")
    expect(kept.length).toBeGreaterThan(1000)
    expect(kept.filter((l) => l.includes('"type":"fault"'))).toHaveLength(6)
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
