/**
 * The version `meridian --version` prints.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category version
 */
export const VERSION = "0.1.0"
