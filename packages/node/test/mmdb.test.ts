/**
 * The test MaxMind DB writer and the GeoIP fixture, read back with `maxmind` (what the site uses),
 * so a fixture that reads wrong fails here rather than as a puzzling region in a site test.
 */
import { describe, expect, it } from "@effect/vitest"
import { type CountryResponse, Reader } from "maxmind"
import { Buffer } from "node:buffer"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as GeoTestCountry from "./support/geoTestCountry.js"
import * as Mmdb from "./support/mmdb.js"

const marker = Buffer.from("abcdef4d61784d696e642e636f6d", "hex")

const read = (bytes: Uint8Array) => new Reader<CountryResponse>(Buffer.from(bytes))

/** The record a fixture row should answer. */
const expected = (row: GeoTestCountry.GeoTestRow) => {
  const country = { iso_code: row.country.isoCode, names: { en: row.country.name }, geoname_id: row.country.geonameId }
  return {
    country,
    registered_country: country,
    continent: { code: row.continent.code, names: { en: row.continent.name } }
  }
}

const ipv4 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".")
const ipv4Number = (text: string) => text.split(".").reduce((acc, part) => acc * 256 + Number(part), 0)
/** An IPv4 address as two IPv6 groups (`7f00:207`). */
const groups = (n: number) => `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`

/** Throws `f`'s MmdbWriteError, or fails the test. */
const writeError = (f: () => unknown): Mmdb.MmdbWriteError => {
  try {
    f()
  } catch (error) {
    if (error instanceof Mmdb.MmdbWriteError) return error
    throw error
  }
  throw new Error("expected an MmdbWriteError")
}

