/**
 * `meridian topology check FILE` and `meridian topology graph FILE [--mermaid]`: validate a
 * topology file (every problem at once) or draw it. Problems go to stderr, one per line as
 * `<path>: <message>`, so that `graph`'s stdout can be piped straight into `dot`.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import { type Check, Graph, Loader, Topology } from "@meridian/core/topology/index"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type { Modules } from "./modules.js"

/**
 * The file could not be read or is not a valid topology. The problems have already been printed
 * (stderr) when this fails the command; the caller only maps it to exit code 1.
 *
 * @since 0.1.0
 * @category errors
 */
export class TopologyCheckFailed extends Data.TaggedError("TopologyCheckFailed")<{
  readonly file: string
  readonly problems: ReadonlyArray<Topology.Problem>
}> {
  override get message(): string {
    const n = this.problems.length
    return `${this.file}: invalid topology (${n} problem${n === 1 ? "" : "s"})`
  }
}

const formatOf = (file: string): Loader.Format => (file.toLowerCase().endsWith(".json") ? "json" : "auto")

/**
 * Reads and loads a topology file with every check (modules too, against `modules`); on failure
 * prints each problem on its own line to stderr and fails with {@link TopologyCheckFailed}.
 *
 * @since 0.1.0
 * @category loading
 */
export const loadFile = (
  file: string,
  modules?: ReadonlyArray<Check.ModuleInfo>
): Effect.Effect<Topology.Topology, TopologyCheckFailed, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError(
        (error) =>
          new TopologyCheckFailed({
            file,
            problems: [
              {
                path: file,
                message:
                  error._tag === "SystemError" && error.reason === "NotFound"
                    ? "cannot read: no such file"
                    : error._tag === "SystemError" && error.reason === "PermissionDenied"
                      ? "cannot read: permission denied"
                      : `cannot read: ${error.message}`
              }
            ]
          })
      )
    )
    return yield* Loader.load(text, { format: formatOf(file), modules }).pipe(
      Effect.mapError((error) => new TopologyCheckFailed({ file, problems: error.problems }))
    )
  }).pipe(Effect.tapError((error) => Console.error(Topology.formatProblems(error.problems))))

const fileArg = Args.file({ name: "FILE" }).pipe(Args.withDescription("topology file (.yaml, .yml or .json)"))

/**
 * The `topology` command with its `check` and `graph` subcommands. `modules` is the registry
 * sites are assembled from (loaded when a subcommand runs): when given, module names and settings are checked against it.
 *
 * @since 0.1.0
 * @category commands
 */
export const makeTopologyCommand = (modules?: Modules) => {
  const check = Command.make("check", { file: fileArg }, ({ file }) =>
    Effect.gen(function* () {
      const topology = yield* loadFile(file, modules === undefined ? undefined : yield* modules)
      const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`
      yield* Console.log(
        `ok: ${topology.name} — ${count(Object.keys(topology.regions).length, "region")}, ` +
          `${count(Object.keys(topology.sites).length, "site")}, ${count(topology.links.length, "link")}`
      )
    })
  ).pipe(Command.withDescription("validate a topology file and list every problem"))

  const graph = Command.make(
    "graph",
    {
      file: fileArg,
      mermaid: Options.boolean("mermaid").pipe(Options.withDescription("print Mermaid instead of Graphviz DOT"))
    },
    ({ file, mermaid }) =>
      Effect.gen(function* () {
        const topology = yield* loadFile(file, modules === undefined ? undefined : yield* modules)
        // the renderers end with a newline; Console.log adds one more
        const text = mermaid ? Graph.toMermaid(topology) : Graph.toDot(topology)
        yield* Console.log(text.endsWith("\n") ? text.slice(0, -1) : text)
      })
  ).pipe(Command.withDescription("print a topology as Graphviz DOT (or Mermaid with --mermaid)"))

  return Command.make("topology").pipe(
    Command.withDescription("check or draw a topology file"),
    Command.withSubcommands([check, graph])
  )
}

/**
 * The `topology` command without a module registry (module names and settings are not checked).
 * `main` should prefer `makeTopologyCommand(modules)`.
 *
 * @since 0.1.0
 * @category commands
 */
export const topologyCommand = makeTopologyCommand()
