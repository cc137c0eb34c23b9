import { describe, expect, it } from "@effect/vitest"
import { eventually, json, killAll, logsOf, runSites, threeSites } from "./support.js"

/** What the site answers a path no route knows (the probe below must never get it). */
const isUnknownRoute = (status: number, body: string) => status === 404 && body.includes("no such route")

describe("a site's /openapi.json and /docs describe every module's routes", () => {
  it("lists the files and chat routes with their methods; each documented route is served, /docs shows them", async () => {
    const { dir, file, http } = await threeSites({ modules: "{ ping: {}, files: {}, chat: {} }" })
    const procs = runSites(file, dir, ["n1"])
    const url = (path: string) => `http://127.0.0.1:${http.n1}${path}`
    try {
      await eventually("n1 serves HTTP", async () => ((await fetch(url("/health"))).ok ? true : undefined))
      const document = await json(url("/openapi.json"))
      const paths = document.paths as Record<string, Record<string, unknown>>
      const methods = (path: string) =>
        Object.keys(paths[path] ?? {})
          .filter((k) => ["get", "head", "post", "put", "patch", "delete", "options"].includes(k))
          .sort()
      expect(methods("/v1/locate")).toEqual(["get"])
      expect(methods("/v1/files/uploads")).toEqual(["options", "post"])
      expect(methods("/v1/files/uploads/{id}")).toEqual(["delete", "get", "head", "patch"])
      expect(methods("/v1/files/inbox")).toEqual(["get"])
      expect(methods("/v1/files/transfers/{id}")).toEqual(["delete"])
      expect(methods("/v1/files/transfers/{id}/download")).toEqual(["get"])
      expect(methods("/v1/files/data/{id}")).toEqual(["get"])
      expect(methods("/v1/chat/groups")).toEqual(["post"])
      expect(methods("/v1/chat/groups/{id}")).toEqual(["get", "patch"])
      expect(methods("/v1/chat/groups/{id}/members")).toEqual(["post"])
      expect(methods("/v1/chat/groups/{id}/messages")).toEqual(["get", "post"])
      expect(methods("/v1/chat/groups/{id}/events")).toEqual(["get"])
      expect(methods("/v1/chat/admin/groups/{id}/move")).toEqual(["post"])
      expect(methods("/v1/chat/admin/users/{name}/move")).toEqual(["post"])
      // What a tus client needs to read off the document: the headers of an upload's creation.
      const create = paths["/v1/files/uploads"]!.post as { parameters: ReadonlyArray<{ name: string; in: string }> }
      expect(create.parameters.filter((p) => p.in === "header").map((p) => p.name)).toEqual(
        expect.arrayContaining(["tus-resumable", "upload-length", "upload-metadata"])
      )

      // Every documented route is one the site serves: asked without a token or a body, it is
      // refused for that (401, 400…), never answered as a path nobody serves.
      const unknown = await fetch(url("/v1/files/nowhere"))
      expect(isUnknownRoute(unknown.status, await unknown.text())).toBe(true)
      const answers: Array<string> = []
      for (const [path, item] of Object.entries(paths)) {
        for (const method of Object.keys(item).filter((k) => k !== "parameters")) {
          const concrete = path.replace(/\{[^}]+\}/g, "0123456789abcdef0123456789abcdef")
          const reply = await fetch(url(concrete), { method: method.toUpperCase(), redirect: "manual" })
          const body = await reply.text()
          if (isUnknownRoute(reply.status, body)) answers.push(`${method.toUpperCase()} ${path}`)
        }
      }
      expect(answers).toEqual([])
      // The site compared each module's routes with its description when it started: no difference.
      expect(logsOf(procs.get("n1"))).not.toContain("/openapi.json")

      const docs = await (await fetch(url("/docs"))).text()
      for (const path of ["/v1/files/uploads/{id}", "/v1/files/data/{id}", "/v1/chat/groups/{id}/events"]) {
        expect(docs).toContain(path)
      }
      expect(docs).toContain("tus creation")
    } finally {
      killAll(procs.values())
    }
  }, 120_000)
})
