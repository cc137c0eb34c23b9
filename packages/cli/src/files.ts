/**
 * Offline file transfers from the command line: `files send FILE --to USER…`, `files inbox`,
 * `files get ID`, `files rm ID` (one module each in `files/`). Each command asks the directory
 * (`GET /v1/locate` on the site it is pointed at) for the client's regional file server and talks
 * to that one; `--direct` skips the question.
 *
 * Files can be larger than memory, so bytes are streamed both ways: an upload is read from the
 * file a slice at a time (tus PATCH with `Upload-Checksum`), a download streams into `PATH.part`.
 * Both survive interruptions: the upload's address is kept in `$XDG_CONFIG_HOME/meridian/uploads/`
 * and a rerun continues from the server's `Upload-Offset`; a rerun of a download continues its
 * `.part` with `Range`/`If-Range`.
 *
 * Exit codes are the client commands' (see `client.ts`): 0 done, 1 refused, 2 bad usage, 3 the
 * server could not be reached (after the retries), 4 not logged in; and 130 for a send or a get
 * interrupted by Ctrl-C, which says that the same command resumes it (`Report.resumable`).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import { getCommand } from "./files/get.js"
import { inboxCommand } from "./files/inbox.js"
import { rmCommand } from "./files/rm.js"
import { sendCommand } from "./files/send.js"
import type { Modules } from "./modules.js"

/** @since 0.1.0 */
export { safeFilename } from "./files/get.js"
/** @since 0.1.0 */
export { parseDuration, parseSize } from "./units.js"

/**
 * `meridian files send|inbox|get|rm`: offline file transfers through the regional file servers.
 *
 * @since 0.1.0
 * @category commands
 */
export const makeFilesCommand = (modules: Modules) =>
  Command.make("files").pipe(
    Command.withDescription(
      "offline file transfers: send a file to users, list your inbox, get a file, delete one you sent"
    ),
    Command.withSubcommands([sendCommand(modules), inboxCommand(modules), getCommand(modules), rmCommand(modules)])
  )
