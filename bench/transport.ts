/**
 * `npm run bench:transport`: a cross-site ask (non-durable) over TCP loopback between two
 * processes — this one runs site `a`, a `meridian run` child runs site `b` with the echo actor —
 * sequential p50/p99 latency, and throughput with 64 asks in flight (64 fibers of one Effect runtime,
 * as the NATS client's 64 requests share its one event loop). Baseline in the same run: the
 * same request/reply through a local NATS server (Debian's `nats-server`, installed with apt-get
 * when missing) with the `nats` client, the responder in a child process too.
 *
 * Both are measured in `BENCH_ROUNDS` (3) interleaved rounds — NATS, Meridian, NATS, … — and each
 * figure is the median of its rounds: on a shared machine the speed drifts within a run, and one
 * measurement of each, one after the other, compares two different machines. Both clients run in
 * this one process, which runs site `a` (and so has the site's V8 setting, `SiteNode.tuneV8`).
 *
 * Prints one JSON object per line (name, value, unit, baseline, ratio = value/baseline, better).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execFileSync, spawn, type ChildProcess } from "node:child_process"
import { existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect, StringCodec } from "nats"
import * as Ping from "../packages/core/src/ping/Ping.js"
import * as MemoryStores from "../packages/core/src/stores/Memory.js"
import * as Builder from "../packages/core/src/topology/Builder.js"
import * as SiteNode from "../packages/node/src/site/SiteNode.js"
import { freePort, line } from "./support.js"

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 5_000)
const CONCURRENT_TOTAL = Number(process.env.BENCH_CONCURRENT ?? 50_000)
const IN_FLIGHT = 64
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECRET = "bench-transport-secret-0123456789"
const children: Array<ChildProcess> = []

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

interface Result {
  readonly p50: number
  readonly p99: number
  readonly throughput: number
}

const summarize = (latencies: Array<number>, seconds: number): Result => {
  latencies.sort((a, b) => a - b)
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), throughput: CONCURRENT_TOTAL / seconds }
}

/** Each figure's median over the rounds. */
const median = (rounds: ReadonlyArray<Result>): Result => {
  const of = (pick: (r: Result) => number) =>
    percentile(
      [...rounds.map(pick)].sort((a, b) => a - b),
      0.5
    )
  return { p50: of((r) => r.p50), p99: of((r) => r.p99), throughput: of((r) => r.throughput) }
}

/** Sequential latencies (ms) and throughput (req/s) with IN_FLIGHT concurrent requesters. */
const measure = async (request: () => Promise<unknown>) => {
  for (let i = 0; i < 500; i++) await request() // warm-up
  const latencies: Array<number> = []
  for (let i = 0; i < SEQUENTIAL; i++) {
    const start = performance.now()
    await request()
    latencies.push(performance.now() - start)
  }
  let next = 0
  const start = performance.now()
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next++ < CONCURRENT_TOTAL) await request()
    })
  )
  return summarize(latencies, (performance.now() - start) / 1000)
}

/**
 * The same measurement for an Effect client: every ask runs inside the one runtime (as the NATS
 * client's requests run on its one event loop), IN_FLIGHT fibers at a time.
 */
const measureEffect = <E>(request: Effect.Effect<unknown, E>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 500; i++) yield* request // warm-up
    const latencies: Array<number> = []
    for (let i = 0; i < SEQUENTIAL; i++) {
      const start = performance.now()
      yield* request
      latencies.push(performance.now() - start)
    }
    let next = 0
    const start = performance.now()
    yield* Effect.forEach(
      Array.from({ length: IN_FLIGHT }),
      () =>
        Effect.whileLoop({
          while: () => next++ < CONCURRENT_TOTAL,
          body: () => request,
          step: () => {}
        }),
      { concurrency: "unbounded", discard: true }
    )
    return summarize(latencies, (performance.now() - start) / 1000)
  })

const natsServer = (): string => {
  for (const path of ["/usr/sbin/nats-server", "/usr/bin/nats-server"]) if (existsSync(path)) return path
  console.error("bench:transport: installing nats-server (apt-get)")
  execFileSync("apt-get", ["update", "-q"], { stdio: "ignore" })
  execFileSync("apt-get", ["install", "-y", "-q", "nats-server"], {
    stdio: "ignore",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  })
  for (const path of ["/usr/sbin/nats-server", "/usr/bin/nats-server"]) if (existsSync(path)) return path
  throw new Error("nats-server not found after apt-get install")
}

