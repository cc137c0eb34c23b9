/**
 * The directory of the regional file service: which region serves a client, decided from the
 * client's IP address. The topology's CIDR ranges are tried first (the most specific prefix wins),
 * then the GeoIP country, then the GeoIP continent, then `topology.defaultRegion`. Every input has
 * an answer: an address that cannot be parsed goes to the default region rather than failing a
 * request.
 *
 * Also here, because they decide which address is looked up: strict IPv4/IPv6 and CIDR parsing
 * (IPv4-mapped IPv6 addresses are treated as the IPv4 address they carry, so that a dual-stack
 * socket's `::ffff:203.0.113.9` matches `203.0.113.0/24`) and {@link clientAddress}, which reads
 * `X-Forwarded-For` only behind trusted proxies.
 *
 * Pure: no Node APIs, so the simulator can run the same directory as a site.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { Topology } from "../topology/Topology.js"

// -----------------------------------------------------------------------------
// addresses
// -----------------------------------------------------------------------------

/**
 * A parsed IP address: 4 bytes for IPv4, 16 for IPv6, network order. An IPv4-mapped IPv6 address
 * (`::ffff:a.b.c.d`) is always represented as the IPv4 address. Treat `bytes` as read-only.
 *
 * @since 0.1.0
 * @category models
 */
export interface IpAddress {
  readonly family: "ipv4" | "ipv6"
  readonly bytes: Uint8Array
}

const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/
const ZONE = /^[0-9A-Za-z_.~-]+$/
const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/

/** Longer than any address with a zone id a sane peer sends; bounds the work on hostile input. */
const MAX_ADDRESS_LENGTH = 100

/**
 * Dotted quad only: no leading zeros (`010.0.0.1` is octal to some parsers and decimal to others,
 * so a proxy and this code could disagree on who the client is), no short forms like `127.1`.
 */
const parseIpv4Bytes = (text: string): Uint8Array | undefined => {
  const parts = text.split(".")
  if (parts.length !== 4) return undefined
  const bytes = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    if (!DECIMAL_OCTET.test(parts[i])) return undefined
    const n = Number(parts[i])
    if (n > 255) return undefined
    bytes[i] = n
  }
  return bytes
}

/** Hex groups (and a trailing dotted quad, if allowed) as 16-bit values; `undefined` if malformed. */
const parseGroups = (parts: ReadonlyArray<string>, allowIpv4Last: boolean): Array<number> | undefined => {
  const groups: Array<number> = []
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]
    if (HEX_GROUP.test(part)) {
      groups.push(parseInt(part, 16))
    } else if (allowIpv4Last && i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIpv4Bytes(part)
      if (v4 === undefined) return undefined
      groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3])
    } else {
      return undefined
    }
  }
  return groups
}

/** RFC 4291 text form, without zone id or brackets, as 16 raw bytes (no mapping applied). */
const parseIpv6Bytes = (text: string): Uint8Array | undefined => {
  const gap = text.indexOf("::")
  if (gap >= 0 && text.indexOf("::", gap + 1) >= 0) return undefined
  let groups: Array<number>
  if (gap < 0) {
    const all = parseGroups(text.split(":"), true)
    if (all === undefined || all.length !== 8) return undefined
    groups = all
  } else {
    const headText = text.slice(0, gap)
    const tailText = text.slice(gap + 2)
    const head = headText === "" ? [] : parseGroups(headText.split(":"), false)
    const tail = tailText === "" ? [] : parseGroups(tailText.split(":"), true)
    if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
  }
  const bytes = new Uint8Array(16)
  groups.forEach((group, i) => {
    bytes[2 * i] = group >> 8
    bytes[2 * i + 1] = group & 0xff
  })
  return bytes
}

const isIpv4Mapped = (bytes: Uint8Array): boolean => {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false
  return bytes[10] === 0xff && bytes[11] === 0xff
}

