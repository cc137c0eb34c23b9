import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Builder, type Check, Graph, Loader, Topology } from "../src/topology/index.js"

const examplePath = fileURLToPath(new URL("../../../examples/three-regions.yaml", import.meta.url))
const exampleText = readFileSync(examplePath, "utf8")

const registry: ReadonlyArray<Check.ModuleInfo> = [
  { name: "ping", settings: Schema.Struct({ greeting: Schema.optional(Schema.String) }) },
  { name: "files", settings: Schema.Struct({}) }
]

/** The example's regions and sites, built in TypeScript (links added by each test). */
const exampleSites = Builder.make("three-regions")
  .region("north", { cidrs: ["10.1.0.0/16"], countries: ["CN", "JP"], continents: ["AS"] })
  .region("south", { cidrs: ["10.2.0.0/16"], countries: ["AU", "BR"], continents: ["OC", "SA"] })
  .region("west", { cidrs: ["10.3.0.0/16"], countries: ["DE", "US"], continents: ["EU", "NA", "AF"] })
  .defaultRegion("north")
  .site("n1", { region: "north", tcp: "127.0.0.1:7101", http: "127.0.0.1:8101", modules: { ping: {}, files: {} } })
  .site("s1", { region: "south", tcp: "127.0.0.1:7102", http: "127.0.0.1:8102", modules: { ping: {}, files: {} } })
  .site("w1", { region: "west", tcp: "127.0.0.1:7103", http: "127.0.0.1:8103", modules: { ping: {}, files: {} } })

/** The example's content, built in TypeScript. */
const exampleBuilder = exampleSites.link("n1", "s1").link("n1", "w1").link("s1", "w1")

/** A small valid topology on port 0 that the problem tests start from. */
const base = {
  name: "t",
  defaultRegion: "a",
  regions: { a: { cidrs: ["10.0.0.0/16"] }, b: { cidrs: ["10.1.0.0/16"] } },
  sites: {
    x: { region: "a", tcp: "127.0.0.1:0", http: "127.0.0.1:0", modules: { ping: {} } },
    y: { region: "b", tcp: "127.0.0.1:0", http: "127.0.0.1:0" }
  },
  links: [{ between: ["x", "y"] }]
}

const problemsOf = (input: unknown, options: Check.CheckOptions = {}) =>
  Effect.flip(Loader.validate(input, options)).pipe(Effect.map((e) => e.problems))

const withPatch = (patch: Record<string, unknown>) => ({ ...base, ...patch })

describe("Topology", () => {
  it.effect("the example file loads and passes every check, modules included", () =>
    Effect.gen(function* () {
      const topology = yield* Loader.load(exampleText, { modules: registry })
      expect(topology.name).toBe("three-regions")
      expect(Object.keys(topology.regions).sort()).toEqual(["north", "south", "west"])
      expect(Object.keys(topology.sites).sort()).toEqual(["n1", "s1", "w1"])
      expect(topology.sites.n1).toEqual({
        region: "north",
        tcp: "127.0.0.1:7101",
        http: "127.0.0.1:8101",
        carriers: {},
        modules: { ping: {}, files: {} }
      })
      expect(topology.links).toHaveLength(3)
      expect(topology.regions.west.continents).toEqual(["EU", "NA", "AF"])
    })
  )

  it.effect("the builder yields exactly the value the loader yields", () =>
    Effect.gen(function* () {
      const fromFile = yield* Loader.load(exampleText)
      const built = yield* exampleBuilder.build({ modules: registry })
      expect(built).toStrictEqual(fromFile)
      // and the same content as JSON decodes the same way
      const fromJson = yield* Loader.load(JSON.stringify(exampleBuilder.input), { format: "json" })
      expect(fromJson).toStrictEqual(fromFile)
    })
  )

  it.effect("the builder is immutable and reports names defined twice", () =>
    Effect.gen(function* () {
      const one = Builder.make("t").region("a").defaultRegion("a")
      const two = one.site("x", { region: "a", tcp: "127.0.0.1:0", http: "127.0.0.1:0" })
      expect(Object.keys(one.input.sites ?? {})).toEqual([])
      yield* two.build()
      const error = yield* Effect.flip(two.site("x", { region: "a", tcp: "127.0.0.1:0", http: "127.0.0.1:0" }).build())
      expect(error.problems).toContainEqual({ path: "sites.x", message: "defined twice" })
    })
  )

  it.effect("optional fields and dial/carrier/secret are kept", () =>
    Effect.gen(function* () {
      const topology = yield* Builder.make("t")
        .region("a")
        .defaultRegion("a")
        .site("x", {
          region: "a",
          tcp: "[::1]:7000",
          http: "localhost:8000",
          carriers: { telecom: { http: "10.0.0.1:80" } }
        })
        .site("y", { region: "a", tcp: "host-y.example:7000", http: "127.0.0.1:0" })
        .link("x", "y", { dial: "127.0.0.1:9000" })
        .secret("s3cret")
        .build()
      expect(topology.links).toEqual([{ between: ["x", "y"], dial: "127.0.0.1:9000" }])
      expect(topology.sites.x.carriers).toEqual({ telecom: { http: "10.0.0.1:80" } })
      expect(topology.secret).toBe("s3cret")
      expect(topology.regions.a).toEqual({ cidrs: [], countries: [], continents: [] })
    })
  )
})

