/**
 * Where a site's shared secret comes from. Apart from SiteNode so that the CLI's commands that
 * only look the secret up (`up`, `account create --operator`) do not load a whole site.
 *
 * @since 0.1.0
 */
import type { Topology } from "@meridian/core/topology/Topology"

/**
 * Environment variable that carries the shared secret when the topology does not.
 *
 * @since 0.1.0
 * @category config
 */
export const SECRET_ENV = "MERIDIAN_SECRET"

/**
 * The secret sites prove in their hello: the topology's, else `$MERIDIAN_SECRET`.
 *
 * @since 0.1.0
 * @category config
 */
export const secretOf = (topology: Topology, env: Record<string, string | undefined>): string | undefined =>
  topology.secret ?? (env[SECRET_ENV] !== undefined && env[SECRET_ENV] !== "" ? env[SECRET_ENV] : undefined)