describe("the GeoIP test fixture", () => {
  const reader = read(GeoTestCountry.bytes())

  it("answers every row at its first, middle and last address", () => {
    for (const row of GeoTestCountry.rows) {
      const [address, length] = row.network.split("/")
      if (row.network.includes(":")) {
        const base = address!.replace(/::$/, "")
        for (const ip of [`${base}::`, `${base}:8000::1`, `${base}:ffff:ffff:ffff:ffff:ffff`]) {
          expect(reader.getWithPrefixLength(ip), ip).toEqual([expected(row), Number(length)])
        }
      } else {
        const first = ipv4Number(address!)
        for (const n of [first, first + 128, first + 255]) {
          expect(reader.getWithPrefixLength(ipv4(n)), ipv4(n)).toEqual([expected(row), Number(length)])
        }
      }
    }
  })

  it("answers the IPv4 rows for their IPv4-mapped, 6to4 and Teredo forms", () => {
    for (const row of GeoTestCountry.rows.filter((r) => !r.network.includes(":"))) {
      const n = ipv4Number(row.network.split("/")[0]!) + 7
      for (const ip of [`::ffff:${ipv4(n)}`, `::ffff:${groups(n)}`, `2002:${groups(n)}::1`, `2001:0:${groups(n)}::`]) {
        expect(reader.get(ip), ip).toEqual(expected(row))
      }
    }
  })

  it("knows nothing else", () => {
    for (const ip of ["8.8.8.8", "127.0.0.1", "127.0.5.1", "0.0.0.0", "255.255.255.255", "::1", "2001:db8:2::1"]) {
      expect(reader.get(ip), ip).toBeNull()
    }
    for (const ip of ["::ffff:8.8.8.8", "2002:808:808::", "2001:db8::1", "2001:db8:4::", "ffff::1"]) {
      expect(reader.get(ip), ip).toBeNull()
    }
  })

  it("says what it is in its metadata", () => {
    expect(reader.metadata).toMatchObject({
      binaryFormatMajorVersion: 2,
      binaryFormatMinorVersion: 0,
      databaseType: "GeoLite2-Country",
      description: { en: GeoTestCountry.description },
      ipVersion: 6,
      languages: ["en"],
      recordSize: 24
    })
    expect(reader.metadata.buildEpoch).toEqual(new Date(GeoTestCountry.buildEpoch * 1000))
    // The tree MaxMind's writer makes of these networks: no node more (nor fewer).
    expect(reader.metadata.nodeCount).toBe(238)
  })

  it("is the same bytes every time, and writeTo writes them", () => {
    const dir = mkdtempSync(join(tmpdir(), "meridian-mmdb-"))
    try {
      const file = GeoTestCountry.writeTo(dir)
      expect(file).toBe(join(dir, GeoTestCountry.fileName))
      expect(new Uint8Array(readFileSync(file))).toEqual(GeoTestCountry.bytes())
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("the MaxMind DB writer", () => {
  const networks = (writer: Mmdb.MmdbWriter) => {
    writer.insert("10.0.0.0/8", { name: "ten" })
    writer.insert("10.1.0.0/16", { name: "ten-one" })
    writer.insert("192.0.2.128/25", { name: "doc" })
  }
  const lookups = (reader: Reader<CountryResponse>) => {
    expect(reader.getWithPrefixLength("10.1.2.3")).toEqual([{ name: "ten-one" }, 16])
    expect(reader.getWithPrefixLength("10.0.255.255")).toEqual([{ name: "ten" }, 16])
    expect(reader.getWithPrefixLength("10.2.0.0")).toEqual([{ name: "ten" }, 15])
    expect(reader.get("10.255.255.255")).toEqual({ name: "ten" })
    expect(reader.get("192.0.2.200")).toEqual({ name: "doc" })
    expect(reader.get("192.0.2.127")).toBeNull()
    expect(reader.get("11.0.0.0")).toBeNull()
  }

  it("writes 24-, 28- and 32-bit records, IPv6 and IPv4 trees", () => {
    for (const recordSize of [24, 28, 32] as const) {
      for (const ipVersion of [4, 6] as const) {
        const writer = Mmdb.make({ databaseType: "Test", ipVersion, recordSize, buildEpoch: 0 })
        networks(writer)
        const reader = read(writer.toBytes())
        expect(reader.metadata, `${recordSize}/${ipVersion}`).toMatchObject({ recordSize, ipVersion })
        lookups(reader)
      }
    }
  })

  it("finds records past 2^24 bytes into the data with 28- and 32-bit records, not with 24", () => {
    // The IPv6 record comes after the pad in the data: its record value needs more than 24 bits, in
    // the 28-bit layout the high nibble a node keeps in its middle byte.
    const pad = "p".repeat(2 ** 24)
    for (const recordSize of [28, 32] as const) {
      const writer = Mmdb.make({ databaseType: "Test", recordSize, buildEpoch: 0 })
      writer.insert("10.0.0.0/8", { pad })
      writer.insert("10.0.0.0/9", { name: "first half" })
      writer.insert("2001:db8::/32", { name: "documentation" })
      const reader = read(writer.toBytes())
      expect(reader.get("10.200.0.0")).toEqual({ pad })
      expect(reader.get("10.1.0.0")).toEqual({ name: "first half" })
      expect(reader.get("2001:db8::1")).toEqual({ name: "documentation" })
    }
    const small = Mmdb.make({ databaseType: "Test", recordSize: 24, buildEpoch: 0 })
    small.insert("10.0.0.0/8", { pad })
    expect(writeError(() => small.toBytes()).message).toContain("do not fit in 24-bit records")
  })

  it("writes every value type it offers, at every size class", () => {
    const value = {
      empty: {},
      none: [],
      flags: [true, false],
      small: Mmdb.uint16(65535),
      zero: Mmdb.uint32(0),
      big: Mmdb.uint32(4294967295),
      huge: Mmdb.uint64(18446744073709551615n),
      sizes: ["", "a".repeat(28), "b".repeat(29), "c".repeat(284), "d".repeat(285), "e".repeat(70000)],
      unicode: "Zürich, 東京",
      nested: { list: [Mmdb.uint16(1), "two", { three: Mmdb.uint32(3) }] },
      many: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, `v${i}`]))
    }
    const writer = Mmdb.make({ databaseType: "Test", buildEpoch: 0 })
    writer.insert("2001:db8::/32", value)
    expect(read(writer.toBytes()).get("2001:db8::1")).toEqual({
      ...value,
      small: 65535,
      zero: 0,
      big: 4294967295,
      huge: 18446744073709551615n,
      nested: { list: [1, "two", { three: 3 }] }
    })
  })

  it("points to repeated values, near and far, and answers the same without pointers", () => {
    const common = { names: { en: "common name" }, code: "CO" }
    const fill = (writer: Mmdb.MmdbWriter) => {
      writer.insert("10.0.0.0/24", { a: common, b: common })
      // Keys are written sorted: each `tail` lands after its `padding`, past 2 KiB and past 512 KiB,
      // where the later copies need pointers with 19- and 27-bit offsets.
      writer.insert("10.0.1.0/24", { padding: "x".repeat(3000), tail: "after the first pad" })
      writer.insert("10.0.2.0/24", { again: "after the first pad", common })
      writer.insert("10.0.3.0/24", { padding: "y".repeat(600_000), tail: "after the second pad" })
      writer.insert("10.0.4.0/24", { again: "after the second pad", common })
    }
    const withPointers = Mmdb.make({ databaseType: "Test", buildEpoch: 0 })
    const without = Mmdb.make({ databaseType: "Test", buildEpoch: 0, pointers: false })
    fill(withPointers)
    fill(without)
    const [a, b] = [withPointers.toBytes(), without.toBytes()]
    expect(a.length).toBeLessThan(b.length)
    for (const bytes of [a, b]) {
      const reader = read(bytes)
      expect(reader.get("10.0.0.1")).toEqual({ a: common, b: common })
      expect(reader.get("10.0.2.1")).toEqual({ again: "after the first pad", common })
      expect(reader.get("10.0.4.1")).toEqual({ again: "after the second pad", common })
      expect(reader.get("10.0.3.1")).toMatchObject({ tail: "after the second pad" })
    }
  })

  it("stores identical records once", () => {
    const record = { country: { iso_code: "XX", names: { en: "Nowhere" } } }
    const once = Mmdb.make({ databaseType: "Test", buildEpoch: 0 })
    once.insert("10.0.0.0/8", record)
    const twice = Mmdb.make({ databaseType: "Test", buildEpoch: 0 })
    twice.insert("10.0.0.0/8", record)
    twice.insert("2001:db8::/32", { ...record })
    // The data section: after the tree and the 16-byte separator, before the metadata marker.
    const data = (bytes: Uint8Array) =>
      Buffer.from(bytes).subarray(read(bytes).metadata.searchTreeSize + 16, Buffer.from(bytes).lastIndexOf(marker))
    expect(data(twice.toBytes())).toEqual(data(once.toBytes()))
  })

  it("refuses bad input with a clear error", () => {
    const writer = Mmdb.make({ databaseType: "Test", buildEpoch: 0 })
    const cases: Record<string, string> = {
      "10.0.0.0": "is not a network",
      "garbage/8": "is not a network",
      "fe80::%eth0/64": "is not a network",
      "10.0.0.0/33": "the prefix is longer than 32 bits",
      "2001:db8::/129": "the prefix is longer than 128 bits",
      "10.0.0.1/8": "has host bits set",
      "::ffff:1.2.3.0/120": "inside the IPv4 alias ::ffff:0:0/96",
      "2002:0102:0300::/40": "inside the IPv4 alias 2002::/16",
      "::/64": "would replace the IPv4 aliases",
      "::/0": "would replace the IPv4 aliases"
    }
    for (const [network, message] of Object.entries(cases)) {
      const error = writeError(() => writer.insert(network, { x: "y" }))
      expect(error._tag, network).toBe("MmdbWriteError")
      expect(error.message, network).toContain(message)
    }
    const v4 = Mmdb.make({ databaseType: "Test", ipVersion: 4, buildEpoch: 0 })
    expect(writeError(() => v4.insert("2001:db8::/32", {})).message).toContain("is IPv6 but the database is IPv4")
    expect(writeError(() => Mmdb.make({ databaseType: "Test", ipVersion: 4, aliasIpv4: true })).message).toContain(
      "aliasIpv4 needs an IPv6 tree"
    )
    expect(writeError(() => Mmdb.uint32(-1)).message).toContain("-1 is not a uint32")
    expect(writeError(() => Mmdb.uint32(2 ** 32)).message).toContain("is not a uint32")
    expect(writeError(() => Mmdb.uint16(1.5)).message).toContain("1.5 is not a uint16")
    // Nothing refused reached the tree.
    expect(read(writer.toBytes()).metadata.nodeCount).toBe(
      read(Mmdb.make({ databaseType: "Test" }).toBytes()).metadata.nodeCount
    )
  })

  it("without aliases, an IPv6 tree has only what was inserted", () => {
    const writer = Mmdb.make({ databaseType: "Test", aliasIpv4: false, buildEpoch: 0 })
    writer.insert("10.0.0.0/8", { name: "ten" })
    writer.insert("::ffff:0:0/96", { name: "mapped" })
    const reader = read(writer.toBytes())
    expect(reader.get("10.1.1.1")).toEqual({ name: "ten" })
    expect(reader.get("::ffff:10.1.1.1")).toEqual({ name: "mapped" })
    expect(reader.get("2002:a01:101::")).toBeNull()
  })
})
