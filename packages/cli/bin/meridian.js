#!/usr/bin/env node
// The `meridian` binary. It runs the compiled JavaScript in packages/*/dist, which `npm ci` builds
// (the root package's `prepare` script) and every `tsc -b` (`npm run build`, `npm run check`,
// `npm test`) rebuilds. When that build is missing or older than the TypeScript sources, it runs
// the sources through tsx instead (several times slower to start) and says so in one line on
// stderr: the binary never runs code older than the sources.
import { staleReason } from "./compiled.js"

const stale = staleReason()
if (stale === undefined) {
  await import("../dist/main.js")
} else {
  process.stderr.write(`meridian: ${stale}; running the TypeScript through tsx (\`npm run build\` to start faster)\n`)
  const { register } = await import("node:module")
  const tsx = await import("tsx/esm/api")
  tsx.register()
  // Registered last, so it runs first: the meridian packages' "development" export condition
  // resolves @meridian/* to their TypeScript sources rather than to dist.
  register(
    "data:text/javascript," +
      encodeURIComponent(
        "export const resolve = (specifier, context, next) => " +
          'next(specifier, { ...context, conditions: [...context.conditions, "development"] })'
      )
  )
  await import("../src/main.ts")
}
