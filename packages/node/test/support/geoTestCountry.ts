/**
 * The GeoIP test database: a `GeoLite2-Country` MaxMind DB (`country`, `registered_country`,
 * `continent`), IPv6 tree with IPv4 aliased (IPv4-mapped `::ffff:0:0/96`, Teredo `2001::/32`, 6to4
 * `2002::/16`), record size 24, languages `en`, made by {@link Mmdb} at test time so tests of IP →
 * region lookups need no commercial database and no file from outside the repository.
 *
 * | network         | country | continent |
 * | --------------- | ------- | --------- |
 * | 127.0.1.0/24    | CN      | AS        |
 * | 127.0.2.0/24    | AU      | OC        |
 * | 127.0.3.0/24    | DE      | EU        |
 * | 127.0.4.0/24    | US      | NA        |
 * | 203.0.113.0/24  | JP      | AS        |
 * | 198.51.100.0/24 | BR      | SA        |
 * | 2001:db8:1::/48 | CN      | AS        |
 * | 2001:db8:3::/48 | DE      | EU        |
 *
 * Anything else (8.8.8.8, 127.0.0.1) is not in the database. On Linux all of 127/8 reaches
 * loopback, so a test client can pick its source address with `localAddress: "127.0.2.7"` and look
 * like a client from AU.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Mmdb from "./mmdb.js"

/** One network of the database and where it is. */
export interface GeoTestRow {
  readonly network: string
  readonly country: { readonly isoCode: string; readonly name: string; readonly geonameId: number }
  readonly continent: { readonly code: string; readonly name: string }
}

const china = { isoCode: "CN", name: "China", geonameId: 1814991 }
const asia = { code: "AS", name: "Asia" }
const germany = { isoCode: "DE", name: "Germany", geonameId: 2921044 }
const europe = { code: "EU", name: "Europe" }

/** The networks, in the table's order. */
export const rows: ReadonlyArray<GeoTestRow> = [
  { network: "127.0.1.0/24", country: china, continent: asia },
  {
    network: "127.0.2.0/24",
    country: { isoCode: "AU", name: "Australia", geonameId: 2077456 },
    continent: { code: "OC", name: "Oceania" }
  },
  { network: "127.0.3.0/24", country: germany, continent: europe },
  {
    network: "127.0.4.0/24",
    country: { isoCode: "US", name: "United States", geonameId: 6252001 },
    continent: { code: "NA", name: "North America" }
  },
  {
    network: "203.0.113.0/24",
    country: { isoCode: "JP", name: "Japan", geonameId: 1861060 },
    continent: asia
  },
  {
    network: "198.51.100.0/24",
    country: { isoCode: "BR", name: "Brazil", geonameId: 3469034 },
    continent: { code: "SA", name: "South America" }
  },
  { network: "2001:db8:1::/48", country: china, continent: asia },
  { network: "2001:db8:3::/48", country: germany, continent: europe }
]

/** The metadata's `description.en`. */
export const description = "Meridian test fixture: loopback and documentation ranges mapped to countries"

/** A fixed build time, so the bytes are the same on every run. */
export const buildEpoch = 1_765_000_000

/** The file name {@link writeTo} uses. */
export const fileName = "geo-test-country.mmdb"

/** A row as a GeoIP2 country record (`registered_country` is `country`, as in the table). */
const record = (row: GeoTestRow): Mmdb.MmdbMap => {
  const country = {
    iso_code: row.country.isoCode,
    names: { en: row.country.name },
    geoname_id: Mmdb.uint32(row.country.geonameId)
  }
  return {
    country,
    registered_country: country,
    continent: { code: row.continent.code, names: { en: row.continent.name } }
  }
}

/** The database file's bytes. */
export const bytes = (): Uint8Array => {
  const writer = Mmdb.make({
    databaseType: "GeoLite2-Country",
    ipVersion: 6,
    recordSize: 24,
    languages: ["en"],
    description: { en: description },
    aliasIpv4: true,
    buildEpoch
  })
  for (const row of rows) writer.insert(row.network, record(row))
  return writer.toBytes()
}

/** Writes the database into `directory` (which must exist) and answers its path. */
export const writeTo = (directory: string): string => {
  const file = join(directory, fileName)
  writeFileSync(file, bytes())
  return file
}
