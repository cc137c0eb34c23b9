/**
 * `npm run bench:sync-server`: the `sync` module's server through a device's `HttpSession` — a
 * real site process (the compiled binary, `meridian run`, a one-site topology with `sync: {}`, its
 * own data directory on `BENCH_DIR` or the temporary directory) and this process as the device
 * (undici, as the daemon).
 *
 * - chunk upload: `BENCH_CHUNKS` (default 400) distinct chunks of `BENCH_CHUNK_KIB` (default 64)
 *   KiB, once as single `PUT /v1/sync/chunks/{sha256}` (`BENCH_CONCURRENCY`, default 4, at once),
 *   once as `POST /v1/sync/chunks` batches of `BENCH_BATCH` (default 64) chunks;
 * - small files: `BENCH_FILES` (default 500) files of 1 KiB (one chunk each), once the way a device
 *   does one file at a time (missing, PUT, commit: three round trips each), once batched (one
 *   `missing`, `putChunks` in batches, one `commitMany` per `BENCH_BATCH_COMMITS`, default 500).
 *
 * Baseline in the same run: a plain `node:http` server in its own process that writes each request's
 * body to a new file and fsyncs it before answering (the same idea as `bench:files`): the same
 * requests with the same bodies, so the ratio is what the sync server costs over receiving the bytes.
 *
 * Besides MiB/s and files/s, the site's CPU per chunk and per file (user + system from `/proc`):
 * on a machine shared with other work, CPU says more about the server than wall time does.
 *
 * `BENCH_CPU_PROF=DIR` runs the site with `node --cpu-prof --cpu-prof-dir=DIR` (written when it stops).
 *
 * `BENCH_CPU_PROF=DIR` runs the site with `node --cpu-prof --cpu-prof-dir=DIR` (written when it stops).
 *
 * Prints one JSON object per line (name, value, unit, baseline, ratio = value/baseline, better).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { hashOf } from "@meridian/core/stores/Blobs"
import * as HttpSession from "@meridian/core/sync/HttpSession"
import * as Manifest from "@meridian/core/sync/Manifest"
import { type ChunkData, CommitManyRequest, CommitRequest, type Session } from "@meridian/core/sync/Protocol"
import * as Schema from "effect/Schema"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve as resolvePath } from "node:path"
import { bundleStaleReason, staleReason } from "../packages/cli/bin/compiled.js"
import { freePort, line } from "./support.js"
import { startSyncSite, waitFor } from "./sync/tools.js"

const CHUNKS = Number(process.env.BENCH_CHUNKS ?? 400)
const CHUNK_BYTES = Number(process.env.BENCH_CHUNK_KIB ?? 64) * 1024
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4)
const BATCH = Number(process.env.BENCH_BATCH ?? 64)
const FILES = Number(process.env.BENCH_FILES ?? 500)
const BATCH_COMMITS = Number(process.env.BENCH_BATCH_COMMITS ?? 500)
const children: Array<ChildProcess> = []
const MiB = 1024 * 1024

/** Seconds of CPU (user + system) a process has used, from `/proc/PID/stat`. */
const cpuSeconds = (pid: number | undefined): number => {
  if (pid === undefined) return 0
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** The baseline: each request's body into a new file, fsynced, then 204 (or `{}` for JSON). */
const BASELINE = `
const http = require("node:http"); const fs = require("node:fs"); const path = require("node:path")
const dir = process.argv[1]; let n = 0
http.createServer((req, res) => {
  const file = path.join(dir, String(n++)); const fd = fs.openSync(file, "w")
  req.on("data", (d) => fs.writeSync(fd, d))
  req.on("end", () => { fs.fsyncSync(fd); fs.closeSync(fd)
    if (req.headers["content-type"] === "application/json") { res.writeHead(200, { "content-type": "application/json" }); res.end("{}") }
    else { res.writeHead(204); res.end() } })
}).listen(Number(process.argv[2]), "127.0.0.1")
`

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

const startBaseline = async (root: string) => {
  const port = await freePort()
  const dir = mkdtempSync(join(root, "baseline-"))
  const child = spawn(process.execPath, ["-e", BASELINE, dir, String(port)], { stdio: ["ignore", "ignore", "inherit"] })
  children.push(child)
  const url = `http://127.0.0.1:${port}`
  await waitFor(
    async () => (await fetch(url, { method: "POST", body: "x" })).status === 204,
    "the baseline serves",
    60_000,
    100
  )
  return { child, url }
}

const startSite = async (root: string) => {
  const profile =
    process.env.BENCH_CPU_PROF === undefined
      ? []
      : ["--cpu-prof", `--cpu-prof-dir=${resolvePath(process.env.BENCH_CPU_PROF)}`]
  const { child, url } = await startSyncSite(root, "bench-sync-server", profile)
  children.push(child)
  return { child, url }
}

const token = async (url: string, name: string) => {
  const headers = { "content-type": "application/json" }
  const body = JSON.stringify({ name, password: `${name}-password-0123` })
  const registered = await fetch(`${url}/v1/accounts`, { method: "POST", headers, body })
  if (registered.status !== 201) throw new Error(`register ${name}: ${registered.status} ${await registered.text()}`)
  const logged = await fetch(`${url}/v1/accounts/login`, { method: "POST", headers, body })
  if (logged.status !== 200) throw new Error(`login ${name}: ${logged.status}`)
  return ((await logged.json()) as { token: string }).token
}

const chunksOf = (count: number, size: number): Array<ChunkData> =>
  Array.from({ length: count }, () => {
    const bytes = new Uint8Array(randomBytes(size))
    return { hash: hashOf(bytes), bytes }
  })

const groups = <A>(items: ReadonlyArray<A>, size: number): Array<Array<A>> => {
  const out: Array<Array<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Times `body` on the wall and in the site's CPU. */
const measure = async (pid: number | undefined, body: () => Promise<void>) => {
  const cpu = cpuSeconds(pid)
  const start = performance.now()
  await body()
  return { seconds: (performance.now() - start) / 1000, cpu: cpuSeconds(pid) - cpu }
}

/** A plain POST/PUT of `body` to the baseline. */
const post = async (url: string, body: Uint8Array | string, json = false) => {
  const r = await fetch(url, {
    method: "POST",
    body,
    headers: { "content-type": json ? "application/json" : "application/octet-stream" }
  })
  await r.arrayBuffer()
}

const smallFile = (chunk: ChunkData, i: number): CommitRequest => ({
  path: `small/${i}.txt`,
  base: 0,
  op: {
    _tag: "Put",
    mtime: 1,
    content: {
      _tag: "Manifest",
      bytes: Manifest.encode({
        size: chunk.bytes.length,
        sha256: chunk.hash,
        chunks: [{ hash: chunk.hash, size: chunk.bytes.length }]
      })
    }
  }
})

const main = async () => {
  const stale = staleReason() ?? bundleStaleReason()
  if (stale !== undefined)
    throw new Error(`${stale}: run \`npm run build\` first (this bench runs the compiled binary)`)
  const root = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), "bench-sync-server-"))
  try {
    const site = await startSite(root)
    const baseline = await startBaseline(root)
    const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
    const sessionOf = async (account: string) =>
      runtime.runPromise(
        HttpSession.make({ baseUrl: site.url, token: await token(site.url, account), device: "bench" })
      )
    const go = <A>(effect: Effect.Effect<A, unknown, never>) => runtime.runPromise(effect)
    const pid = site.child.pid

    // ---- chunk upload ----------------------------------------------------------------------
    const mib = (CHUNKS * CHUNK_BYTES) / MiB
    const single: Session = await sessionOf("single")
    await go(single.head)
    const one = chunksOf(CHUNKS, CHUNK_BYTES)
    const singleRun = await measure(pid, () =>
      go(Effect.forEach(one, (c) => single.putChunk(c.hash, c.bytes), { concurrency: CONCURRENCY, discard: true }))
    )
    const singleBase = await measure(baseline.child.pid, async () => {
      for (const part of groups(one, CONCURRENCY)) await Promise.all(part.map((c) => post(baseline.url, c.bytes)))
    })
    line(
      `chunk upload, single PUTs of ${CHUNK_BYTES / 1024} KiB × ${CONCURRENCY}`,
      mib / singleRun.seconds,
      "MiB/s",
      mib / singleBase.seconds,
      "higher"
    )
    line(
      "site CPU per chunk, single PUTs",
      (singleRun.cpu * 1000) / CHUNKS,
      "ms",
      (singleBase.cpu * 1000) / CHUNKS,
      "lower"
    )

    const batched: Session = await sessionOf("batched")
    await go(batched.head)
    const many = chunksOf(CHUNKS, CHUNK_BYTES)
    const { encode } = await import("@meridian/core/sync/Frames")
    const batchRun = await measure(pid, () =>
      go(Effect.forEach(groups(many, BATCH), (part) => batched.putChunks(part), { discard: true }))
    )
    const batchBase = await measure(baseline.child.pid, async () => {
      for (const part of groups(many, BATCH)) await post(baseline.url, encode(part))
    })
    line(
      `chunk upload, putChunks of ${BATCH} × ${CHUNK_BYTES / 1024} KiB`,
      mib / batchRun.seconds,
      "MiB/s",
      mib / batchBase.seconds,
      "higher"
    )
    line(
      "site CPU per chunk, putChunks",
      (batchRun.cpu * 1000) / CHUNKS,
      "ms",
      (batchBase.cpu * 1000) / CHUNKS,
      "lower"
    )

    // ---- small files -----------------------------------------------------------------------
    const files = await sessionOf("files")
    await go(files.head)
    const oneByOne = chunksOf(FILES, 1024)
    const filesRun = await measure(pid, () =>
      go(
        Effect.forEach(
          oneByOne,
          (c, i) =>
            Effect.gen(function* () {
              const lacking = yield* files.missing([c.hash])
              for (const h of lacking) yield* files.putChunk(h, c.bytes)
              yield* files.commit(smallFile(c, i))
            }),
          { discard: true }
        )
      )
    )
    const filesBase = await measure(baseline.child.pid, async () => {
      for (const [i, c] of oneByOne.entries()) {
        await post(baseline.url, JSON.stringify({ chunks: [c.hash] }), true)
        await post(baseline.url, c.bytes)
        await post(baseline.url, JSON.stringify(Schema.encodeSync(CommitRequest)(smallFile(c, i))), true)
      }
    })
    line(
      "small files of 1 KiB, one at a time (missing, PUT, commit)",
      FILES / filesRun.seconds,
      "files/s",
      FILES / filesBase.seconds,
      "higher"
    )
    line(
      "site CPU per small file, one at a time",
      (filesRun.cpu * 1000) / FILES,
      "ms",
      (filesBase.cpu * 1000) / FILES,
      "lower"
    )

    const filesMany = await sessionOf("filesmany")
    await go(filesMany.head)
    const together = chunksOf(FILES, 1024)
    const requests = together.map(smallFile)
    const togetherRun = await measure(pid, () =>
      go(
        Effect.gen(function* () {
          for (const part of groups(together, 1024)) {
            const lacking = new Set(yield* filesMany.missing(part.map((c) => c.hash)))
            yield* filesMany.putChunks(part.filter((c) => lacking.has(c.hash)))
          }
          for (const part of groups(requests, BATCH_COMMITS)) {
            const outcomes = yield* filesMany.commitMany(part)
            const refused = outcomes.filter((o) => o._tag === "Refused")
            if (refused.length > 0) return yield* Effect.dieMessage(`refused: ${JSON.stringify(refused[0])}`)
          }
        })
      )
    )
    const togetherBase = await measure(baseline.child.pid, async () => {
      for (const part of groups(together, 1024)) {
        await post(baseline.url, JSON.stringify({ chunks: part.map((c) => c.hash) }), true)
        await post(baseline.url, encode(part))
      }
      for (const part of groups(requests, BATCH_COMMITS)) {
        await post(baseline.url, JSON.stringify(Schema.encodeSync(CommitManyRequest)({ commits: part })), true)
      }
    })
    line(
      `small files of 1 KiB, batched (missing, putChunks, commitMany of ${BATCH_COMMITS})`,
      FILES / togetherRun.seconds,
      "files/s",
      FILES / togetherBase.seconds,
      "higher"
    )
    line(
      "site CPU per small file, batched",
      (togetherRun.cpu * 1000) / FILES,
      "ms",
      (togetherBase.cpu * 1000) / FILES,
      "lower"
    )
  } finally {
    await Promise.all(children.map(stop))
    rmSync(root, { recursive: true, force: true })
  }
}

main().catch((error) => {
  for (const child of children) child.kill("SIGKILL")
  console.error(error)
  process.exit(1)
})
