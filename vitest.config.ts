import { defineConfig } from "vitest/config"

export default defineConfig({
  // Tests import the meridian packages' TypeScript sources (their "development" export condition,
  // named here rather than left to Vite's default for NODE_ENV); Node itself resolves them to dist.
  ssr: { resolve: { conditions: ["development", "module", "node"] } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    // Tests spawn the real binary, which runs the compiled build: built first if out of date.
    globalSetup: ["test/build.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
