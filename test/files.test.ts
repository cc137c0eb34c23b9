import { afterAll, describe, expect, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as GeoTestCountry from "../packages/node/test/support/geoTestCountry.js"
import { bin, eventually, json, killAll, register, routesEverywhere, runSites, sleep, threeSites } from "./support.js"

/** The GeoIP test database (127.0.1.0/24 CN, 127.0.2.0/24 AU... see its table), made for this run. */
const geoDir = mkdtempSync(join(tmpdir(), "meridian-geoip-"))
afterAll(() => rmSync(geoDir, { recursive: true, force: true }))
const geoip = GeoTestCountry.writeTo(geoDir)

/** Runs curl to completion (its exit code and output); curl is a CI prerequisite. */
const curl = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const proc = spawn("curl", ["-sS", ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    proc.on("error", reject)
    proc.on("close", (code) => resolve({ code, stdout, stderr }))
  })

/** A GET from a chosen loopback source address (127.0.x.y looks like a client of some country). */
const getFrom = (localAddress: string, url: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(url, { localAddress, headers }, (res) => {
      let body = ""
      res.on("data", (d: Buffer) => (body += d.toString()))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on("error", reject)
    req.end()
  })

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
const b64 = (text: string) => Buffer.from(text).toString("base64")

describe("regional file service across real site processes", () => {
  it("locates by region, uploads with tus (cut and resumed), brokers downloads, survives a kill -9 of the holder", async () => {
    const {
      dir,
      file: topology,
      http
    } = await threeSites({
      modules: `{ ping: {}, files: { geoipDatabase: "${geoip}", cleanupIntervalSeconds: 3600 } }`,
      regions: {
        north: "countries: [CN, JP], continents: [AS]",
        south: "countries: [AU, BR], continents: [OC, SA]",
        west: "countries: [DE, US], continents: [EU, NA, AF]"
      }
    })
    const url = (site: keyof typeof http, path: string) => `http://127.0.0.1:${http[site]}${path}`
    let procs = runSites(topology, dir, ["n1", "s1", "w1"])
    const restart = (site: "n1") => {
      const proc: ChildProcess = spawn(
        process.execPath,
        [bin, "run", "--topology", topology, "--site", site, "--data", join(dir, site)],
        { stdio: ["ignore", "ignore", "inherit"] }
      )
      procs = new Map([...procs, [site, proc]])
    }
    try {
      await routesEverywhere(http)

      // The directory: a client from AU is sent to the south's server, one from CN to the north's,
      // one the database does not know to the default region; a forged X-Forwarded-For is ignored.
      const au = JSON.parse((await getFrom("127.0.2.7", url("w1", "/v1/locate"))).body)
      expect(au).toMatchObject({ ip: "127.0.2.7", region: "south", rule: "country", server: { site: "s1" } })
      expect(au.server.url).toBe(`http://127.0.0.1:${http.s1}`)
      const cn = JSON.parse(
        (await getFrom("127.0.1.9", url("s1", "/v1/locate"), { "x-forwarded-for": "127.0.2.7" })).body
      )
      expect(cn).toMatchObject({ ip: "127.0.1.9", region: "north", rule: "country", server: { site: "n1" } })
      expect(await json(url("s1", "/v1/locate?ip=10.3.4.5"))).toMatchObject({ region: "west", rule: "cidr" })
      expect(await json(url("s1", "/v1/locate?ip=8.8.8.8"))).toMatchObject({ region: "north", rule: "default" })

      // Accounts: alice (north) sends to bob (south).
      expect(await register(url("n1", ""), "alice", "alice-password", "north")).toBe(201)
      expect(await register(url("n1", ""), "bob", "bob-password", "south")).toBe(201)
      const login = async (name: string) =>
        (
          await json(url("w1", "/v1/accounts/login"), {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ name, password: `${name}-password` })
          })
        ).token as string
      const [alice, bob] = [await login("alice"), await login("bob")]

      // A 64 MB file uploaded with tus to the north's server, with curl; the first PATCH breaks off.
      const size = 64 * 1024 * 1024
      const content = randomBytes(size)
      const path = join(dir, "payload.bin")
      writeFileSync(path, content)
      // (`Expect:` empty: no 100-continue round trip before the body.)
      const tus = ["-H", "Tus-Resumable: 1.0.0", "-H", `Authorization: Bearer ${alice}`, "-H", "Expect:"]
      const created = await curl([
        "-i",
        "-X",
        "POST",
        url("n1", "/v1/files/uploads"),
        ...tus,
        "-H",
        `Upload-Length: ${size}`,
        "-H",
        `Upload-Metadata: filename ${b64("payload.bin")},recipients ${b64("bob")},sha256 ${b64(sha256(content))}`
      ])
      expect(created.stdout).toMatch(/^HTTP\/1.1 201/)
      const location = /location: (\S+)/i.exec(created.stdout)![1]!
      const upload = url("n1", location)
      const patch = (offset: number, file: string, extra: ReadonlyArray<string> = []) => [
        "-i",
        "-X",
        "PATCH",
        upload,
        ...tus,
        "-H",
        "Content-Type: application/offset+octet-stream",
        "-H",
        `Upload-Offset: ${offset}`,
        "--data-binary",
        `@${file}`,
        ...extra
      ]
      // Cut mid-way: curl is stopped after a while of sending slowly.
      const cut = await curl([...patch(0, path), "--limit-rate", "256K", "--max-time", "2"])
      expect(cut.code).not.toBe(0)
      const offsetOf = async () => {
        const head = await curl(["-I", upload, ...tus])
        return Number(/upload-offset: (\d+)/i.exec(head.stdout)![1])
      }
      const offset = await eventually("the cut upload's offset", async () => {
        const at = await offsetOf()
        return at > 0 ? at : undefined
      })
      expect(offset).toBeLessThan(size)
      // Resumed from the stored offset: only the rest is sent.
      const rest = join(dir, "rest.bin")
      writeFileSync(rest, content.subarray(offset))
      const resumed = await curl(patch(offset, rest))
      expect(resumed.stdout).toMatch(/^HTTP\/1.1 204/)
      expect(resumed.stdout).toMatch(new RegExp(`upload-offset: ${size}`, "i"))
      const transferId = /meridian-transfer: (\S+)/i.exec(resumed.stdout)![1]!

      // Bob's inbox at his own (south) server lists it; curl -L downloads it from the north's.
      const inbox = await eventually("the transfer reaches bob's inbox at s1", async () => {
        const list = (await (
          await fetch(url("s1", "/v1/files/inbox"), { headers: { authorization: `Bearer ${bob}` } })
        ).json()) as {
          transfers: Array<{ id: string; holder: string }>
        }
        return list.transfers.length > 0 ? list.transfers : undefined
      })
      expect(inbox).toMatchObject([{ id: transferId, holder: "n1", sender: "alice", size }])
      const got = join(dir, "got.bin")
      const download = url("s1", `/v1/files/transfers/${transferId}/download`)
      const fetched = await curl([
        "-L",
        "-o",
        got,
        "-w",
        "%{http_code}",
        "-H",
        `Authorization: Bearer ${bob}`,
        download
      ])
      expect(fetched.stdout).toBe("200")
      expect(sha256(readFileSync(got))).toBe(sha256(content))

      // A download address: Range, ETag/If-None-Match, HEAD.
      const address = (await json(download, {
        headers: { authorization: `Bearer ${bob}`, accept: "application/json" }
      })) as { url: string; holder: string }
      expect(address.holder).toBe("n1")
      const range = await fetch(address.url, { headers: { range: "bytes=100-199" } })
      expect(range.status).toBe(206)
      expect(range.headers.get("content-range")).toBe(`bytes 100-199/${size}`)
      expect(Buffer.from(await range.arrayBuffer())).toEqual(content.subarray(100, 200))
      const etag = range.headers.get("etag")!
      expect((await fetch(address.url, { headers: { "if-none-match": etag } })).status).toBe(304)
      const head = await fetch(address.url, { method: "HEAD" })
      expect(head.headers.get("content-length")).toBe(String(size))

      // Refused: a path trick, a forged address, a wrong token, someone else's transfer.
      expect(
        (await fetch(url("n1", "/v1/files/data/..%2F..%2Fetc%2Fpasswd?user=bob&expires=9999999999999&sig=x"))).status
      ).toBe(403)
      expect((await fetch(address.url.replace(/sig=[^&]+/, "sig=AAAA"))).status).toBe(403)
      expect((await fetch(address.url.replace("user=bob", "user=carol"))).status).toBe(403)
      expect((await fetch(download, { headers: { authorization: "Bearer nope" } })).status).toBe(401)
      expect(
        (
          await fetch(url("n1", "/v1/files/uploads/..%2F..%2Fetc%2Fpasswd"), {
            method: "PATCH",
            headers: { "tus-resumable": "1.0.0", authorization: `Bearer ${alice}` }
          })
        ).status
      ).toBe(404)

      // kill -9 of the holder during a slow download (the file is larger than what the socket
      // buffers on loopback hold, so the download is cut): the brokered request answers 503 with
      // Retry-After meanwhile; after the restart the download resumes with Range and completes.
      const partial = join(dir, "partial.bin")
      const slow = curl(["-o", partial, "--limit-rate", "1M", address.url])
      await eventually("the download is under way", async () => {
        try {
          return statSync(partial).size > 0 ? true : undefined
        } catch {
          return undefined
        }
      })
      procs.get("n1")!.kill("SIGKILL")
      await slow
      const have = statSync(partial).size
      expect(have).toBeLessThan(size)
      const unavailable = await fetch(download, { headers: { authorization: `Bearer ${bob}` }, redirect: "manual" })
      expect(unavailable.status).toBe(503)
      expect(unavailable.headers.get("retry-after")).toBe("5")
      restart("n1")
      const again = (await eventually("the holder is back", async () =>
        json(download, { headers: { authorization: `Bearer ${bob}`, accept: "application/json" } })
      )) as { url: string }
      const resumedDownload = await curl(["-C", "-", "-o", partial, "-w", "%{http_code}", again.url])
      expect(resumedDownload.stdout).toBe("206")
      expect(sha256(readFileSync(partial))).toBe(sha256(content))
      await sleep(0)
    } finally {
      killAll(procs.values())
    }
  }, 300_000)
})

