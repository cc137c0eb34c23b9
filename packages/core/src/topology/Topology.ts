/**
 * The whole deployment as one value: regions, sites, the modules each site runs, and the links
 * between sites. Files (YAML/JSON, see `Loader`) and the TypeScript `Builder` both decode through
 * the Schemas here, so both routes yield the same plain value.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import ipaddr from "ipaddr.js"
import { Name } from "../kernel/Address.js"

export { Name }

// -----------------------------------------------------------------------------
// problems and errors
// -----------------------------------------------------------------------------

/**
 * One thing wrong with a topology. `path` points into the document (`sites.n1.tcp`,
 * `links[2].between[1]`) so that a person can find it; `message` says what is wrong.
 *
 * @since 0.1.0
 * @category models
 */
export interface Problem {
  readonly path: string
  readonly message: string
}

/**
 * A topology was rejected. It carries every problem found, not only the first, so that one run of
 * `meridian topology check` is enough to fix a file.
 *
 * @since 0.1.0
 * @category errors
 */
export class TopologyError extends Data.TaggedError("TopologyError")<{ readonly problems: ReadonlyArray<Problem> }> {
  override get message(): string {
    const n = this.problems.length
    return `invalid topology (${n} problem${n === 1 ? "" : "s"}):\n${formatProblems(this.problems)}`
  }
}

/**
 * `<path>: <message>`, one problem per line: the form the CLI prints.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatProblems = (problems: ReadonlyArray<Problem>): string =>
  problems.map((p) => `${p.path}: ${p.message}`).join("\n")

const SIMPLE_SEGMENT = /^[A-Za-z0-9_-]+$/

/**
 * Renders a path as `sites.n1.modules.ping`, `links[2].between[1]`; keys that are not plain words
 * are quoted (`sites["eu.west"]`) so that the path stays unambiguous.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string => {
  let out = ""
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`
    else if (typeof segment === "string" && SIMPLE_SEGMENT.test(segment)) out += out === "" ? segment : `.${segment}`
    else out += `[${JSON.stringify(String(segment))}]`
  }
  return out === "" ? "(root)" : out
}

/**
 * Turns a parse failure into problems, one per leaf issue, each with its path prefixed by
 * `prefix` (used to place a module's settings problems under `sites.<site>.modules.<module>`).
 *
 * @since 0.1.0
 * @category formatting
 */
export const problemsFromParseError = (
  error: ParseResult.ParseError,
  prefix: ReadonlyArray<PropertyKey> = []
): ReadonlyArray<Problem> => {
  // A union reports one issue per member at the same path ("Expected string", "Expected
  // undefined"); a person wants one line: "Expected string | undefined, actual 42".
  // An optional field's encoded side is `X | undefined`, so a bad element inside it also yields
  // "Expected undefined" for the field itself: noise when a deeper issue already explains it.
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const explainedDeeper = (path: ReadonlyArray<PropertyKey>) =>
    issues.some((other) => other.path.length > path.length && path.every((segment, i) => other.path[i] === segment))
  const byPath = new Map<string, Array<string>>()
  for (const issue of issues) {
    if (issue.message.startsWith("Expected undefined, actual") && explainedDeeper(issue.path)) continue
    const path = formatPath([...prefix, ...issue.path])
    const message =
      issue.message === BAD_NAME
        ? `is not a valid name (${NAME_RULE})`
        : issue.message.replace(/^Expected Struct \(Encoded side\),/, "Expected a mapping,")
    const messages = byPath.get(path)
    if (messages === undefined) byPath.set(path, [message])
    else if (!messages.includes(message)) messages.push(message)
  }
  return [...byPath].map(([path, messages]) => ({ path, message: mergeMessages(messages) }))
}

const BAD_NAME = "is unexpected, expected: Name"

const NAME_RULE = "letters, digits, _ . : -; starting with a letter or digit; at most 128"

const EXPECTED = /^Expected (.+), actual (.+)$/s

const mergeMessages = (messages: ReadonlyArray<string>): string => {
  if (messages.length === 1) return messages[0]
  const expected: Array<string> = []
  const actuals = new Set<string>()
  for (const message of messages) {
    const match = EXPECTED.exec(message)
    if (match === null) return messages.join("; ")
    expected.push(match[1])
    actuals.add(match[2])
  }
  if (actuals.size === 1) return `Expected ${expected.join(" | ")}, actual ${[...actuals][0]}`
  return messages.join("; ")
}

