/**
 * What the cross-package tests share: the real binary, free ports, a temporary three-site
 * topology, and bounded polling (tests wait for what a user would see, never for wall time).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const root = fileURLToPath(new URL("..", import.meta.url))
export const bin = join(root, "packages/cli/bin/meridian.js")

/** A free TCP port on loopback (bound, read, released). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

export const sleep = (millis: number) => new Promise((r) => setTimeout(r, millis))

/** Polls until `check` returns a value (bounded); the last failure is in the error. */
export const eventually = async <A>(
  what: string,
  check: () => Promise<A | undefined>,
  timeoutMillis = 60_000
): Promise<A> => {
  const deadline = Date.now() + timeoutMillis
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    await sleep(200)
  }
  throw new Error(`${what}: not within ${timeoutMillis} ms (last: ${String(last)})`)
}

/** GET (or `init`) a JSON answer; a non-2xx status is an error with the body. */
export const json = async (url: string, init?: RequestInit) => {
  const response = await fetch(url, init)
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`)
  return (await response.json()) as Record<string, unknown>
}

/**
 * A temporary directory with `<name>.yaml`: sites n1, s1, w1 (regions north, south, west) on free
 * ports, all running `ping`, linked in a triangle; `dialS1` makes n1 dial s1 at that address.
 */
export const threeSites = async (
  options: {
    readonly file?: string
    readonly dialS1?: (tcpS1: number) => Promise<string>
    /** The modules every site runs, as YAML flow (default `{ ping: {} }`). */
    readonly modules?: string
    /** Modules of one site instead of `modules` (YAML flow). */
    readonly siteModules?: Partial<Record<"n1" | "s1" | "w1", string>>
    /** Gives n1 a second HTTP address (a carrier named `telecom`) on a free port. */
    readonly carrier?: boolean
    /** Extra region fields, YAML flow (e.g. `countries: [CN]`), by region. */
    readonly regions?: Partial<Record<"north" | "south" | "west", string>>
  } = {}
) => {
  const modules = options.modules ?? "{ ping: {} }"
  const extra = (region: "north" | "south" | "west") =>
    options.regions?.[region] === undefined ? "" : `, ${options.regions[region]}`
  const dir = mkdtempSync(join(tmpdir(), "meridian-test-"))
  const [t1, t2, t3, h1, h2, h3] = await Promise.all(Array.from({ length: 6 }, freePort))
  const dial = options.dialS1 === undefined ? undefined : await options.dialS1(t2!)
  const telecom = options.carrier === true ? await freePort() : undefined
  const mods = (site: "n1" | "s1" | "w1") => options.siteModules?.[site] ?? modules
  const carriers = telecom === undefined ? "" : `, carriers: { telecom: { http: "127.0.0.1:${telecom}" } }`
  const file = join(dir, options.file ?? "topology.yaml")
  writeFileSync(
    file,
    [
      "name: test",
      "defaultRegion: north",
      "secret: test-secret-0123456789",
      "regions:",
      `  north: { cidrs: ["10.1.0.0/16"]${extra("north")} }`,
      `  south: { cidrs: ["10.2.0.0/16"]${extra("south")} }`,
      `  west: { cidrs: ["10.3.0.0/16"]${extra("west")} }`,
      "sites:",
      `  n1: { region: north, tcp: "127.0.0.1:${t1}", http: "127.0.0.1:${h1}"${carriers}, modules: ${mods("n1")} }`,
      `  s1: { region: south, tcp: "127.0.0.1:${t2}", http: "127.0.0.1:${h2}", modules: ${mods("s1")} }`,
      `  w1: { region: west, tcp: "127.0.0.1:${t3}", http: "127.0.0.1:${h3}", modules: ${mods("w1")} }`,
      "links:",
      dial === undefined ? "  - { between: [n1, s1] }" : `  - { between: [n1, s1], dial: "${dial}" }`,
      "  - { between: [n1, w1] }",
      "  - { between: [s1, w1] }",
      ""
    ].join("\n")
  )
  return { dir, file, tcp: { n1: t1!, s1: t2!, w1: t3! }, http: { n1: h1!, s1: h2!, w1: h3! }, telecom }
}

/**
 * Runs the binary to completion: exit code and output (`input` is written to its stdin; `cwd`
 * is its working directory, default this process's; `bin` another checkout's binary).
 */
export const cli = (
  args: ReadonlyArray<string>,
  options: {
    readonly input?: string
    readonly env?: Record<string, string>
    readonly cwd?: string
    readonly bin?: string
  } = {}
) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const proc = spawn(process.execPath, [options.bin ?? bin, ...args], {
      env: { ...process.env, ...options.env },
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    proc.on("error", reject)
    proc.on("close", (code) => resolve({ code, stdout, stderr }))
    proc.stdin.end(options.input ?? "")
  })

/** What each site process started by {@link runSites} logged on stdout so far. */
const logged = new WeakMap<ChildProcess, { text: string }>()

/** The log lines a site process started by {@link runSites} has written so far. */
export const logsOf = (proc: ChildProcess | undefined): string =>
  proc === undefined ? "" : (logged.get(proc)?.text ?? "")

/** Starts `meridian run` for each site (stderr inherited, stdout kept for {@link logsOf}); kill them with {@link killAll}. */
export const runSites = (topology: string, dir: string, sites: ReadonlyArray<string>) =>
  new Map<string, ChildProcess>(
    sites.map((site) => {
      const proc = spawn(
        process.execPath,
        [bin, "run", "--topology", topology, "--site", site, "--data", join(dir, site)],
        {
          stdio: ["ignore", "pipe", "inherit"]
        }
      )
      const log = { text: "" }
      logged.set(proc, log)
      proc.stdout.on("data", (d: Buffer) => (log.text += d.toString()))
      return [site, proc]
    })
  )

export const killAll = (procs: Iterable<ChildProcess>) => {
  for (const proc of procs) if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL")
}

/** Waits until every site of `http` serves HTTP and routes to the `others` other sites. */
export const routesEverywhere = (http: Readonly<Record<string, number>>) =>
  eventually("every site serves and routes to the others", async () => {
    const sites = Object.keys(http)
    for (const site of sites) {
      const status = await json(`http://127.0.0.1:${http[site]}/status`)
      if (Object.keys(status.routes as object).length !== sites.length - 1) return undefined
    }
    return true
  })

