/** The packages the binary loads, in build order. */
export declare const packages: ReadonlyArray<string>
/**
 * Why the compiled build cannot be used (missing, or older than a source), or undefined when it
 * can; `packagesDir` (default: this checkout's `packages/`) holds core, node and cli.
 */
export declare const staleReason: (packagesDir?: string) => string | undefined
/** The bundle's entry (`packages/cli/bundle/main.js` under `packagesDir`). */
export declare const bundleMain: (packagesDir?: string) => string
/**
 * Why the bundle of a current compiled build cannot be used (it is missing, or older than a
 * package's build), or undefined when it can.
 */
export declare const bundleStaleReason: (packagesDir?: string) => string | undefined