const fromIpv6Bytes = (bytes: Uint8Array): IpAddress =>
  isIpv4Mapped(bytes) ? { family: "ipv4", bytes: bytes.slice(12) } : { family: "ipv6", bytes }

/**
 * Parses an IP address: a dotted-quad IPv4 address, or an IPv6 address, bare or in brackets
 * (`[2001:db8::1]`, as in URLs and `Forwarded` headers). An IPv6 zone id (`fe80::1%eth0`, which
 * Node reports for link-local peers) is dropped: it names an interface of this host, not a
 * client. `::ffff:a.b.c.d` (and its hex form `::ffff:7f00:1`) becomes the IPv4 address. No
 * surrounding whitespace, no ports, no short or octal IPv4 forms.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseIp = (input: string): Option.Option<IpAddress> => {
  if (input.length > MAX_ADDRESS_LENGTH) return Option.none()
  let text = input
  const bracketed = text.startsWith("[")
  if (bracketed) {
    if (!text.endsWith("]")) return Option.none()
    text = text.slice(1, -1)
  }
  if (!text.includes(":")) {
    if (bracketed) return Option.none()
    const bytes = parseIpv4Bytes(text)
    return bytes === undefined ? Option.none() : Option.some({ family: "ipv4", bytes })
  }
  const percent = text.indexOf("%")
  if (percent >= 0) {
    if (!ZONE.test(text.slice(percent + 1))) return Option.none()
    text = text.slice(0, percent)
  }
  const bytes = parseIpv6Bytes(text)
  return bytes === undefined ? Option.none() : Option.some(fromIpv6Bytes(bytes))
}

const formatIpv4 = (bytes: Uint8Array, offset = 0): string =>
  `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`

/**
 * The canonical text of an address: dotted quad for IPv4, RFC 5952 for IPv6 (lower case, no
 * leading zeros, the longest run of zero groups as `::`).
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatIp = (ip: IpAddress): string => {
  const { bytes } = ip
  if (ip.family === "ipv4") return formatIpv4(bytes)
  if (isIpv4Mapped(bytes)) return `::ffff:${formatIpv4(bytes, 12)}`
  const groups: Array<number> = []
  for (let i = 0; i < 8; i++) groups.push((bytes[2 * i] << 8) | bytes[2 * i + 1])
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(":")
  return bestStart < 0 ? hex(0, 8) : `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`
}

/**
 * `parseIp` then `formatIp`: the canonical text of an address (`::FFFF:10.0.0.1` → `10.0.0.1`,
 * `[2001:DB8::0001]` → `2001:db8::1`), or none if it is not an address.
 *
 * @since 0.1.0
 * @category parsing
 */
export const normalizeIp = (input: string): Option.Option<string> => Option.map(parseIp(input), formatIp)

/**
 * Bit `i` of an address in the IPv4-mapped IPv6 space (IPv4 `a.b.c.d` is `::ffff:a.b.c.d`), so
 * that one 128-bit space holds both families and `::/0` covers IPv4 clients too.
 */
const bitAt = (ip: IpAddress, i: number): number => {
  if (ip.family === "ipv6") return (ip.bytes[i >> 3] >> (7 - (i & 7))) & 1
  if (i < 80) return 0
  if (i < 96) return 1
  const j = i - 96
  return (ip.bytes[j >> 3] >> (7 - (j & 7))) & 1
}

// -----------------------------------------------------------------------------
// CIDR ranges
// -----------------------------------------------------------------------------

/**
 * A CIDR range: a network address (host bits cleared) and a prefix length (0–32 for IPv4, 0–128
 * for IPv6).
 *
 * @since 0.1.0
 * @category models
 */
export interface Cidr {
  readonly address: IpAddress
  readonly prefix: number
}

/** The prefix length in the 128-bit mapped space. */
const prefix128 = (cidr: Cidr): number => (cidr.address.family === "ipv4" ? cidr.prefix + 96 : cidr.prefix)

