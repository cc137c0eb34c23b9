/**
 * The module registry (registry.ts), loaded the first time a command needs it. Its modules (their
 * actors, routes and Schemas) are most of a site's code: `--help`, `--version` and a command that
 * fails on its flags never load them.
 *
 * @since 0.1.0
 */
import type * as Module from "@meridian/core/site/Module"
import * as Effect from "effect/Effect"

/**
 * The registry, once loaded.
 *
 * @since 0.1.0
 * @category registry
 */
export type Modules = Effect.Effect<Module.Registry>

let loading: Promise<Module.Registry> | undefined

/**
 * @since 0.1.0
 * @category registry
 */
export const modules: Modules = Effect.promise(() => (loading ??= import("./registry.js").then((m) => m.modules)))