/** Registers `name` (home `region`) and logs it in; the token. */
const account = async (base: string, name: string, region: string) => {
  const body = (value: unknown) => ({
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(value)
  })
  // Registration needs the name's arbiter and the home region: retried while they are not reachable yet.
  await eventually(`registration of ${name}`, async () => {
    const created = await fetch(`${base}/v1/accounts`, body({ name, password: `${name}-password`, region }))
    if (created.status === 503) return undefined
    expect(created.status).toBe(201)
    return true
  })
  return (await json(`${base}/v1/accounts/login`, body({ name, password: `${name}-password` }))).token as string
}

/** A whole tus upload in one PATCH; the transfer id. */
const upload = async (base: string, token: string, content: Uint8Array, recipients: string, expires?: number) => {
  const headers = { "tus-resumable": "1.0.0", authorization: `Bearer ${token}` }
  const created = await fetch(`${base}/v1/files/uploads`, {
    method: "POST",
    headers: {
      ...headers,
      "upload-length": String(content.length),
      "upload-metadata": `filename ${b64("data.bin")},recipients ${b64(recipients)}${
        expires === undefined ? "" : `,expires ${b64(String(expires))}`
      }`
    }
  })
  expect(created.status).toBe(201)
  const patched = await fetch(`${base}${created.headers.get("location")}`, {
    method: "PATCH",
    headers: { ...headers, "upload-offset": "0", "content-type": "application/offset+octet-stream" },
    body: content
  })
  expect(patched.status).toBe(204)
  return patched.headers.get("meridian-transfer")!
}

