/**
 * Whether a module's `api` describes the routes it serves. A module's raw routes (streams, tus,
 * redirects) are described by hand in an `HttpApi`, so the two can drift apart: these functions
 * read the routes a module's `routes` layer really registers, on a real `HttpLayerRouter` whose
 * registrations are watched, and compare them with the paths and methods of the OpenAPI document
 * its `api` gives. The site logs any difference at start, and tests hold every module to none.
 *
 * @since 0.1.0
 */
import type * as HttpApi from "@effect/platform/HttpApi"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * A route: its method (upper case) and its path as OpenAPI writes it (`/v1/files/uploads/{id}`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Route {
  readonly method: string
  readonly path: string
}

/** `/a/:id` as OpenAPI writes it: `/a/{id}`. */
const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, "{$1}")

const key = (route: Route) => `${route.method} ${route.path}`

/**
 * The routes `routes` registers, in order, read from a real router as the layer is built.
 *
 * @since 0.1.0
 * @category routes
 */
export const served = (
  routes: Layer.Layer<never, never, HttpLayerRouter.HttpRouter>
): Effect.Effect<ReadonlyArray<Route>> =>
  Effect.gen(function* () {
    const seen: Array<Route> = []
    const note = (method: string, path: string) => seen.push({ method, path: openApiPath(path) })
    const router = yield* HttpLayerRouter.make
    const watched = HttpLayerRouter.HttpRouter.of({
      ...router,
      add: (method, path, handler, options) => {
        note(method, path)
        return router.add(method, path, handler, options)
      },
      addAll: (list) => {
        for (const route of list) note(route.method, route.path)
        return router.addAll(list)
      }
    })
    yield* Layer.build(Layer.provide(routes, Layer.succeed(HttpLayerRouter.HttpRouter, watched))).pipe(Effect.scoped)
    return seen
  })

/**
 * The routes the OpenAPI document of `api` names.
 *
 * @since 0.1.0
 * @category routes
 */
export const documented = (api: HttpApi.HttpApi.Any): ReadonlyArray<Route> => {
  const document = OpenApi.fromApi(api as HttpApi.HttpApi.AnyWithProps)
  return Object.entries(document.paths).flatMap(([path, item]) =>
    ["get", "head", "post", "put", "patch", "delete", "options"]
      .filter((method) => (item as Readonly<Record<string, unknown>>)[method] !== undefined)
      .map((method) => ({ method: method.toUpperCase(), path }))
  )
}

/**
 * What a module serves that its `api` does not describe, and what it describes that it does not
 * serve. A documented HEAD is served by a GET of the same path (the router answers HEAD with it).
 *
 * @since 0.1.0
 * @category routes
 */
export const check = (module: {
  readonly routes: Layer.Layer<never, never, HttpLayerRouter.HttpRouter> | undefined
  readonly api: HttpApi.HttpApi.Any | undefined
}): Effect.Effect<{ readonly undocumented: ReadonlyArray<Route>; readonly unserved: ReadonlyArray<Route> }> =>
  Effect.gen(function* () {
    const routes = module.routes === undefined ? [] : yield* served(module.routes)
    const described = module.api === undefined ? [] : documented(module.api)
    const servedKeys = new Set(routes.map(key))
    const describedKeys = new Set(described.map(key))
    return {
      undocumented: routes.filter((r) => !describedKeys.has(key(r))),
      unserved: described.filter(
        (r) => !servedKeys.has(key(r)) && !(r.method === "HEAD" && servedKeys.has(key({ ...r, method: "GET" })))
      )
    }
  })