// -----------------------------------------------------------------------------
// addresses
// -----------------------------------------------------------------------------

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
const PORT = /^[0-9]{1,5}$/

/**
 * A parsed `host:port`. `host` has no brackets (an IPv6 literal is bare here).
 *
 * @since 0.1.0
 * @category models
 */
export interface HostAndPort {
  readonly host: string
  readonly port: number
  readonly family: "ipv4" | "ipv6" | "hostname"
}

/**
 * Parses `host:port` where host is an IPv4 address, a bracketed IPv6 address (`[::1]:7101`) or a
 * hostname, and port is 0–65535 (0: "any free port", used by tests). `undefined` when malformed.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseHostPort = (text: string): HostAndPort | undefined => {
  let host: string
  let portText: string
  let family: HostAndPort["family"]
  if (text.startsWith("[")) {
    const close = text.indexOf("]:")
    if (close < 0) return undefined
    host = text.slice(1, close)
    portText = text.slice(close + 2)
    if (!ipaddr.IPv6.isValid(host)) return undefined
    family = "ipv6"
  } else {
    const colon = text.lastIndexOf(":")
    if (colon <= 0) return undefined
    host = text.slice(0, colon)
    portText = text.slice(colon + 1)
    if (/^[0-9.]+$/.test(host)) {
      if (!ipaddr.IPv4.isValidFourPartDecimal(host)) return undefined
      family = "ipv4"
    } else if (HOSTNAME.test(host)) {
      family = "hostname"
    } else {
      return undefined
    }
  }
  if (!PORT.test(portText)) return undefined
  const port = Number(portText)
  if (port > 65535) return undefined
  return { host, port, family }
}

/**
 * `host:port` (IPv4, `[IPv6]` or hostname; port 0–65535). Kept a plain string so that a topology
 * reads the way it was written.
 *
 * @since 0.1.0
 * @category schemas
 */
export const HostPort = Schema.String.pipe(
  Schema.filter((s) => parseHostPort(s) !== undefined, {
    identifier: "HostPort",
    description: "host:port (IPv4, [IPv6] or hostname; port 0-65535)",
    message: (issue) =>
      `${HOST_PORT_EXPECTED} (IPv4, [IPv6] or hostname; port 0-65535), got ${JSON.stringify(issue.actual)}`
  })
)

// -----------------------------------------------------------------------------
// schemas
// -----------------------------------------------------------------------------

/**
 * ISO 3166-1 alpha-2 country code, upper case (`CN`, `DE`), as GeoIP databases report it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CountryCode = Schema.String.pipe(
  Schema.pattern(/^[A-Z]{2}$/, {
    identifier: "CountryCode",
    message: (issue) => `expected an upper-case ISO 3166 country code like "DE", got ${JSON.stringify(issue.actual)}`
  })
)

/**
 * Continent codes as GeoIP databases report them.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Continent = Schema.Literal("AF", "AN", "AS", "EU", "NA", "OC", "SA")
export type Continent = typeof Continent.Type

const emptyArray = <S extends Schema.Schema.Any>(item: S) =>
  Schema.optionalWith(Schema.Array(item), { default: () => [] })

/**
 * A region: the IP ranges, countries and continents whose clients it serves. Lookup order (CIDR
 * first, then GeoIP country, then continent, then the default region) is the directory's job;
 * the topology only says who claims what.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Region = Schema.Struct({
  cidrs: emptyArray(Schema.String),
  countries: emptyArray(CountryCode),
  continents: emptyArray(Continent)
}).annotations({ identifier: "Region" })
export interface Region extends Schema.Schema.Type<typeof Region> {}

/**
 * Extra addresses under which a site is reachable on one carrier's network.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Carrier = Schema.Struct({
  http: HostPort,
  tcp: Schema.optionalWith(HostPort, { exact: true })
}).annotations({ identifier: "Carrier" })
export interface Carrier extends Schema.Schema.Type<typeof Carrier> {}

/**
 * A site: one node process. `tcp` is where peers dial it, `http` where clients and operators
 * reach it. `modules` maps a module name to its settings, left `unknown` here because each
 * module decodes its own settings with its own Schema (see `Check.check` with `modules`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Site = Schema.Struct({
  region: Name,
  tcp: HostPort,
  http: HostPort,
  carriers: Schema.optionalWith(Schema.Record({ key: Name, value: Carrier }), { default: () => ({}) }),
  modules: Schema.optionalWith(Schema.Record({ key: Name, value: Schema.Unknown }), { default: () => ({}) })
}).annotations({ identifier: "Site" })
export interface Site extends Schema.Schema.Type<typeof Site> {}

/**
 * An undirected link between two sites. The first site dials the second, at the second's `tcp`
 * unless `dial` names another address (a tunnel or relay).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Link = Schema.Struct({
  between: Schema.Tuple(Name, Name),
  dial: Schema.optionalWith(HostPort, { exact: true })
}).annotations({ identifier: "Link" })
export interface Link extends Schema.Schema.Type<typeof Link> {}

/**
 * The whole deployment.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Topology = Schema.Struct({
  name: Name,
  defaultRegion: Name,
  regions: Schema.Record({ key: Name, value: Region }),
  sites: Schema.Record({ key: Name, value: Site }),
  links: emptyArray(Link),
  /** Shared secret a site proves in its hello; may also come from the environment. */
  secret: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1)), { exact: true })
}).annotations({ identifier: "Topology" })

