/**
 * `npm run bench:roaming`: the `chat` module (roaming group communication) with real
 * `meridian run` processes on loopback — sites n1 (region north), s1 (south) and w1 (west), every
 * one running `chat`, linked in a full mesh; n1 dials s1 through a small TCP relay in this process
 * that can be paused (it stops reading from both sockets without closing them: a silent failure).
 *
 * Users: 100 homed in north (n001…), 33 in south (s001…), 33 in west (w001…), registered at their
 * home sites (each registration is a scrypt hash at the home region, one at a time there, so this
 * takes 100 hashes at n1 — the longest part of the run on a slow machine); 11 of them log in.
 *
 * 1. Throughput: a north-homed group of 100 members over the 3 regions (34/33/33); 8 member users
 *    (3 north, 3 south, 2 west, each at their home site) keep `BENCH_IN_FLIGHT` (default 32) sends
 *    in flight for `BENCH_SECONDS` (default 10) s. Value: recipient deliveries per second, the sum
 *    over sites of `meridian_chat_deliveries_total` from `/metrics`, counted once the deliveries have
 *    caught up (no more than answered sends × members), over the time from the first send to the
 *    last delivery. Baseline in the same run: the same with 100 members all homed in north (4 north
 *    senders at n1), i.e. no roaming. (A send at s1 or w1 is an ask to north's business module;
 *    one that gets no answer within the module's `sendTimeoutMillis` is answered 202 and queued.)
 * 2. Latency: `BENCH_SENDS` (default 300) sends one at a time (each after the previous one reached
 *    every reader) by a north member at n1 to a north-homed group of 100 members over the 3 regions;
 *    server-sent event readers for 3 members homed in north (at n1, the baseline), 3 in south (at s1)
 *    and 3 in west (at w1). Latency: receipt of the event − the time the POST was issued. p50, p99.
 * 3. Relay: one send every 50 ms from a north member at n1 to a north-homed group whose south
 *    member reads at s1; the n1–s1 relay is paused; value: ms from the pause until the first
 *    message sent after it reaches the south member (through w1). Baseline: 2000 ms, the target.
 *
 * Prints one JSON object per line on stdout (name, value, unit, baseline, ratio = value/baseline,
 * better); progress and anomalies on stderr. The sites' stderr goes to `<tmp>/<site>.log`;
 * `BENCH_KEEP=1` keeps the temporary directory.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { Agent, request } from "node:http"
import { connect, createServer, type Server, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve as resolvePath } from "node:path"
import { freePort, line } from "./support.js"

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 32)
const SENDS = Number(process.env.BENCH_SENDS ?? 300)
const RELAY_TARGET_MS = 2000
const SECRET = "bench-roaming-secret-0123456789"
const PASSWORD = "bench-password-1"
const bin = resolvePath("packages/cli/bin/meridian.js")
const SITES = ["n1", "s1", "w1"] as const
type SiteName = (typeof SITES)[number]
const REGION: Record<SiteName, string> = { n1: "north", s1: "south", w1: "west" }
const SITE_OF: Record<string, SiteName> = { north: "n1", south: "s1", west: "w1" }

const children: Array<ChildProcess> = []
const sleep = (millis: number) => new Promise((r) => setTimeout(r, millis))
const log = (text: string) => console.error(`bench:roaming: ${text}`)

// ---------------------------------------------------------------------------------------------
// HTTP client (node:http, keep-alive)
// ---------------------------------------------------------------------------------------------

const agent = new Agent({ keepAlive: true, maxSockets: 256 })

interface Answer {
  readonly status: number
  readonly body: string
  readonly headers: Record<string, string | Array<string> | undefined>
}

const call = (url: string, method: string, payload?: unknown, token?: string) =>
  new Promise<Answer>((resolve, reject) => {
    const text = payload === undefined ? "" : JSON.stringify(payload)
    const headers: Record<string, string> = { "content-length": String(Buffer.byteLength(text)) }
    if (payload !== undefined) headers["content-type"] = "application/json"
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    const req = request(url, { method, headers, agent }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (d: string) => (body += d))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end(text)
  })

/** What went out and what came back, for error messages. */
const describe = (method: string, url: string, payload: unknown, answer: Answer) =>
  `${method} ${url}${payload === undefined ? "" : ` ${JSON.stringify(payload).slice(0, 300)}`} → ${answer.status} ${answer.body.slice(0, 500)}`

