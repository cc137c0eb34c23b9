/**
 * `npm run bench:files`: the regional file service on loopback with real `meridian run` processes —
 * sites n1 (region north, the holder) and s1 (region south), both with the `files` module. alice
 * (north) uploads a `BENCH_FILE_MB` file (default 1024) to n1 with tus (POST, then one PATCH, or
 * PATCHes of `BENCH_PATCH_MB` each), the whole-file SHA-256 in its metadata so the server checks
 * it; bob (south) downloads it from n1 (local: the holder answers 307 to its own data address)
 * and from s1 (brokered: s1 asks n1 over the kernel for a download address and redirects there).
 *
 * Baseline in the same run: a plain Node `http` server in its own process that, on upload, streams
 * the body to a file while computing its SHA-256 (node:crypto) and fsyncs before answering, and on
 * download streams that file back (`fs.createReadStream` piped to the response).
 *
 * The client is the same for both: node:http, the body streamed from the file in 1 MiB reads, the
 * downloads counted and discarded. An upload is timed from its first request to the answer of its
 * last PATCH (after the server has the file in its blob store); a download from the first request
 * (the redirect included) to its last byte, and its time to first byte is reported too. Downloads
 * run `BENCH_ROUNDS` times (default 3, interleaved with the baseline's), the median reported.
 *
 * `BENCH_CPU_PROF=DIR` runs the site processes with `node --cpu-prof --cpu-prof-dir=DIR` (the
 * profiles are written when they stop). `BENCH_DIR` chooses where the temporary directory goes.
 *
 * Besides MB/s and times to first byte, the CPU the servers used per GB (`cpu-s/GB`, user + system
 * of all their threads from `/proc`; for a download both sites', the broker's included): on a
 * machine shared with other work, wall time says as much about the neighbours as about the server.
 *
 * Prints one JSON object per line (name, value, unit, baseline, ratio = value/baseline, better);
 * MB is 10^6 bytes.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import {
  closeSync,
  createReadStream,
  fsyncSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync
} from "node:fs"
import { type IncomingHttpHeaders, request } from "node:http"
import { tmpdir } from "node:os"
import { join, resolve as resolvePath } from "node:path"
import { freePort, line } from "./support.js"

const SIZE = Number(process.env.BENCH_FILE_MB ?? 1024) * 1024 * 1024
const PATCH_BYTES = Number(process.env.BENCH_PATCH_MB ?? 0) * 1024 * 1024 || SIZE
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CPU_PROF = process.env.BENCH_CPU_PROF
const SECRET = "bench-files-secret-0123456789"
const READ_CHUNK = 1024 * 1024
const bin = resolvePath("packages/cli/bin/meridian.js")
const children: Array<ChildProcess> = []

const sleep = (millis: number) => new Promise((r) => setTimeout(r, millis))

const waitFor = async (check: () => Promise<boolean>, what: string, timeoutMillis = 120_000) => {
  const deadline = Date.now() + timeoutMillis
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await sleep(100)
  }
  throw new Error(`${what}: not within ${timeoutMillis} ms`)
}

/** Runs `attempt` again (from scratch, timing included) when it met a 503, at most 5 times. */
const retried = async <A>(attempt: () => Promise<A>): Promise<A> => {
  for (let i = 1; ; i++) {
    try {
      return await attempt()
    } catch (error) {
      if (i >= 5 || !/: 503/.test(String(error))) throw error
      console.error(`bench:files: ${String(error)}; again`)
      await sleep(1000)
    }
  }
}

/**
 * CPU seconds (user + system, all threads) the processes have used so far, from `/proc/PID/stat`
 * (clock ticks of 1/100 s); 0 without `/proc`. On a busy machine wall time depends on what else
 * runs; the CPU a server spends per byte does much less.
 */
const cpuSeconds = (pids: ReadonlyArray<number | undefined>) =>
  pids.reduce<number>((sum, pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return sum + (Number(fields[11]) + Number(fields[12])) / 100
    } catch {
      return sum
    }
  }, 0)