describe("structural problems", () => {
  it.effect("every structural problem is reported at once, with paths", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        name: "t",
        regions: { a: { countries: ["de"], continents: ["XX"] } },
        sites: {
          x: { region: "a", tcp: "127.0.0.1:70000", http: "nohost", tpc: "typo" },
          "bad name": { region: "a", tcp: "127.0.0.1:1", http: "127.0.0.1:2" }
        },
        links: [{ between: ["x"] }]
      })
      const paths = problems.map((p) => p.path)
      expect(paths).toContain("defaultRegion")
      expect(paths).toContain("regions.a.countries[0]")
      expect(paths).toContain("regions.a.continents[0]")
      expect(paths).toContain("sites.x.tcp")
      expect(paths).toContain("sites.x.http")
      expect(paths).toContain("sites.x.tpc")
      expect(paths).toContain('sites["bad name"]')
      expect(paths.some((p) => p.startsWith("links[0].between"))).toBe(true)
      expect(problems.find((p) => p.path === "sites.x.tcp")?.message).toContain("host:port")
    })
  )

  it("host:port parsing", () => {
    expect(Topology.parseHostPort("127.0.0.1:7101")).toEqual({ host: "127.0.0.1", port: 7101, family: "ipv4" })
    expect(Topology.parseHostPort("[::1]:0")).toEqual({ host: "::1", port: 0, family: "ipv6" })
    expect(Topology.parseHostPort("example.org:65535")?.family).toBe("hostname")
    for (const bad of ["127.0.0.1", "127.0.0.1:65536", "::1:80", "[::1]80", "999.1.1.1:80", "a b:1", ":80", "x:-1"]) {
      expect(Topology.parseHostPort(bad)).toBeUndefined()
    }
  })

  it.effect("a YAML syntax error is a problem with line and column", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Loader.load("name: t\nregions: { a: [1, 2\nsites: {}\n"))
      expect(error._tag).toBe("TopologyError")
      expect(error.problems.length).toBeGreaterThan(0)
      expect(error.problems[0].path).toMatch(/^line \d+, column \d+$/)
      expect(error.problems[0].message).toContain("YAML")
      const dup = yield* Effect.flip(Loader.load("name: t\nname: u\n"))
      expect(dup.problems[0].path).toBe("line 2, column 1")
    })
  )

  it.effect("a JSON syntax error is a problem", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Loader.load('{"name": "t",\n  oops}', { format: "json" }))
      expect(error.problems[0].path).toMatch(/^line 2, column \d+$/)
      expect(error.message).toContain("JSON syntax error")
    })
  )
})