/**
 * A temporary directory with `topology.yaml`: sites n1, s1, w1, e1 (regions north, south, west,
 * east) on free ports, each running `modules` (YAML flow, default `{ chat: {} }`), linked in a
 * full mesh.
 */
export const fourSites = async (
  options: {
    readonly modules?: string
    /** Modules of one site instead of `modules` (YAML flow). */
    readonly siteModules?: Partial<Record<"n1" | "s1" | "w1" | "e1", string>>
  } = {}
) => {
  const modules = options.modules ?? "{ chat: {} }"
  const dir = mkdtempSync(join(tmpdir(), "meridian-test-"))
  const names = ["n1", "s1", "w1", "e1"] as const
  const regions = { n1: "north", s1: "south", w1: "west", e1: "east" } as const
  const ports = await Promise.all(Array.from({ length: 8 }, freePort))
  const tcp = Object.fromEntries(names.map((n, i) => [n, ports[i]!])) as Record<(typeof names)[number], number>
  const http = Object.fromEntries(names.map((n, i) => [n, ports[i + 4]!])) as Record<(typeof names)[number], number>
  const file = join(dir, "topology.yaml")
  writeFileSync(
    file,
    [
      "name: test-four",
      "defaultRegion: north",
      "secret: test-secret-0123456789",
      "regions:",
      ...names.map((n, i) => `  ${regions[n]}: { cidrs: ["10.${i + 1}.0.0/16"] }`),
      "sites:",
      ...names.map(
        (n) =>
          `  ${n}: { region: ${regions[n]}, tcp: "127.0.0.1:${tcp[n]}", http: "127.0.0.1:${http[n]}", modules: ${options.siteModules?.[n] ?? modules} }`
      ),
      "links:",
      ...names.flatMap((a, i) => names.slice(i + 1).map((b) => `  - { between: [${a}, ${b}] }`)),
      ""
    ].join("\n")
  )
  return { dir, file, tcp, http }
}

/**
 * Registers a user over HTTP as a client would on a loaded machine: a 503 (the arbiter or the home
 * region did not answer in time) is tried again, and a 409 after such a retry means the earlier
 * try got through. Resolves to the final status (201 when registered).
 */
export const register = (baseUrl: string, name: string, password: string, region: string) => {
  let retried = false
  return eventually(`registration of ${name}`, async () => {
    const response = await fetch(`${baseUrl}/v1/accounts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name, password, region })
    })
    if (response.status === 503) {
      retried = true
      return undefined
    }
    return response.status === 409 && retried ? 201 : response.status
  })
}

/** Logs in over HTTP (a 503 is tried again); the token. */
export const loginToken = async (baseUrl: string, name: string, password: string) => {
  const answer = await eventually(`login of ${name}`, async () => {
    const response = await fetch(`${baseUrl}/v1/accounts/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name, password })
    })
    return response.status === 503 ? undefined : { status: response.status, body: await response.json() }
  })
  if (answer.status !== 200) throw new Error(`login of ${name}: ${answer.status} ${JSON.stringify(answer.body)}`)
  return (answer.body as { token: string }).token
}