/** Wall seconds and the servers' CPU seconds of `run`. */
const measured = async <A>(pids: ReadonlyArray<number | undefined>, run: () => Promise<A>) => {
  const cpu = cpuSeconds(pids)
  const start = performance.now()
  const result = await run()
  return { result, seconds: (performance.now() - start) / 1000, cpu: cpuSeconds(pids) - cpu }
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

// ---------------------------------------------------------------------------------------------
// the client: node:http, bodies streamed from the file, downloads counted and discarded
// ---------------------------------------------------------------------------------------------

interface Answer {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/** A request with `length` bytes of `file` from `start` as its body (none when `length` is 0). */
const send = (
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: { readonly file: string; readonly start: number; readonly length: number }
) =>
  new Promise<Answer>((resolve, reject) => {
    const req = request(
      url,
      { method, headers: { ...headers, "content-length": String(body?.length ?? 0) } },
      (res) => {
        let text = ""
        res.setEncoding("utf8")
        res.on("data", (d: string) => (text += d))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
        res.on("error", reject)
      }
    )
    req.on("error", reject)
    if (body === undefined || body.length === 0) req.end()
    else
      createReadStream(body.file, {
        start: body.start,
        end: body.start + body.length - 1,
        highWaterMark: READ_CHUNK
      }).pipe(req)
  })

const json = async (url: string, method: string, payload?: unknown, headers: Record<string, string> = {}) => {
  const text = payload === undefined ? "" : JSON.stringify(payload)
  const answer = await new Promise<Answer>((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers: { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) }
      },
      (res) => {
        let body = ""
        res.setEncoding("utf8")
        res.on("data", (d: string) => (body += d))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      }
    )
    req.on("error", reject)
    req.end(text)
  })
  if (answer.status >= 300) throw new Error(`${method} ${url}: ${answer.status} ${answer.body}`)
  return JSON.parse(answer.body) as Record<string, unknown>
}

interface Download {
  /** Seconds from the first request to the last byte. */
  readonly seconds: number
  /** Milliseconds from the first request to the first byte of the body. */
  readonly firstByteMillis: number
}

/** GETs `url`, following redirects; counts and discards the body, which must be `SIZE` bytes. */
const download = (url: string, headers: Record<string, string> = {}): Promise<Download> => {
  const start = performance.now()
  const get = (target: string, hops: number): Promise<Download> =>
    new Promise((resolve, reject) => {
      const req = request(target, { headers }, (res) => {
        const status = res.statusCode ?? 0
        if (status >= 300 && status < 400 && res.headers.location !== undefined && hops < 5) {
          res.resume()
          res.on("end", () => resolve(get(new URL(res.headers.location!, target).href, hops + 1)))
          return
        }
        if (status !== 200) {
          res.resume()
          return reject(new Error(`GET ${target}: ${status}`))
        }
        let bytes = 0
        let firstByte = 0
        res.on("data", (chunk: Buffer) => {
          if (bytes === 0) firstByte = performance.now()
          bytes += chunk.length
        })
        res.on("error", reject)
        res.on("end", () => {
          if (bytes !== SIZE) return reject(new Error(`GET ${target}: ${bytes} bytes, expected ${SIZE}`))
          resolve({ seconds: (performance.now() - start) / 1000, firstByteMillis: firstByte - start })
        })
      })
      req.on("error", reject)
      req.end()
    })
  return get(url, 0)
}

// ---------------------------------------------------------------------------------------------
// the baseline: a plain node:http server in its own process
// ---------------------------------------------------------------------------------------------

/** PUT /file: body to disk, SHA-256 (node:crypto) on the way, fsync, 201 with the hash (460 if not `x-sha256`). */
const baselineServer = `
const { createServer } = require("node:http")
const { createHash } = require("node:crypto")
const fs = require("node:fs")
const file = process.env.BENCH_BASELINE_FILE
const server = createServer((req, res) => {
  if (req.method === "PUT") {
    const hash = createHash("sha256")
    const fd = fs.openSync(file, "w")
    const out = fs.createWriteStream(null, { fd, autoClose: false })
    req.on("data", (chunk) => hash.update(chunk))
    req.pipe(out)
    out.on("finish", () => {
      fs.fsync(fd, (error) => {
        fs.closeSync(fd)
        const digest = hash.digest("hex")
        if (error) { res.writeHead(500); return res.end(String(error)) }
        res.writeHead(digest === req.headers["x-sha256"] ? 201 : 460, { "x-sha256": digest })
        res.end()
      })
    })
    return
  }
  const size = fs.statSync(file).size
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(size) })
  fs.createReadStream(file).pipe(res)
})
server.listen(0, "127.0.0.1", () => console.log(server.address().port))
`

const startBaseline = async (dir: string) => {
  const child = spawn(process.execPath, ["-e", baselineServer], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, BENCH_BASELINE_FILE: join(dir, "baseline.bin") }
  })
  children.push(child)
  const port = await new Promise<number>((resolve, reject) => {
    child.once("error", reject)
    child.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim())))
  })
  return { url: `http://127.0.0.1:${port}/file`, pid: child.pid }
}

