/**
 * One seed of a shipped scenario as the test suites check it: every invariant holds and the run
 * accepted something (a run that accepts nothing proves nothing). The logic lives here, framework
 * free, so that the core package's seeds (in-memory stores) and the node package's (SQLite) are
 * checked alike, each test folder wrapping it in a line of its test framework.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Runner from "./Runner.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Verdict {
  /** Each violated invariant, and a run that accepted nothing. Empty: the seed holds. */
  readonly problems: ReadonlyArray<string>
  /** The run's summary and the command that replays it, for a failure's message. */
  readonly report: string
}

/**
 * The command that replays `seed` of the shipped scenario `scenario` (`examples/scenarios/<scenario>.yaml`).
 *
 * @since 0.1.0
 * @category utils
 */
export const replayCommand = (scenario: string, seed: number): string =>
  `meridian sim --scenario examples/scenarios/${scenario}.yaml --seed ${seed}`

/**
 * What a finished run of `scenario` says about its seed.
 *
 * @since 0.1.0
 * @category checks
 */
export const verdict = (scenario: string, result: Runner.Result): Verdict => ({
  problems: [
    ...result.violations.map((v) => `${v.invariant}: ${v.message}`),
    ...(result.accepted > 0 ? [] : ["the run accepted nothing"])
  ],
  report: `${Runner.summary(result)}\nreplay: ${replayCommand(scenario, result.seed)}`
})

/**
 * Runs `seed` of `scenario` with `run` and judges it. A run holds the thread for a second or
 * two, so it first lets a timer pass: the test runner's messages go through before it.
 *
 * @since 0.1.0
 * @category checks
 */
export const check = (
  scenario: string,
  seed: number,
  run: (scenario: string, seed: number) => Runner.Result
): Effect.Effect<Verdict> =>
  Effect.zipRight(
    Effect.sleep(0),
    Effect.sync(() => verdict(scenario, run(scenario, seed)))
  )

/**
 * The seeds `from` to `to`, both included.
 *
 * @since 0.1.0
 * @category utils
 */
export const range = (from: number, to: number): ReadonlyArray<number> =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i)
