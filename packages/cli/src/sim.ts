/**
 * `meridian sim --scenario FILE --seed N [--topology FILE] [--trace FILE]`: runs a scenario
 * in the deterministic simulator. It prints what the run did (faults, durable messages per
 * recipient, the network, each invariant), then, last, the line
 * `seed=N events=E simulated=12.345s accepted=A delivered=D trace=<sha-256> invariants=ok|violated`;
 * the exit code is 0 only when every invariant holds, and a violated run prints the first
 * violated invariant and the command that replays it.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { loadFile } from "./topology.js"
import * as Flags from "./flags.js"
import type { Modules } from "./modules.js"

/** The simulator, loaded only when a scenario runs (not for `--help`, nor by any other command). */
const simulator = Effect.promise(() =>
  Promise.all([
    import("@meridian/core/sim/Runner"),
    import("@meridian/core/sim/Report"),
    import("@meridian/core/sim/Scenario"),
    import("@meridian/node/sim/NativeHasher")
  ])
).pipe(Effect.map(([Runner, Report, Scenario, { nativeHasher }]) => ({ Runner, Report, Scenario, nativeHasher })))

/**
 * The run violated an invariant, or the scenario could not run. Already reported on stderr.
 *
 * @since 0.1.0
 * @category errors
 */
export class SimFailed extends Data.TaggedError("SimFailed")<{ readonly reason: string }> {}

/**
 * Loads a scenario and its topology (relative to the scenario file unless `topology` overrides).
 *
 * @since 0.1.0
 * @category loading
 */
export const loadScenario = (file: string, topologyOverride: string | undefined, modules: Modules) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const { Runner, Scenario } = yield* simulator
    const text = yield* fs
      .readFileString(file)
      .pipe(Effect.mapError((e) => new SimFailed({ reason: `${file}: cannot read: ${e.message}` })))
    const scenario = Scenario.parse(text)
    if (Either.isLeft(scenario)) return yield* new SimFailed({ reason: `${file}: ${scenario.left.message}` })
    const topologyFile = topologyOverride ?? path.resolve(path.dirname(file), scenario.right.topology)
    const registry = yield* modules
    const topology = yield* loadFile(topologyFile, registry).pipe(
      Effect.mapError(() => new SimFailed({ reason: `${topologyFile}: invalid topology` }))
    )
    const problems = Runner.problems(scenario.right, topology, registry)
    if (problems.length > 0) return yield* new SimFailed({ reason: `${file}:\n  ${problems.join("\n  ")}` })
    return { scenario: scenario.right, topology }
  })

const scenarioOption = Options.file("scenario").pipe(Options.withDescription("scenario file (.yaml or .json)"))
const seedOption = Flags.integer("seed").pipe(Options.withDefault(1), Options.withDescription("seed of the run"))
const topologyOption = Options.file("topology").pipe(
  Options.optional,
  Options.withDescription("topology file instead of the one the scenario names")
)
const traceOption = Options.file("trace").pipe(
  Options.withAlias("trace-out"),
  Options.optional,
  Options.withDescription("write the JSONL trace to this file (one event a line; --trace-out works too)")
)

/**
 * @since 0.1.0
 * @category commands
 */
export const makeSimCommand = (modules: Modules) =>
  Command.make(
    "sim",
    { scenario: scenarioOption, seed: seedOption, topology: topologyOption, traceOut: traceOption },
    (args) =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const { Report, Runner, nativeHasher } = yield* simulator
        const { scenario, topology } = yield* loadScenario(
          args.scenario,
          Option.getOrUndefined(args.topology),
          modules
        ).pipe(Effect.tapError((e) => Console.error(e.reason)))
        const result = Runner.run({
          scenario,
          topology,
          modules: yield* modules,
          seed: args.seed,
          hasher: nativeHasher
        })
        if (Option.isSome(args.traceOut)) {
          yield* fs
            .writeFileString(args.traceOut.value, result.trace.join("\n") + (result.trace.length > 0 ? "\n" : ""))
            .pipe(Effect.mapError((e) => new SimFailed({ reason: `cannot write trace: ${e.message}` })))
        }
        const first = result.violations[0]
        if (first !== undefined) {
          yield* Console.error(`violated: ${first.invariant}: ${first.message}`)
          const topologyArg = Option.isSome(args.topology) ? ` --topology ${args.topology.value}` : ""
          yield* Console.error(`replay: meridian sim --scenario ${args.scenario} --seed ${args.seed}${topologyArg}`)
        }
        for (const line of Report.describe(result, scenario)) yield* Console.log(line)
        yield* Console.log(Runner.summary(result))
        if (first !== undefined) return yield* new SimFailed({ reason: first.invariant })
      })
  ).pipe(Command.withDescription("run a scenario in the deterministic simulator"))
