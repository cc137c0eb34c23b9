/**
 * Blob storage on the local disk.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as DiskBlobs from "./DiskBlobs.js"

/** @since 0.1.0 */
export * as FileBody from "./FileBody.js"