const maskBytes = (bytes: Uint8Array, prefix: number): Uint8Array => {
  const out = bytes.slice()
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i))
    out[i] &= (0xff << (8 - keep)) & 0xff
  }
  return out
}

/**
 * Parses `address/prefix` (`10.1.0.0/16`, `2001:db8::/32`). Host bits are cleared (`10.1.5.0/16`
 * is `10.1.0.0/16`), as routers read it; `Check` reports them in a topology as a likely typo.
 * An IPv4-mapped block (`::ffff:10.0.0.0/104`) becomes the IPv4 block it covers. A bare address
 * is not a CIDR here: see {@link parseCidrOrIp} for lists that allow both.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseCidr = (input: string): Option.Option<Cidr> => {
  if (input.length > MAX_ADDRESS_LENGTH) return Option.none()
  const slash = input.indexOf("/")
  if (slash < 0) return Option.none()
  const addressText = input.slice(0, slash)
  const prefixText = input.slice(slash + 1)
  if (!PREFIX.test(prefixText)) return Option.none()
  const prefix = Number(prefixText)
  if (!addressText.includes(":")) {
    const bytes = parseIpv4Bytes(addressText)
    if (bytes === undefined || prefix > 32) return Option.none()
    return Option.some({ address: { family: "ipv4", bytes: maskBytes(bytes, prefix) }, prefix })
  }
  const bytes = parseIpv6Bytes(addressText)
  if (bytes === undefined || prefix > 128) return Option.none()
  const network = maskBytes(bytes, prefix)
  if (prefix >= 96 && isIpv4Mapped(network)) {
    return Option.some({ address: { family: "ipv4", bytes: network.slice(12) }, prefix: prefix - 96 })
  }
  return Option.some({ address: { family: "ipv6", bytes: network }, prefix })
}

/**
 * A CIDR, or a bare address as a single-address range (`/32`, `/128`): the form proxy lists
 * usually take (as in nginx's `set_real_ip_from`).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseCidrOrIp = (input: string): Option.Option<Cidr> =>
  input.includes("/")
    ? parseCidr(input)
    : Option.map(parseIp(input), (address) => ({ address, prefix: address.family === "ipv4" ? 32 : 128 }))

/**
 * `10.1.0.0/16`, `2001:db8::/32`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatCidr = (cidr: Cidr): string => `${formatIp(cidr.address)}/${cidr.prefix}`

/**
 * Whether `ip` lies in `cidr`. An IPv6 range that covers `::ffff:0:0/96` (such as `::/0`) also
 * contains IPv4 addresses.
 *
 * @since 0.1.0
 * @category matching
 */
export const cidrContains = (cidr: Cidr, ip: IpAddress): boolean => {
  const bits = prefix128(cidr)
  for (let i = 0; i < bits; i++) if (bitAt(cidr.address, i) !== bitAt(ip, i)) return false
  return true
}

/**
 * A set of CIDR ranges compiled into a binary trie, each with a value: a lookup walks at most 128
 * nodes whatever the number of ranges, and finds the most specific (longest prefix) range that
 * contains the address.
 *
 * @since 0.1.0
 * @category models
 */
export interface CidrTable<A> {
  readonly size: number
  readonly lookup: (ip: IpAddress) => Option.Option<CidrMatch<A>>
}

/**
 * The range that matched, and its value.
 *
 * @since 0.1.0
 * @category models
 */
export interface CidrMatch<A> {
  readonly cidr: Cidr
  readonly value: A
}

interface TrieNode<A> {
  zero: TrieNode<A> | undefined
  one: TrieNode<A> | undefined
  match: CidrMatch<A> | undefined
}

const emptyNode = <A>(): TrieNode<A> => ({ zero: undefined, one: undefined, match: undefined })

/** The IPv4 space, `::ffff:0:0/96`, as an address whose first 96 bits are those of the prefix. */
const IPV4_SPACE: IpAddress = { family: "ipv4", bytes: new Uint8Array(4) }