const waitFor = async (check: () => Promise<boolean>, what: string) => {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${what} did not come up`)
}

const baseline = async () => {
  const port = await freePort()
  children.push(spawn(natsServer(), ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" }))
  await waitFor(
    async () => (await connect({ servers: `127.0.0.1:${port}` }).then((c) => c.close())) === undefined,
    "nats-server"
  )
  // The responder in its own process, as site b is.
  const responder = `import("nats").then(async ({ connect }) => { const nc = await connect({ servers: "127.0.0.1:${port}" }); const sub = nc.subscribe("echo"); console.log("ready"); for await (const m of sub) m.respond(m.data) })`
  const child = spawn(process.execPath, ["-e", responder], { stdio: ["ignore", "pipe", "inherit"], cwd: process.cwd() })
  children.push(child)
  await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()))
  const nc = await connect({ servers: `127.0.0.1:${port}` })
  const codec = StringCodec()
  const payload = codec.encode(JSON.stringify({ _tag: "Echo", text: "bench" }))
  return {
    measure: () => measure(() => nc.request("echo", payload, { timeout: 5000 })),
    close: () => nc.close()
  }
}

/** Site `a` here and site `b` in a child process; then the interleaved rounds of both. */
const run = async (nats: { readonly measure: () => Promise<Result> }) => {
  const dir = mkdtempSync(join(tmpdir(), "meridian-bench-"))
  const [ta, tb, ha, hb] = await Promise.all([freePort(), freePort(), freePort(), freePort()])
  const topologyFile = join(dir, "topology.yaml")
  writeFileSync(
    topologyFile,
    [
      "name: bench",
      "defaultRegion: r",
      `secret: ${SECRET}`,
      "regions: { r: {} }",
      "sites:",
      `  a: { region: r, tcp: "127.0.0.1:${ta}", http: "127.0.0.1:${ha}", modules: { ping: {} } }`,
      `  b: { region: r, tcp: "127.0.0.1:${tb}", http: "127.0.0.1:${hb}", modules: { ping: {} } }`,
      "links: [{ between: [a, b] }]",
      ""
    ].join("\n")
  )
  children.push(
    spawn(
      process.execPath,
      ["packages/cli/bin/meridian.js", "run", "--topology", topologyFile, "--site", "b", "--data", join(dir, "b")],
      {
        stdio: "ignore"
      }
    )
  )
  await waitFor(async () => (await fetch(`http://127.0.0.1:${hb}/health`)).ok, "site b")
  const topology = await Effect.runPromise(
    Builder.make("bench")
      .region("r", {})
      .defaultRegion("r")
      .secret(SECRET)
      .site("a", { region: "r", tcp: `127.0.0.1:${ta}`, http: `127.0.0.1:${ha}`, modules: { ping: {} } })
      .site("b", { region: "r", tcp: `127.0.0.1:${tb}`, http: `127.0.0.1:${hb}`, modules: { ping: {} } })
      .link("a", "b")
      .build()
  )
  return Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const stores = yield* Layer.build(MemoryStores.layer({ signingKey: new Uint8Array(32).fill(3) }))
        const node = yield* SiteNode.start({ topology, site: "a", modules: [Ping.module], secret: SECRET }).pipe(
          Effect.provide(stores)
        )
        const echo = Ping.refs(node.site.system, "b").echo
        const request = new Ping.Echo({ text: "bench" })
        yield* Effect.promise(() =>
          waitFor(
            () => Effect.runPromise(Effect.map(Effect.either(echo.ask(request)), (e) => e._tag === "Right")),
            "the link a–b"
          )
        )
        const rounds = { nats: [] as Array<Result>, ours: [] as Array<Result> }
        for (let round = 0; round < ROUNDS; round++) {
          rounds.nats.push(yield* Effect.promise(() => nats.measure()))
          rounds.ours.push(yield* measureEffect(echo.ask(request)))
        }
        return { nats: median(rounds.nats), ours: median(rounds.ours) }
      }).pipe(Effect.provide(NodeContext.layer))
    )
  )
}

try {
  const client = await baseline()
  const { nats, ours } = await run(client)
  await client.close()
  line("transport-ask-p50", ours.p50, "ms", nats.p50, "lower", 4)
  line("transport-ask-p99", ours.p99, "ms", nats.p99, "lower", 4)
  line(`transport-ask-throughput-${IN_FLIGHT}-in-flight`, ours.throughput, "asks/s", nats.throughput, "higher", 4)
} finally {
  for (const child of children) child.kill("SIGKILL")
}
process.exit(0)
