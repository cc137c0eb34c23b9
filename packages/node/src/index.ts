/**
 * Meridian's Node bindings: the TCP transport, SQLite stores, the blob directory, the HTTP server
 * and the site process that ties them together.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as TcpTransport from "./tcp/TcpTransport.js"
/** @since 0.1.0 */
export * as SiteHttp from "./http/SiteHttp.js"
/** @since 0.1.0 */
export * as SiteNode from "./site/SiteNode.js"
/** @since 0.1.0 */
export * as NodeHost from "./site/NodeHost.js"
/** @since 0.1.0 */
export * as SiteStores from "./site/Stores.js"
/** @since 0.1.0 */
export * from "./blobs/index.js"
/** @since 0.1.0 */
export * as Sqlite from "./sqlite/index.js"
