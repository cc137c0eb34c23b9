/**
 * The daemon of `meridian sync run` (loaded when the command runs: the engine, SQLite and the
 * watcher are not needed to parse a command line): the daemon, in the foreground (systemd runs it as is). Every folder `sync
 * add` listed is kept in step with its site by the client engine of `@meridian/core`
 * (`sync/client/Folder.ts`) over the real file system (its watcher bounded, `NodeHost`), the
 * folder's own SQLite index (`FOLDER/.meridian/index.db`) and the site's HTTP routes
 * (`HttpSession`). One daemon per folder: a second one is refused by the folder's lock.
 *
 * What it does goes to stderr: on a terminal a live line with what is moving; otherwise a line per
 * change of state, conflict and error (a journal reads well). Its status is written every second
 * to `FOLDER/.meridian/status.json` for `meridian sync status`. SIGTERM and SIGINT stop it
 * cleanly: transfers in flight are abandoned (a rerun resumes them), nothing half-written is
 * left in place of a file.
 *
 * @since 0.1.0
 */
import * as Hasher from "@meridian/core/sync/Hasher"
import * as HttpSession from "@meridian/core/sync/HttpSession"
import * as Folder from "@meridian/core/sync/client/Folder"
import type * as ClientSettings from "@meridian/core/sync/client/Settings"
import type { FolderStatus as EngineStatus } from "@meridian/core/sync/client/Status"
import * as DataLock from "@meridian/node/site/DataLock"
import * as NodeHost from "@meridian/node/site/NodeHost"
import * as SqliteLocalIndex from "@meridian/node/sqlite/SqliteLocalIndex"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { ClientFailed, type Saved, tokenPath } from "../client.js"
import * as Http from "../http.js"
import { formatBytes } from "../units.js"
import { type Folder as Listed, stateDirOf } from "./common.js"
import { resumePath, statusPath } from "./status.js"

/** Node's native SHA-256 (several times the pure-JS one core defaults to): the same names, faster. */
const nativeHasher = Hasher.fromCreateHash(() => createHash("sha256"))

/** How often the status file is rewritten. */
const STATUS_EVERY = Duration.seconds(1)

/** The status as `sync status` reads it. */
const report = (status: EngineStatus) => ({
  pid: process.pid,
  updatedAt: Date.now(),
  state: status.state,
  ...(status.reason === undefined ? {} : { reason: status.reason }),
  files: status.files,
  bytes: status.bytes,
  indexId: status.indexId,
  lastSeq: status.lastSeq,
  watcher: status.watcher,
  ...(status.watcherNote === undefined ? {} : { watcherNote: status.watcherNote }),
  inFlight: status.inFlight,
  conflicts: status.conflicts,
  errors: status.errors.map((e) => ({
    ...(e.path === undefined ? {} : { path: e.path }),
    message: e.message,
    at: e.at
  }))
})

/** Writes the status whole: a temp file renamed over the old one. */
const writeStatus = (folder: string, status: EngineStatus) =>
  Effect.sync(() => {
    const file = statusPath(folder)
    const temp = `${file}.tmp`
    writeFileSync(temp, JSON.stringify(report(status)) + "\n")
    renameSync(temp, file)
  })

/** One line of the folder's state, for a journal or a terminal. */
const summary = (folder: Listed, status: EngineStatus) => {
  const moving = status.inFlight.reduce((sum, t) => ({ done: sum.done + t.done, bytes: sum.bytes + t.bytes }), {
    done: 0,
    bytes: 0
  })
  const transfers =
    status.inFlight.length === 0
      ? ""
      : `, ${status.inFlight.length} moving: ${formatBytes(moving.done)} / ${formatBytes(moving.bytes)}`
  return `${folder.path}: ${status.state}${status.reason === undefined ? "" : ` (${status.reason})`}, ${status.files} files, ${formatBytes(status.bytes)}, change ${status.lastSeq}${transfers}`
}

/**
 * What the daemon says of a folder as its status changes: each new conflict and error once (the
 * status keeps the newest, so they are told apart by time), and the folder's summary — redrawn in
 * place on a terminal, else a line each time it settles on something new.
 */
