/**
 * A file server's addresses (the site's main HTTP address and its carriers') and their load:
 * downloads are handed the least loaded one, and each download counts its bytes against the
 * address it arrived at.
 *
 * @since 0.1.0
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as Clock from "effect/Clock"
import type { Site } from "../topology/Topology.js"
import { header } from "./Http.js"

/**
 * One address and its load, counted in place by the downloads it serves (no allocation a chunk).
 *
 * @since 0.1.0
 * @category models
 */
export interface AddressState {
  readonly name: string
  readonly hostPort: string
  active: number
  bytes: number
  lastBytes: number
  /** Bytes per second, smoothed. */
  rate: number
  rateAt: number
  chosen: number
}

/**
 * The URL of a `host:port` a client can reach (a wildcard bind answers on loopback).
 *
 * @since 0.1.0
 * @category addresses
 */
export const urlOf = (hostPort: string) => {
  const host = hostPort.slice(0, hostPort.lastIndexOf(":"))
  const port = hostPort.slice(hostPort.lastIndexOf(":") + 1)
  return `http://${host === "0.0.0.0" ? "127.0.0.1" : host === "::" || host === "[::]" ? "[::1]" : host}:${port}`
}

/**
 * The addresses of a site, none loaded yet: `main` first, then its carriers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const addressesOf = (site: Site): Array<AddressState> =>
  [
    { name: "main", hostPort: site.http },
    ...Object.entries(site.carriers).map(([name, carrier]) => ({ name, hostPort: carrier.http }))
  ].map((a) => ({ ...a, active: 0, bytes: 0, lastBytes: 0, rate: 0, rateAt: 0, chosen: 0 }))

/**
 * The addresses of one file server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Addresses {
  /** The least loaded address: fewest active transfers, then fewest bytes/s (counted as chosen). */
  readonly choose: () => AddressState
  /** The address a request arrived at (by its `Host`), else `main`. */
  readonly ofRequest: (request: HttpServerRequest.HttpServerRequest) => AddressState
  /** The Prometheus lines of every address's load. */
  readonly metrics: () => ReadonlyArray<string>
}

/**
 * The addresses of `site`, their rates read from `clock`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (site: Site, clock: Clock.Clock): Addresses => {
  const addresses = addressesOf(site)
  /**
   * Bytes/s per address, brought up to date when read (no timer): the rate of the last
   * whole interval of at least a second, averaged with the previous estimate.
   */
  const refreshRates = () => {
    const at = clock.unsafeCurrentTimeMillis()
    for (const a of addresses) {
      const seconds = (at - a.rateAt) / 1000
      if (seconds < 1) continue
      a.rate = a.rate / 2 ** seconds + ((a.bytes - a.lastBytes) / seconds) * (1 - 1 / 2 ** seconds)
      a.lastBytes = a.bytes
      a.rateAt = at
    }
  }
  const choose = (): AddressState => {
    refreshRates()
    const best = [...addresses].sort((a, b) => a.active - b.active || a.rate - b.rate)[0]!
    best.chosen++
    return best
  }
  const ofRequest = (request: HttpServerRequest.HttpServerRequest) => {
    const host = header(request, "host")
    return addresses.find((a) => a.hostPort === host) ?? addresses[0]!
  }
  const metrics = () => {
    refreshRates()
    return [
      ...addresses.map((a) => `meridian_files_active_transfers{address="${a.name}"} ${a.active}`),
      ...addresses.map((a) => `meridian_files_bytes_per_second{address="${a.name}"} ${Math.round(a.rate)}`),
      ...addresses.map((a) => `meridian_files_served_bytes_total{address="${a.name}"} ${a.bytes}`),
      ...addresses.map((a) => `meridian_files_address_chosen_total{address="${a.name}"} ${a.chosen}`)
    ]
  }
  return { choose, ofRequest, metrics }
}
