import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { login, loginOnly, oneSite, send } from "./support/site.js"

/** The seed of the run; a failure names it with the request, so that it can be replayed. */
const SEED = 14
/** How many requests the run sends (spread over every route of the document). */
const REQUESTS = 400

/** A small seeded generator (mulberry32): the same seed sends the same requests. */
const random = (seed: number) => {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number) => Math.floor(next() * n)
  const pick = <A>(items: ReadonlyArray<A>): A => items[int(items.length)]!
  const printable = (max: number) => Array.from({ length: int(max) }, () => String.fromCharCode(32 + int(95))).join("")
  return { next, int, pick, printable }
}

type Random = ReturnType<typeof random>

/** Something a client could put where a value goes. */
const garbageValue = (r: Random): unknown =>
  r.pick<() => unknown>([
    () => r.printable(20),
    () => r.printable(5000),
    () => r.int(2 ** 31) - 2 ** 30,
    () => -1,
    () => 1e308,
    () => r.next(),
    () => null,
    () => true,
    () => [],
    () => ({}),
    () => [r.printable(8), r.int(10)],
    () => ({ [r.printable(6)]: r.printable(6) }),
    () => "../../etc/passwd",
    () => "south..",
    () => "\u0000\uffff\ud800"
  ])()

/** A body: JSON of random shape, broken JSON, or bytes. */
const garbageBody = (r: Random, fields: ReadonlyArray<string>): string | Buffer | undefined =>
  r.pick<() => string | Buffer | undefined>([
    () => undefined,
    () => "",
    () => "{",
    () => '{"name":',
    () => "not json",
    () => "null",
    () => "[]",
    () => JSON.stringify(garbageValue(r)),
    () => Buffer.from(Array.from({ length: r.int(300) }, () => r.int(256))),
    () => JSON.stringify(Object.fromEntries(fields.map((f) => [f, garbageValue(r)]))),
    () => JSON.stringify(Object.fromEntries(fields.filter(() => r.next() < 0.5).map((f) => [f, garbageValue(r)])))
  ])()

/** A path, query or header value: printable text (what HTTP can carry). */
const garbageText = (r: Random) =>
  r.pick<() => string>([
    () => r.printable(12),
    () => r.printable(600),
    () => String(r.int(1e6)),
    () => "-1",
    () => "1.5",
    () => "",
    () => "%zz",
    () => "..",
    () => "a".repeat(5000)
  ])()

interface Operation {
  readonly parameters?: ReadonlyArray<{ readonly name: string; readonly in: string }>
  readonly requestBody?: { readonly content?: Record<string, { readonly schema?: unknown }> }
}

/** The property names a body schema mentions (following `$ref`s into the components). */
const fieldsOf = (schema: unknown, components: Record<string, unknown>, depth = 0): Array<string> => {
  if (typeof schema !== "object" || schema === null || depth > 5) return []
  const record = schema as Record<string, unknown>
  if (typeof record.$ref === "string") return fieldsOf(components[record.$ref.split("/").pop()!], components, depth + 1)
  return [
    ...Object.keys((record.properties as Record<string, unknown> | undefined) ?? {}),
    ...["allOf", "anyOf", "oneOf"].flatMap((key) =>
      Array.isArray(record[key])
        ? (record[key] as Array<unknown>).flatMap((s) => fieldsOf(s, components, depth + 1))
        : []
    )
  ]
}

describe("every route of the site's OpenAPI document, sent garbage", () => {
  it.live(
    "answers no 5xx, and every 4xx in the one refusal shape",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const base = yield* oneSite("{ ping: {}, files: {}, chat: {}, sync: {} }", { operators: ["ops"] })
          const [user, operator] = yield* Effect.promise(() =>
            Promise.all([login(base, "alice"), loginOnly(base, "ops")])
          )
          const document = JSON.parse((yield* Effect.promise(() => send(`${base}/openapi.json`))).body) as {
            paths: Record<string, Record<string, Operation>>
            components?: { schemas?: Record<string, unknown> }
          }
          const components = document.components?.schemas ?? {}
          const operations = Object.entries(document.paths).flatMap(([path, item]) =>
            Object.entries(item)
              .filter(([method]) => ["get", "post", "put", "patch", "delete"].includes(method))
              .map(([method, operation]) => ({ path, method: method.toUpperCase(), operation }))
          )
          expect(operations.length).toBeGreaterThanOrEqual(10)
          const r = random(SEED)
          const failures: Array<string> = []
          const seen = new Set<string>()
          for (let i = 0; i < REQUESTS; i++) {
            const { path, method, operation } = operations[i % operations.length]!
            const parameters = operation.parameters ?? []
            const filled = path.replace(/\{([^}]+)\}/g, () => encodeURIComponent(garbageText(r)))
            const query = new URLSearchParams()
            for (const p of parameters.filter((p) => p.in === "query")) {
              if (r.next() < 0.7) query.append(p.name, garbageText(r))
            }
            if (r.next() < 0.3) query.append(r.printable(8), garbageText(r))
            const headers: Record<string, string> = {}
            const auth = r.int(5)
            if (auth === 1) headers.authorization = `Bearer ${user}`
            if (auth === 2) headers.authorization = `bearer ${operator}`
            if (auth === 3) headers.authorization = `Bearer ${r.printable(40)}`
            if (auth === 4) headers.authorization = r.printable(30)
            if (r.next() < 0.8) headers["content-type"] = r.pick(["application/json", "text/plain", r.printable(20)])
            if (r.next() < 0.3) headers["x-" + r.printable(6).replace(/[^A-Za-z0-9]/g, "a")] = r.printable(40)
            for (const p of parameters.filter((p) => p.in === "header")) headers[p.name] = garbageText(r)
            const schema = operation.requestBody?.content?.["application/json"]?.schema
            const body =
              method === "GET" || method === "DELETE" ? undefined : garbageBody(r, fieldsOf(schema, components))
            const url = `${base}${filled}${query.size > 0 ? `?${query}` : ""}`
            const what = `seed ${SEED} #${i}: ${method} ${url.slice(0, 200)} ${JSON.stringify(headers).slice(0, 200)}`
            const answer = yield* Effect.promise(() =>
              send(url, { method, headers, ...(body === undefined ? {} : { body }) }).catch(
                (e: unknown) => ({ status: 0, headers: {}, body: String(e) }) as const
              )
            ).pipe(
              Effect.timeout("10 seconds"),
              Effect.orElseSucceed(() => ({ status: -1, headers: {}, body: "" }))
            )
            seen.add(`${method} ${path} ${answer.status}`)
            if (answer.status <= 0 || answer.status >= 500) {
              failures.push(`${what} → ${answer.status} ${answer.body.slice(0, 300)}`)
              continue
            }
            if (answer.status >= 400) {
              let shape: unknown
              try {
                shape = JSON.parse(answer.body)
              } catch {
                shape = undefined
              }
              const ok =
                typeof shape === "object" &&
                shape !== null &&
                typeof (shape as Record<string, unknown>).error === "string" &&
                typeof (shape as Record<string, unknown>).message === "string"
              if (!ok) failures.push(`${what} → ${answer.status} not a refusal: ${answer.body.slice(0, 300)}`)
            }
          }
          expect(failures).toEqual([])
          // Garbage was refused, not only waved through: most routes said 4xx at least once.
          expect([...seen].filter((s) => / 4\d\d$/.test(s)).length).toBeGreaterThan(operations.length / 2)
        })
      ),
    180_000
  )
})
