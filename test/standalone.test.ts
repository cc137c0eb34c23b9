import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const repo = fileURLToPath(new URL("../", import.meta.url))

/**
 * Ways a file could reach the folder beside the repository that holds the project's specs and
 * data (`..` then `shared`): written as a path, joined from pieces, or as a URL. Spelt in pieces
 * here so that this file does not match itself.
 */
const parent = ["\\.\\.", "shared"]
const outside = [
  new RegExp(`${parent[0]}/${parent[1]}\\b`),
  new RegExp(`["']${parent[0]}["']\\s*,\\s*["']${parent[1]}["']`),
  new RegExp(`${parent[0]}\\\\${parent[1]}\\b`)
]

describe("the repository stands alone", () => {
  it("no tracked file reads or points at the folder beside the repository", () => {
    // Every file git tracks (what a clone has), not what a developer's tree happens to hold.
    const files = execFileSync("git", ["ls-files", "-z"], { cwd: repo, encoding: "utf8" })
      .split("\0")
      .filter((file) => file !== "")
    expect(files.length).toBeGreaterThan(100)
    const found: Array<string> = []
    for (const file of files) {
      let text: string
      try {
        text = readFileSync(join(repo, file), "utf8")
      } catch {
        continue // deleted in the work tree, not yet committed
      }
      text.split("\n").forEach((line, i) => {
        if (outside.some((pattern) => pattern.test(line))) found.push(`${file}:${i + 1}: ${line.trim()}`)
      })
    }
    expect(found).toEqual([])
  })

  it("the patterns catch each way of writing it", () => {
    const dots = ".."
    const name = "shared"
    for (const line of [
      `const f = "${dots}/${name}/data/x.mmdb"`,
      `join(repo, "${dots}", "${name}", "data")`,
      `new URL("../${dots}/${name}/spec/", import.meta.url)`,
      `see ${dots}\\${name}\\spec`
    ]) {
      expect(
        outside.some((pattern) => pattern.test(line)),
        line
      ).toBe(true)
    }
    expect(outside.some((pattern) => pattern.test("a shared secret, ./shared-memory"))).toBe(false)
  })
})