describe("file servers with several addresses, and pull-through downloads", () => {
  it("hands out the least loaded address; a pulled-through copy keeps serving when the holder is gone", async () => {
    const {
      dir,
      file: topology,
      http,
      telecom
    } = await threeSites({
      carrier: true,
      modules: "{ ping: {}, files: { cleanupIntervalSeconds: 1 } }",
      siteModules: { s1: '{ ping: {}, files: { remoteDownloads: "pull-through", cleanupIntervalSeconds: 1 } }' }
    })
    const url = (site: keyof typeof http, path: string) => `http://127.0.0.1:${http[site]}${path}`
    const procs = runSites(topology, dir, ["n1", "s1", "w1"])
    try {
      await routesEverywhere(http)
      const alice = await account(url("n1", ""), "alice", "north")
      const bob = await account(url("n1", ""), "bob", "south")
      // A recipient without an account is refused before anything is stored.
      const toNobody = await fetch(url("n1", "/v1/files/uploads"), {
        method: "POST",
        headers: {
          "tus-resumable": "1.0.0",
          authorization: `Bearer ${alice}`,
          "upload-length": "3",
          "upload-metadata": `recipients ${b64("bob,carol")}`
        }
      })
      expect(toNobody.status).toBe(400)
      expect(await toNobody.json()).toMatchObject({ message: "no such user: carol" })
      // Large enough that the socket buffers on loopback cannot swallow it at once.
      const content = randomBytes(32 * 1024 * 1024)
      const id = await upload(url("n1", ""), alice, content, "bob")
      const addressAt = async (site: keyof typeof http, token: string) =>
        (await json(url(site, `/v1/files/transfers/${id}/download`), {
          headers: { authorization: `Bearer ${token}`, accept: "application/json" }
        })) as { url: string; address: string; holder: string }

      // Idle: the main address. With a slow download on it, the next answer names the carrier's.
      const first = await addressAt("n1", alice)
      expect(first.address).toBe("main")
      const slow = spawn("curl", ["-sS", "-o", "/dev/null", "--limit-rate", "512K", first.url], { stdio: "ignore" })
      await eventually("the slow download shows in /metrics", async () => {
        const metrics = await (await fetch(url("n1", "/metrics"))).text()
        return metrics.includes('meridian_files_active_transfers{site="n1",address="main"} 1') ? true : undefined
      })
      const second = await addressAt("n1", alice)
      expect(second.address).toBe("telecom")
      expect(second.url.startsWith(`http://127.0.0.1:${telecom}/`)).toBe(true)
      const viaCarrier = Buffer.from(await (await fetch(second.url)).arrayBuffer())
      expect(sha256(viaCarrier)).toBe(sha256(content))
      const metrics = await (await fetch(url("n1", "/metrics"))).text()
      expect(metrics).toMatch(/meridian_files_address_chosen_total\{site="n1",address="telecom"\} [1-9]/)
      slow.kill()

      // Pull-through at s1: it fetches the file from n1 once and serves it itself.
      const pulled = await addressAt("s1", bob)
      expect(pulled.holder).toBe("s1")
      expect(pulled.url.startsWith(url("s1", "/"))).toBe(true)
      expect(sha256(Buffer.from(await (await fetch(pulled.url)).arrayBuffer()))).toBe(sha256(content))
      // A transfer past its expiry is not served and is cleaned up: gone from the inbox, its address
      // answers 410 (expired) or 404 (cleaned up).
      const brief = await upload(url("n1", ""), alice, randomBytes(1000), "bob", 1)
      const briefAddress = (await json(url("n1", `/v1/files/transfers/${brief}/download`), {
        headers: { authorization: `Bearer ${alice}`, accept: "application/json" }
      })) as { url: string }
      await eventually("the expired transfer is cleaned up", async () => {
        const inbox = (await json(url("n1", "/v1/files/inbox"), { headers: { authorization: `Bearer ${alice}` } })) as {
          transfers: Array<{ id: string }>
        }
        return inbox.transfers.some((t) => t.id === brief) ? undefined : true
      })
      expect([404, 410]).toContain((await fetch(briefAddress.url)).status)

      procs.get("n1")!.kill("SIGKILL")
      await sleep(500)
      const again = await addressAt("s1", bob)
      expect(again.holder).toBe("s1")
      expect(sha256(Buffer.from(await (await fetch(again.url)).arrayBuffer()))).toBe(sha256(content))
    } finally {
      killAll(procs.values())
    }
  }, 240_000)
})
