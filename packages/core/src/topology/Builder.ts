/**
 * Composing a topology in TypeScript. The builder only collects the same input a YAML file would
 * hold; `build` runs it through the same decoding and checks as `Loader.load`, so both routes
 * yield the same value and reject the same mistakes.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Check from "./Check.js"
import * as Loader from "./Loader.js"
import type { CarrierInput, Input, Problem, RegionInput, SiteInput, Topology } from "./Topology.js"
import { formatPath, TopologyError } from "./Topology.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface LinkOptions {
  /** Address the first site dials instead of the second site's `tcp` (a tunnel or relay). */
  readonly dial?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export type { CarrierInput, RegionInput, SiteInput }

interface State {
  readonly name: string
  readonly defaultRegion: string | undefined
  readonly regions: Readonly<Record<string, RegionInput>>
  readonly sites: Readonly<Record<string, SiteInput>>
  readonly links: ReadonlyArray<{ readonly between: readonly [string, string]; readonly dial?: string }>
  readonly secret: string | undefined
  /** Mistakes only the builder can see (a name defined twice), reported by `build` with the rest. */
  readonly problems: ReadonlyArray<Problem>
}

/**
 * An immutable topology builder: every method returns a new builder.
 *
 * @since 0.1.0
 * @category models
 */
export class Builder {
  private constructor(private readonly state: State) {}

  /** @internal */
  static start(name: string): Builder {
    return new Builder({
      name,
      defaultRegion: undefined,
      regions: {},
      sites: {},
      links: [],
      secret: undefined,
      problems: []
    })
  }

  private with(patch: Partial<State>): Builder {
    return new Builder({ ...this.state, ...patch })
  }

  private twice(kind: "regions" | "sites", name: string): ReadonlyArray<Problem> {
    return Object.prototype.hasOwnProperty.call(this.state[kind], name)
      ? [...this.state.problems, { path: formatPath([kind, name]), message: `defined twice` }]
      : this.state.problems
  }

  /** Adds a region (the IP ranges, countries and continents it serves). */
  region(name: string, region: RegionInput = {}): Builder {
    return this.with({ regions: { ...this.state.regions, [name]: region }, problems: this.twice("regions", name) })
  }

  /** The region for clients no range, country or continent matches. */
  defaultRegion(name: string): Builder {
    return this.with({ defaultRegion: name })
  }

  /** Adds a site with its addresses, region and modules. */
  site(name: string, site: SiteInput): Builder {
    return this.with({ sites: { ...this.state.sites, [name]: site }, problems: this.twice("sites", name) })
  }

  /** Links two sites; `from` dials `to`. */
  link(from: string, to: string, options: LinkOptions = {}): Builder {
    const link =
      options.dial === undefined
        ? { between: [from, to] as const }
        : { between: [from, to] as const, dial: options.dial }
    return this.with({ links: [...this.state.links, link] })
  }

  /** The shared secret sites prove in their hello. */
  secret(secret: string): Builder {
    return this.with({ secret })
  }

  /** The input collected so far, in the shape of a topology file. */
  get input(): Partial<Input> & { readonly name: string } {
    const s = this.state
    return {
      name: s.name,
      ...(s.defaultRegion === undefined ? {} : { defaultRegion: s.defaultRegion }),
      regions: s.regions,
      sites: s.sites,
      links: s.links,
      ...(s.secret === undefined ? {} : { secret: s.secret })
    }
  }

  /** Decodes and checks, exactly as `Loader.load` does for a file; every problem is reported. */
  build(options: Check.CheckOptions = {}): Effect.Effect<Topology, TopologyError> {
    const own = this.state.problems
    return Loader.validate(this.input, options).pipe(
      Effect.mapError((error) => new TopologyError({ problems: [...own, ...error.problems] })),
      Effect.flatMap((topology) =>
        own.length === 0 ? Effect.succeed(topology) : Effect.fail(new TopologyError({ problems: own }))
      )
    )
  }
}

/**
 * Starts a topology named `name`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (name: string): Builder => Builder.start(name)