/**
 * Compiles ranges into a {@link CidrTable}. When the same range appears twice, the first value
 * is kept.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCidrTable = <A>(entries: Iterable<readonly [Cidr, A]>): CidrTable<A> => {
  const root = emptyNode<A>()
  let size = 0
  for (const [cidr, value] of entries) {
    let node = root
    const bits = prefix128(cidr)
    for (let i = 0; i < bits; i++) {
      if (bitAt(cidr.address, i) === 0) node = node.zero ??= emptyNode()
      else node = node.one ??= emptyNode()
    }
    if (node.match === undefined) {
      node.match = { cidr, value }
      size++
    }
  }
  // Every IPv4 lookup would walk the same 96 bits of `::ffff:`; walk them once here.
  let ipv4Start: TrieNode<A> | undefined = root
  let ipv4Best = root.match
  for (let i = 0; i < 96 && ipv4Start !== undefined; i++) {
    ipv4Start = bitAt(IPV4_SPACE, i) === 0 ? ipv4Start.zero : ipv4Start.one
    if (ipv4Start?.match !== undefined) ipv4Best = ipv4Start.match
  }
  const lookup = (ip: IpAddress): Option.Option<CidrMatch<A>> => {
    let node: TrieNode<A> | undefined
    let best: CidrMatch<A> | undefined
    let i: number
    if (ip.family === "ipv4") {
      node = ipv4Start
      best = ipv4Best
      i = 96
    } else {
      node = root
      best = root.match
      i = 0
    }
    for (; node !== undefined && i < 128; i++) {
      node = bitAt(ip, i) === 0 ? node.zero : node.one
      if (node?.match !== undefined) best = node.match
    }
    return Option.fromNullable(best)
  }
  return { size, lookup }
}

// -----------------------------------------------------------------------------
// GeoIP
// -----------------------------------------------------------------------------

/**
 * What a GeoIP database says about an address: ISO 3166 country code (`DE`) and continent code
 * (`EU`, as in {@link Topology}'s `Continent`). Either may be missing.
 *
 * @since 0.1.0
 * @category models
 */
export interface GeoInfo {
  readonly country?: string
  readonly continent?: string
}

/**
 * A GeoIP lookup. Synchronous and total: an address the database does not know, or cannot read,
 * is none, never an error, so that the directory always has an answer.
 *
 * @since 0.1.0
 * @category models
 */
export interface GeoIpService {
  readonly lookup: (ip: string) => Option.Option<GeoInfo>
}

const noGeoIp: GeoIpService = { lookup: () => Option.none() }

/**
 * The GeoIP database of a site, if it has one (MaxMind: `MaxMindGeo` in `@meridian/node`).
 * `GeoIp.none` is "no database configured": every lookup is none, so the directory uses CIDR
 * ranges and then the default region.
 *
 * @since 0.1.0
 * @category services
 */
export class GeoIp extends Context.Tag("@meridian/core/files/GeoIp")<GeoIp, GeoIpService>() {
  /** No database: knows nothing about any address. */
  static readonly none: GeoIpService = noGeoIp
}

/**
 * Opens the GeoIP database a site's `geoipDatabase` names. Reading files and MaxMind's format are
 * the host's: `@meridian/node` provides `MaxMindGeo.layerLoader`; {@link layerLoaderNone} is a
 * binary that cannot read them (a site that names a database then refuses to start, saying so).
 *
 * @since 0.1.0
 * @category services
 */
export class GeoIpLoader extends Context.Tag("@meridian/core/files/GeoIpLoader")<
  GeoIpLoader,
  { readonly load: (file: string) => Effect.Effect<GeoIpService, { readonly message: string }> }
>() {}

