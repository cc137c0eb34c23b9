/**
 * `meridian sync status`: per synced folder, what its daemon last reported (written every second
 * to `FOLDER/.meridian/status.json` by `meridian sync run`), and whether that daemon still runs.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { print, usage } from "../client.js"
import { formatBytes } from "../units.js"
import { type Folder, loadFolders, stateDirOf } from "./common.js"

/**
 * What a daemon reports of one folder.
 *
 * @since 0.1.0
 * @category models
 */
export const FolderStatus = Schema.Struct({
  pid: Schema.Number,
  updatedAt: Schema.Number,
  state: Schema.String,
  reason: Schema.optional(Schema.String),
  files: Schema.Number,
  bytes: Schema.Number,
  indexId: Schema.String,
  lastSeq: Schema.Number,
  watcher: Schema.String,
  watcherNote: Schema.optional(Schema.String),
  inFlight: Schema.Array(
    Schema.Struct({ path: Schema.String, direction: Schema.String, bytes: Schema.Number, done: Schema.Number })
  ),
  conflicts: Schema.Array(
    Schema.Struct({ path: Schema.String, copy: Schema.String, at: Schema.Number, reason: Schema.String })
  ),
  errors: Schema.Array(
    Schema.Struct({ path: Schema.optional(Schema.String), message: Schema.String, at: Schema.Number })
  )
})

/**
 * @since 0.1.0
 * @category models
 */
export type FolderStatus = typeof FolderStatus.Type

/**
 * Where the daemon writes a folder's status.
 *
 * @since 0.1.0
 * @category config
 */
export const statusPath = (folder: string) => join(stateDirOf(folder), "status.json")

/**
 * The file `meridian sync resume` leaves for the folder's daemon: lift the safety halt.
 *
 * @since 0.1.0
 * @category config
 */
export const resumePath = (folder: string) => join(stateDirOf(folder), "resume")

/** A report older than this, from a daemon that still runs, means it is stuck. */
const STALE_MILLIS = 10_000

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** The folder's last report, and whether its daemon runs. */
const statusOf = (folder: Folder) => {
  const file = statusPath(folder.path)
  const report = existsSync(file)
    ? Schema.decodeUnknownOption(Schema.parseJson(FolderStatus))(readFileSync(file, "utf8"))
    : Option.none()
  if (Option.isNone(report)) return { folder, running: false, status: undefined }
  const running = alive(report.value.pid) && Date.now() - report.value.updatedAt < STALE_MILLIS
  return { folder, running, status: report.value }
}

const human = (rows: ReadonlyArray<ReturnType<typeof statusOf>>) =>
  rows
    .map(({ folder, running, status }) => {
      const head = `${folder.path} (${folder.url}, device ${folder.device})`
      if (status === undefined) return `${head}\n  never synced: start the daemon with meridian sync run`
      const lines = [
        head,
        `  ${running ? status.state : `stopped (was ${status.state}); meridian sync run starts it`}: ${status.files} files, ${formatBytes(status.bytes)}, change ${status.lastSeq} seen`
      ]
      if (status.reason !== undefined) lines.push(`  ${status.reason}`)
      if (status.state === "halted") {
        lines.push(
          `  if the folder is as it should be: meridian sync resume ${folder.path} (the deletions are then synced)`
        )
      }
      if (status.watcher !== "watching")
        lines.push(
          `  changes seen by periodic scans only${status.watcherNote === undefined ? "" : `: ${status.watcherNote}`}`
        )
      for (const t of status.inFlight) {
        lines.push(
          `  ${t.direction === "upload" ? "uploading" : "downloading"} ${t.path}: ${formatBytes(t.done)} of ${formatBytes(t.bytes)}`
        )
      }
      for (const c of status.conflicts) lines.push(`  conflict: ${c.path} kept as ${c.copy} (${c.reason})`)
      for (const e of status.errors) lines.push(`  error: ${e.path === undefined ? "" : `${e.path}: `}${e.message}`)
      return lines.join("\n")
    })
    .join("\n")

/**
 * `meridian sync resume FOLDER`: the user looked at a halted folder (one scan would have deleted
 * more than the safety share of it: an unmounted disk?) and says its deletions are meant.
 *
 * @since 0.1.0
 * @category commands
 */
export const resumeCommand = Command.make(
  "resume",
  {
    json: Options.boolean("json").pipe(Options.withDescription("print the answer as JSON")),
    folder: Args.directory({ name: "FOLDER", exists: "yes" }).pipe(Args.withDescription("a synced folder"))
  },
  (args) =>
    Effect.gen(function* () {
      const folders = yield* loadFolders
      const path = resolve(args.folder)
      const folder = folders.find((f) => f.path === path)
      if (folder === undefined) return yield* usage(`${path} is not a synced folder (meridian sync status lists them)`)
      const row = statusOf(folder)
      if (row.status?.state !== "halted") {
        return yield* usage(
          `${path} is not halted${row.status === undefined ? "" : ` (it is ${row.status.state})`}: nothing to resume`
        )
      }
      writeFileSync(resumePath(path), `${Date.now()}\n`)
      return yield* print(args.json, { folder: path, resumed: true, running: row.running }, () =>
        row.running
          ? `${path}: its daemon syncs the deletions within a second`
          : `${path}: the deletions are synced when its daemon starts (meridian sync run)`
      )
    })
).pipe(Command.withDescription("confirm a halted folder's deletions (a scan found most of it gone) and sync them"))

/**
 * @since 0.1.0
 * @category commands
 */
export const statusCommand = Command.make(
  "status",
  { json: Options.boolean("json").pipe(Options.withDescription("print the answer as JSON")) },
  (args) =>
    Effect.gen(function* () {
      const rows = (yield* loadFolders).map(statusOf)
      return yield* print(args.json, { folders: rows }, () =>
        rows.length === 0 ? "no synced folders (add one with: meridian sync add FOLDER)" : human(rows)
      )
    })
).pipe(
  Command.withDescription(
    "show each synced folder's state: files, bytes, last change seen, what is in flight, conflicts, errors"
  )
)