/** A JSON answer; any status over 299 is an error naming the request and the answer. */
const ok = async (url: string, method: string, payload?: unknown, token?: string) => {
  const answer = await call(url, method, payload, token)
  if (answer.status >= 300) throw new Error(describe(method, url, payload, answer))
  return JSON.parse(answer.body) as Record<string, unknown>
}

const waitFor = async (check: () => Promise<boolean>, what: string, timeoutMillis = 60_000) => {
  const deadline = Date.now() + timeoutMillis
  let last: unknown
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch (error) {
      last = error
    }
    await sleep(100)
  }
  throw new Error(`${what}: not within ${timeoutMillis} ms (last: ${String(last)})`)
}

/** Runs `work` over `items`, `limit` at a time. */
const pool = async <A>(items: ReadonlyArray<A>, limit: number, work: (item: A) => Promise<void>) => {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!)
    })
  )
}

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

// ---------------------------------------------------------------------------------------------
// the relay n1 → s1: forwards bytes both ways until paused (then it reads nothing, closes nothing)
// ---------------------------------------------------------------------------------------------

const startRelay = async (port: number, target: number) => {
  const sockets = new Set<Socket>()
  let paused = false
  const server: Server = createServer((client) => {
    sockets.add(client)
    client.on("close", () => sockets.delete(client))
    client.on("error", () => {})
    if (paused) {
      // Accepted (as a kernel would) but never served, like a frozen router.
      client.pause()
      return
    }
    const upstream = connect(target, "127.0.0.1")
    sockets.add(upstream)
    upstream.on("close", () => sockets.delete(upstream))
    const forward = (from: Socket, to: Socket) => {
      from.on("data", (chunk: Buffer) => {
        if (!to.write(chunk)) {
          from.pause()
          to.once("drain", () => {
            if (!paused) from.resume()
          })
        }
      })
      from.on("end", () => to.end())
      from.on("error", () => to.destroy())
    }
    forward(client, upstream)
    forward(upstream, client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, "127.0.0.1", () => resolve())
  })
  return {
    pause: () => {
      paused = true
      for (const socket of sockets) socket.pause()
    },
    close: () => {
      for (const socket of sockets) socket.destroy()
      server.close()
    }
  }
}

// ---------------------------------------------------------------------------------------------
// the sites
// ---------------------------------------------------------------------------------------------

const startSites = async (
  dir: string,
  relayPort: number,
  tcp: Record<SiteName, number>,
  http: Record<SiteName, number>
) => {
  const topology = join(dir, "topology.yaml")
  writeFileSync(
    topology,
    [
      "name: bench-roaming",
      "defaultRegion: north",
      `secret: ${SECRET}`,
      "regions:",
      '  north: { cidrs: ["10.1.0.0/16"] }',
      '  south: { cidrs: ["10.2.0.0/16"] }',
      '  west: { cidrs: ["10.3.0.0/16"] }',
      "sites:",
      ...SITES.map(
        (s) =>
          `  ${s}: { region: ${REGION[s]}, tcp: "127.0.0.1:${tcp[s]}", http: "127.0.0.1:${http[s]}", modules: { chat: {} } }`
      ),
      "links:",
      `  - { between: [n1, s1], dial: "127.0.0.1:${relayPort}" }`,
      "  - { between: [n1, w1] }",
      "  - { between: [s1, w1] }",
      ""
    ].join("\n")
  )
  for (const site of SITES) {
    const child = spawn(
      process.execPath,
      [bin, "run", "--topology", topology, "--site", site, "--data", join(dir, site)],
      {
        stdio: ["ignore", "pipe", "pipe"]
      }
    )
    const out = createWriteStream(join(dir, `${site}.log`))
    child.stdout!.pipe(out)
    child.stderr!.pipe(out)
    child.once("exit", (code, signal) => {
      if (!stopping) log(`site ${site} exited (code ${code}, signal ${signal}); its log: ${join(dir, `${site}.log`)}`)
    })
    children.push(child)
  }
  const url = {
    n1: `http://127.0.0.1:${http.n1}`,
    s1: `http://127.0.0.1:${http.s1}`,
    w1: `http://127.0.0.1:${http.w1}`
  }
  await waitFor(async () => {
    for (const site of SITES) {
      const status = await ok(`${url[site]}/status`, "GET")
      if (Object.keys(status.routes as object).length !== 2) {
        throw new Error(`${site} routes ${JSON.stringify(status.routes)}`)
      }
    }
    const n1 = await ok(`${url.n1}/status`, "GET")
    const connected = (n1.tcp as { connected?: Array<string> } | undefined)?.connected ?? []
    if ((n1.routes as Record<string, string>).s1 === "s1" && connected.includes("s1")) return true
    throw new Error(`n1 routes ${JSON.stringify(n1.routes)}, tcp ${JSON.stringify(n1.tcp)}`)
  }, "every site up, routing to the others, n1 to s1 directly (through the relay)")
  return url
}

