import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Directory from "../src/files/Directory.js"
import * as Loader from "../src/topology/Loader.js"

const normalize = (text: string) => Option.getOrUndefined(Directory.normalizeIp(text))
const cidr = (text: string) => Option.getOrThrow(Directory.parseCidr(text))
const ip = (text: string) => Option.getOrThrow(Directory.parseIp(text))

/** A GeoIP database of a few made-up entries. */
const fakeGeo = (entries: Record<string, Directory.GeoInfo>): Directory.GeoIpService => ({
  lookup: (address) => Option.fromNullable(entries[address])
})

const geo = fakeGeo({
  "192.0.2.1": { country: "JP", continent: "AS" },
  "192.0.2.2": { country: "KR", continent: "AS" },
  "192.0.2.3": { country: "ZA", continent: "AF" },
  "192.0.2.4": { country: "AQ", continent: "AN" },
  "192.0.2.5": { continent: "OC" },
  "192.0.2.6": { country: "de" },
  "2001:db8:3::1": { country: "DE", continent: "EU" }
})

/** The regions of `examples/three-regions.yaml`, plus nested and IPv6 ranges. */
const directory = Directory.make({
  defaultRegion: "north",
  regions: {
    north: { cidrs: ["10.1.0.0/16", "2001:db8:1::/48"], countries: ["CN", "JP"], continents: ["AS"] },
    south: { cidrs: ["10.2.0.0/16", "10.1.7.0/24"], countries: ["AU", "BR"], continents: ["OC", "SA"] },
    west: {
      cidrs: ["10.3.0.0/16", "10.1.7.128/25", "2001:db8::/32", "::ffff:172.16.0.0/108"],
      countries: ["DE", "US"],
      continents: ["EU", "NA", "AF"]
    }
  }
})

