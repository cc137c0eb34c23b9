#!/usr/bin/env node
// The `meridian` binary. It runs the bundle in packages/cli/bundle (the compiled JavaScript of
// packages/*/dist in a few files: it starts several times faster than dist, whose thousand files
// Node resolves one by one), which `npm ci` builds (the root package's `prepare` script) and
// `npm run build` rebuilds. When the bundle is older than dist (a `tsc -b` alone: `npm run check`,
// `npm test`), it runs dist, and says so in one line on stderr. When dist is missing or older than
// the TypeScript sources, it runs the sources through tsx instead (slower still) and says so: the
// binary never runs code older than the sources.
import { bundleStaleReason, staleReason } from "./compiled.js"

const stale = staleReason()
if (stale === undefined) {
  const unbundled = bundleStaleReason()
  if (unbundled === undefined) {
    await import("../bundle/main.js")
  } else {
    process.stderr.write(`meridian: ${unbundled}; running packages/cli/dist (\`npm run build\` to start faster)\n`)
    await import("../dist/main.js")
  }
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
