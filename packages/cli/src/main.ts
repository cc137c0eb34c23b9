/**
 * Entry point of the `meridian` binary.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { makeAccountCommand } from "./account.js"
import { makeChatCommand } from "./chat.js"
import { ClientFailed } from "./client.js"
import { makeDeadLettersCommand } from "./deadletters.js"
import { makeFilesCommand } from "./files.js"
import * as Http from "./http.js"
import { makeLinkCommand } from "./link.js"
import { makePingCommand } from "./ping.js"
import { modules } from "./registry.js"
import { makeDownCommand, makeRunCommand, makeUpCommand } from "./run.js"
import { makeSimCommand } from "./sim.js"
import { makeStatusCommand } from "./status.js"
import { makeTopologyCommand } from "./topology.js"

const meridian = Command.make("meridian").pipe(
  Command.withDescription(
    "Meridian: an actor-based distributed runtime for services that span regions and networks. " +
      "One binary per site; topology tools; the simulator."
  ),
  Command.withSubcommands([
    makeUpCommand(modules),
    makeDownCommand(modules),
    makeRunCommand(modules),
    makeTopologyCommand(modules),
    makeSimCommand(modules),
    makeAccountCommand(modules),
    makeStatusCommand(modules),
    makeLinkCommand(modules),
    makeDeadLettersCommand(modules),
    makeChatCommand(modules),
    makeFilesCommand(modules),
    makePingCommand(modules)
  ])
)

const cli = Command.run(meridian, { name: "meridian", version: "0.1.0" })

cli(process.argv).pipe(
  Effect.catchAll((error) =>
    Effect.gen(function* () {
      // @effect/cli has printed its validation errors with the help text, and a topology's
      // problems were printed line by line already.
      if (!alreadyReported(error))
        yield* Console.error(`meridian: ${error instanceof Error ? error.message : String(error)}`)
      process.exitCode = error instanceof ClientFailed ? error.code : ValidationError.isValidationError(error) ? 2 : 1
    })
  ),
  // One HTTP client for every client command (see http.ts).
  Effect.provide(Layer.merge(NodeContext.layer, Http.layer)),
  NodeRuntime.runMain({ disableErrorReporting: true })
)

function alreadyReported(error: unknown): boolean {
  if (ValidationError.isValidationError(error)) return true
  return (
    typeof error === "object" &&
    error !== null &&
    "_tag" in error &&
    (error._tag === "TopologyCheckFailed" || error._tag === "SimFailed" || error._tag === "RunFailed")
  )
}
