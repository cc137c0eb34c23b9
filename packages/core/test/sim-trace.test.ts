import { describe, expect, it } from "@effect/vitest"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"
import { createHash } from "node:crypto"
import * as Trace from "../src/sim/Trace.js"

const joined = (lines: ReadonlyArray<string>) =>
  bytesToHex(sha256(utf8ToBytes(lines.length === 0 ? "" : lines.join("\n") + "\n")))

const nodeHasher: Trace.MakeTraceHasher = () => {
  const hash = createHash("sha256")
  return { update: (text) => void hash.update(text), digest: () => hash.digest("hex") }
}

/** What the trace wrote before `fieldsTail`: the event without `_tag`, stringified. */
const slowTail = (event: { readonly _tag: string }) => {
  const { _tag: _, ...fields } = event
  const json = JSON.stringify(fields)
  return json.length > 2 ? `,${json.slice(1)}` : "}"
}

describe("sim trace", () => {
  it("hashes lines in chunks to the SHA-256 of the JSONL text, with either hasher", () => {
    const lines = Array.from({ length: 1500 }, (_, i) => `{"t":${i},"type":"send","frame":"é${"x".repeat(i % 97)}"}`)
    for (const sample of [[], ["{}"], lines.slice(0, 512), lines.slice(0, 513), lines]) {
      expect(Trace.hashLines(sample)).toBe(joined(sample))
      expect(Trace.hashLines(sample, nodeHasher)).toBe(joined(sample))
    }
  })

  it("writes an event's fields exactly as stringifying it without its _tag would", () => {
    const events: Array<{ readonly _tag: string } & Record<string, unknown>> = [
      { _tag: "Acked" },
      { _tag: "Forwarded", envelopeId: 'a"b\\c', to: "s1", via: "w1" },
      { _tag: "Drop", from: "n1", to: "s1", frame: "Envelope:x", reason: "loss", skipped: undefined },
      { _tag: "Nested", list: [1, "two", { three: 3 }], flag: false, none: null },
      // `_tag` not first, integer keys (which come first), or a `toJSON`: the slow path, same text.
      { envelopeId: "late", _tag: "Late" },
      { 1: "one", _tag: "Numbered", x: 1 },
      { _tag: "Custom", value: 1, toJSON: () => ({ other: true }) }
    ]
    for (const event of events) expect(Trace.fieldsTail(event)).toBe(slowTail(event))
  })
})
