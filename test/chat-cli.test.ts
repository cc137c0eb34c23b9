import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { sseDecoder, type SseEvent } from "@meridian/cli/chat"
import * as Either from "effect/Either"
import { bin, cli, eventually, killAll, register, routesEverywhere, runSites, threeSites } from "./support.js"

/** The events a decoder returns for `pieces`, fed one at a time. */
const decodeAll = (pieces: ReadonlyArray<string>) => {
  const feed = sseDecoder(64)
  const events: Array<SseEvent> = []
  for (const piece of pieces) events.push(...Either.getOrThrow(feed(piece)))
  return events
}

describe("meridian chat against real site processes", () => {
  // One topology for the whole suite: n1 (north), s1 (south), w1 (west), every site running chat.
  // alice is homed in the north, bob in the south, carol in the west; each has her own token.
  let topology = ""
  let config = ""
  let procs = new Map<string, ChildProcess>()
  const users = [
    ["alice", "north"],
    ["bob", "south"],
    ["carol", "west"]
  ] as const
  const as = (user: string) => ({ XDG_CONFIG_HOME: join(config, user) })
  const chat = (user: string, ...args: ReadonlyArray<string>) =>
    cli(["chat", ...args, "--topology", topology], { env: as(user) })
  let group = ""

  beforeAll(async () => {
    const sites = await threeSites({ modules: "{ ping: {}, chat: {} }" })
    topology = sites.file
    config = mkdtempSync(join(tmpdir(), "meridian-chat-config-"))
    procs = runSites(topology, sites.dir, ["n1", "s1", "w1"])
    await routesEverywhere(sites.http)
    for (const [name, region] of users) {
      expect(await register(`http://127.0.0.1:${sites.http.n1}`, name, `${name}-password`, region)).toBe(201)
    }
    const logins = await Promise.all(
      users.map(([name]) =>
        cli(["account", "login", name, "--topology", topology], { input: `${name}-password\n`, env: as(name) })
      )
    )
    expect(
      logins.map((l) => l.code),
      logins.map((l) => l.stderr).join("")
    ).toEqual([0, 0, 0])
  }, 180_000)

  afterAll(() => killAll(procs.values()))

  it("creates a group with a member in another region, sends, and tails the history", async () => {
    const created = await chat("alice", "group", "create", "ops", "--member", "bob", "--notice", "on call", "--json")
    expect(created.code, created.stderr).toBe(0)
    const made = JSON.parse(created.stdout) as { id: string }
    expect(made).toMatchObject({
      name: "ops",
      notice: "on call",
      owner: "alice",
      members: expect.arrayContaining([
        { user: "alice", home: "north" },
        { user: "bob", home: "south" }
      ])
    })
    group = made.id

    const sent = await chat("alice", "send", group, "hello bob")
    expect(sent.code, sent.stderr).toBe(0)
    expect(sent.stdout.trim()).toBe(`sent ${group} #1`)
    // A retried send (same client id) is delivered once.
    const [once, again] = [
      await chat("alice", "send", group, "only once", "--id", "retry-1", "--json"),
      await chat("alice", "send", group, "only once", "--id", "retry-1", "--json")
    ]
    expect(once.code, once.stderr).toBe(0)
    expect(JSON.parse(once.stdout)).toMatchObject({ group, id: "retry-1", seq: 2 })
    expect(JSON.parse(again.stdout)).toMatchObject({ group, id: "retry-1", seq: 2 })

    // bob reads at his own region's site (the default for him); the copies travel there.
    const tail = await eventually("both messages reach bob", async () => {
      const out = await chat("bob", "tail", group)
      return out.code === 0 && out.stdout.includes("#2") ? out.stdout : undefined
    })
    expect(tail.trim().split("\n")).toEqual(["#1 alice: hello bob", "#2 alice: only once"])
    const [json, later, members] = await Promise.all([
      chat("bob", "tail", group, "--json"),
      chat("bob", "tail", group, "--after", "1"),
      chat("bob", "group", "members", group)
    ])
    expect(
      json.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as unknown)
    ).toMatchObject([
      { group, seq: 1, from: "alice", text: "hello bob" },
      { group, seq: 2, from: "alice", text: "only once" }
    ])
    expect(later.stdout.trim()).toBe("#2 alice: only once")
    expect(members.code, members.stderr).toBe(0)
    expect(members.stdout).toMatch(/alice\s+north\s+\(owner\)/)
    expect(members.stdout).toMatch(/bob\s+south/)
  }, 180_000)

  it("tail refuses a non-member, an unknown group and a malformed id, with a sentence and exit 1", async () => {
    const [stranger, typo, garbage] = await Promise.all([
      chat("carol", "tail", group),
      chat("alice", "tail", "north.typo"),
      chat("alice", "tail", "garbage")
    ])
    expect(stranger.code).not.toBe(0)
    expect(stranger.stdout).toBe("")
    expect(stranger.stderr).toContain(`carol is not a member of group ${group}`)
    expect(typo.code).not.toBe(0)
    expect(typo.stderr).toContain("no group north.typo")
    expect(garbage.code).not.toBe(0)
    expect(garbage.stderr).toContain("no group garbage")
  }, 60_000)

  it("follows a group: a message sent afterwards arrives on the stream, once", async () => {
    const follow = spawn(process.execPath, [bin, "chat", "tail", group, "--follow", "--topology", topology], {
      env: { ...process.env, ...as("bob") },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    follow.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    follow.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    const closed = new Promise<number | null>((resolve) => follow.on("close", resolve))
    try {
      await eventually("the history is printed", async () => (stdout.includes("#2 alice") ? true : undefined))
      const sent = await chat("alice", "send", group, "are you there?")
      expect(sent.code, sent.stderr).toBe(0)
      await eventually("the new message arrives on the stream", async () =>
        stdout.includes("#3 alice: are you there?") ? true : undefined
      )
      follow.kill("SIGINT")
      expect(await closed).toBe(0)
      expect(stdout.trim().split("\n")).toEqual([
        "#1 alice: hello bob",
        "#2 alice: only once",
        "#3 alice: are you there?"
      ])
      expect(stderr).toBe("")
    } finally {
      killAll([follow])
    }
  }, 120_000)

  it("adds a member, edits the group, and refuses a non-member and a missing login", async () => {
    const [outsider, anonymous] = await Promise.all([
      chat("carol", "group", "show", group),
      cli(["chat", "group", "show", group, "--topology", topology], {
        env: { XDG_CONFIG_HOME: join(config, "nobody") }
      })
    ])
    expect(outsider.code, outsider.stderr).toBe(1)
    expect(outsider.stderr).toContain("NotAMember")
    expect(anonymous.code, anonymous.stderr).toBe(4)

    const added = await chat("alice", "group", "members", group, "--add", "carol")
    expect(added.code, added.stderr).toBe(0)
    expect(added.stdout).toMatch(/carol\s+west/)

    const edited = await chat("alice", "group", "edit", group, "--name", "ops-2", "--set", "lang=en", "--json")
    expect(edited.code, edited.stderr).toBe(0)
    expect(JSON.parse(edited.stdout)).toMatchObject({ name: "ops-2", notice: "on call", settings: { lang: "en" } })

    const [shown, notOwner] = await Promise.all([
      chat("carol", "group", "show", group),
      chat("bob", "group", "edit", group, "--notice", "mine now")
    ])
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stdout).toContain("ops-2")
    expect(shown.stdout).toContain("lang=en")
    expect(shown.stdout).toMatch(/carol \(west\)/)
    expect(notOwner.code, notOwner.stderr).toBe(1)
    expect(notOwner.stderr).toContain("NotOwner")
  }, 180_000)
})

describe("the chat client's server-sent events decoder", () => {
  it("decodes server-sent events split anywhere, and bounds their size", () => {
    const stream =
      ': keep-alive\n\nevent: message\nid: 1\ndata: {"a":1}\n\r\ndata: x\r\ndata:y\r\rid: 7\nevent: other\ndata: z\n\n'
    const whole = decodeAll([stream])
    expect(whole).toEqual([
      { event: "message", data: '{"a":1}', id: "1" },
      { event: "message", data: "x\ny", id: undefined },
      { event: "other", data: "z", id: "7" }
    ])
    // Every split (one between CR and LF included) gives the same events.
    for (let i = 1; i < stream.length; i++) expect(decodeAll([stream.slice(0, i), stream.slice(i)])).toEqual(whole)
    expect(Either.isLeft(sseDecoder(64)(`data: ${"x".repeat(100)}`))).toBe(true)
  })
})