/**
 * A decoded topology: plain objects and arrays, optional collections filled with `{}`/`[]`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Topology extends Schema.Schema.Type<typeof Topology> {}

/**
 * What a file or the builder provides: the Schema's encoded side (collections optional).
 *
 * @since 0.1.0
 * @category models
 */
export type Input = Schema.Schema.Encoded<typeof Topology>

/** @since 0.1.0 */
export type RegionInput = Schema.Schema.Encoded<typeof Region>
/** @since 0.1.0 */
export type SiteInput = Schema.Schema.Encoded<typeof Site>
/** @since 0.1.0 */
export type CarrierInput = Schema.Schema.Encoded<typeof Carrier>

/**
 * Structural decoding with every issue reported, as an `Either` (see {@link decodeUnknown}).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeEither = Schema.decodeUnknownEither(Topology, { errors: "all", onExcessProperty: "error" })

const HOST_PORT_EXPECTED = "expected host:port"

/** A copy of plain arrays and objects (what a topology file reads into); anything else is shared. */
const copyPlain = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(copyPlain)
    : typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copyPlain(v)]))
      : value

/**
 * The input with what structural decoding refused set aside, so that the semantic checks can
 * still run and a person sees every problem at once: unknown keys dropped, malformed addresses
 * replaced by distinct documentation addresses (192.0.2.1, RFC 5737) that clash with nothing.
 * `undefined` when the input has other structural problems, which the checks could misread.
 *
 * @since 0.1.0
 * @category decoding
 */
export const salvage = (input: unknown, error: ParseResult.ParseError): unknown => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const explainedDeeper = (path: ReadonlyArray<PropertyKey>) =>
    issues.some((other) => other.path.length > path.length && path.every((segment, i) => other.path[i] === segment))
  const copy = copyPlain(input)
  let placeholders = 0
  for (const issue of issues) {
    if (issue.message.startsWith("Expected undefined, actual") && explainedDeeper(issue.path)) continue
    const parent = issue.path
      .slice(0, -1)
      .reduce<unknown>(
        (value, key) =>
          typeof value === "object" && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined,
        copy
      )
    const key = issue.path[issue.path.length - 1]
    if (typeof parent !== "object" || parent === null || key === undefined) return undefined
    // A key of a record with a bad name is a site or region the checks would then miss: not set aside.
    if (issue._tag === "Unexpected" && issue.message !== BAD_NAME) delete (parent as Record<PropertyKey, unknown>)[key]
    else if (issue.message.startsWith(HOST_PORT_EXPECTED))
      (parent as Record<PropertyKey, unknown>)[key] = `192.0.2.1:${++placeholders}`
    else return undefined
  }
  return copy
}

/**
 * Structural decoding only: shapes, names, addresses, codes, and no unknown keys (a typo such as
 * `tpc:` is reported rather than silently dropped). Every issue is reported. Semantic checks
 * (unknown sites, overlaps, connectivity…) are in `Check`; `Loader.load` and `Builder.build`
 * run both.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeUnknown = (input: unknown): Effect.Effect<Topology, TopologyError> => {
  const result = decodeEither(input)
  return result._tag === "Right"
    ? Effect.succeed(result.right)
    : Effect.fail(new TopologyError({ problems: problemsFromParseError(result.left) }))
}
