/**
 * The `meridian` command line: the command tree, help, and @effect/cli for everything else. Loaded
 * by main.ts. Each command loads what it runs when it runs (the module registry, a site, the
 * simulator), so building the tree for help or parsing loads none of them.
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
import { makeDeadLettersCommand } from "./deadletters.js"
import { makeFilesCommand } from "./files.js"
import * as Help from "./help.js"
import * as Http from "./http.js"
import { makeLinkCommand } from "./link.js"
import { makePingCommand } from "./ping.js"
import { modules } from "./modules.js"
import * as Report from "./report.js"
import { VERSION } from "./version.js"
import { makeDownCommand, makeRunCommand, makeUpCommand } from "./run.js"
import { makeSimCommand } from "./sim.js"
import { makeStatusCommand } from "./status.js"
import { makeSyncCommand } from "./sync.js"
import { restoreArgs } from "./sync/versions.js"
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
    makeSyncCommand(modules),
    makePingCommand(modules)
  ])
)

const cli = Command.run(meridian, { name: "meridian", version: VERSION })

const argv = restoreArgs(process.argv.slice(2))
const json = Report.wantsJson(argv)
Report.endQuietlyOnClosedPipe()
// Help is rendered here from the command tree (help.ts); @effect/cli parses everything else.
const asked = Help.helpRequest(Help.treeOf(meridian), argv)

if (asked !== undefined) {
  process.stdout.write(Help.render(asked, Help.styleOf(process.stdout, process.env)) + "\n")
} else {
  cli([...process.argv.slice(0, 2), ...argv]).pipe(
    Effect.catchAll((error) =>
      Effect.zipRight(
        Report.report(error, json),
        ValidationError.isValidationError(error)
          ? Console.error(
              `see '${Help.pathOf(Help.treeOf(meridian), argv)
                .map((n) => n.name)
                .join(" ")} --help'`
            )
          : Effect.void
      )
    ),
    // One HTTP client for every client command (see http.ts).
    Effect.provide(Layer.merge(NodeContext.layer, Http.layer)),
    NodeRuntime.runMain({ disableErrorReporting: true, teardown: Report.teardown })
  )
}