// ---------------------------------------------------------------------------------------------
// the sites
// ---------------------------------------------------------------------------------------------

const startSites = async (dir: string) => {
  const [t1, t2, h1, h2] = await Promise.all(Array.from({ length: 4 }, freePort))
  const files = `{ files: { maxUploadBytes: ${2 * SIZE + 1024}, quotaBytes: ${4 * SIZE + 1024}, cleanupIntervalSeconds: 3600 } }`
  const topology = join(dir, "topology.yaml")
  writeFileSync(
    topology,
    [
      "name: bench-files",
      "defaultRegion: north",
      `secret: ${SECRET}`,
      "regions:",
      '  north: { cidrs: ["10.1.0.0/16"] }',
      '  south: { cidrs: ["10.2.0.0/16"] }',
      "sites:",
      `  n1: { region: north, tcp: "127.0.0.1:${t1}", http: "127.0.0.1:${h1}", modules: ${files} }`,
      `  s1: { region: south, tcp: "127.0.0.1:${t2}", http: "127.0.0.1:${h2}", modules: ${files} }`,
      "links: [{ between: [n1, s1] }]",
      ""
    ].join("\n")
  )
  const profile = CPU_PROF === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${resolvePath(CPU_PROF)}`]
  const sites = new Map<string, ChildProcess>()
  for (const site of ["n1", "s1"]) {
    const child = spawn(
      process.execPath,
      [...profile, bin, "run", "--topology", topology, "--site", site, "--data", join(dir, site)],
      { stdio: ["ignore", "ignore", "inherit"] }
    )
    children.push(child)
    sites.set(site, child)
  }
  const url = { n1: `http://127.0.0.1:${h1}`, s1: `http://127.0.0.1:${h2}` }
  for (const site of ["n1", "s1"] as const) {
    await waitFor(async () => {
      const status = await json(`${url[site]}/status`, "GET").catch(() => undefined)
      return status !== undefined && Object.keys(status.routes as object).length === 1
    }, `site ${site} up and routing`)
  }
  return { url, sites }
}

/** SIGTERM (so a CPU profile is written), SIGKILL after 30 s. */
const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill("SIGTERM")
  })

// ---------------------------------------------------------------------------------------------
// the run
// ---------------------------------------------------------------------------------------------

