import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { createHash, randomBytes } from "node:crypto"
import { closeSync, createReadStream, openSync, readdirSync, writeSync } from "node:fs"
import { converged, type Device, eventually, type SyncSite, syncSite } from "./sync-support.js"

/**
 * Big enough that its upload is still going when the daemon's status (written every second) shows
 * it: the site stores a few MiB per second on this kind of machine (see bench:sync).
 */
const BIG = 64 * 1024 * 1024
const UPLOADED = "meridian_sync_chunk_bytes_uploaded_total"

const sha256File = (path: string) =>
  new Promise<string>((resolve, reject) => {
    const hash = createHash("sha256")
    createReadStream(path)
      .on("data", (d) => hash.update(d))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")))
  })

/** Writes `bytes` random bytes to `path` (1 MiB at a time); their SHA-256. */
const randomFile = (path: string, bytes: number) => {
  const hash = createHash("sha256")
  const fd = openSync(path, "w")
  try {
    for (let left = bytes; left > 0; ) {
      const block = randomBytes(Math.min(left, 1024 * 1024))
      writeSync(fd, block)
      hash.update(block)
      left -= block.length
    }
  } finally {
    closeSync(fd)
  }
  return hash.digest("hex")
}

describe("meridian sync: a daemon killed with kill -9 mid-upload", () => {
  let site: SyncSite
  let a: Device
  let b: Device

  beforeAll(async () => {
    site = await syncSite()
    ;[a, b] = await Promise.all([site.device("devA"), site.device("devB")])
  })
  afterAll(() => site?.close())

  it("resumes when restarted: the file arrives whole on the other device, the chunks already sent are not sent again", async () => {
    // The file is there before A's daemon starts: its first scan takes it and uploads it.
    const hash = randomFile(a.path("big.bin"), BIG)
    await b.start()
    await a.start()
    const cut = await eventually(
      "A's status shows big.bin uploading",
      async () => {
        const moving = a.status()?.inFlight.find((t) => t.path === "big.bin" && t.direction === "upload")
        return moving !== undefined && moving.done > 0 && moving.done < moving.bytes ? moving : undefined
      },
      120_000
    )
    await a.kill()
    expect(cut.bytes).toBe(BIG)
    const atKill = await site.metric(UPLOADED)
    expect(atKill).toBeGreaterThan(0)
    expect(atKill).toBeLessThan(BIG)
    // `sync status` tells the user the daemon is gone, with what it was doing.
    const told = await a.cli(["sync", "status"])
    expect(told.stdout).toMatch(/stopped \(was \w+\); meridian sync run starts it/)
    expect(told.stdout).toMatch(/uploading big\.bin: [\d.]+ (B|KiB|MiB) of 64\.0 MiB/)

    await a.start()
    await converged([a, b], { "big.bin": `sha256:${hash}` }, 120_000)
    expect(await sha256File(b.path("big.bin"))).toBe(hash)
    // The rerun sent what was missing, not the whole file again.
    const total = await site.metric(UPLOADED)
    expect(total - atKill).toBeLessThan(BIG)
    expect(total).toBeLessThan(2 * BIG)
    // B holds the file and nothing half-written beside it.
    expect(readdirSync(b.dir).sort()).toEqual([".meridian", "big.bin"])
  }, 240_000)
})
