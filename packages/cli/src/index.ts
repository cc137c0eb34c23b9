/**
 * The `meridian` command line as a library: the module registry and the command groups.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * from "./registry.js"
/** @since 0.1.0 */
export * from "./topology.js"
export * from "./sim.js"
export * from "./run.js"
