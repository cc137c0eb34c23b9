import { describe, expect, it } from "@effect/vitest"
import { mkdtempSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { cli, eventually, json, killAll, logsOf, routesEverywhere, runSites, threeSites } from "./support.js"

const post = (url: string, body: unknown, token?: string) =>
  fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` })
    },
    body: JSON.stringify(body)
  })
const get = (url: string, token?: string) =>
  fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })

describe("accounts, tokens and operator commands across real site processes", () => {
  it("registers once per topology, logs in anywhere, revokes everywhere; operators run links and dead letters", async () => {
    const { dir, file: topology, http } = await threeSites()
    const config = mkdtempSync(join(tmpdir(), "meridian-config-"))
    const env = { XDG_CONFIG_HOME: config }
    const at = (site: keyof typeof http) => ["--topology", topology, "--site", site]
    const url = (site: keyof typeof http, path: string) => `http://127.0.0.1:${http[site]}${path}`

    // The first operator is created offline, in n1's data directory.
    const created = await cli(
      ["account", "create", "ops", "--operator", ...at("n1"), "--data", join(dir, "n1"), "--json"],
      { input: "operator-password\n", env }
    )
    expect(created.stderr).toBe("")
    expect(JSON.parse(created.stdout)).toMatchObject({ name: "ops", homeRegion: "north", roles: ["operator", "user"] })

    const procs = runSites(topology, dir, ["n1", "s1", "w1"])
    try {
      await routesEverywhere(http)

      // Bodies and parameters a client got wrong are 400 with a reason, never 500.
      for (const body of ['{"name":', "not json", "{"]) {
        for (const path of ["/v1/accounts", "/v1/accounts/login"]) {
          const answer = await fetch(url("n1", path), {
            method: "POST",
            headers: { "content-type": "application/json" },
            body
          })
          expect(answer.status, `${path} ${body}`).toBe(400)
          expect(await answer.json()).toMatchObject({ error: "BadRequest", message: expect.stringContaining("JSON") })
        }
      }
      expect((await fetch(url("n1", `/v1/ping/echo?text=${"a".repeat(5000)}`))).status).toBe(400)

      // A user registered at n1 with its home in the south; the name is then taken everywhere.
      const alice = await cli(["account", "create", "alice", "--region", "south", ...at("n1"), "--json"], {
        input: "alice-password\n",
        env
      })
      expect(alice.code).toBe(0)
      expect(JSON.parse(alice.stdout)).toMatchObject({ name: "alice", homeRegion: "south", roles: ["user"] })
      const again = await post(url("w1", "/v1/accounts"), { name: "alice", password: "another-password" })
      expect(again.status).toBe(409)
      expect(await again.json()).toMatchObject({
        error: "AccountExists",
        message: "the name alice is taken",
        name: "alice"
      })
      expect((await post(url("w1", "/v1/accounts"), { name: "../etc", password: "long-enough" })).status).toBe(400)
      expect((await post(url("w1", "/v1/accounts"), { name: "bob", password: "short" })).status).toBe(400)

      // Login at w1 (the password is checked in the south); the token works at every site.
      const wrong = await cli(["account", "login", "alice", ...at("w1")], { input: "not-her-password\n", env })
      expect(wrong.code).toBe(1)
      expect(wrong.stderr).toContain("InvalidCredentials")
      const login = await cli(["account", "login", "alice", ...at("w1")], { input: "alice-password\n", env })
      expect(login.code).toBe(0)
      expect(statSync(join(config, "meridian", "token.json")).mode & 0o777).toBe(0o600)
      const token = (await cli(["account", "token"], { env })).stdout.trim()
      for (const site of ["n1", "s1", "w1"] as const) {
        expect(await (await get(url(site, "/v1/accounts/me"), token)).json()).toMatchObject({
          name: "alice",
          homeRegion: "south"
        })
      }
      // A user is not an operator; no token is no access.
      expect((await get(url("n1", "/v1/admin/status"), token)).status).toBe(403)
      expect((await get(url("n1", "/v1/admin/status"))).status).toBe(401)
      expect((await get(url("n1", "/v1/accounts/me"), "not.a-token")).status).toBe(401)

      // Logout at n1 revokes the token there at once and, by durable message, at s1 and w1.
      const logout = await cli(["account", "logout", ...at("n1"), "--json"], { env })
      expect(logout.code).toBe(0)
      expect(JSON.parse(logout.stdout)).toMatchObject({ sitesTold: 2 })
      expect((await cli(["account", "token"], { env })).code).toBe(4)
      for (const site of ["n1", "s1", "w1"] as const) {
        await eventually(`the token is refused at ${site}`, async () => {
          const response = await get(url(site, "/v1/accounts/me"), token)
          return response.status === 401 && ((await response.json()) as { reason: string }).reason === "revoked"
            ? true
            : undefined
        })
      }

      // The operator created offline logs in over the network (its name was claimed when n1 started).
      const opsLogin = await cli(["account", "login", "ops", ...at("s1")], { input: "operator-password\n", env })
      expect(opsLogin.code).toBe(0)
      expect(opsLogin.stdout).toContain("operator")

      // Link maintenance: n1–s1 down, and n1's asks to s1 go through w1 (both ends route around).
      const down = await cli(["link", "down", "--peer", "s1", ...at("n1"), "--json"], { env })
      expect(down.code).toBe(0)
      expect(JSON.parse(down.stdout)).toMatchObject({ peer: "s1", maintenance: ["s1"], routes: { s1: "w1" } })
      // The sites say so in their logs: the operator's request, the link's state, the first contact.
      await eventually("n1 logs the maintenance and the link going down", async () =>
        logsOf(procs.get("n1")).includes("link: s1 taken out of service for maintenance") &&
        logsOf(procs.get("n1")).includes("link: s1 is down")
          ? true
          : undefined
      )
      expect(logsOf(procs.get("s1"))).toContain("tcp s1: n1 joined (connected)")
      await eventually("s1 routes to n1 through w1", async () =>
        ((await json(url("s1", "/status"))).routes as Record<string, string>).n1 === "w1" ? true : undefined
      )
      expect(await json(url("n1", "/v1/ping/echo?text=around&site=s1"))).toEqual({ text: "around", site: "s1" })
      // The same from the command line (no token needed: ping is a diagnostics module).
      const echoed = await cli(["ping", "echo", "around", "--to", "s1", ...at("n1"), "--json"], { env })
      expect(JSON.parse(echoed.stdout)).toEqual({ text: "around", site: "s1" })
      expect((await cli(["ping", "echo", "hi", ...at("w1")], { env })).stdout.trim()).toBe("w1: hi")
      expect(JSON.parse((await cli(["ping", "counter", ...at("s1"), "--json"], { env })).stdout)).toEqual({
        count: expect.any(Number)
      })
      const nowhere = await cli(["ping", "echo", "x", "--to", "nowhere", ...at("n1")], { env })
      expect(nowhere.code).toBe(1)
      expect(nowhere.stderr).toContain("echo: 404 NotFound")
      const status = JSON.parse((await cli(["status", ...at("n1"), "--json"], { env })).stdout)
      expect(status).toMatchObject({ maintenance: ["s1"], links: { s1: "down", w1: "up" } })
      expect(status.supervision).toBeDefined()
      const up = await cli(["link", "up", "--peer", "s1", ...at("n1"), "--json"], { env })
      expect(JSON.parse(up.stdout)).toMatchObject({ maintenance: [], routes: { s1: "s1" } })
      expect(logsOf(procs.get("n1"))).toContain("link: s1 back in service")
      expect((await cli(["link", "down", "--peer", "nowhere", ...at("n1")], { env })).code).toBe(1)

      // Dead letters: listed by id (the kernel tests cover what replay sends), purged all at once.
      const listed = JSON.parse((await cli(["deadletters", "list", ...at("n1"), "--json"], { env })).stdout)
      expect(Object.keys(listed)).toEqual(["letters", "counts", "total"])
      expect((await cli(["deadletters", "purge", ...at("n1")], { env })).code).toBe(2)
      const purged = await cli(["deadletters", "purge", "--all", ...at("n1"), "--json"], { env })
      expect(JSON.parse(purged.stdout)).toEqual({ purged: listed.letters.length })
      const after = JSON.parse((await cli(["deadletters", "list", ...at("n1"), "--json"], { env })).stdout)
      expect(after.letters).toEqual([])

      // The API documents itself, with the API of every module the site runs (here ping's).
      const openapi = await json(url("w1", "/openapi.json"))
      expect(Object.keys(openapi.paths as object)).toEqual(
        expect.arrayContaining([
          "/v1/accounts",
          "/v1/accounts/login",
          "/v1/admin/links/{peer}/down",
          "/v1/ping/echo",
          "/v1/ping/counter",
          "/v1/ping/counter/increments"
        ])
      )
      expect(await (await fetch(url("w1", "/docs"))).text()).toContain("Meridian site API")
    } finally {
      killAll(procs.values())
    }
  }, 240_000)
})