describe("semantic problems", () => {
  it.effect("the base topology is valid", () => Effect.asVoid(Loader.validate(base, { modules: registry })))

  it.effect("unknown region of a site and unknown defaultRegion", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf(
        withPatch({ defaultRegion: "nowhere", sites: { ...base.sites, y: { ...base.sites.y, region: "zz" } } })
      )
      expect(problems.map((p) => p.path)).toEqual(["defaultRegion", "sites.y.region"])
      expect(problems[1].message).toContain('unknown region "zz"')
    })
  )

  it.effect("unknown site in a link, self link, duplicate link in either order", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf(
        withPatch({
          links: [
            { between: ["x", "y"] },
            { between: ["x", "nobody"] },
            { between: ["x", "x"] },
            { between: ["y", "x"] }
          ]
        })
      )
      expect(problems).toEqual([
        { path: "links[1].between[1]", message: 'unknown site "nobody" (sites: x, y)' },
        { path: "links[2].between", message: 'site "x" is linked to itself' },
        { path: "links[3].between", message: 'duplicate link between "y" and "x" (already links[0])' }
      ])
    })
  )

  it.effect("duplicate addresses, but never for port 0", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf(
        withPatch({
          sites: {
            x: {
              region: "a",
              tcp: "127.0.0.1:7000",
              http: "127.0.0.1:0",
              carriers: { c: { http: "[::ffff:127.0.0.1]:7000" } }
            },
            y: { region: "b", tcp: "127.0.0.1:0", http: "127.0.0.1:7000" }
          },
          links: [{ between: ["x", "y"], dial: "127.0.0.1:7000" }]
        })
      )
      expect(problems.map((p) => p.path)).toEqual(["sites.x.carriers.c.http", "sites.y.http", "links[0].dial"])
      expect(problems[1].message).toBe("address 127.0.0.1:7000 is already used by sites.x.tcp")
    })
  )

  it.effect("a dial address may be one of the dialled site's own addresses", () =>
    Effect.asVoid(
      Loader.validate(
        withPatch({
          sites: {
            x: { region: "a", tcp: "127.0.0.1:0", http: "127.0.0.1:0" },
            y: {
              region: "b",
              tcp: "127.0.0.1:0",
              http: "127.0.0.1:0",
              carriers: { c: { http: "10.9.0.1:80", tcp: "10.9.0.1:7000" } }
            }
          },
          links: [{ between: ["x", "y"], dial: "10.9.0.1:7000" }]
        })
      )
    )
  )

  it.effect("invalid and overlapping CIDRs, within and across regions", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf(
        withPatch({
          regions: {
            a: { cidrs: ["10.0.0.0/8", "10.0.0.0/33", "nonsense/8", "10.1.5.0/16", "2001:db8::/32"] },
            b: { cidrs: ["10.20.0.0/16", "192.168.0.0/24", "::ffff:192.168.0.0/120", "2001:db8:1::/48", "fe80::/10"] }
          }
        })
      )
      expect(problems.map((p) => p.path)).toEqual([
        "regions.a.cidrs[1]",
        "regions.a.cidrs[2]",
        "regions.a.cidrs[3]",
        "regions.b.cidrs[0]",
        "regions.b.cidrs[2]",
        "regions.b.cidrs[3]"
      ])
      expect(problems[2].message).toContain("host bits")
      expect(problems[3].message).toContain("overlaps 10.0.0.0/8 (regions.a.cidrs[0]")
    })
  )

  it.effect("a country or continent claimed by two regions", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf(
        withPatch({
          regions: {
            a: { countries: ["DE", "FR"], continents: ["EU"] },
            b: { countries: ["FR"], continents: ["EU", "NA"] }
          }
        })
      )
      expect(problems).toEqual([
        {
          path: "regions.b.countries[0]",
          message: 'country FR is also claimed by region "a" (a lookup would be ambiguous)'
        },
        {
          path: "regions.b.continents[0]",
          message: 'continent EU is also claimed by region "a" (a lookup would be ambiguous)'
        }
      ])
    })
  )

  it.effect("sites that cannot reach each other", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf(
        withPatch({
          sites: { ...base.sites, z: { region: "a", tcp: "127.0.0.1:0", http: "127.0.0.1:0" } },
          links: [{ between: ["x", "y"] }]
        })
      )
      expect(problems).toEqual([
        { path: "links", message: "sites are not all connected; these groups cannot reach each other: {x, y}, {z}" }
      ])
      // one site needs no links
      yield* Loader.validate({ ...base, sites: { x: base.sites.x }, links: [] })
    })
  )

  it.effect("modules: unregistered, and settings decoded with the module's own Schema", () =>
    Effect.gen(function* () {
      const input = withPatch({
        sites: {
          x: { region: "a", tcp: "127.0.0.1:0", http: "127.0.0.1:0", modules: { ping: { greeting: 42 }, roaming: {} } },
          y: { region: "b", tcp: "127.0.0.1:0", http: "127.0.0.1:0", modules: { ping: { greting: "hi" } } }
        }
      })
      // without a registry, modules are not checked
      yield* Loader.validate(input)
      const problems = yield* problemsOf(input, { modules: registry })
      expect(problems.map((p) => p.path)).toEqual([
        "sites.x.modules.ping.greeting",
        "sites.x.modules.roaming",
        "sites.y.modules.ping.greting"
      ])
      expect(problems[1].message).toBe('module "roaming" is not registered (registered: files, ping)')
      expect(problems[0].message).toBe("Expected string | undefined, actual 42")
    })
  )

  it.effect("a topology with many problems reports all of them at once", () =>
    Effect.gen(function* () {
      const yaml = [
        "name: broken",
        "defaultRegion: east",
        "regions:",
        "  north: { cidrs: [10.0.0.0/8], countries: [CN] }",
        "  south: { cidrs: [10.2.0.0/16], countries: [CN] }",
        "sites:",
        "  n1: { region: north, tcp: 127.0.0.1:7101, http: 127.0.0.1:8101, modules: { chat: {} } }",
        "  s1: { region: mars, tcp: 127.0.0.1:7101, http: 127.0.0.1:8102 }",
        "  w1: { region: north, tcp: 127.0.0.1:7103, http: 127.0.0.1:8103 }",
        "links:",
        "  - { between: [n1, s9] }",
        "  - { between: [s1, s1] }"
      ].join("\n")
      const error = yield* Effect.flip(Loader.load(yaml, { modules: registry }))
      expect(error.problems.map((p) => p.path)).toEqual([
        "defaultRegion",
        "sites.s1.region",
        "regions.south.countries[0]",
        "regions.south.cidrs[0]",
        "links[0].between[1]",
        "links[1].between",
        "links",
        "sites.s1.tcp",
        "sites.n1.modules.chat"
      ])
      expect(error.message).toContain("invalid topology (9 problems)")
      expect(error.message).toContain("sites.s1.tcp: address 127.0.0.1:7101 is already used by sites.n1.tcp")
    })
  )

  it.effect("malformed addresses and unknown keys do not hide the semantic problems", () =>
    Effect.gen(function* () {
      const yaml = [
        "name: broken",
        "defaultRegion: east",
        "regions:",
        "  north: { cidrs: [10.0.0.0/8] }",
        "  south: { cidrs: [10.2.0.0/16] }",
        "sites:",
        "  n1: { region: north, tcp: 127.0.0.1:99999, http: 127.0.0.1:8101, tpc: typo }",
        "  s1: { region: mars, tcp: nohost, http: 127.0.0.1:8101 }",
        "links:",
        "  - { between: [n1, s9] }"
      ].join("\n")
      const error = yield* Effect.flip(Loader.load(yaml))
      expect(error.problems.map((p) => p.path)).toEqual([
        "sites.n1.tpc",
        "sites.n1.tcp",
        "sites.s1.tcp",
        "defaultRegion",
        "sites.s1.region",
        "regions.south.cidrs[0]",
        "links[0].between[1]",
        "links",
        "sites.s1.http"
      ])
      // The stand-in addresses of the malformed ones are never reported.
      expect(error.message).not.toContain("192.0.2.1")
      // Problems the checks could misread (a bad name) still stop at the structural ones.
      const named = yield* Effect.flip(Loader.load(yaml.replace("s1:", '"bad name":')))
      expect(named.problems.map((p) => p.path)).not.toContain("defaultRegion")
    })
  )
})

