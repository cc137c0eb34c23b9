/**
 * Semantic checks of a structurally valid topology: references that point nowhere, addresses and
 * IP ranges claimed twice, sites that cannot reach each other, modules nobody registered. Every
 * check runs and every problem is reported, so one run is enough to fix a file.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import ipaddr from "ipaddr.js"
import type { Problem, Topology } from "./Topology.js"
import { formatPath, parseHostPort, problemsFromParseError, TopologyError } from "./Topology.js"

/**
 * What the checker needs to know about a module: its name and the Schema of its settings. A
 * kernel `Module` fits this shape.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModuleInfo {
  readonly name: string
  readonly settings: Schema.Schema.AnyNoContext
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CheckOptions {
  /**
   * The module registry. When given, every module a site names must be in it and its settings
   * must decode with that module's Schema. When absent, modules are not checked.
   */
  readonly modules?: ReadonlyArray<ModuleInfo> | undefined
}

const keys = <V>(record: { readonly [k: string]: V }): ReadonlyArray<string> => Object.keys(record).sort()
const quoteList = (names: ReadonlyArray<string>): string => (names.length === 0 ? "none" : names.join(", "))
const has = (record: object, key: string): boolean => Object.prototype.hasOwnProperty.call(record, key)

// -----------------------------------------------------------------------------
// references
// -----------------------------------------------------------------------------

const checkReferences = (topology: Topology, problems: Array<Problem>): void => {
  const regionNames = keys(topology.regions)
  if (!has(topology.regions, topology.defaultRegion)) {
    problems.push({
      path: "defaultRegion",
      message: `unknown region "${topology.defaultRegion}" (regions: ${quoteList(regionNames)})`
    })
  }
  for (const name of keys(topology.sites)) {
    const site = topology.sites[name]
    if (!has(topology.regions, site.region)) {
      problems.push({
        path: formatPath(["sites", name, "region"]),
        message: `unknown region "${site.region}" (regions: ${quoteList(regionNames)})`
      })
    }
  }
}

