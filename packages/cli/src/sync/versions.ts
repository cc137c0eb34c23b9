/**
 * `meridian sync versions PATH` and `meridian sync restore PATH --version V`: the older versions
 * the server keeps of a file in a synced folder, and bringing one back as the newest (the daemons
 * then bring it to every device; the version it replaces is kept in turn).
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { CommitResult, Version } from "@meridian/core/sync/Protocol"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { loadToken, print } from "../client.js"
import * as Flags from "../flags.js"
import { ask, decodeJson, refused } from "../http.js"
import { formatBytes } from "../units.js"
import { askOptions, authorized, folderOf, loadFolders, retryingOf } from "./common.js"

const Versions = Schema.Struct({ versions: Schema.Array(Version) })

const pathArg = Args.text({ name: "PATH" }).pipe(Args.withDescription("a file in a synced folder (it may be deleted)"))

const when = (millis: number) =>
  new Date(millis)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z")

/**
 * @since 0.1.0
 * @category commands
 */
export const versionsCommand = Command.make("versions", { ...askOptions, path: pathArg }, (args) =>
  Effect.gen(function* () {
    const saved = yield* loadToken
    const { folder, path } = yield* folderOf(yield* loadFolders, args.path)
    const what = `the versions of ${path}`
    const reply = yield* ask(
      retryingOf(args),
      authorized(
        folder,
        saved.token
      )(HttpClientRequest.get(`${folder.url}/v1/sync/versions`).pipe(HttpClientRequest.setUrlParam("path", path))),
      { what, busy: true }
    )
    if (reply.status !== 200) return yield* refused(what, reply)
    const { versions } = yield* decodeJson(Versions, what)(reply)
    return yield* print(args.json, { path, versions }, () =>
      versions.length === 0
        ? `the server keeps no older version of ${path}`
        : [
            `older versions of ${path}, newest first (meridian sync restore ${args.path} --version V):`,
            ...versions.map(
              (v) =>
                `  version ${v.version}  ${formatBytes(v.entry.size).padStart(9)}  from ${v.device}, ${when(v.committedAt)}, replaced ${when(v.replacedAt)}`
            )
          ].join("\n")
    )
  })
).pipe(Command.withDescription("list the older versions the server keeps of a file in a synced folder"))

/**
 * The name of `restore`'s version flag. `--version` is what people type, but @effect/cli takes it
 * anywhere as its own (print the program's version), so `cli.ts` reads it as this one after
 * `sync restore` ({@link restoreArgs}).
 *
 * @since 0.1.0
 * @category options
 */
export const RESTORE_VERSION_FLAG = "file-version"

/**
 * The command line with `sync restore`'s `--version V` (or `--version=V`) as `--file-version`.
 *
 * @since 0.1.0
 * @category options
 */
export const restoreArgs = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const at = argv.findIndex((a, i) => a === "sync" && argv[i + 1] === "restore")
  if (at < 0) return argv
  return argv.map((a, i) =>
    i <= at + 1
      ? a
      : a === "--version"
        ? `--${RESTORE_VERSION_FLAG}`
        : a.startsWith("--version=")
          ? `--${RESTORE_VERSION_FLAG}=${a.slice(10)}`
          : a
  )
}

/**
 * @since 0.1.0
 * @category commands
 */
export const restoreCommand = Command.make(
  "restore",
  {
    ...askOptions,
    path: pathArg,
    version: Flags.integer(RESTORE_VERSION_FLAG).pipe(
      Options.withDescription("the version to bring back, as sync versions lists it (also --version)")
    )
  },
  (args) =>
    Effect.gen(function* () {
      const saved = yield* loadToken
      const { folder, path } = yield* folderOf(yield* loadFolders, args.path)
      const what = `restoring version ${args.version} of ${path}`
      const reply = yield* ask(
        retryingOf(args),
        authorized(
          folder,
          saved.token
        )(
          HttpClientRequest.post(`${folder.url}/v1/sync/restore`).pipe(
            HttpClientRequest.bodyUnsafeJson({ path, version: args.version })
          )
        ),
        // A restore whose answer was lost may have been recorded: asking again would restore twice.
        { what, busy: true, repeatable: false }
      )
      // 201: the restored version was recorded as the newest.
      if (reply.status !== 201 && reply.status !== 200) return yield* refused(what, reply)
      const result = yield* decodeJson(CommitResult, what)(reply)
      const now = result.changes.at(-1)
      return yield* print(args.json, result, () =>
        now === undefined
          ? `restored ${path}`
          : `restored version ${args.version} of ${path} as version ${now.version} (change ${now.seq}); the daemons bring it to every device`
      )
    })
).pipe(
  Command.withDescription("make an older version of a file the newest again; the daemons bring it to every device")
)