describe("Graph", () => {
  it.effect("DOT has one cluster per region, labelled nodes and edges", () =>
    Effect.gen(function* () {
      const topology = yield* exampleSites.link("n1", "s1").link("w1", "n1", { dial: "127.0.0.1:9000" }).build()
      const dot = Graph.toDot(topology)
      expect(dot.startsWith('graph "three-regions" {')).toBe(true)
      expect(dot).toContain('subgraph "cluster_north" {')
      expect(dot).toContain('label="north (default)";')
      expect(dot).toContain('subgraph "cluster_west" {')
      expect(dot).toContain('"n1" [label="n1\\ntcp 127.0.0.1:7101\\nhttp 127.0.0.1:8101"];')
      expect(dot).toContain('"n1" -- "s1";')
      expect(dot).toContain('"w1" -- "n1" [label="dial 127.0.0.1:9000"];')
      expect(dot.indexOf("cluster_north")).toBeLessThan(dot.indexOf("cluster_south"))
      expect(Graph.toDot(topology)).toBe(dot)
    })
  )

  it.effect("Mermaid has subgraphs and --- edges, with safe ids", () =>
    Effect.gen(function* () {
      const topology = yield* Builder.make("m")
        .region("eu.west")
        .defaultRegion("eu.west")
        .site("a-1", { region: "eu.west", tcp: "127.0.0.1:0", http: "127.0.0.1:0" })
        .site("b", { region: "eu.west", tcp: "127.0.0.1:0", http: "127.0.0.1:0" })
        .link("a-1", "b", { dial: "127.0.0.1:9000" })
        .build()
      const mermaid = Graph.toMermaid(topology)
      expect(mermaid.split("\n")[0]).toBe("flowchart LR")
      expect(mermaid).toContain('subgraph region_eu_2e_west["eu.west (default)"]')
      expect(mermaid).toContain('site_a_2d_1["a-1<br/>tcp 127.0.0.1:0<br/>http 127.0.0.1:0"]')
      expect(mermaid).toContain('site_a_2d_1 ---|"dial 127.0.0.1:9000"| site_b')
      expect(mermaid).toContain("  end")
      const example = Graph.toMermaid(yield* exampleBuilder.build())
      expect(example).toContain("site_n1 --- site_s1")
      expect(example).toContain("subgraph region_south")
    })
  )
})
