/**
 * How the binary ends: a failure printed once, as a sentence (or, with `--json`, as the
 * structured refusal the site answered), with its exit code; and a closed output pipe
 * (`meridian topology graph FILE | head -1`, `| dot` with Graphviz missing) as a normal end.
 *
 * @since 0.1.0
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as Runtime from "@effect/platform/Runtime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { ClientFailed } from "./client.js"

/**
 * Whether the command line asks for JSON (`--json` before any `--`).
 *
 * @since 0.1.0
 * @category output
 */
export const wantsJson = (args: ReadonlyArray<string>) => {
  const end = args.indexOf("--")
  return (end === -1 ? args : args.slice(0, end)).includes("--json")
}

/**
 * A reader that closed its end of standard output (or error) has all it wants: the process ends
 * quietly with status 0, as `git log | head` does, instead of an EPIPE stack trace.
 *
 * @since 0.1.0
 * @category output
 */
export const endQuietlyOnClosedPipe = () => {
  const onError = (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0)
    throw error
  }
  process.stdout.on("error", onError)
  process.stderr.on("error", onError)
}

/** Failures whose words were printed where they happened. */
const alreadyReported = (error: unknown): boolean => {
  // @effect/cli has printed its validation errors, and a topology's problems were printed line by line.
  if (ValidationError.isValidationError(error)) return true
  return (
    typeof error === "object" &&
    error !== null &&
    "_tag" in error &&
    (error._tag === "TopologyCheckFailed" || error._tag === "SimFailed" || error._tag === "RunFailed")
  )
}

/**
 * Prints a failure that ended a command (once) and sets the exit code: a client command's own
 * (1 refused, 2 bad usage, 3 unreachable, 4 not logged in), 2 for bad usage @effect/cli found, 1
 * otherwise. With `--json` a client failure is one JSON object on stderr: `error` (the site's tag,
 * or `ClientFailed`), `message` (the sentence), `exitCode`, and the refusal's own fields.
 *
 * @since 0.1.0
 * @category output
 */
export const report = (error: unknown, json: boolean) =>
  Effect.gen(function* () {
    if (error instanceof ClientFailed && json) {
      yield* Console.error(
        JSON.stringify({ error: "ClientFailed", ...error.detail, message: error.message, exitCode: error.code })
      )
    } else if (!alreadyReported(error)) {
      yield* Console.error(`meridian: ${error instanceof Error ? error.message : String(error)}`)
    }
    process.exitCode = error instanceof ClientFailed ? error.code : ValidationError.isValidationError(error) ? 2 : 1
  })

/**
 * The exit status of a command interrupted (Ctrl-C) with work a rerun continues: 128 + SIGINT,
 * as shells report it.
 *
 * @since 0.1.0
 * @category output
 */
export const INTERRUPTED_EXIT = 130

/**
 * A command that a rerun resumes (`files send`, `files get`): interrupted, it says so on stderr
 * (with `--json` as one JSON object), adds `hint` when there is one, and the process exits
 * {@link INTERRUPTED_EXIT} (see {@link teardown}). Other commands end on Ctrl-C with 0, as a
 * stopped `up` or `chat tail --follow` should.
 *
 * @since 0.1.0
 * @category output
 */
export const resumable =
  (json: boolean, hint: () => string | undefined = () => undefined) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.onInterrupt(effect, () =>
      Effect.sync(() => {
        process.exitCode = INTERRUPTED_EXIT
        const message = "interrupted: run the same command again to resume"
        const more = hint()
        process.stderr.write(
          json
            ? JSON.stringify({
                error: "Interrupted",
                message: more === undefined ? message : `${message}; ${more}`,
                exitCode: INTERRUPTED_EXIT
              }) + "\n"
            : `${message}\n${more === undefined ? "" : `${more}\n`}`
        )
      })
    )

/**
 * How the binary's main fiber ends: as `@effect/platform` ends it, except that an exit status a
 * command set (an interrupted resumable command's {@link INTERRUPTED_EXIT}) is kept when a
 * signal ended it (the runtime would exit 0).
 *
 * @since 0.1.0
 * @category output
 */
export const teardown: Runtime.Teardown = (exit, onExit) =>
  Runtime.defaultTeardown(exit, (code) =>
    onExit(code === 0 && typeof process.exitCode === "number" ? process.exitCode : code)
  )