/**
 * A binary without GeoIP support.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLoaderNone: Layer.Layer<GeoIpLoader> = Layer.succeed(GeoIpLoader, {
  load: () => Effect.fail({ message: "this binary cannot read GeoIP databases (geoipDatabase is set)" })
})

/**
 * Provides {@link GeoIp} for a site without a GeoIP database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerGeoIpNone: Layer.Layer<GeoIp> = Layer.succeed(GeoIp, noGeoIp)

// -----------------------------------------------------------------------------
// directory
// -----------------------------------------------------------------------------

/**
 * Which step of the lookup decided the region.
 *
 * @since 0.1.0
 * @category models
 */
export type Rule = "cidr" | "country" | "continent" | "default"

/**
 * The answer for one client. `ip` is the canonical form of the address that was looked up
 * (`::ffff:10.1.2.3` → `10.1.2.3`), or the input unchanged when it was not an address.
 *
 * @since 0.1.0
 * @category models
 */
export interface Location {
  readonly ip: string
  readonly region: string
  readonly rule: Rule
}

/**
 * A CIDR entry of a region that is not a valid range, left out of the directory. `Check` rejects
 * such topologies, so this is only non-empty for a topology that skipped the checks.
 *
 * @since 0.1.0
 * @category models
 */
export interface SkippedCidr {
  readonly region: string
  readonly cidr: string
}

/**
 * A topology's IP → region map, compiled once.
 *
 * @since 0.1.0
 * @category models
 */
export interface Directory {
  readonly defaultRegion: string
  readonly skipped: ReadonlyArray<SkippedCidr>
  /** The region of `ip`: CIDR, then `geo`'s country, then its continent, then the default. */
  readonly locate: (ip: string, geo?: GeoIpService) => Location
}

/**
 * Compiles a topology's regions: CIDR ranges into one trie, countries and continents into maps.
 * When two regions claim the same range, country or continent (which `Check` rejects), the one
 * listed first wins.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (topology: Pick<Topology, "regions" | "defaultRegion">): Directory => {
  const ranges: Array<readonly [Cidr, string]> = []
  const skipped: Array<SkippedCidr> = []
  const countries = new Map<string, string>()
  const continents = new Map<string, string>()
  for (const [region, { cidrs, countries: regionCountries, continents: regionContinents }] of Object.entries(
    topology.regions
  )) {
    for (const text of cidrs) {
      const cidr = parseCidr(text)
      if (Option.isSome(cidr)) ranges.push([cidr.value, region])
      else skipped.push({ region, cidr: text })
    }
    for (const code of regionCountries) if (!countries.has(code)) countries.set(code, region)
    for (const code of regionContinents) if (!continents.has(code)) continents.set(code, region)
  }
  const table = makeCidrTable(ranges)
  const defaultRegion = topology.defaultRegion

  const locate = (input: string, geo: GeoIpService = noGeoIp): Location => {
    const parsed = parseIp(input)
    if (Option.isNone(parsed)) return { ip: input, region: defaultRegion, rule: "default" }
    const ip = formatIp(parsed.value)
    const range = table.lookup(parsed.value)
    if (Option.isSome(range)) return { ip, region: range.value.value, rule: "cidr" }
    const info = geo.lookup(ip)
    if (Option.isSome(info)) {
      const { continent, country } = info.value
      const byCountry = country === undefined ? undefined : countries.get(country.toUpperCase())
      if (byCountry !== undefined) return { ip, region: byCountry, rule: "country" }
      const byContinent = continent === undefined ? undefined : continents.get(continent.toUpperCase())
      if (byContinent !== undefined) return { ip, region: byContinent, rule: "continent" }
    }
    return { ip, region: defaultRegion, rule: "default" }
  }

  return { defaultRegion, skipped, locate }
}

/**
 * `directory.locate` with the {@link GeoIp} of the context.
 *
 * @since 0.1.0
 * @category lookups
 */
export const locate = (directory: Directory, ip: string): Effect.Effect<Location, never, GeoIp> =>
  Effect.map(GeoIp, (geo) => directory.locate(ip, geo))