const checkLinks = (topology: Topology, problems: Array<Problem>): void => {
  const seen = new Map<string, number>()
  topology.links.forEach((link, i) => {
    const [a, b] = link.between
    let known = true
    link.between.forEach((site, j) => {
      if (!has(topology.sites, site)) {
        known = false
        problems.push({
          path: formatPath(["links", i, "between", j]),
          message: `unknown site "${site}" (sites: ${quoteList(keys(topology.sites))})`
        })
      }
    })
    if (a === b) {
      problems.push({ path: formatPath(["links", i, "between"]), message: `site "${a}" is linked to itself` })
      return
    }
    if (!known) return
    const key = a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`
    const first = seen.get(key)
    if (first !== undefined) {
      problems.push({
        path: formatPath(["links", i, "between"]),
        message: `duplicate link between "${a}" and "${b}" (already links[${first}])`
      })
    } else {
      seen.set(key, i)
    }
  })
}

/** The link graph must be connected: a site no chain of links reaches can never be routed to. */
const checkConnected = (topology: Topology, problems: Array<Problem>): void => {
  const sites = keys(topology.sites)
  if (sites.length < 2) return
  const parent = new Map<string, string>(sites.map((s) => [s, s]))
  const find = (s: string): string => {
    let root = s
    for (let up = parent.get(root); up !== undefined && up !== root; up = parent.get(root)) root = up
    parent.set(s, root)
    return root
  }
  for (const { between } of topology.links) {
    const [a, b] = between
    if (parent.has(a) && parent.has(b)) {
      const ra = find(a)
      const rb = find(b)
      if (ra !== rb) parent.set(ra < rb ? rb : ra, ra < rb ? ra : rb)
    }
  }
  const components = new Map<string, Array<string>>()
  for (const s of sites) {
    const root = find(s)
    const members = components.get(root)
    if (members) members.push(s)
    else components.set(root, [s])
  }
  if (components.size > 1) {
    const groups = [...components.values()].map((members) => `{${members.join(", ")}}`)
    problems.push({
      path: "links",
      message: `sites are not all connected; these groups cannot reach each other: ${groups.join(", ")}`
    })
  }
}

// -----------------------------------------------------------------------------
// addresses
// -----------------------------------------------------------------------------

/** One spelling per endpoint: IPv6 in RFC 5952 form, IPv4-mapped IPv6 as IPv4, hostnames lower case. */
const normalizeEndpoint = (text: string): { readonly key: string; readonly port: number } | undefined => {
  const parsed = parseHostPort(text)
  if (parsed === undefined) return undefined
  let host = parsed.host.toLowerCase()
  if (parsed.family !== "hostname") {
    try {
      const ip = ipaddr.parse(parsed.host)
      host =
        ip.kind() === "ipv6" && (ip as ipaddr.IPv6).isIPv4MappedAddress()
          ? (ip as ipaddr.IPv6).toIPv4Address().toString()
          : ip.kind() === "ipv6"
            ? `[${(ip as ipaddr.IPv6).toRFC5952String()}]`
            : ip.toString()
    } catch {
      // parseHostPort accepted it, so this is unreachable; keep the spelling as written
    }
  }
  return { key: `${host}:${parsed.port}`, port: parsed.port }
}

/**
 * Each address belongs to one site: a site's own tcp/http/carrier addresses belong to it, and a
 * link's `dial` belongs to the site being dialled (so dialling a site through its own carrier
 * address, or two links through one relay to the same site, is fine). An address claimed twice
 * is a problem, except port 0, which means "any free port" and is what tests use.
 */
const checkAddresses = (topology: Topology, problems: Array<Problem>): void => {
  const claims = new Map<string, { readonly owner: string; readonly path: string; readonly dial: boolean }>()
  const claim = (text: string, owner: string, path: string, dial: boolean): void => {
    const endpoint = normalizeEndpoint(text)
    if (endpoint === undefined || endpoint.port === 0) return
    const previous = claims.get(endpoint.key)
    if (previous === undefined) {
      claims.set(endpoint.key, { owner, path, dial })
      return
    }
    if ((dial || previous.dial) && previous.owner === owner) return
    problems.push({ path, message: `address ${text} is already used by ${previous.path}` })
  }
  for (const name of keys(topology.sites)) {
    const site = topology.sites[name]
    claim(site.tcp, name, formatPath(["sites", name, "tcp"]), false)
    claim(site.http, name, formatPath(["sites", name, "http"]), false)
    for (const carrier of keys(site.carriers)) {
      const c = site.carriers[carrier]
      claim(c.http, name, formatPath(["sites", name, "carriers", carrier, "http"]), false)
      if (c.tcp !== undefined) claim(c.tcp, name, formatPath(["sites", name, "carriers", carrier, "tcp"]), false)
    }
  }
  topology.links.forEach((link, i) => {
    if (link.dial !== undefined) claim(link.dial, link.between[1], formatPath(["links", i, "dial"]), true)
  })
}

// -----------------------------------------------------------------------------
// regions
// -----------------------------------------------------------------------------

interface Block {
  readonly text: string
  readonly path: string
  readonly region: string
  readonly range: [ipaddr.IPv4 | ipaddr.IPv6, number]
}

/**
 * Parses a CIDR strictly: IPv4 in dotted-quad form, no host bits set (`10.1.5.0/16` is almost
 * certainly a typo for `10.1.0.0/16`). IPv4-mapped IPv6 blocks become IPv4 blocks so that they
 * compare with the IPv4 ones.
 */
const parseCidr = (text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | string => {
  const slash = text.indexOf("/")
  if (slash < 0) return `invalid CIDR "${text}": expected address/prefix, e.g. 10.1.0.0/16`
  const addressText = text.slice(0, slash)
  let range: [ipaddr.IPv4 | ipaddr.IPv6, number]
  if (ipaddr.IPv4.isValidFourPartDecimal(addressText)) {
    if (!ipaddr.IPv4.isValidCIDR(text)) return `invalid CIDR "${text}": prefix must be 0-32`
    range = ipaddr.IPv4.parseCIDR(text)
  } else if (ipaddr.IPv6.isValid(addressText) && !addressText.includes("%")) {
    if (!ipaddr.IPv6.isValidCIDR(text)) return `invalid CIDR "${text}": prefix must be 0-128`
    range = ipaddr.IPv6.parseCIDR(text)
  } else {
    return `invalid CIDR "${text}": "${addressText}" is not an IPv4 or IPv6 address`
  }
  const [address, prefix] = range
  const network =
    address.kind() === "ipv4" ? ipaddr.IPv4.networkAddressFromCIDR(text) : ipaddr.IPv6.networkAddressFromCIDR(text)
  if (network.toNormalizedString() !== address.toNormalizedString()) {
    return `invalid CIDR "${text}": host bits are set (network address is ${network.toString()}/${prefix})`
  }
  if (address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress() && prefix >= 96) {
    return [(address as ipaddr.IPv6).toIPv4Address(), prefix - 96]
  }
  return range
}

const overlaps = (x: Block, y: Block): boolean => {
  const [a, aPrefix] = x.range
  const [b, bPrefix] = y.range
  if (a.kind() !== b.kind()) return false
  // Two blocks overlap iff one contains the other's network address.
  return a.kind() === "ipv4"
    ? (a as ipaddr.IPv4).match(b as ipaddr.IPv4, aPrefix) || (b as ipaddr.IPv4).match(a as ipaddr.IPv4, bPrefix)
    : (a as ipaddr.IPv6).match(b as ipaddr.IPv6, aPrefix) || (b as ipaddr.IPv6).match(a as ipaddr.IPv6, bPrefix)
}

const checkRegions = (topology: Topology, problems: Array<Problem>): void => {
  const blocks: Array<Block> = []
  const countries = new Map<string, string>()
  const continents = new Map<string, string>()
  for (const region of keys(topology.regions)) {
    const { cidrs, continents: regionContinents, countries: regionCountries } = topology.regions[region]
    cidrs.forEach((text, i) => {
      const path = formatPath(["regions", region, "cidrs", i])
      const parsed = parseCidr(text)
      if (typeof parsed === "string") problems.push({ path, message: parsed })
      else blocks.push({ text, path, region, range: parsed })
    })
    const claim = (seen: Map<string, string>, what: string, field: string) => (code: string, i: number) => {
      const owner = seen.get(code)
      if (owner === undefined) seen.set(code, region)
      else if (owner !== region) {
        problems.push({
          path: formatPath(["regions", region, field, i]),
          message: `${what} ${code} is also claimed by region "${owner}" (a lookup would be ambiguous)`
        })
      }
    }
    regionCountries.forEach(claim(countries, "country", "countries"))
    regionContinents.forEach(claim(continents, "continent", "continents"))
  }
  for (let i = 0; i < blocks.length; i++) {
    for (let j = 0; j < i; j++) {
      if (overlaps(blocks[i], blocks[j])) {
        problems.push({
          path: blocks[i].path,
          message: `${blocks[i].text} overlaps ${blocks[j].text} (${blocks[j].path}, region "${blocks[j].region}")`
        })
        break
      }
    }
  }
}

// -----------------------------------------------------------------------------
// modules
// -----------------------------------------------------------------------------

const checkModules = (topology: Topology, registry: ReadonlyArray<ModuleInfo>, problems: Array<Problem>): void => {
  const byName = new Map(registry.map((m) => [m.name, m]))
  const known = [...byName.keys()].sort()
  for (const site of keys(topology.sites)) {
    const modules = topology.sites[site].modules
    for (const name of keys(modules)) {
      const module = byName.get(name)
      if (module === undefined) {
        problems.push({
          path: formatPath(["sites", site, "modules", name]),
          message: `module "${name}" is not registered (registered: ${quoteList(known)})`
        })
        continue
      }
      const decoded = Schema.decodeUnknownEither(module.settings, { errors: "all", onExcessProperty: "error" })(
        modules[name]
      )
      if (decoded._tag === "Left") {
        problems.push(...problemsFromParseError(decoded.left, ["sites", site, "modules", name]))
      }
    }
  }
}

// -----------------------------------------------------------------------------
// entry points
// -----------------------------------------------------------------------------

/**
 * Every semantic problem of a decoded topology, in a stable order (empty when it is valid).
 *
 * @since 0.1.0
 * @category checks
 */
export const problems = (topology: Topology, options: CheckOptions = {}): ReadonlyArray<Problem> => {
  const out: Array<Problem> = []
  checkReferences(topology, out)
  checkRegions(topology, out)
  checkLinks(topology, out)
  checkConnected(topology, out)
  checkAddresses(topology, out)
  if (options.modules !== undefined) checkModules(topology, options.modules, out)
  return out
}

/**
 * Succeeds with the topology when {@link problems} finds nothing, fails with all of them
 * otherwise.
 *
 * @since 0.1.0
 * @category checks
 */
export const check = (topology: Topology, options: CheckOptions = {}): Effect.Effect<Topology, TopologyError> => {
  const found = problems(topology, options)
  return found.length === 0 ? Effect.succeed(topology) : Effect.fail(new TopologyError({ problems: found }))
}
