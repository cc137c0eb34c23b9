import { describe, expect, it } from "@effect/vitest"
import type { ChildProcess } from "node:child_process"
import { join } from "node:path"
import {
  cli,
  eventually,
  fourSites,
  killAll,
  loginToken,
  register,
  routesEverywhere,
  runSites,
  sleep
} from "./support.js"

type Site = "n1" | "s1" | "w1" | "e1"
interface Message {
  readonly group: string
  readonly seq: number
  readonly id: string
  readonly from: string
  readonly text: string
}

/**
 * One HTTP request; a 503 (busy, or a region that did not answer in time on a loaded machine) is
 * retried a few times for requests that may be repeated (reads, edits, sends with an id).
 */
const request = async (
  url: string,
  method: string,
  token: string | undefined,
  body?: unknown
): Promise<{ status: number; body: Record<string, unknown> }> => {
  const repeatable = method === "GET" || method === "PATCH" || url.endsWith("/messages")
  for (let attempt = 1; ; attempt++) {
    const answer = await requestOnce(url, method, token, body)
    if (answer.status !== 503 || !repeatable || attempt === 5) return answer
    await sleep(1000)
  }
}

const requestOnce = async (url: string, method: string, token: string | undefined, body?: unknown) => {
  const response = await fetch(url, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` })
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  return { status: response.status, body: (text === "" ? {} : JSON.parse(text)) as Record<string, unknown> }
}

/** A push stream (server-sent events) of one group, collecting the messages it receives. */
const subscribe = (url: string, token: string, lastEventId?: number) => {
  const messages: Array<Message> = []
  const controller = new AbortController()
  const done = (async () => {
    const response = await fetch(url, {
      headers: {
        authorization: `Bearer ${token}`,
        ...(lastEventId === undefined ? {} : { "last-event-id": String(lastEventId) })
      },
      signal: controller.signal
    })
    if (response.status !== 200) throw new Error(`${url}: ${response.status} ${await response.text()}`)
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let buffer = ""
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      buffer += decoder.decode(value, { stream: true })
      let end: number
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = event.split("\n").find((line) => line.startsWith("data: "))
        if (event.includes("event: message") && data !== undefined) messages.push(JSON.parse(data.slice(6)) as Message)
      }
    }
  })().catch(() => undefined)
  return { messages, close: () => controller.abort(), done }
}

describe("roaming group communication across four real site processes", () => {
  it("delivers across a cut link, around a stopped region, and through a crash of the group's home", async () => {
    // East serves at most 2 client requests at once (to see the busy answer).
    const {
      dir,
      file: topology,
      http
    } = await fourSites({ siteModules: { e1: "{ chat: { maxConcurrentRequests: 2 } }" } })
    const url = (site: Site, path: string) => `http://127.0.0.1:${http[site]}${path}`
    const env = { XDG_CONFIG_HOME: join(dir, "config") }

    // The first operator is created offline in n1's data directory (for `link down`).
    const ops = await cli(
      ["account", "create", "ops", "--operator", "--topology", topology, "--site", "n1", "--data", join(dir, "n1")],
      { input: "operator-password\n", env }
    )
    expect(ops.code, ops.stderr).toBe(0)

    let procs = runSites(topology, dir, ["n1", "s1", "w1", "e1"])
    const restart = (site: Site) => {
      const next = runSites(topology, dir, [site])
      procs = new Map([...procs, ...next])
    }
    const streams: Array<{ close: () => void }> = []
    try {
      await routesEverywhere(http)

      // Four users, one homed in each region.
      const homes = { alice: "n1", bob: "s1", carol: "w1", dave: "e1" } as const
      const regionOf = { n1: "north", s1: "south", w1: "west", e1: "east" } as const
      const token: Record<string, string> = {}
      for (const [user, site] of Object.entries(homes)) {
        expect(await register(url(site, ""), user, `${user}-password`, regionOf[site])).toBe(201)
        token[user] = await loginToken(url(site, ""), user, `${user}-password`)
      }
      const history = async (user: keyof typeof homes, group: string) => {
        const answer = await request(
          url(homes[user], `/v1/chat/groups/${group}/messages?limit=1000`),
          "GET",
          token[user]
        )
        expect(answer.status).toBe(200)
        return answer.body.messages as ReadonlyArray<Message>
      }

      // alice (north) creates a group homed in the south with everyone in it.
      // (A busy answer — the accounts lookups of the members timed out on a loaded machine — is retried.)
      const created = await eventually("create the south's group", async () => {
        const answer = await request(url("n1", "/v1/chat/groups"), "POST", token.alice, {
          name: "ops-room",
          home: "south",
          notice: "be nice",
          members: ["bob", "carol", "dave"]
        })
        return answer.status === 503 ? undefined : answer
      })
      expect(created.status).toBe(201)
      const south = created.body.id as string
      expect(created.body).toMatchObject({ home: "south", owner: "alice", name: "ops-room" })
      expect((created.body.members as ReadonlyArray<unknown>).length).toBe(4)
      // Anyone in it reads it from any region (the query goes to the south); strangers do not.
      const shown = await request(url("e1", `/v1/chat/groups/${south}`), "GET", token.dave)
      expect(shown.body).toMatchObject({ id: south, home: "south", notice: "be nice" })
      const refused = await request(url("n1", `/v1/chat/groups/${south}`), "GET", undefined)
      expect(refused.status).toBe(401)
      const notFound = await request(url("n1", `/v1/chat/groups/south.doesNotExist`), "GET", token.alice)
      expect(notFound.status).toBe(404)
      const tricks = await request(url("n1", `/v1/chat/groups/..%2F..%2Fetc%2Fpasswd/messages`), "GET", token.alice)
      expect(tricks.status).toBe(404)

      // 1. The north–south link is taken down for maintenance: a message sent in the north to the
      // south's group still reaches carol (west), pushed to her stream.
      const opsLogin = await cli(["account", "login", "ops", "--topology", topology, "--site", "n1"], {
        input: "operator-password\n",
        env
      })
      expect(opsLogin.code, opsLogin.stderr).toBe(0)
      const down = await cli(["link", "down", "--topology", topology, "--site", "n1", "--peer", "s1"], { env })
      expect(down.code, down.stderr).toBe(0)
      const carolStream = subscribe(url("w1", `/v1/chat/groups/${south}/events`), token.carol!)
      streams.push(carolStream)
      const first = await request(url("n1", `/v1/chat/groups/${south}/messages`), "POST", token.alice, {
        text: "hello over the cut",
        id: "cut-1"
      })
      // Sequenced by the south at once (201), or, on a loaded machine, accepted durably (202).
      expect([201, 202]).toContain(first.status)
      expect(first.body).toMatchObject({ id: "cut-1" })
      await eventually("carol's stream gets the message sent over the cut", async () =>
        carolStream.messages.some((m) => m.id === "cut-1") ? true : undefined
      )
      expect(carolStream.messages[0]).toMatchObject({ seq: 1, from: "alice", text: "hello over the cut" })
      await eventually("dave and bob hold it too", async () =>
        (await history("dave", south)).length === 1 && (await history("bob", south)).length === 1 ? true : undefined
      )
      expect((await cli(["link", "up", "--topology", topology, "--site", "n1", "--peer", "s1"], { env })).code).toBe(0)

      // 2. The south stops answering (SIGSTOP): the other regions keep talking in a west group,
      // and a message to the south's group is accepted (202) and waits for it.
      const westGroup = await eventually("create the west's group", async () => {
        const answer = await request(url("w1", "/v1/chat/groups"), "POST", token.carol, {
          name: "west-room",
          members: ["alice", "bob", "dave"]
        })
        return answer.status === 503 ? undefined : answer
      })
      expect(westGroup.status).toBe(201)
      const west = westGroup.body.id as string
      procs.get("s1")!.kill("SIGSTOP")
      try {
        const meanwhile = await request(url("n1", `/v1/chat/groups/${west}/messages`), "POST", token.alice, {
          text: "south is quiet",
          id: "quiet-1"
        })
        expect([201, 202]).toContain(meanwhile.status)
        await eventually("dave (east) gets the west group's message while the south is stopped", async () =>
          (await history("dave", west)).some((m) => m.id === "quiet-1") ? true : undefined
        )
        const queued = await request(url("n1", `/v1/chat/groups/${south}/messages`), "POST", token.alice, {
          text: "for when the south is back",
          id: "queued-1"
        })
        expect(queued.status).toBe(202)
        expect(queued.body).toMatchObject({ id: "queued-1", status: "accepted" })
      } finally {
        procs.get("s1")!.kill("SIGCONT")
      }
      await eventually("the queued message reaches carol once the south is back", async () =>
        carolStream.messages.some((m) => m.id === "queued-1") ? true : undefined
      )
      await eventually("bob gets the west group's message once the south is back", async () =>
        (await history("bob", west)).some((m) => m.id === "quiet-1") ? true : undefined
      )

      // 3. kill -9 of the south (the group's home) in the middle of a stream of sends; it is
      // restarted; every member then holds every message exactly once, in order.
      const ids: Array<string> = []
      for (let i = 0; i < 30; i++) {
        if (i === 10) procs.get("s1")!.kill("SIGKILL")
        if (i === 20) restart("s1")
        const id = `stream-${i}`
        await eventually(`send ${id}`, async () => {
          const sent = await request(url("n1", `/v1/chat/groups/${south}/messages`), "POST", token.alice, {
            text: `message ${i}`,
            id
          })
          return sent.status === 201 || sent.status === 202 ? true : undefined
        })
        ids.push(id)
      }
      const expected = ["cut-1", "queued-1", ...ids]
      for (const user of ["alice", "bob", "carol", "dave"] as const) {
        const messages = await eventually(
          `${user} holds all ${expected.length} messages of the south's group`,
          async () => {
            const held = await history(user, south)
            return held.length >= expected.length ? held : undefined
          },
          90_000
        )
        expect(messages.map((m) => m.id).sort()).toEqual([...expected].sort())
        const seqs = messages.map((m) => m.seq)
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
        expect(new Set(seqs).size).toBe(seqs.length)
      }
      // The stream saw the same, in the same order, nothing twice.
      await eventually("carol's stream caught up", async () =>
        carolStream.messages.length >= expected.length ? true : undefined
      )
      expect(carolStream.messages.map((m) => m.id)).toEqual((await history("carol", south)).map((m) => m.id))
      // A client that reconnects with the last sequence number it saw gets only what came after.
      const resumed = subscribe(url("w1", `/v1/chat/groups/${south}/events`), token.carol!, 20)
      streams.push(resumed)
      await eventually("the resumed stream catches up", async () =>
        resumed.messages.length >= expected.length - 20 ? true : undefined
      )
      expect(resumed.messages.map((m) => m.seq)).toEqual(
        carolStream.messages.filter((m) => m.seq > 20).map((m) => m.seq)
      )

      // The home region answers queries for the group from every region, with its latest data.
      const edited = await request(url("e1", `/v1/chat/groups/${south}`), "PATCH", token.alice, { notice: "changed" })
      expect(edited.status).toBe(200)
      const notOwner = await request(url("e1", `/v1/chat/groups/${south}`), "PATCH", token.dave, { notice: "mine" })
      expect(notOwner.status).toBe(403)
      for (const site of ["n1", "s1", "w1", "e1"] as const) {
        const group = await request(url(site, `/v1/chat/groups/${south}`), "GET", token.bob)
        expect(group.body).toMatchObject({ notice: "changed", home: "south", seq: expected.length })
      }

      // An operator moves the group's home to the east: queries and sends follow it there.
      const opsToken = (await cli(["account", "token"], { env })).stdout.trim()
      expect(
        (await request(url("w1", `/v1/chat/admin/groups/${south}/move`), "POST", token.alice, { region: "east" }))
          .status
      ).toBe(403)
      const moved = await request(url("w1", `/v1/chat/admin/groups/${south}/move`), "POST", opsToken, {
        region: "east"
      })
      expect(moved.status, JSON.stringify(moved.body)).toBe(202)
      expect(moved.body).toMatchObject({ from: "south", to: "east" })
      await eventually("the group answers from its new home", async () => {
        const group = await request(url("n1", `/v1/chat/groups/${south}`), "GET", token.alice)
        return group.body.home === "east" ? group : undefined
      })
      const after = await request(url("w1", `/v1/chat/groups/${south}/messages`), "POST", token.carol, {
        text: "after the move",
        id: "moved-1"
      })
      expect([201, 202]).toContain(after.status)
      for (const user of ["alice", "bob", "carol", "dave"] as const) {
        await eventually(`${user} gets the message sent after the move`, async () =>
          (await history(user, south)).some((m) => m.id === "moved-1") ? true : undefined
        )
      }
      // Numbered by the new home after the old one's last number.
      expect((await history("alice", south)).at(-1)).toMatchObject({ id: "moved-1", seq: expected.length + 1 })

      // An operator moves bob's home from the south to the west: his account (login) and his
      // messages follow, and new messages reach him there.
      const before = await history("bob", south)
      const userMove = await request(url("n1", "/v1/chat/admin/users/bob/move"), "POST", opsToken, { region: "west" })
      expect(userMove.status, JSON.stringify(userMove.body)).toBe(202)
      expect(userMove.body).toMatchObject({ user: "bob", from: "south", to: "west" })
      const relogin = await request(url("e1", "/v1/accounts/login"), "POST", undefined, {
        name: "bob",
        password: "bob-password"
      })
      expect(relogin.status).toBe(200)
      expect(relogin.body).toMatchObject({ principal: { name: "bob", homeRegion: "west" } })
      const welcome = await request(url("n1", `/v1/chat/groups/${south}/messages`), "POST", token.alice, {
        text: "welcome to the west, bob",
        id: "bob-moved-1"
      })
      expect([201, 202]).toContain(welcome.status)
      const readInWest = async () => {
        const answer = await request(url("w1", `/v1/chat/groups/${south}/messages?limit=1000`), "GET", token.bob)
        return answer.body.messages as ReadonlyArray<Message>
      }
      const inWest = await eventually("bob reads his whole history and the new message in the west", async () => {
        const held = await readInWest()
        return held.length === before.length + 1 ? held : undefined
      })
      expect(inWest.map((m) => m.id)).toEqual([...before.map((m) => m.id), "bob-moved-1"])
      // Asked at his former home, the answer follows him.
      const fromSouth = await request(url("s1", `/v1/chat/groups/${south}/messages?limit=1000`), "GET", token.bob)
      expect((fromSouth.body.messages as ReadonlyArray<Message>).map((m) => m.id)).toEqual(inWest.map((m) => m.id))
      const members = await request(url("e1", `/v1/chat/groups/${south}`), "GET", token.bob)
      expect(members.body.members).toContainEqual({ user: "bob", home: "west" })

      // Over its request bound, a site answers a clear busy (503 + Retry-After), never hangs.
      const burst = await Promise.all(
        Array.from({ length: 40 }, () =>
          fetch(url("e1", `/v1/chat/groups/${west}`), { headers: { authorization: `Bearer ${token.dave}` } })
        )
      )
      const statuses = burst.map((r) => r.status)
      expect(statuses).toContain(200)
      expect(statuses).toContain(503)
      const busy = burst.find((r) => r.status === 503)!
      expect(busy.headers.get("retry-after")).not.toBeNull()
      expect(await busy.json()).toMatchObject({ error: "ChatBusy" })
    } finally {
      for (const stream of streams) stream.close()
      killAll(procs.values() as Iterable<ChildProcess>)
    }
  }, 300_000)
})