let stopping = false

// ---------------------------------------------------------------------------------------------
// users, groups, metrics
// ---------------------------------------------------------------------------------------------

const names = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(3, "0")}`)

type Urls = Record<SiteName, string>

/** 503 answers met during setup (registration, login), retried: by message, how many and one example. */
const setupRefusals = new Map<string, { count: number; example: string }>()

/** `method url payload`, again while it is answered 503 (at most 10 times, 1 s apart); the last answer. */
const retried = async (url: string, method: string, payload: unknown, done: (answer: Answer) => boolean) => {
  for (let attempt = 1; ; attempt++) {
    const answer = await call(url, method, payload)
    if (done(answer) || answer.status !== 503 || attempt >= 10) return { answer, attempt }
    let message = answer.body
    try {
      message = String((JSON.parse(answer.body) as { message: string }).message).replace(/\S+@\S+|site \S+/g, "…")
    } catch {
      // not JSON
    }
    const seen = setupRefusals.get(message) ?? { count: 0, example: describe(method, url, payload, answer) }
    seen.count++
    setupRefusals.set(message, seen)
    await sleep(1000)
  }
}

const reportRefusals = () => {
  for (const [message, { count, example }] of setupRefusals) {
    log(`setup: ${count} × 503 "${message}" (retried), e.g. ${example}`)
  }
  setupRefusals.clear()
}

/** Registers the users of `region` at its site, `inFlight` at a time. */
const register = (base: string, region: string, users: ReadonlyArray<string>, inFlight: number) =>
  pool(users, inFlight, async (name) => {
    const payload = { name, password: PASSWORD, region }
    const target = `${base}/v1/accounts`
    const { answer, attempt } = await retried(target, "POST", payload, (a) => a.status === 201)
    // 409 after a 503: the earlier attempt went through after all.
    if (answer.status === 201 || (answer.status === 409 && attempt > 1)) return
    throw new Error(describe("POST", target, payload, answer))
  })

const login = async (base: string, name: string) => {
  const target = `${base}/v1/accounts/login`
  const payload = { name, password: PASSWORD }
  const { answer } = await retried(target, "POST", payload, (a) => a.status === 200)
  if (answer.status !== 200) throw new Error(describe("POST", target, payload, answer))
  return (JSON.parse(answer.body) as { token: string }).token
}

let metricLinesShown = false

/** The sum over the sites of `meridian_chat_deliveries_total`. */
const deliveries = async (url: Urls) => {
  let sum = 0
  for (const site of SITES) {
    const text = (await call(`${url[site]}/metrics`, "GET")).body
    const found = text.split("\n").filter((l) => /^meridian_chat_deliveries_total[{\s]/.test(l))
    if (found.length === 0) throw new Error(`GET ${url[site]}/metrics: no meridian_chat_deliveries_total line`)
    if (!metricLinesShown) log(`${site} /metrics: ${found.join(" | ")}`)
    for (const l of found) sum += Number(l.slice(l.lastIndexOf(" ") + 1))
  }
  metricLinesShown = true
  return sum
}

/** Polls the deliveries until `expected` (or more) and unchanged for a second, or stalled for 10 s. */
const caughtUp = async (url: Urls, expected: number) => {
  let last = await deliveries(url)
  let changedAt = performance.now()
  const start = changedAt
  while (true) {
    await sleep(100)
    const now = await deliveries(url)
    const t = performance.now()
    if (now !== last) {
      last = now
      changedAt = t
    }
    if (last >= expected && t - changedAt >= 1000) break
    if (t - changedAt >= 10_000 || t - start >= 120_000) {
      log(`deliveries stopped at ${last}, expected ${expected}`)
      break
    }
  }
  return { total: last, at: changedAt }
}

interface Member {
  readonly user: string
  readonly token: string
  readonly site: SiteName
}

// ---------------------------------------------------------------------------------------------
// server-sent events
// ---------------------------------------------------------------------------------------------

interface Reader {
  readonly close: () => void
}

/** Reads `GET /v1/chat/groups/:id/events` and calls `onMessage` with each message and when it came. */
const follow = (
  base: string,
  group: string,
  token: string,
  after: number,
  onMessage: (message: { readonly id: string; readonly seq: number }, at: number) => void
) =>
  new Promise<Reader>((resolve, reject) => {
    const url = `${base}/v1/chat/groups/${group}/events?after=${after}`
    const req = request(url, { headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" } }, (res) => {
      if (res.statusCode !== 200) {
        let body = ""
        res.on("data", (d: Buffer) => (body += d.toString()))
        res.on("end", () => reject(new Error(`GET ${url}: ${res.statusCode} ${body}`)))
        return
      }
      resolve({ close: () => req.destroy() })
      res.setEncoding("utf8")
      let buffer = ""
      res.on("data", (chunk: string) => {
        const at = performance.now()
        buffer += chunk.replace(/\r\n/g, "\n")
        let end: number
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          let type = "message"
          let data = ""
          for (const field of event.split("\n")) {
            if (field.startsWith(":")) continue
            const colon = field.indexOf(":")
            const key = colon < 0 ? field : field.slice(0, colon)
            const value = colon < 0 ? "" : field.slice(colon + 1).replace(/^ /, "")
            if (key === "event") type = value
            else if (key === "data") data += data === "" ? value : `\n${value}`
          }
          if (data === "") continue
          if (type === "message") onMessage(JSON.parse(data) as { id: string; seq: number }, at)
          else log(`an '${type}' event from ${url}: ${data}`)
        }
      })
      res.on("error", () => {})
    })
    req.on("error", (error) => {
      if (!stopping) log(`event stream ${url}: ${String(error)}`)
      reject(error)
    })
    req.end()
  })

// ---------------------------------------------------------------------------------------------
// 1. throughput
// ---------------------------------------------------------------------------------------------

const throughput = async (url: Urls, label: string, group: string, members: number, senders: Array<Member>) => {
  const send = (sender: Member, id: string) =>
    call(`${url[sender.site]}/v1/chat/groups/${group}/messages`, "POST", { text: `${label} ${id}`, id }, sender.token)

  // Warm-up: each sender a few messages, then until the deliveries caught up.
  let warm = 0
  await Promise.all(
    senders.map(async (sender, i) => {
      for (let k = 0; k < 5; k++) {
        const answer = await send(sender, `${label}-warm-${i}-${k}`)
        if (answer.status >= 300) {
          throw new Error(describe("POST", `${url[sender.site]}/v1/chat/groups/${group}/messages`, undefined, answer))
        }
        warm++
      }
    })
  )
  const before = (await caughtUp(url, 0)).total

  let answered = 0
  const refused = new Map<string, { count: number; example: string }>()
  let sequence = 0
  const start = performance.now()
  const stopAt = start + SECONDS * 1000
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async (_, worker) => {
      const sender = senders[worker % senders.length]!
      while (performance.now() < stopAt) {
        const id = `${label}-${sequence++}`
        const target = `${url[sender.site]}/v1/chat/groups/${group}/messages`
        let answer: Answer
        try {
          answer = await send(sender, id)
        } catch (error) {
          answer = { status: 0, body: String(error), headers: {} }
        }
        if (answer.status === 201 || answer.status === 202) answered++
        if (answer.status !== 201) {
          const key = `${answer.status} ${answer.body.slice(0, 40)}`
          const seen = refused.get(key) ?? { count: 0, example: describe("POST", target, { id }, answer) }
          seen.count++
          refused.set(key, seen)
          if (answer.status !== 202) await sleep(100)
        }
      }
    })
  )
  const sendSeconds = (performance.now() - start) / 1000
  const expected = answered * members
  const done = await caughtUp(url, before + expected)
  const delivered = done.total - before
  const seconds = (done.at - start) / 1000
  log(
    `${label}: ${answered} sends answered in ${sendSeconds.toFixed(1)} s (${(answered / sendSeconds).toFixed(0)}/s), ` +
      `${delivered} deliveries (expected ${expected}) by ${seconds.toFixed(1)} s after the first send` +
      ` (warm-up: ${warm} sends before)`
  )
  for (const [, { count, example }] of refused) log(`${label}: ${count} × ${example}`)
  if (delivered !== expected) log(`${label}: ANOMALY: ${delivered} deliveries counted, ${expected} expected`)
  return Math.min(delivered, expected) / seconds
}

// ---------------------------------------------------------------------------------------------
// the run
// ---------------------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), "meridian-bench-roaming-"))
let relay: Awaited<ReturnType<typeof startRelay>> | undefined
const readers: Array<Reader> = []
let failed = false
const killChildren = () => {
  stopping = true
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killChildren()
    process.exit(130)
  })
}

try {
  const ports = await Promise.all(Array.from({ length: 7 }, freePort))
  const tcp = { n1: ports[0]!, s1: ports[1]!, w1: ports[2]! }
  const http = { n1: ports[3]!, s1: ports[4]!, w1: ports[5]! }
  relay = await startRelay(ports[6]!, tcp.s1)
  const began = performance.now()
  const url = await startSites(dir, ports[6]!, tcp, http)
  log(`sites up in ${((performance.now() - began) / 1000).toFixed(1)} s (data and logs in ${dir})`)

  // Users: 100 north, 33 south, 33 west; those who send or read log in once their region is done.
  // Every registration and login is a scrypt hash at the home region's site, one at a time there:
  // north's 100 are the critical path, so north keeps two in flight (its next one waiting behind).
  const north = names("n", 100)
  const south = names("s", 33)
  const west = names("w", 33)
  const homeOf = (user: string): SiteName => (user.startsWith("n") ? "n1" : user.startsWith("s") ? "s1" : "w1")
  const acting = {
    north: ["n001", "n002", "n003", "n004"],
    south: ["s001", "s002", "s003", "s004"],
    west: ["w001", "w002", "w003"]
  }
  const tokens = new Map<string, string>()
  const t = performance.now()
  await Promise.all(
    (
      [
        ["north", north, 2],
        ["south", south, 1],
        ["west", west, 1]
      ] as const
    ).map(async ([region, users, inFlight]) => {
      await register(url[SITE_OF[region]!], region, users, inFlight)
      log(`${region}: ${users.length} users registered after ${((performance.now() - t) / 1000).toFixed(1)} s`)
      for (const user of acting[region]) tokens.set(user, await login(url[homeOf(user)], user))
    })
  )
  reportRefusals()
  log(`users registered, ${tokens.size} logged in, in ${((performance.now() - t) / 1000).toFixed(1)} s`)
  const member = (user: string): Member => ({ user, token: tokens.get(user)!, site: homeOf(user) })

  const spread = [...north.slice(0, 34), ...south, ...west]
  const createGroup = async (name: string, owner: string, members: ReadonlyArray<string>) => {
    const group = await ok(
      `${url.n1}/v1/chat/groups`,
      "POST",
      { name, members: members.filter((m) => m !== owner) },
      tokens.get(owner)
    )
    const homes = (group.members as Array<{ home: string }>).reduce<Record<string, number>>(
      (acc, m) => ({ ...acc, [m.home]: (acc[m.home] ?? 0) + 1 }),
      {}
    )
    log(`group ${name} ${String(group.id)}: home ${String(group.home)}, members ${JSON.stringify(homes)}`)
    return String(group.id)
  }

  // 1. Throughput, roaming then the all-north baseline.
  const roamingGroup = await createGroup("roaming", "n001", spread)
  const northGroup = await createGroup("north", "n001", north)
  const roaming = await throughput(
    url,
    "roaming",
    roamingGroup,
    spread.length,
    ["n001", "s001", "w001", "n002", "s002", "w002", "n003", "s003"].map(member)
  )
  const local = await throughput(url, "north-only", northGroup, north.length, acting.north.map(member))
  line(
    `roaming deliveries/s (100 members over 3 regions, ${IN_FLIGHT} sends in flight; baseline: 100 members all in north)`,
    roaming,
    "deliveries/s",
    local,
    "higher"
  )

  // 2. Latency: readers n002–n004 at n1, s001–s003 at s1, w001–w003 at w1; n001 sends at n1.
  const latencyGroup = await createGroup("latency", "n001", spread)
  const issued = new Map<string, number>()
  const received = new Map<string, number>()
  const same: Array<number> = []
  const cross: Array<number> = []
  let waiter: { readonly id: string; readonly resolve: () => void } | undefined
  const readersOf = [
    ["n002", "n003", "n004"],
    ["s001", "s002", "s003", "w001", "w002", "w003"]
  ] as const
  const readerCount = readersOf[0].length + readersOf[1].length
  for (const [kind, users] of [
    ["same", readersOf[0]],
    ["cross", readersOf[1]]
  ] as const) {
    for (const user of users) {
      readers.push(
        await follow(url[homeOf(user)], latencyGroup, tokens.get(user)!, 0, (message, at) => {
          const sentAt = issued.get(message.id)
          if (sentAt === undefined) return
          ;(kind === "same" ? same : cross).push(at - sentAt)
          const count = (received.get(message.id) ?? 0) + 1
          received.set(message.id, count)
          if (count === readerCount && waiter?.id === message.id) waiter.resolve()
        })
      )
    }
  }
  const sender = member("n001")
  let missing = 0
  const sendAndWait = async (id: string) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const everywhere = new Promise<boolean>((resolve) => {
      waiter = { id, resolve: () => resolve(true) }
      timer = setTimeout(() => resolve(false), 10_000)
    }).finally(() => clearTimeout(timer))
    issued.set(id, performance.now())
    await ok(`${url.n1}/v1/chat/groups/${latencyGroup}/messages`, "POST", { text: `latency ${id}`, id }, sender.token)
    if (!(await everywhere)) {
      missing++
      log(`latency: ${id} reached ${received.get(id) ?? 0} of ${readerCount} readers within 10 s`)
    }
  }
  for (let i = 0; i < 20; i++) await sendAndWait(`warm-${i}`) // warm-up, then the samples are reset
  same.length = 0
  cross.length = 0
  const latencyStart = performance.now()
  for (let i = 0; i < SENDS; i++) await sendAndWait(`lat-${i}`)
  log(
    `latency: ${SENDS} sequential sends in ${((performance.now() - latencyStart) / 1000).toFixed(1)} s, ` +
      `${same.length} same-region and ${cross.length} cross-region receipts, ${missing} not everywhere in 10 s`
  )
  for (const reader of readers.splice(0)) reader.close()
  const [sameP50, sameP99, crossP50, crossP99] = [
    percentile(same, 0.5),
    percentile(same, 0.99),
    percentile(cross, 0.5),
    percentile(cross, 0.99)
  ]
  line(
    "roaming send-to-push latency p50, cross-region readers (baseline: same-region readers)",
    crossP50,
    "ms",
    sameP50,
    "lower"
  )
  line(
    "roaming send-to-push latency p99, cross-region readers (baseline: same-region readers)",
    crossP99,
    "ms",
    sameP99,
    "lower"
  )
  log(
    `latency target: cross-region p50 ≤ 2 × same-region p50: ${crossP50.toFixed(2)} ms vs 2 × ${sameP50.toFixed(2)} = ` +
      `${(2 * sameP50).toFixed(2)} ms: ${crossP50 <= 2 * sameP50 ? "MET" : "NOT MET"}`
  )

  // 3. Relay around a silently failed n1–s1 link.
  const relayGroup = await createGroup("relay", "n001", ["n001", "s004"])
  const relaySender = member("n001")
  const sentAt = new Map<string, number>()
  const seen = new Map<string, number>()
  let watching: { readonly id: string; readonly resolve: (at: number) => void } | undefined
  readers.push(
    await follow(url.s1, relayGroup, tokens.get("s004")!, 0, (message, at) => {
      seen.set(message.id, at)
      if (watching?.id === message.id) watching.resolve(at)
    })
  )
  let count = 0
  let firstAfterPause: string | undefined
  let pausedAt = Infinity
  const relayErrors: Array<string> = []
  const ticker = setInterval(() => {
    const id = `relay-${count++}`
    const at = performance.now()
    sentAt.set(id, at)
    if (firstAfterPause === undefined && at > pausedAt) firstAfterPause = id
    const target = `${url.n1}/v1/chat/groups/${relayGroup}/messages`
    call(target, "POST", { text: id, id }, relaySender.token).then(
      (answer) => {
        if (answer.status !== 201) relayErrors.push(describe("POST", target, { id }, answer))
      },
      (error) => relayErrors.push(`POST ${target}: ${String(error)}`)
    )
  }, 50)
  try {
    await waitFor(async () => [...sentAt.keys()].filter((id) => seen.has(id)).length >= 20, "relay: warm-up deliveries")
    pausedAt = performance.now()
    relay.pause()
    log("relay n1–s1 paused")
    // The route n1 → s1 as n1 sees it, while we wait.
    let routeChangedAt: number | undefined
    const watchRoute = (async () => {
      while (routeChangedAt === undefined && performance.now() - pausedAt < 30_000) {
        const status = await ok(`${url.n1}/status`, "GET").catch(() => undefined)
        if (status !== undefined && (status.routes as Record<string, string>).s1 === "w1") {
          routeChangedAt = performance.now()
        }
        await sleep(50)
      }
    })()
    await waitFor(async () => firstAfterPause !== undefined, "relay: a send after the pause", 5_000)
    const id = firstAfterPause!
    const deliveredAt =
      seen.get(id) ??
      (await new Promise<number | undefined>((resolve) => {
        watching = { id, resolve }
        setTimeout(() => resolve(undefined), 30_000)
      }))
    await watchRoute
    log(
      `relay: n1 routed to s1 through w1 ${routeChangedAt === undefined ? "not within 30 s" : `${(routeChangedAt - pausedAt).toFixed(0)} ms after the pause`}; ` +
        `${id} sent ${(sentAt.get(id)! - pausedAt).toFixed(0)} ms after the pause`
    )
    if (relayErrors.length > 0) log(`relay: ${relayErrors.length} sends refused, first: ${relayErrors[0]}`)
    if (deliveredAt === undefined) {
      throw new Error(`relay: ${id} (sent after the pause) did not reach s004 at s1 within 30 s`)
    }
    line(
      `roaming relay after a silent n1–s1 link failure, ms from the pause to the first later send delivered at s1 (baseline: the ${RELAY_TARGET_MS} ms target)`,
      deliveredAt - pausedAt,
      "ms",
      RELAY_TARGET_MS,
      "lower"
    )
  } finally {
    clearInterval(ticker)
  }
} catch (error) {
  failed = true
  reportRefusals()
  log(`FAILED: ${error instanceof Error ? error.message : String(error)}`)
  for (const site of SITES) {
    try {
      const tail = readFileSync(join(dir, `${site}.log`), "utf8")
        .trim()
        .split("\n")
        .slice(-5)
        .join("\n")
      if (tail !== "") log(`last lines of ${site}.log:\n${tail}`)
    } catch {
      // no log
    }
  }
} finally {
  for (const reader of readers) reader.close()
  killChildren()
  relay?.close()
  agent.destroy()
  if (process.env.BENCH_KEEP === undefined && !failed) rmSync(dir, { recursive: true, force: true })
}
process.exit(failed ? 1 : 0)
