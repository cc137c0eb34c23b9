import { describe, expect, it } from "@effect/vitest"
import { ESLint } from "eslint"
import { fileURLToPath } from "node:url"

// The architecture's arrows are lint rules (eslint.config.js): each case lints a one-line file
// as if it sat at `path`, with the project's own configuration.
const eslint = new ESLint({ cwd: fileURLToPath(new URL("..", import.meta.url)) })
const restricted = async (path: string, source: string): Promise<ReadonlyArray<string>> => {
  const [result] = await eslint.lintText(`${source}\nexport type X = unknown\n`, { filePath: path })
  return (result?.messages ?? []).filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message)
}

describe("the arrows of the architecture", () => {
  it("the kernel imports no system, no site layer and no simulator", async () => {
    const file = "packages/core/src/kernel/Example.ts"
    expect(await restricted(file, `import type { FileServer } from "../files/Files.js"`)).toHaveLength(1)
    expect(await restricted(file, `import type { RunningSite } from "../site/Module.js"`)).toHaveLength(1)
    expect(await restricted(file, `import type { Scenario } from "../sim/Scenario.js"`)).toHaveLength(1)
    expect(await restricted(file, `import type { OutboxFull } from "../stores/Outbox.js"`)).toEqual([])
  })

  it("a system imports no other system, and reaches the site layer and the kernel", async () => {
    const file = "packages/core/src/chat/Example.ts"
    expect(await restricted(file, `import type { FileServer } from "../files/Files.js"`)).toHaveLength(1)
    expect(await restricted(file, `import type { Accounts } from "../accounts/Accounts.js"`)).toHaveLength(1)
    expect(await restricted(file, `import type * as Module from "../site/Module.js"`)).toEqual([])
    expect(await restricted(file, `import type { AskError } from "../kernel/Errors.js"`)).toEqual([])
  })

  it("core imports neither Node nor the node and cli packages", async () => {
    const file = "packages/core/src/files/Example.ts"
    expect(await restricted(file, `import * as Fs from "node:fs"`)).toHaveLength(1)
    expect(await restricted(file, `import * as Net from "net"`)).toHaveLength(1)
    expect(await restricted(file, `import * as Tcp from "@meridian/node/tcp/TcpTransport"`)).toHaveLength(1)
    expect(await restricted(file, `import * as Stream from "effect/Stream"`)).toEqual([])
  })

  it("the site layer knows only the built-in accounts system, and node never imports the cli", async () => {
    expect(
      await restricted("packages/core/src/site/Example.ts", `import type { ChatService } from "../chat/Service.js"`)
    ).toHaveLength(1)
    expect(
      await restricted("packages/core/src/site/Example.ts", `import type { Accounts } from "../accounts/Accounts.js"`)
    ).toEqual([])
    expect(
      await restricted("packages/node/src/Example.ts", `import { modules } from "@meridian/cli/registry"`)
    ).toHaveLength(1)
  })
})
