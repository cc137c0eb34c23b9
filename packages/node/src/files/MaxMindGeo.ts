/**
 * {@link Directory.GeoIp} over a MaxMind database (`.mmdb`: GeoLite2/GeoIP2 Country or City, or
 * anything with the same `country`/`continent` records), read with the `maxmind` package.
 *
 * The file is read once into memory when the layer is built: lookups are then synchronous and
 * touch no disk, which is what the directory's `locate` needs. A missing or unreadable file fails
 * the layer with {@link GeoIpDatabaseError} at start-up rather than leaving a site that silently
 * sends everyone to the default region. Updating the database means restarting the site.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Directory from "@meridian/core/files/Directory"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { type CountryResponse, Reader } from "maxmind"
import { Buffer } from "node:buffer"

/**
 * Where the database is.
 *
 * @since 0.1.0
 * @category config
 */
export interface MaxMindGeoOptions {
  readonly file: string
}

/**
 * The database could not be opened: `missing` (no such file), `unreadable` (permissions, a
 * directory…) or `corrupt` (not a MaxMind database, or truncated).
 *
 * @since 0.1.0
 * @category errors
 */
export class GeoIpDatabaseError extends Data.TaggedError("GeoIpDatabaseError")<{
  readonly file: string
  readonly reason: "missing" | "unreadable" | "corrupt"
  readonly cause: unknown
}> {
  override get message(): string {
    const detail = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `GeoIP database ${this.file} is ${this.reason}${detail}`
  }
}

/** The codes of one record; none if it says nothing the directory can use. */
const geoInfo = (record: CountryResponse): Option.Option<Directory.GeoInfo> => {
  // `country` is where the address is; `registered_country` (where its owner registered it) is
  // the best remaining guess for addresses MaxMind could not place, such as some anycast ranges.
  const country = record.country?.iso_code ?? record.registered_country?.iso_code
  const continent = record.continent?.code
  if (country === undefined && continent === undefined) return Option.none()
  return Option.some({
    ...(country === undefined ? {} : { country }),
    ...(continent === undefined ? {} : { continent })
  })
}

/**
 * A {@link Directory.GeoIpService} over the bytes of a `.mmdb` file. Fails with `corrupt` when
 * they are not a MaxMind database.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromBytes = (
  bytes: Uint8Array,
  file = "(in memory)"
): Effect.Effect<Directory.GeoIpService, GeoIpDatabaseError> =>
  Effect.try({
    try: () => new Reader<CountryResponse>(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)),
    catch: (cause) => new GeoIpDatabaseError({ file, reason: "corrupt", cause })
  }).pipe(
    Effect.map((reader) => ({
      lookup: (ip: string) => {
        // `maxmind` reads sloppy forms (`127.1`) as addresses; only what the directory would
        // accept is looked up, in its canonical form.
        const address = Directory.normalizeIp(ip)
        if (Option.isNone(address)) return Option.none()
        try {
          const record = reader.get(address.value)
          return record === null ? Option.none() : geoInfo(record)
        } catch {
          // A damaged data section shows only when a lookup reaches it: that address is unknown.
          return Option.none()
        }
      }
    }))
  )

/**
 * Reads `options.file` and opens it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: MaxMindGeoOptions
): Effect.Effect<Directory.GeoIpService, GeoIpDatabaseError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const bytes = yield* fs.readFile(options.file).pipe(
      Effect.mapError(
        (cause) =>
          new GeoIpDatabaseError({
            file: options.file,
            reason: cause._tag === "SystemError" && cause.reason === "NotFound" ? "missing" : "unreadable",
            cause
          })
      )
    )
    return yield* fromBytes(bytes, options.file)
  })

/**
 * {@link Directory.GeoIp} from the MaxMind database at `options.file`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: MaxMindGeoOptions
): Layer.Layer<Directory.GeoIp, GeoIpDatabaseError, FileSystem.FileSystem> =>
  Layer.effect(Directory.GeoIp, make(options))

/**
 * The file service's {@link Directory.GeoIpLoader}: opens the MaxMind database a site's
 * `geoipDatabase` names, through the host's file system.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLoader: Layer.Layer<Directory.GeoIpLoader, never, FileSystem.FileSystem> = Layer.effect(
  Directory.GeoIpLoader,
  Effect.map(FileSystem.FileSystem, (fs) => ({
    load: (file: string) =>
      make({ file }).pipe(
        Effect.provideService(FileSystem.FileSystem, fs),
        Effect.mapError((e) => ({ message: `GeoIP database ${e.file}: ${e.reason}` }))
      )
  }))
)
