/**
 * What the benchmarks share.
 */
import { createServer } from "node:net"

/** A free TCP port on loopback (bound, read, released). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/**
 * Prints one result line: `{name, value, unit, baseline, ratio = value/baseline, better}`, value
 * and baseline to `digits` decimals.
 */
export const line = (name: string, value: number, unit: string, base: number, better: "higher" | "lower", digits = 2) =>
  console.log(
    JSON.stringify({
      name,
      value: Number(value.toFixed(digits)),
      unit,
      baseline: Number(base.toFixed(digits)),
      ratio: Number((value / base).toFixed(3)),
      better
    })
  )
