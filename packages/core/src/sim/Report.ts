/**
 * What a run did, in a few lines a person reads before the summary line: the faults as they were
 * applied, the durable messages accepted and applied per recipient actor (and the other envelopes
 * — asks, their answers, plain tells — which `delivered=` also counts), what the network did, and
 * each invariant checked. Read back from the run's trace, so it says what happened, not what was
 * planned.
 *
 * @since 0.1.0
 */
import type { Result } from "./Runner.js"
import type { Scenario } from "./Scenario.js"

interface Line {
  readonly t: number
  readonly type: string
  readonly id?: string
  readonly to?: string
  readonly settlement?: string
  readonly reason?: string
  readonly [key: string]: unknown
}

const seconds = (millis: number) => `${Number((millis / 1000).toFixed(3))} s`

/** A fault line's action, in words: `partition n1–s1`, `crash s1`. */
const faultText = (line: Line): string => {
  for (const action of ["partition", "heal"] as const) {
    const pair = line[action]
    if (Array.isArray(pair)) return `${action} ${pair.join("–")}`
  }
  const replay = line["replay"]
  if (Array.isArray(replay)) return `replay at ${replay[0]} of ${replay[1]}'s connection (half-open)`
  for (const action of ["silence", "resume", "crash", "restart"] as const) {
    if (typeof line[action] === "string") return `${action} ${line[action]}`
  }
  return JSON.stringify(line)
}

/** `a 3, b 2` in descending count, then by name. */
const counts = (map: ReadonlyMap<string, number>): string =>
  [...map]
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
    .map(([key, n]) => `${key} ${n}`)
    .join(", ")

const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1)

/**
 * The lines describing a run (without the final summary line, see `Runner.summary`).
 *
 * @since 0.1.0
 * @category reporting
 */
export const describe = (result: Result, scenario: Scenario): ReadonlyArray<string> => {
  const faults: Array<string> = []
  const acceptedTo = new Map<string, string>()
  const acceptedByActor = new Map<string, number>()
  const appliedByActor = new Map<string, number>()
  const applied = new Map<string, number>()
  let otherApplied = 0
  let sent = 0
  let duplicated = 0
  let retransmitted = 0
  const dropped = new Map<string, number>()
  for (const text of result.trace) {
    const line = JSON.parse(text) as Line
    switch (line.type) {
      case "fault":
        faults.push(`${seconds(line.t)} ${faultText(line)}`)
        break
      case "accepted": {
        const actor = (line.to ?? "?").split("@")[0]!
        acceptedTo.set(line.id ?? "", actor)
        bump(acceptedByActor, actor)
        break
      }
      case "settled":
        if (line.settlement === "applied") {
          const actor = acceptedTo.get(line.id ?? "")
          if (actor === undefined) otherApplied++
          else {
            bump(appliedByActor, actor)
            bump(applied, line.id ?? "")
          }
        }
        break
      case "send":
        sent++
        break
      case "drop":
        bump(dropped, line.reason ?? "?")
        break
      case "duplicate":
        duplicated++
        break
      case "retransmit":
        retransmitted++
        break
    }
  }
  const accepted = acceptedTo.size
  const once = [...acceptedTo.keys()].filter((id) => applied.get(id) === 1).length
  const twice = [...applied.values()].filter((n) => n > 1).length
  const violated = new Map(result.violations.map((v) => [v.invariant, v.message]))
  return [
    `faults: ${faults.length === 0 ? "none" : `${faults.length} applied: ${faults.join("; ")}`}`,
    `durable messages: ${accepted} accepted${accepted === 0 ? "" : ` (${counts(acceptedByActor)})`}, ${once} applied exactly once` +
      (accepted - once - twice > 0 ? `, ${accepted - once - twice} never applied` : "") +
      (twice > 0 ? `, ${twice} applied more than once` : ""),
    `other envelopes applied (asks, answers, plain tells): ${otherApplied}; delivered= counts both`,
    `network: ${sent} frames sent, ${retransmitted} retransmitted, ${duplicated} duplicated` +
      (dropped.size === 0 ? "" : `, dropped: ${counts(dropped)}`),
    `invariants: ${
      scenario.invariants.length === 0
        ? "none"
        : scenario.invariants.map((name) => `${name} ${violated.has(name) ? "VIOLATED" : "ok"}`).join(", ")
    }` + (violated.has("run-completed") ? ", run-completed VIOLATED" : "")
  ]
}
