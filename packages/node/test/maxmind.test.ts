import { afterAll, describe, expect, it } from "@effect/vitest"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Directory from "@meridian/core/files/Directory"
import * as Loader from "@meridian/core/topology/Loader"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as MaxMindGeo from "../src/files/MaxMindGeo.js"
import * as GeoTestCountry from "./support/geoTestCountry.js"

/** The repo is two levels up from packages/node/test. */
const repo = fileURLToPath(new URL("../../../", import.meta.url))
const example = join(repo, "examples", "three-regions.yaml")

const scratch = mkdtempSync(join(tmpdir(), "meridian-maxmind-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))
/** The test database (see its table in support/geoTestCountry.ts), made for this run. */
const file = GeoTestCountry.writeTo(scratch)

const geoLayer = MaxMindGeo.layer({ file }).pipe(Layer.provide(NodeContext.layer))

const openError = (path: string) => MaxMindGeo.make({ file: path }).pipe(Effect.flip, Effect.provide(NodeContext.layer))

describe("MaxMindGeo", () => {
  it.effect("reads country and continent from the test database", () =>
    Effect.gen(function* () {
      const geo = yield* Directory.GeoIp
      expect(geo.lookup("127.0.1.1")).toEqual(Option.some({ country: "CN", continent: "AS" }))
      expect(geo.lookup("127.0.2.7")).toEqual(Option.some({ country: "AU", continent: "OC" }))
      expect(geo.lookup("127.0.3.255")).toEqual(Option.some({ country: "DE", continent: "EU" }))
      expect(geo.lookup("127.0.4.0")).toEqual(Option.some({ country: "US", continent: "NA" }))
      expect(geo.lookup("203.0.113.200")).toEqual(Option.some({ country: "JP", continent: "AS" }))
      expect(geo.lookup("198.51.100.1")).toEqual(Option.some({ country: "BR", continent: "SA" }))
      expect(geo.lookup("2001:db8:1::1")).toEqual(Option.some({ country: "CN", continent: "AS" }))
      expect(geo.lookup("2001:db8:3::1")).toEqual(Option.some({ country: "DE", continent: "EU" }))
      expect(geo.lookup("2001:db8:3:ffff::1")).toEqual(Option.some({ country: "DE", continent: "EU" }))
    }).pipe(Effect.provide(geoLayer))
  )

  it.effect("mapped and bracketed forms find the IPv4 entry", () =>
    Effect.gen(function* () {
      const geo = yield* Directory.GeoIp
      expect(geo.lookup("::ffff:127.0.2.7")).toEqual(Option.some({ country: "AU", continent: "OC" }))
      expect(geo.lookup("::ffff:7f00:207")).toEqual(Option.some({ country: "AU", continent: "OC" }))
      expect(geo.lookup("[2001:DB8:1::1]")).toEqual(Option.some({ country: "CN", continent: "AS" }))
    }).pipe(Effect.provide(geoLayer))
  )

  it.effect("addresses outside the database, and garbage, are none", () =>
    Effect.gen(function* () {
      const geo = yield* Directory.GeoIp
      for (const ip of ["8.8.8.8", "127.0.0.1", "127.0.5.1", "2001:db8:2::1", "::1", "2001:db9::1"]) {
        expect(geo.lookup(ip), ip).toEqual(Option.none())
      }
      // `maxmind` alone would read `127.0.1` as an address; the directory does not.
      for (const ip of ["", "garbage", "127.0.1", "127.0.2.7:80", "999.0.0.1", "1::2::3"]) {
        expect(geo.lookup(ip), JSON.stringify(ip)).toEqual(Option.none())
      }
    }).pipe(Effect.provide(geoLayer))
  )

  it.effect("locate end to end with examples/three-regions.yaml", () =>
    Effect.gen(function* () {
      const topology = yield* Loader.parse(readFileSync(example, "utf8"))
      const directory = Directory.make(topology)
      const geo = yield* Directory.GeoIp
      const at = (ip: string) => directory.locate(ip, geo)
      // CN, JP → north; AU, BR → south; DE, US → west: by country.
      expect(at("127.0.1.9")).toEqual({ ip: "127.0.1.9", region: "north", rule: "country" })
      expect(at("203.0.113.5")).toEqual({ ip: "203.0.113.5", region: "north", rule: "country" })
      expect(at("127.0.2.7")).toEqual({ ip: "127.0.2.7", region: "south", rule: "country" })
      expect(at("::ffff:198.51.100.20")).toEqual({ ip: "198.51.100.20", region: "south", rule: "country" })
      expect(at("127.0.3.1")).toEqual({ ip: "127.0.3.1", region: "west", rule: "country" })
      expect(at("127.0.4.1")).toEqual({ ip: "127.0.4.1", region: "west", rule: "country" })
      expect(at("2001:db8:3::1")).toEqual({ ip: "2001:db8:3::1", region: "west", rule: "country" })
      expect(at("2001:db8:1::1")).toEqual({ ip: "2001:db8:1::1", region: "north", rule: "country" })
      // The topology's ranges come before GeoIP.
      expect(at("10.2.0.1")).toEqual({ ip: "10.2.0.1", region: "south", rule: "cidr" })
      expect(at("::ffff:10.3.9.9")).toEqual({ ip: "10.3.9.9", region: "west", rule: "cidr" })
      // Unknown to both, or not an address: the default region.
      expect(at("8.8.8.8")).toEqual({ ip: "8.8.8.8", region: "north", rule: "default" })
      expect(at("127.0.0.1")).toEqual({ ip: "127.0.0.1", region: "north", rule: "default" })
      expect(at("not an ip")).toEqual({ ip: "not an ip", region: "north", rule: "default" })
      // The same through the context's GeoIp.
      expect(yield* Directory.locate(directory, "127.0.2.7")).toMatchObject({ region: "south", rule: "country" })
    }).pipe(Effect.provide(geoLayer))
  )

  it.effect("fromBytes opens a database already in memory", () =>
    Effect.gen(function* () {
      const geo = yield* MaxMindGeo.fromBytes(new Uint8Array(readFileSync(file)), file)
      expect(geo.lookup("127.0.2.7")).toEqual(Option.some({ country: "AU", continent: "OC" }))
      expect(geo.lookup("8.8.8.8")).toEqual(Option.none())
      // A view into a larger buffer: only its own bytes are the database.
      const padded = new Uint8Array(readFileSync(file).length + 16)
      padded.set(readFileSync(file), 7)
      const view = yield* MaxMindGeo.fromBytes(padded.subarray(7, 7 + readFileSync(file).length))
      expect(view.lookup("2001:db8:3::1")).toEqual(Option.some({ country: "DE", continent: "EU" }))
    })
  )

  it.effect("a missing file is a typed error", () =>
    Effect.gen(function* () {
      const error = yield* openError(join(scratch, "no-such.mmdb"))
      expect(error._tag).toBe("GeoIpDatabaseError")
      expect(error.reason).toBe("missing")
      expect(error.file).toBe(join(scratch, "no-such.mmdb"))
      expect(error.message).toContain("no-such.mmdb is missing")
    })
  )

  it.effect("a directory is unreadable", () =>
    Effect.gen(function* () {
      const error = yield* openError(scratch)
      expect(error.reason).toBe("unreadable")
    })
  )

  it.effect("a file that is not a MaxMind database, or is truncated, is corrupt", () =>
    Effect.gen(function* () {
      const bytes = readFileSync(file)
      const cases: Record<string, Uint8Array> = {
        "empty.mmdb": new Uint8Array(0),
        "text.mmdb": new TextEncoder().encode("hello, this is not a database\n"),
        "head.mmdb": bytes.subarray(0, 100),
        "tail-cut.mmdb": bytes.subarray(0, bytes.length - 20)
      }
      for (const [name, content] of Object.entries(cases)) {
        const path = join(scratch, name)
        writeFileSync(path, content)
        const error = yield* openError(path)
        expect(error.reason, name).toBe("corrupt")
      }
      expect(Exit.isFailure(yield* Effect.exit(MaxMindGeo.fromBytes(new Uint8Array(16))))).toBe(true)
    })
  )

  it.effect("the layer fails to build when the file is missing", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        Effect.provide(
          Directory.GeoIp,
          MaxMindGeo.layer({ file: join(scratch, "absent.mmdb") }).pipe(Layer.provide(NodeContext.layer))
        )
      )
      expect(exit).toMatchObject({ _tag: "Failure" })
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error.reason).toBe("missing")
    })
  )
})