const narrate = (folder: Listed, status: SubscriptionRef.SubscriptionRef<EngineStatus>, tty: boolean) => {
  let told = 0
  let settled = ""
  const clear = tty ? "\r\x1b[K" : ""
  return status.changes.pipe(
    Stream.throttle({ cost: () => 1, units: 1, duration: Duration.millis(tty ? 200 : 1000), strategy: "shape" }),
    Stream.runForEach((s) =>
      Effect.sync(() => {
        const news = [
          ...s.conflicts
            .filter((c) => c.at > told)
            .map((c) => ({ at: c.at, text: `conflict on ${c.path}: the other version is kept as ${c.copy}` })),
          ...s.errors
            .filter((e) => e.at > told)
            .map((e) => ({ at: e.at, text: `${e.path === undefined ? "" : `${e.path}: `}${e.message}` }))
        ].sort((a, b) => a.at - b.at)
        for (const n of news) process.stderr.write(`${clear}${folder.path}: ${n.text}\n`)
        told = Math.max(told, ...news.map((n) => n.at))
        const line = summary(folder, s)
        if (tty) process.stderr.write(`\r${line.slice(0, Math.max(20, (process.stderr.columns || 80) - 1))}\x1b[K`)
        else if (line !== settled && s.state !== "syncing" && s.state !== "scanning") {
          process.stderr.write(`${line}\n`)
          settled = line
        }
      })
    )
  )
}

/**
 * The saved token as it is now: read again when `token.json` changes, so that a new
 * `meridian account login` (after the old token expired) reaches a running daemon.
 */
const currentToken = (initial: string) => {
  let token = initial
  let seen = 0
  return () => {
    try {
      const file = tokenPath()
      const mtime = statSync(file).mtimeMs
      if (mtime !== seen) {
        seen = mtime
        const parsed = JSON.parse(readFileSync(file, "utf8")) as { readonly token?: unknown }
        if (typeof parsed.token === "string") token = parsed.token
      }
    } catch {
      // No readable token file (logged out, being rewritten): keep the one in hand.
    }
    return token
  }
}

/** Keeps one folder in step until the daemon stops. */
const runFolder = (folder: Listed, token: () => string, settings: ClientSettings.Settings, tty: boolean) =>
  Effect.gen(function* () {
    const state = stateDirOf(folder.path)
    mkdirSync(state, { recursive: true, mode: 0o700 })
    yield* DataLock.acquire(join(state, "daemon.lock"), `meridian sync run for ${folder.path}`).pipe(
      Effect.mapError((error) =>
        error._tag === "Locked"
          ? new ClientFailed({
              message: `another daemon (pid ${error.pid}) already syncs ${folder.path}`,
              code: 1
            })
          : new ClientFailed({ message: `cannot lock ${folder.path}: ${error.message}`, code: 1 })
      )
    )
    const index = yield* Layer.build(SqliteLocalIndex.layer({ filename: join(state, "index.db") }))
    const session = yield* HttpSession.make({ baseUrl: folder.url, token, device: folder.device })
    const engine = yield* Folder.make({
      root: folder.path,
      device: folder.device,
      session,
      settings,
      hasher: nativeHasher
    }).pipe(Effect.provide(index))
    const resumeFlag = resumePath(folder.path)
    yield* Effect.forkScoped(
      Effect.gen(function* () {
        // `meridian sync resume` asks, by this file, to lift a safety halt.
        if (existsSync(resumeFlag)) {
          rmSync(resumeFlag, { force: true })
          process.stderr.write(`${folder.path}: deletions confirmed by sync resume: syncing them\n`)
          yield* engine.resume
        }
        yield* writeStatus(folder.path, yield* SubscriptionRef.get(engine.status))
      }).pipe(Effect.repeat(Schedule.spaced(STATUS_EVERY)))
    )
    yield* Effect.forkScoped(narrate(folder, engine.status, tty))
    // The last status says the daemon stopped with the folder in this state.
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(SubscriptionRef.get(engine.status), (s) => writeStatus(folder.path, s)).pipe(Effect.ignore)
    )
  })

/**
 * Keeps `folders` in step as `saved`'s devices until interrupted.
 *
 * @since 0.1.0
 * @category daemon
 */
export const run = (folders: ReadonlyArray<Listed>, saved: Saved, settings: ClientSettings.Settings) =>
  Effect.gen(function* () {
    const tty = process.stderr.isTTY === true
    process.stderr.write(
      `syncing ${folders.map((f) => f.path).join(", ")} as ${saved.name}; stop with Ctrl-C or SIGTERM\n`
    )
    const token = currentToken(saved.token)
    yield* Effect.forEach(folders, (folder) => runFolder(folder, token, settings, tty), { discard: true })
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provide(Layer.merge(NodeHost.fileSystemLayer, Http.layer)))
