/**
 * Folder sync from the command line: `sync add FOLDER` (record a folder to sync with the logged-in
 * account), `sync run` (the daemon), `sync status`, `sync versions PATH` and `sync restore PATH
 * --version V` (one module each in `sync/`).
 *
 * Exit codes are the client commands' (see `client.ts`): 0 done, 1 refused, 2 bad usage, 3 the
 * site could not be reached (after the retries), 4 not logged in.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import type { Modules } from "./modules.js"
import { addCommand } from "./sync/add.js"
import { runCommand } from "./sync/run.js"
import { resumeCommand, statusCommand } from "./sync/status.js"
import { restoreCommand, versionsCommand } from "./sync/versions.js"

/**
 * `meridian sync add|run|status|versions|restore`.
 *
 * @since 0.1.0
 * @category commands
 */
export const makeSyncCommand = (modules: Modules) =>
  Command.make("sync").pipe(
    Command.withDescription(
      "keep folders in sync on every device of your account: add a folder, run the daemon, see its status, list and restore older versions"
    ),
    Command.withSubcommands([
      addCommand(modules),
      runCommand,
      statusCommand,
      versionsCommand,
      restoreCommand,
      resumeCommand
    ])
  )
