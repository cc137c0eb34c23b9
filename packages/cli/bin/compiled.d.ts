/** The packages the binary loads, in build order. */
export declare const packages: ReadonlyArray<string>
/**
 * Why the compiled build cannot be used (missing, or older than a source), or undefined when it
 * can; `packagesDir` (default: this checkout's `packages/`) holds core, node and cli.
 */
export declare const staleReason: (packagesDir?: string) => string | undefined
