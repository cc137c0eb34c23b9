/**
 * The topology: one Schema for a whole deployment, its loader, builder, checks and pictures.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Builder from "./Builder.js"
/** @since 0.1.0 */
export * as Check from "./Check.js"
/** @since 0.1.0 */
export * as Graph from "./Graph.js"
/** @since 0.1.0 */
export * as Loader from "./Loader.js"
/** @since 0.1.0 */
export * as Topology from "./Topology.js"
