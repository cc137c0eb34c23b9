/**
 * `meridian sync run`: the daemon, in the foreground (systemd runs it as is). Every folder `sync
 * add` listed is kept in step with its site; what it does is in `daemon.ts`, loaded when the
 * command runs.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { loadToken, usage } from "../client.js"
import * as Flags from "../flags.js"
import { loadFolders } from "./common.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const runCommand = Command.make(
  "run",
  {
    settle: Flags.integer("settle-millis").pipe(
      Options.optional,
      Options.withDescription("how long a changed file must stay still before it is taken (default 1000)")
    ),
    rescan: Flags.integer("rescan-seconds").pipe(
      Options.optional,
      Options.withDescription("a full scan this often besides the watcher (default 600)")
    )
  },
  (args) =>
    Effect.gen(function* () {
      const saved = yield* loadToken
      const folders = yield* loadFolders
      if (folders.length === 0) return yield* usage("no synced folders: add one first (meridian sync add FOLDER)")
      const [Daemon, ClientSettings] = yield* Effect.promise(() =>
        Promise.all([import("./daemon.js"), import("@meridian/core/sync/client/Settings")])
      )
      const settings = ClientSettings.make({
        ...(Option.isSome(args.settle) ? { settleDelay: Duration.millis(args.settle.value) } : {}),
        ...(Option.isSome(args.rescan) ? { rescanInterval: Duration.seconds(args.rescan.value) } : {})
      })
      return yield* Daemon.run(folders, saved, settings)
    })
).pipe(Command.withDescription("keep every added folder in sync, in the foreground until stopped (SIGTERM or Ctrl-C)"))