/** A file of `SIZE` random bytes, and its SHA-256 (hex). */
const makeFile = (path: string) => {
  const hash = createHash("sha256")
  const fd = openSync(path, "w")
  try {
    for (let done = 0; done < SIZE; ) {
      const chunk = randomBytes(Math.min(16 * 1024 * 1024, SIZE - done))
      hash.update(chunk)
      writeSync(fd, chunk)
      done += chunk.length
    }
    // On disk before the timed uploads, so its write-back does not compete with theirs.
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  return hash.digest("hex")
}

const b64 = (text: string) => Buffer.from(text).toString("base64")
const mbPerSecond = (seconds: number) => SIZE / 1e6 / seconds

const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), "meridian-bench-files-"))
try {
  const source = join(dir, "source.bin")
  const sha256 = makeFile(source)
  const baseline = await startBaseline(dir)
  const { url, sites } = await startSites(dir)
  const pid = { n1: sites.get("n1")!.pid, s1: sites.get("s1")!.pid }

  // Accounts: alice at home in the north (n1), bob in the south (s1).
  for (const [name, region] of [
    ["alice", "north"],
    ["bob", "south"]
  ] as const) {
    // Retried while the link settles (503); 409: an earlier try went through.
    await waitFor(
      () =>
        json(`${url.n1}/v1/accounts`, "POST", { name, password: `${name}-password-1`, region }).then(
          () => true,
          (e: Error) => / 409 /.test(e.message)
        ),
      `registering ${name}`
    )
  }
  /** Retried while the link settles (it may flap on a loaded machine). */
  const login = async (name: string) => {
    let token = ""
    await waitFor(async () => {
      token = (await json(`${url.n1}/v1/accounts/login`, "POST", { name, password: `${name}-password-1` }))
        .token as string
      return true
    }, `logging in ${name}`)
    return token
  }
  const [alice, bob] = [await login("alice"), await login("bob")]

  // Uploads: the baseline's, then alice's with tus to n1.
  const basePut = await measured([baseline.pid], () =>
    send(baseline.url, "PUT", { "x-sha256": sha256 }, { file: source, start: 0, length: SIZE })
  )
  if (basePut.result.status !== 201) throw new Error(`baseline upload: ${basePut.result.status} ${basePut.result.body}`)

  const tus = { "tus-resumable": "1.0.0", authorization: `Bearer ${alice}` }
  const ourPut = await measured([pid.n1], async () => {
    const created = await send(`${url.n1}/v1/files/uploads`, "POST", {
      ...tus,
      "upload-length": String(SIZE),
      "upload-metadata": `filename ${b64("bench.bin")},recipients ${b64("bob")},sha256 ${b64(sha256)}`
    })
    if (created.status !== 201) throw new Error(`tus creation: ${created.status} ${created.body}`)
    const upload = `${url.n1}${String(created.headers.location)}`
    let transfer = ""
    for (let offset = 0; offset < SIZE; offset += PATCH_BYTES) {
      const length = Math.min(PATCH_BYTES, SIZE - offset)
      const patched = await send(
        upload,
        "PATCH",
        { ...tus, "content-type": "application/offset+octet-stream", "upload-offset": String(offset) },
        { file: source, start: offset, length }
      )
      if (patched.status !== 204) throw new Error(`tus PATCH at ${offset}: ${patched.status} ${patched.body}`)
      transfer = String(patched.headers["meridian-transfer"] ?? "")
    }
    return transfer
  })
  const transferId = ourPut.result
  if (transferId === "") throw new Error("the last PATCH named no transfer")
  const gb = SIZE / 1e9
  line("files-upload", mbPerSecond(ourPut.seconds), "MB/s", mbPerSecond(basePut.seconds), "higher")
  line("files-upload-server-cpu", ourPut.cpu / gb, "cpu-s/GB", basePut.cpu / gb, "lower")

  // The transfer is offered to s1 (a durable tell): wait until bob's inbox there lists it.
  await waitFor(async () => {
    const inbox = await new Promise<Answer>((resolve, reject) => {
      const req = request(`${url.s1}/v1/files/inbox`, { headers: { authorization: `Bearer ${bob}` } }, (res) => {
        let body = ""
        res.on("data", (d: Buffer) => (body += d.toString()))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      })
      req.on("error", reject)
      req.end()
    })
    return inbox.status === 200 && inbox.body.includes(transferId)
  }, "the transfer in bob's inbox at s1")

  const auth = { authorization: `Bearer ${bob}` }
  type Run = Awaited<ReturnType<typeof measured<Download>>>
  const plain: Array<Run> = []
  const local: Array<Run> = []
  const brokered: Array<Run> = []
  const servers = [pid.n1, pid.s1]
  for (let round = 0; round < ROUNDS; round++) {
    plain.push(await measured([baseline.pid], () => download(baseline.url)))
    const localUrl = `${url.n1}/v1/files/transfers/${transferId}/download`
    local.push(await retried(() => measured(servers, () => download(localUrl, auth))))
    const brokeredUrl = `${url.s1}/v1/files/transfers/${transferId}/download`
    brokered.push(await retried(() => measured(servers, () => download(brokeredUrl, auth))))
  }
  const rate = (runs: ReadonlyArray<Run>) => median(runs.map((d) => mbPerSecond(d.result.seconds)))
  const firstByte = (runs: ReadonlyArray<Run>) => median(runs.map((d) => d.result.firstByteMillis))
  const cpu = (runs: ReadonlyArray<Run>) => median(runs.map((d) => d.cpu / gb))
  line("files-download-local", rate(local), "MB/s", rate(plain), "higher")
  line("files-download-brokered", rate(brokered), "MB/s", rate(plain), "higher")
  line("files-download-brokered-first-byte", firstByte(brokered), "ms", firstByte(plain), "lower")
  line("files-download-local-first-byte", firstByte(local), "ms", firstByte(plain), "lower")
  line("files-download-local-server-cpu", cpu(local), "cpu-s/GB", cpu(plain), "lower")
  line("files-download-brokered-server-cpu", cpu(brokered), "cpu-s/GB", cpu(plain), "lower")
  if (process.env.BENCH_VERBOSE !== undefined) {
    const runs = (list: ReadonlyArray<Run>) =>
      list.map((r) => ({ seconds: r.result.seconds, firstByteMillis: r.result.firstByteMillis, cpu: r.cpu }))
    console.error(
      JSON.stringify({
        upload: {
          baseline: { seconds: basePut.seconds, cpu: basePut.cpu },
          meridian: { seconds: ourPut.seconds, cpu: ourPut.cpu }
        },
        downloads: { plain: runs(plain), local: runs(local), brokered: runs(brokered) }
      })
    )
  }
  await Promise.all([...sites.values()].map(stop))
} finally {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  rmSync(dir, { recursive: true, force: true })
}
process.exit(0)