describe("parseIp", () => {
  it("parses dotted-quad IPv4 strictly", () => {
    expect(normalize("203.0.113.9")).toBe("203.0.113.9")
    expect(normalize("0.0.0.0")).toBe("0.0.0.0")
    expect(normalize("255.255.255.255")).toBe("255.255.255.255")
    for (const bad of ["256.0.0.1", "1.2.3", "1.2.3.4.5", "127.1", "010.0.0.1", "1.2.3.-4", "0x7f.0.0.1", "1..2.3"]) {
      expect(normalize(bad), bad).toBeUndefined()
    }
  })

  it("parses IPv6 and formats it per RFC 5952", () => {
    expect(normalize("2001:DB8:0:0:0:0:0:0001")).toBe("2001:db8::1")
    expect(normalize("2001:db8:0:1:0:0:0:1")).toBe("2001:db8:0:1::1")
    expect(normalize("2001:db8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1")
    expect(normalize("2001:db8:0:1:1:1:1:1")).toBe("2001:db8:0:1:1:1:1:1")
    expect(normalize("::")).toBe("::")
    expect(normalize("::1")).toBe("::1")
    expect(normalize("fe80::")).toBe("fe80::")
    expect(normalize("1:2:3:4:5:6:7::")).toBe("1:2:3:4:5:6:7:0")
    expect(normalize("64:ff9b::192.0.2.1")).toBe("64:ff9b::c000:201")
    for (const bad of [
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "12345::",
      "g::1",
      ":1::",
      "1::2:",
      "1.2.3.4::"
    ]) {
      expect(normalize(bad), bad).toBeUndefined()
    }
  })

  it("treats ::ffff: mapped addresses as the IPv4 address they carry", () => {
    expect(Directory.parseIp("::ffff:127.0.2.7")).toEqual(Option.some({ family: "ipv4", bytes: ip("127.0.2.7").bytes }))
    expect(normalize("::FFFF:10.1.2.3")).toBe("10.1.2.3")
    expect(normalize("::ffff:7f00:207")).toBe("127.0.2.7")
    expect(normalize("0:0:0:0:0:ffff:10.0.0.1")).toBe("10.0.0.1")
    expect(normalize("[::ffff:10.0.0.1]")).toBe("10.0.0.1")
    // Not mapped: IPv4-compatible (deprecated) and NAT64 stay IPv6.
    expect(normalize("::10.0.0.1")).toBe("::a00:1")
    expect(normalize("::ffff:1.2.3")).toBeUndefined()
  })

  it("accepts brackets, strips zone ids, and rejects everything else", () => {
    expect(normalize("[2001:db8::1]")).toBe("2001:db8::1")
    expect(normalize("fe80::1%eth0")).toBe("fe80::1")
    expect(normalize("[fe80::1%25en0]")).toBe("fe80::1")
    for (const bad of [
      "",
      " ",
      "localhost",
      "[1.2.3.4]",
      "[::1",
      "::1]",
      "1.2.3.4%eth0",
      "fe80::1%",
      "fe80::1%a b",
      " 1.2.3.4",
      "1.2.3.4 ",
      "1.2.3.4:80",
      "[::1]:80",
      "1".repeat(200),
      "\u0000",
      "١.٢.٣.٤"
    ]) {
      expect(Directory.parseIp(bad), JSON.stringify(bad)).toEqual(Option.none())
    }
  })
})

describe("CIDR", () => {
  it("parses both families, clears host bits, maps ::ffff: blocks to IPv4", () => {
    expect(Directory.formatCidr(cidr("10.1.0.0/16"))).toBe("10.1.0.0/16")
    expect(Directory.formatCidr(cidr("10.1.5.7/16"))).toBe("10.1.0.0/16")
    expect(Directory.formatCidr(cidr("0.0.0.0/0"))).toBe("0.0.0.0/0")
    expect(Directory.formatCidr(cidr("2001:DB8:1:2::/47"))).toBe("2001:db8::/47")
    expect(Directory.formatCidr(cidr("::ffff:10.0.0.0/104"))).toBe("10.0.0.0/8")
    expect(cidr("::ffff:10.0.0.0/104").address.family).toBe("ipv4")
    expect(Directory.formatCidr(cidr("::ffff:0:0/80"))).toBe("::/80")
    for (const bad of ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/08", "10.0.0.0/", "/8", "::/129", "x/8"]) {
      expect(Directory.parseCidr(bad), bad).toEqual(Option.none())
    }
    expect(Directory.parseCidrOrIp("10.0.0.1").pipe(Option.map(Directory.formatCidr))).toEqual(
      Option.some("10.0.0.1/32")
    )
    expect(Directory.parseCidrOrIp("::1").pipe(Option.map(Directory.formatCidr))).toEqual(Option.some("::1/128"))
  })

  it("matches IPv4, IPv6 and mapped addresses", () => {
    expect(Directory.cidrContains(cidr("10.1.0.0/16"), ip("10.1.255.255"))).toBe(true)
    expect(Directory.cidrContains(cidr("10.1.0.0/16"), ip("10.2.0.0"))).toBe(false)
    expect(Directory.cidrContains(cidr("10.1.0.0/16"), ip("::ffff:10.1.2.3"))).toBe(true)
    expect(Directory.cidrContains(cidr("::ffff:10.0.0.0/104"), ip("10.200.0.1"))).toBe(true)
    expect(Directory.cidrContains(cidr("2001:db8::/32"), ip("2001:db8:ffff::1"))).toBe(true)
    expect(Directory.cidrContains(cidr("2001:db8::/32"), ip("2001:db9::1"))).toBe(false)
    expect(Directory.cidrContains(cidr("0.0.0.0/0"), ip("8.8.8.8"))).toBe(true)
    expect(Directory.cidrContains(cidr("0.0.0.0/0"), ip("::1"))).toBe(false)
    // An IPv6 range covering ::ffff:0:0/96 covers IPv4 addresses too.
    expect(Directory.cidrContains(cidr("::/0"), ip("8.8.8.8"))).toBe(true)
    expect(Directory.cidrContains(cidr("10.0.0.1/32"), ip("10.0.0.1"))).toBe(true)
    expect(Directory.cidrContains(cidr("10.0.0.1/32"), ip("10.0.0.2"))).toBe(false)
  })

  it("a table finds the most specific range, whatever the insertion order", () => {
    const entries: Array<readonly [Directory.Cidr, string]> = [
      [cidr("10.0.0.0/8"), "/8"],
      [cidr("10.1.0.0/16"), "/16"],
      [cidr("10.1.2.0/24"), "/24"],
      [cidr("10.1.2.3/32"), "/32"],
      [cidr("::/0"), "any"],
      [cidr("2001:db8::/32"), "doc"],
      [cidr("2001:db8:1::/48"), "doc1"]
    ]
    for (const order of [entries, [...entries].reverse()]) {
      const table = Directory.makeCidrTable(order)
      const at = (text: string) => Option.getOrUndefined(Option.map(table.lookup(ip(text)), (m) => m.value))
      expect(table.size).toBe(7)
      expect(at("10.1.2.3")).toBe("/32")
      expect(at("10.1.2.4")).toBe("/24")
      expect(at("10.1.3.4")).toBe("/16")
      expect(at("10.2.3.4")).toBe("/8")
      expect(at("11.0.0.1")).toBe("any")
      expect(at("2001:db8:1::1")).toBe("doc1")
      expect(at("2001:db8:2::1")).toBe("doc")
      expect(at("2001:db9::1")).toBe("any")
    }
    const v4only = Directory.makeCidrTable([[cidr("10.0.0.0/8"), 1] as const])
    expect(v4only.lookup(ip("11.0.0.1"))).toEqual(Option.none())
    expect(v4only.lookup(ip("::1"))).toEqual(Option.none())
    expect(Directory.makeCidrTable([]).lookup(ip("10.0.0.1"))).toEqual(Option.none())
  })
})

describe("Directory.locate", () => {
  it("uses the topology's ranges first, most specific prefix winning", () => {
    expect(directory.locate("10.1.2.3", geo)).toEqual({ ip: "10.1.2.3", region: "north", rule: "cidr" })
    expect(directory.locate("10.1.7.1", geo)).toEqual({ ip: "10.1.7.1", region: "south", rule: "cidr" })
    expect(directory.locate("10.1.7.200", geo)).toEqual({ ip: "10.1.7.200", region: "west", rule: "cidr" })
    expect(directory.locate("10.2.0.1")).toMatchObject({ region: "south", rule: "cidr" })
    expect(directory.locate("2001:db8:1::5")).toEqual({ ip: "2001:db8:1::5", region: "north", rule: "cidr" })
    expect(directory.locate("2001:db8:2::5")).toMatchObject({ region: "west", rule: "cidr" })
    expect(directory.locate("172.16.3.4")).toMatchObject({ region: "west", rule: "cidr" })
  })

  it("normalizes ::ffff: and bracketed forms before matching", () => {
    expect(directory.locate("::ffff:10.2.3.4")).toEqual({ ip: "10.2.3.4", region: "south", rule: "cidr" })
    expect(directory.locate("::ffff:a03:405")).toEqual({ ip: "10.3.4.5", region: "west", rule: "cidr" })
    expect(directory.locate("[2001:DB8:1::5]")).toEqual({ ip: "2001:db8:1::5", region: "north", rule: "cidr" })
  })

  it("a range beats GeoIP", () => {
    const everywhereJapan: Directory.GeoIpService = { lookup: () => Option.some({ country: "JP", continent: "AS" }) }
    expect(directory.locate("10.3.0.1", everywhereJapan)).toMatchObject({ region: "west", rule: "cidr" })
    expect(directory.locate("8.8.8.8", everywhereJapan)).toMatchObject({ region: "north", rule: "country" })
  })

  it("falls back to the GeoIP country, then the continent, then the default region", () => {
    expect(directory.locate("192.0.2.1", geo)).toEqual({ ip: "192.0.2.1", region: "north", rule: "country" })
    expect(directory.locate("2001:db8:3::1", Directory.GeoIp.none)).toMatchObject({ region: "west", rule: "cidr" })
    // KR is no region's country, but Asia is north's continent.
    expect(directory.locate("192.0.2.2", geo)).toEqual({ ip: "192.0.2.2", region: "north", rule: "continent" })
    expect(directory.locate("192.0.2.3", geo)).toEqual({ ip: "192.0.2.3", region: "west", rule: "continent" })
    expect(directory.locate("192.0.2.5", geo)).toEqual({ ip: "192.0.2.5", region: "south", rule: "continent" })
    expect(directory.locate("192.0.2.6", geo)).toEqual({ ip: "192.0.2.6", region: "west", rule: "country" })
    // Antarctica is nobody's; 8.8.8.8 is not in the database.
    expect(directory.locate("192.0.2.4", geo)).toEqual({ ip: "192.0.2.4", region: "north", rule: "default" })
    expect(directory.locate("8.8.8.8", geo)).toEqual({ ip: "8.8.8.8", region: "north", rule: "default" })
    expect(directory.locate("192.0.2.1")).toEqual({ ip: "192.0.2.1", region: "north", rule: "default" })
    expect(directory.locate("192.0.2.3", Directory.GeoIp.none)).toMatchObject({ region: "north", rule: "default" })
  })

  it("looks GeoIP up by the canonical address", () => {
    const seen: Array<string> = []
    const spy: Directory.GeoIpService = {
      lookup: (address) => {
        seen.push(address)
        return Option.none()
      }
    }
    directory.locate("::FFFF:192.0.2.1", spy)
    directory.locate("[2001:0DB9:0003::0001]", spy)
    directory.locate("10.1.2.3", spy)
    directory.locate("nonsense", spy)
    expect(seen).toEqual(["192.0.2.1", "2001:db9:3::1"])
  })

  it("answers garbage with the default region, never a crash", () => {
    for (const bad of [
      "",
      "nonsense",
      "999.1.1.1",
      "::ffff:999.0.0.1",
      "10.1.2.3:80",
      "[10.1.2.3]",
      "1.2.3.4%x",
      "\n"
    ]) {
      expect(directory.locate(bad, geo), JSON.stringify(bad)).toEqual({ ip: bad, region: "north", rule: "default" })
    }
  })

  it("leaves out invalid ranges and reports them", () => {
    const d = Directory.make({
      defaultRegion: "a",
      regions: {
        a: { cidrs: ["10.0.0.0/33", "10.0.0.0/8"], countries: [], continents: [] },
        b: { cidrs: ["bogus", "10.0.0.0/8", "10.9.0.0/16"], countries: [], continents: [] }
      }
    })
    expect(d.skipped).toEqual([
      { region: "a", cidr: "10.0.0.0/33" },
      { region: "b", cidr: "bogus" }
    ])
    // The same range claimed twice (which Check rejects): the first region listed keeps it.
    expect(d.locate("10.1.0.1")).toMatchObject({ region: "a", rule: "cidr" })
    expect(d.locate("10.9.0.1")).toMatchObject({ region: "b", rule: "cidr" })
  })

  it("a region without ranges (only GeoIP claims) never matches by range", () => {
    const d = Directory.make({
      defaultRegion: "home",
      regions: {
        home: { cidrs: [], countries: [], continents: [] },
        away: { cidrs: [], countries: ["JP"], continents: [] }
      }
    })
    expect(d.locate("192.0.2.1", geo)).toEqual({ ip: "192.0.2.1", region: "away", rule: "country" })
    expect(d.locate("10.0.0.1", geo)).toEqual({ ip: "10.0.0.1", region: "home", rule: "default" })
  })

  it.effect("locate with the GeoIp of the context", () =>
    Effect.gen(function* () {
      expect(yield* Directory.locate(directory, "192.0.2.1")).toMatchObject({ region: "north", rule: "country" })
      expect(yield* Directory.locate(directory, "192.0.2.3")).toMatchObject({ region: "west", rule: "continent" })
      const none = yield* Directory.locate(directory, "192.0.2.3").pipe(Effect.provide(Directory.layerGeoIpNone))
      expect(none).toMatchObject({ region: "north", rule: "default" })
    }).pipe(Effect.provide(Layer.succeed(Directory.GeoIp, geo)))
  )

  it.effect("the shipped example topology", () =>
    Effect.gen(function* () {
      const path = fileURLToPath(new URL("../../../examples/three-regions.yaml", import.meta.url))
      const example = Directory.make(yield* Loader.parse(readFileSync(path, "utf8")))
      expect(example.skipped).toEqual([])
      expect(example.defaultRegion).toBe("north")
      expect(example.locate("10.2.200.1")).toMatchObject({ region: "south", rule: "cidr" })
      expect(example.locate("10.3.0.9")).toMatchObject({ region: "west", rule: "cidr" })
      expect(example.locate("2001:db8:3::1", geo)).toMatchObject({ region: "west", rule: "country" })
      expect(example.locate("192.0.2.5", geo)).toMatchObject({ region: "south", rule: "continent" })
      expect(example.locate("127.0.0.1", geo)).toMatchObject({ region: "north", rule: "default" })
    })
  )
})

describe("clientAddress", () => {
  const trustedProxies = ["10.0.0.0/8", "::1", "fd00::/8"]

  it("without a forwarded header or trusted proxies, is the peer", () => {
    expect(Directory.clientAddress({ remoteAddress: "203.0.113.9" })).toEqual(Option.some("203.0.113.9"))
    expect(Directory.clientAddress({ remoteAddress: "::ffff:203.0.113.9" })).toEqual(Option.some("203.0.113.9"))
    expect(Directory.clientAddress({ remoteAddress: "10.0.0.1", forwardedFor: "198.51.100.1" })).toEqual(
      Option.some("10.0.0.1")
    )
    expect(Directory.clientAddress({ remoteAddress: "10.0.0.1", trustedProxies })).toEqual(Option.some("10.0.0.1"))
  })

  it("ignores the header when the peer is not a trusted proxy (it is anyone's to write)", () => {
    expect(Directory.clientAddress({ remoteAddress: "203.0.113.9", forwardedFor: "10.1.2.3", trustedProxies })).toEqual(
      Option.some("203.0.113.9")
    )
    expect(
      Directory.clientAddress({ remoteAddress: "::ffff:203.0.113.9", forwardedFor: "10.1.2.3", trustedProxies: [] })
    ).toEqual(Option.some("203.0.113.9"))
  })

  it("behind trusted proxies, walks the header from the right past them", () => {
    const at = (remoteAddress: string, forwardedFor: string | ReadonlyArray<string>) =>
      Option.getOrUndefined(Directory.clientAddress({ remoteAddress, forwardedFor, trustedProxies }))
    expect(at("10.0.0.1", "198.51.100.7")).toBe("198.51.100.7")
    expect(at("::ffff:10.0.0.1", "::ffff:198.51.100.7")).toBe("198.51.100.7")
    // The client forged "1.1.1.1"; the rightmost untrusted entry is the real one.
    expect(at("10.0.0.1", "1.1.1.1, 198.51.100.7, 10.0.0.2, 10.0.0.3")).toBe("198.51.100.7")
    expect(at("::1", "2001:db8::9,fd00::1")).toBe("2001:db8::9")
    expect(at("10.0.0.1", ["1.1.1.1, 198.51.100.7", "10.0.0.2"])).toBe("198.51.100.7")
    expect(at("10.0.0.1", ["1.1.1.1", "10.0.0.2"])).toBe("1.1.1.1")
    // Every hop trusted: the leftmost is as far as anyone can see.
    expect(at("10.0.0.1", "10.0.0.5, 10.0.0.2")).toBe("10.0.0.5")
    // Empty entries are separators, not addresses; ports and brackets are allowed.
    expect(at("10.0.0.1", " 198.51.100.7 ,, 10.0.0.2 , ")).toBe("198.51.100.7")
    expect(at("10.0.0.1", "198.51.100.7:51234")).toBe("198.51.100.7")
    expect(at("10.0.0.1", "[2001:db8::9]:443, 10.0.0.2")).toBe("2001:db8::9")
    expect(at("10.0.0.1", "[2001:db8::9]")).toBe("2001:db8::9")
    expect(at("10.0.0.1", "")).toBe("10.0.0.1")
  })

  it("stops at a malformed entry, keeping the last good address", () => {
    const at = (forwardedFor: string) =>
      Option.getOrUndefined(Directory.clientAddress({ remoteAddress: "10.0.0.1", forwardedFor, trustedProxies }))
    expect(at("unknown")).toBe("10.0.0.1")
    expect(at("198.51.100.7, garbage")).toBe("10.0.0.1")
    expect(at("198.51.100.7, garbage, 10.0.0.2")).toBe("10.0.0.2")
    expect(at("garbage, 198.51.100.7")).toBe("198.51.100.7")
    expect(at("198.51.100.7, 10.0.0.2 10.0.0.3")).toBe("10.0.0.1")
    expect(at("[2001:db8::9]:port")).toBe("10.0.0.1")
    expect(at("[2001:db8::9")).toBe("10.0.0.1")
    expect(at("1.2.3.4:99999999")).toBe("10.0.0.1")
    expect(at("1.2.3.4:65536")).toBe("10.0.0.1")
    expect(at("[::1]:")).toBe("10.0.0.1")
  })

  it("accepts a compiled proxy list, ignoring entries that are not ranges", () => {
    const proxies = Directory.proxyList(["10.0.0.0/8", "not-a-proxy", " 192.0.2.10 "])
    expect(proxies.skipped).toEqual(["not-a-proxy"])
    const from = (remoteAddress: string) =>
      Directory.clientAddress({ remoteAddress, forwardedFor: "198.51.100.7", trustedProxies: proxies })
    expect(from("10.9.9.9")).toEqual(Option.some("198.51.100.7"))
    expect(from("192.0.2.10")).toEqual(Option.some("198.51.100.7"))
    expect(from("192.0.2.11")).toEqual(Option.some("192.0.2.11"))
  })

  it("is none when the peer address is missing or not an address", () => {
    expect(Directory.clientAddress({ remoteAddress: undefined, forwardedFor: "1.2.3.4", trustedProxies })).toEqual(
      Option.none()
    )
    expect(Directory.clientAddress({ remoteAddress: "garbage", forwardedFor: "1.2.3.4", trustedProxies })).toEqual(
      Option.none()
    )
  })
})