// -----------------------------------------------------------------------------
// client address
// -----------------------------------------------------------------------------

/**
 * Compiled trusted-proxy ranges, for servers that resolve many requests against the same list.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProxyList {
  readonly _tag: "ProxyList"
  readonly contains: (ip: IpAddress) => boolean
  /** Entries that are neither an address nor a CIDR; they trust nothing. */
  readonly skipped: ReadonlyArray<string>
}

/**
 * Compiles a list of trusted proxies: CIDRs or bare addresses (`10.0.0.0/8`, `::1`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const proxyList = (entries: ReadonlyArray<string>): ProxyList => {
  const ranges: Array<readonly [Cidr, true]> = []
  const skipped: Array<string> = []
  for (const entry of entries) {
    const cidr = parseCidrOrIp(entry.trim())
    if (Option.isSome(cidr)) ranges.push([cidr.value, true])
    else skipped.push(entry)
  }
  const table = makeCidrTable(ranges)
  return { _tag: "ProxyList", contains: (ip) => Option.isSome(table.lookup(ip)), skipped }
}

/**
 * What a server knows about a request's origin. `forwardedFor` is the `X-Forwarded-For` header:
 * one value, or several (in the order received) if the header was repeated.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientAddressInput {
  readonly remoteAddress: string | undefined
  readonly forwardedFor?: string | ReadonlyArray<string> | undefined
  readonly trustedProxies?: ReadonlyArray<string> | ProxyList | undefined
}

/**
 * An `X-Forwarded-For` entry: an address, bracketed or bare, optionally with a port
 * (`203.0.113.9:51234`, `[2001:db8::1]:443`), which some load balancers append.
 */
const parseForwardedEntry = (entry: string): Option.Option<IpAddress> => {
  const withPort = /^(\[[^\]]*\]|[0-9.]+):([0-9]{1,5})$/.exec(entry)
  if (withPort === null) return parseIp(entry)
  return Number(withPort[2]) > 65535 ? Option.none() : parseIp(withPort[1])
}

/**
 * The client's address as a server should see it, canonical (`::ffff:` forms become IPv4).
 *
 * `X-Forwarded-For` is anyone's to write, so it is read only when the direct peer is a trusted
 * proxy, and then from the right: each proxy appends the address it received from, so the
 * rightmost entry not written by a trusted proxy is the first one nobody trusted could have
 * forged. The walk skips trusted proxies and stops at the first untrusted address (the client),
 * or at a malformed entry (keeping the last good address: what came before it is unverifiable),
 * or at the end of the header. This is nginx's `real_ip_header X-Forwarded-For` with
 * `real_ip_recursive on`. None when `remoteAddress` is missing or not an address.
 *
 * @since 0.1.0
 * @category client address
 */
export const clientAddress = (input: ClientAddressInput): Option.Option<string> => {
  if (input.remoteAddress === undefined) return Option.none()
  const peer = parseIp(input.remoteAddress)
  if (Option.isNone(peer)) return Option.none()
  let client = peer.value
  const { forwardedFor, trustedProxies } = input
  if (forwardedFor === undefined || trustedProxies === undefined) return Option.some(formatIp(client))
  const proxies = isProxyList(trustedProxies) ? trustedProxies : proxyList(trustedProxies)
  if (!proxies.contains(client)) return Option.some(formatIp(client))
  const header = typeof forwardedFor === "string" ? forwardedFor : forwardedFor.join(",")
  const entries = header.split(",")
  for (let i = entries.length - 1; i >= 0 && proxies.contains(client); i--) {
    const entry = entries[i].trim()
    if (entry === "") continue
    const next = parseForwardedEntry(entry)
    if (Option.isNone(next)) break
    client = next.value
  }
  return Option.some(formatIp(client))
}

const isProxyList = (proxies: ReadonlyArray<string> | ProxyList): proxies is ProxyList =>
  "_tag" in proxies && proxies._tag === "ProxyList"
