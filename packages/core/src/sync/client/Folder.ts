/**
 * One synced folder on a device: the engine that keeps it and the account's server in step.
 *
 * Structure. A **worker** owns the folder: it takes commands from a bounded mailbox (an Effect
 * `Queue` of `mailboxCapacity`; producers wait when it is full) one at a time — a full scan, the
 * paths the watcher settled, remote changes, a catch-up — so a download and an upload of one path
 * never race. Three producers feed it: the **watcher** (`FileSystem.watch`, a path taken only once
 * its size and mtime held still for the settle delay; a watcher failure or overflow means a full
 * rescan and periodic scans until it is back, said in the status), the **events** follower (the
 * server's live changes; a `Head` ahead of the device or a new index id asks for a catch-up), and
 * the **periodic** rescan. The four run as children of a kernel `Supervisor` (restarted with
 * back-off when they crash; the state they need is in the `LocalIndex`, so a restart loses
 * nothing). They are supervised fibers rather than the kernel's `Actor` behaviours: those are
 * addressed through a site's actor system and envelopes, and a device's daemon has no site; the
 * mailbox discipline (bounded, typed, one handler at a time) is the same.
 *
 * Rules. Catch-up first (from the last number seen, page by page; equal numbers move nothing; a
 * new index id voids the numbers: versions are forgotten and the device reconciles by content
 * hash, downloading nothing it holds), then the scan and its plan (`Planner`). A local change the
 * server has not seen is never overwritten or deleted: it becomes a conflict copy (or, against a
 * remote delete, stays and is uploaded again). A commit refused with `SyncConflict` keeps the
 * device's bytes as a conflict copy, committed as a new file, and takes the winner. Bad input from
 * the server is refused per file and reported; the folder goes on.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Supervisor from "../../kernel/Supervisor.js"
import * as Hasher from "../Hasher.js"
import type * as Protocol from "../Protocol.js"
import * as Ignore from "./Ignore.js"
import { type LocalEntry, LocalIndex } from "./LocalIndex.js"
import * as Paths from "./Paths.js"
import * as Planner from "./Planner.js"
import * as Scanner from "./Scanner.js"
import * as Settings from "./Settings.js"
import { type FolderStatus, initial } from "./Status.js"
import * as Transfer from "./Transfer.js"

/**
 * A running folder.
 *
 * @since 0.1.0
 * @category models
 */
export interface Folder {
  /** The folder's status, current at any time; `changes` streams it. */
  readonly status: SubscriptionRef.SubscriptionRef<FolderStatus>
  /** Catch up with the server and scan the whole folder now; returns when done. */
  readonly sync: Effect.Effect<void>
  /** Lifts a safety halt: the next scan sends its deletes (the user confirmed the folder is right). */
  readonly resume: Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The folder's absolute path. */
  readonly root: string
  /** This device's name (conflict copies are named after it). */
  readonly device: string
  readonly session: Protocol.Session
  readonly settings?: Settings.Settings
  /** The SHA-256 that names content: pure JS unless told (a Node daemon passes the native one). */
  readonly hasher?: Hasher.Hasher
}

type Command =
  | { readonly _tag: "Full"; readonly done: Deferred.Deferred<void> | undefined }
  | { readonly _tag: "Paths"; readonly paths: ReadonlyArray<string> }
  | { readonly _tag: "Remote"; readonly changes: ReadonlyArray<Protocol.Change> }
  | { readonly _tag: "CatchUp" }

/** Refused commits of conflict copies in a row (each a catch-up) before the next scan is left to retry. */
const MAX_LOST_RACES = 3

/** Index resets one catch-up follows before it gives up (a server resetting in a loop). */
const MAX_RESETS_PER_CATCH_UP = 3

/**
 * Starts a folder's engine in the scope; it stops with it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<Folder, never, FileSystem.FileSystem | LocalIndex | Scope.Scope> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const index = yield* LocalIndex
    const settings = options.settings ?? Settings.defaults
    const status = yield* SubscriptionRef.make(initial(options.root, options.device))
    const ctx: Transfer.Context = {
      root: options.root,
      device: options.device,
      session: options.session,
      index,
      settings,
      status,
      hasher: options.hasher ?? Hasher.noble
    }
    const mailbox = yield* Queue.bounded<Command>(settings.mailboxCapacity)
    yield* Effect.addFinalizer(() => Queue.shutdown(mailbox))
    const allowDeletes = yield* Ref.make(false)
    const watching = yield* Ref.make(false)
    const report = (path: string | undefined, error: unknown) =>
      Transfer.reportError(ctx, path, error instanceof Error ? error.message : String(error))
    const setState = (state: FolderStatus["state"], reason?: string) =>
      SubscriptionRef.update(status, (s): FolderStatus => ({ ...s, state, reason }))
    const provide = Effect.provideService(FileSystem.FileSystem, fs)

    // ---- catch-up and remote changes -------------------------------------------------------------

    const folderState = Effect.gen(function* () {
      const state = yield* index.state
      if (Option.isSome(state)) return state.value
      const head = yield* Transfer.call(ctx, "head", options.session.head)
      const fresh = { device: options.device, indexId: head.indexId, lastSeq: 0 }
      yield* index.setState(fresh)
      return fresh
    })

    /** The server's numbers are not the ones the device holds: forget them, reconcile by content. */
    const reset = (indexId: string) =>
      Effect.gen(function* () {
        yield* index.forgetVersions
        yield* index.setState({ device: options.device, indexId, lastSeq: 0 })
        yield* Transfer.reportError(
          ctx,
          undefined,
          `the server's index id is now ${indexId}: rescanning and reconciling by content`
        )
      })

    const advance = (seq: number) =>
      Effect.gen(function* () {
        const state = yield* folderState
        if (seq > state.lastSeq) yield* index.setState({ ...state, lastSeq: seq })
      })

    const removeEmptyParents = (path: string) =>
      Effect.gen(function* () {
        let dir = Paths.parent(path)
        while (dir !== "") {
          const names = yield* fs.readDirectory(Paths.join(options.root, dir)).pipe(Effect.orElseSucceed(() => ["?"]))
          if (names.length > 0) return
          yield* fs.remove(Paths.join(options.root, dir)).pipe(Effect.ignore)
          dir = Paths.parent(dir)
        }
      })

    const tombstone = (change: Protocol.Change): LocalEntry => ({
      path: change.path,
      deleted: true,
      size: 0,
      mtime: 0,
      inode: 0,
      manifest: "",
      sha256: "",
      version: change.version,
      seq: change.seq,
      checkedAt: 0
    })

    const applyDelete = (change: Protocol.Change) =>
      Effect.gen(function* () {
        const entry = yield* index.get(change.path)
        const here = yield* Transfer.local(ctx, change.path, entry)
        if (here._tag === "Synced") {
          yield* fs.remove(Paths.join(options.root, change.path)).pipe(Effect.ignore)
          yield* removeEmptyParents(change.path)
        } else if (here._tag === "Modified") {
          // Changed here, deleted there: the device's bytes stay and go up again on the tombstone.
          const now = yield* Clock.currentTimeMillis
          yield* SubscriptionRef.update(
            status,
            (s): FolderStatus => ({
              ...s,
              conflicts: [
                ...s.conflicts.slice(-(settings.maxStatusEntries - 1)),
                {
                  path: change.path,
                  copy: change.path,
                  at: now,
                  reason: "deleted on another device, changed here: kept"
                }
              ]
            })
          )
        }
        yield* index.put(tombstone(change))
      })

    /** A remote rename (tombstone then the same content elsewhere) done as a local rename. */
    const tryLocalRename = (from: Protocol.Change, to: Protocol.Change) =>
      Effect.gen(function* () {
        if (from.entry._tag !== "Tombstone" || to.entry._tag !== "File" || to.seq !== from.seq + 1) return false
        if (Either.isLeft(Paths.validate(to.path))) return false
        const entry = yield* index.get(from.path)
        if (Option.isNone(entry) || entry.value.deleted || entry.value.manifest !== to.entry.manifest) return false
        // A rename the device has already passed (changes delivered again, live after a catch-up):
        // the path's version here is newer than the tombstone, and moving it would lose that version.
        if (entry.value.version >= from.version) return false
        const here = yield* Transfer.local(ctx, from.path, entry)
        const there = yield* Scanner.stat(Paths.join(options.root, to.path))
        if (here._tag !== "Synced" || Option.isSome(there)) return false
        const bytes = yield* index.manifest(from.path)
        const moved = yield* fs
          .makeDirectory(Paths.join(options.root, Paths.parent(to.path)), { recursive: true })
          .pipe(
            Effect.zipRight(fs.rename(Paths.join(options.root, from.path), Paths.join(options.root, to.path))),
            Effect.as(true),
            Effect.orElseSucceed(() => false)
          )
        if (!moved) return false
        yield* removeEmptyParents(from.path)
        const s = yield* Scanner.stat(Paths.join(options.root, to.path))
        const now = yield* Clock.currentTimeMillis
        yield* index.put(tombstone(from))
        yield* index.put(
          {
            ...entry.value,
            path: to.path,
            version: to.version,
            seq: to.seq,
            ...Option.getOrElse(s, () => ({})),
            checkedAt: now
          },
          Option.getOrUndefined(bytes)
        )
        return true
      })

    const uploadNew = (path: string, races = 0): Effect.Effect<void, Transfer.TransferError, FileSystem.FileSystem> =>
      Effect.gen(function* () {
        const content = yield* Scanner.content(options.root, path, settings, ctx.hasher)
        const entry = yield* index.get(path)
        yield* Transfer.upload(
          ctx,
          path,
          Option.match(entry, { onNone: () => 0, onSome: (e) => e.version }),
          content
        ).pipe(Effect.catchTag("SyncConflict", () => lostRace(path, races)))
      })

    /** Applies one change; per-file refusals are reported and skipped, server failures stop the batch. */
    const applyOne = (change: Protocol.Change, ignore: Ignore.Ignore, prepared: Transfer.Prepared | undefined) =>
      Effect.gen(function* () {
        const valid = Paths.validate(change.path)
        if (Either.isLeft(valid)) return yield* report(change.path, valid.left)
        if (ignore.ignores(change.path)) return
        const entry = yield* index.get(change.path)
        if (Option.isSome(entry) && entry.value.version > 0 && entry.value.version >= change.version) return
        if (change.entry._tag === "Tombstone") return yield* applyDelete(change)
        const copies = yield* Transfer.download(ctx, change, change.entry, prepared)
        for (const copy of copies) yield* uploadNew(copy)
      }).pipe(
        Effect.catchTags({
          BadRemoteContent: (e) => report(change.path, e),
          FileUnreadable: (e) => report(change.path, e),
          LocalIndexFull: (e) => report(change.path, e)
        })
      )

    /**
     * The changes of a window whose bytes may be fetched ahead, all at once: files the device may
     * need, each path and each content once in the window (a temp file is named by its content),
     * and no possible rename target (a tombstone just before it: the rename moves the bytes).
     */
    const prefetchable = (
      window: ReadonlyArray<Protocol.Change>,
      lastSeq: number,
      ignore: Ignore.Ignore
    ): ReadonlyArray<Protocol.Change & { readonly entry: Protocol.FileEntry }> => {
      const paths = new Map<string, number>()
      const digests = new Map<string, number>()
      for (const c of window) {
        paths.set(c.path, (paths.get(c.path) ?? 0) + 1)
        if (c.entry._tag === "File") digests.set(c.entry.manifest, (digests.get(c.entry.manifest) ?? 0) + 1)
      }
      const out: Array<Protocol.Change & { readonly entry: Protocol.FileEntry }> = []
      window.forEach((c, i) => {
        const entry = c.entry
        if (entry._tag !== "File" || c.seq <= lastSeq || ignore.ignores(c.path)) return
        if (Either.isLeft(Paths.validate(c.path))) return
        if (paths.get(c.path) !== 1 || digests.get(entry.manifest) !== 1) return
        const previous = window[i - 1]
        if (previous !== undefined && previous.entry._tag === "Tombstone" && previous.seq === c.seq - 1) return
        out.push({ ...c, entry })
      })
      return out
    }

    /**
     * Applies changes in number order. Their bytes move ahead, `prefetchWindow` changes at a
     * time, `parallelFiles` files at once; each change is then applied in order and the last
     * number seen advanced past the window (a change applied again after a cut is a no-op: its
     * version is already the index's).
     */
    const applyChanges = (changes: ReadonlyArray<Protocol.Change>) =>
      Effect.gen(function* () {
        const ignore = yield* Ignore.load(options.root, settings.shareIgnoreFile)
        for (let from = 0; from < changes.length; from += settings.prefetchWindow) {
          const window = changes.slice(from, from + settings.prefetchWindow)
          const start = yield* folderState
          const prepared = new Map<number, Transfer.Prepared>()
          yield* Effect.forEach(
            prefetchable(window, start.lastSeq, ignore),
            (change) =>
              Transfer.prepare(ctx, change, change.entry).pipe(
                Effect.map((p) => {
                  if (Option.isSome(p)) prepared.set(change.seq, p.value)
                }),
                // Not fetched ahead: applying it in order fetches it again and reports what fails.
                Effect.catchAll(() => Effect.void)
              ),
            { concurrency: settings.parallelFiles, discard: true }
          )
          let applied = start.lastSeq
          for (let i = from; i < Math.min(changes.length, from + settings.prefetchWindow); i++) {
            const change = changes[i]!
            if (change.seq <= applied) continue
            const next = changes[i + 1]
            if (next !== undefined && !ignore.ignores(change.path) && !ignore.ignores(next.path)) {
              if (yield* tryLocalRename(change, next)) {
                applied = next.seq
                i++
                continue
              }
            }
            yield* applyOne(change, ignore, prepared.get(change.seq))
            applied = Math.max(applied, change.seq)
          }
          yield* advance(applied)
        }
      })

    const catchUp = Effect.gen(function* () {
      let resets = 0
      for (;;) {
        let state = yield* folderState
        const page = yield* Transfer.call(ctx, "changes", options.session.changes(state.lastSeq, settings.pageSize))
        if (page.indexId !== state.indexId) {
          if (++resets > MAX_RESETS_PER_CATCH_UP)
            return yield* report(undefined, "the server's index id keeps changing")
          yield* reset(page.indexId)
          continue
        }
        yield* SubscriptionRef.update(status, (s): FolderStatus => ({ ...s, indexId: page.indexId }))
        if (page.entries.length > 0) {
          yield* setState("syncing")
          yield* applyChanges(page.entries)
        }
        state = yield* folderState
        if (page.entries.length === 0 || state.lastSeq >= page.head) return
      }
    })

    // ---- scans and local changes ------------------------------------------------------------------

    const observe = (path: string, entry: LocalEntry | undefined) =>
      Effect.gen(function* () {
        const s = yield* Scanner.stat(Paths.join(options.root, path))
        if (Option.isNone(s)) return { _tag: "Absent" } as const
        if (entry !== undefined && entry.version > 0 && Scanner.statMatches(entry, s.value, settings))
          return { _tag: "Unchanged", stat: s.value } as const
        return yield* Scanner.content(options.root, path, settings, ctx.hasher).pipe(
          Effect.map((content) => ({ _tag: "Read", content }) as const),
          Effect.catchTag("FileUnreadable", (e) =>
            // Unreadable now (growing, too large): left alone, never taken for a delete.
            Effect.as(report(path, e), { _tag: "Unchanged", stat: s.value } as const)
          )
        )
      })

    /** Observes `paths` (in order), `parallelScans` at once. */
    const observeAll = (paths: ReadonlyArray<string>, entries: ReadonlyMap<string, LocalEntry>) =>
      Effect.map(
        Effect.forEach(paths, (path) => observe(path, entries.get(path)), { concurrency: settings.parallelScans }),
        (seen) => new Map(paths.map((path, i) => [path, seen[i]!] as const))
      )

    const scan = (scope: "full" | ReadonlyArray<string>) =>
      Effect.gen(function* () {
        yield* setState("scanning")
        const ignore = yield* Ignore.load(options.root, settings.shareIgnoreFile)
        const entries = new Map<string, LocalEntry>()
        let observed = new Map<string, Planner.Observation>()
        let folderFiles = 0
        if (scope === "full") {
          const all = yield* index.all
          for (const e of all) if (!ignore.ignores(e.path)) entries.set(e.path, e)
          folderFiles = all.filter((e) => !e.deleted && e.version > 0).length
          const files = yield* Scanner.walk(options.root, ignore, settings.parallelScans)
          observed = yield* observeAll([...files.keys()], entries)
        } else {
          // Only the entries of the paths looked at: the cost does not grow with the folder.
          for (const p of scope)
            for (const e of yield* index.under(p)) if (!ignore.ignores(e.path)) entries.set(e.path, e)
          const paths: Array<string> = []
          for (const p of scope) {
            if (ignore.ignores(p)) continue
            const info = yield* Effect.option(fs.stat(Paths.join(options.root, p)))
            if (Option.isSome(info) && info.value.type === "Directory") {
              const below = yield* Scanner.walk(
                Paths.join(options.root, p),
                Ignore.fromText(""),
                settings.parallelScans
              )
              for (const q of below.keys()) {
                const path = `${p}/${q}`
                if (!ignore.ignores(path)) paths.push(path)
              }
            } else paths.push(p)
          }
          observed = yield* observeAll([...new Set(paths)], entries)
          for (const path of entries.keys()) if (!observed.has(path)) observed.set(path, { _tag: "Absent" })
        }
        const plan = Planner.plan(entries, observed, { full: scope === "full", folderFiles, settings })
        if (plan.halted !== undefined && !(yield* Ref.get(allowDeletes))) return yield* setState("halted", plan.halted)
        yield* Ref.set(allowDeletes, false)
        if (plan.actions.length > 0) yield* setState("syncing")
        yield* executeAll(plan.actions)
      })

    /**
     * Runs a plan's actions, `parallelFiles` at once: a plan names each path once (a rename its two),
     * so no two of them touch one path. What an action must do after a refusal (a catch-up, a
     * conflict copy) runs afterwards, one at a time: it may touch any path.
     */
    const executeAll = (actions: ReadonlyArray<Planner.Action>) =>
      Effect.gen(function* () {
        const later: Array<Effect.Effect<void, unknown, FileSystem.FileSystem>> = []
        const defer = <E>(then: Effect.Effect<void, E, FileSystem.FileSystem>) =>
          Effect.sync(() => {
            later.push(then)
          })
        // Small new versions go up in batches (a few requests for many files), the rest one by one.
        const small: Array<Transfer.Upload> = []
        const alone: Array<Planner.Action> = []
        for (const action of actions) {
          if (action._tag === "Put" && action.content.manifest.size <= settings.batchFileBytes) small.push(action)
          else alone.push(action)
        }
        const batches: Array<ReadonlyArray<Transfer.Upload>> = []
        for (let i = 0; i < small.length; i += settings.maxBatchCommits)
          batches.push(small.slice(i, i + settings.maxBatchCommits))
        const tasks: Array<Effect.Effect<void, unknown, FileSystem.FileSystem>> = [
          ...batches.map((batch) => uploadBatch(batch, defer)),
          ...alone.map((action) => execute(action, defer))
        ]
        yield* Effect.forEach(tasks, (task) => task, { concurrency: settings.parallelFiles, discard: true })
        for (const then of later) yield* then
      })

    /** A batch of small uploads; a refused file is handled as a lone upload's refusal would be. */
    const uploadBatch = (
      batch: ReadonlyArray<Transfer.Upload>,
      defer: <E>(then: Effect.Effect<void, E, FileSystem.FileSystem>) => Effect.Effect<void, E, FileSystem.FileSystem>
    ) =>
      Effect.gen(function* () {
        const outcomes = yield* Transfer.uploadMany(ctx, batch)
        for (const [i, outcome] of outcomes.entries()) {
          if (outcome._tag === "Committed") continue
          const item = batch[i]!
          const error = outcome.error
          switch (error._tag) {
            case "SyncConflict":
              yield* defer(lostRace(item.path, 0))
              break
            case "ChunksMissing":
            case "SyncBusy":
            case "SyncHomeUnreachable":
            case "RequestTimeout":
              // Chunks collected meanwhile, or a refusal worth another try: upload it alone.
              yield* defer(execute({ _tag: "Put", ...item }, (then) => then))
              break
            default:
              yield* report(item.path, error)
          }
        }
      })

    /**
     * A commit of `path` was refused: another version is current. The device's bytes are moved
     * aside as a conflict copy at once (a write meanwhile must not destroy them), then the catch-up
     * brings the current version. When that version turns out to be these very bytes (the device's
     * own commit went through but its answer was lost, and the retry found it), the copy is dropped:
     * nothing was in conflict. Otherwise the copy is uploaded as a new file. A copy refused in turn
     * is retried at most {@link MAX_LOST_RACES} times in a row (then the next scan takes it).
     */
    const lostRace = (
      path: string,
      races: number
    ): Effect.Effect<void, Transfer.TransferError, FileSystem.FileSystem> =>
      Effect.gen(function* () {
        const here = yield* Transfer.local(ctx, path, yield* index.get(path))
        if (here._tag !== "Modified") return yield* catchUp
        const copy = yield* Transfer.conflictCopy(ctx, path, "another device committed a version first")
        yield* catchUp
        const current = yield* index.get(path)
        const mine = here.content?.manifest.sha256
        if (mine !== undefined && Option.isSome(current) && !current.value.deleted && current.value.sha256 === mine) {
          const still = yield* Effect.option(Scanner.content(options.root, copy, settings, ctx.hasher))
          if (Option.isSome(still) && still.value.manifest.sha256 === mine) {
            yield* fs.remove(Paths.join(options.root, copy)).pipe(Effect.ignore)
            yield* SubscriptionRef.update(
              status,
              (s): FolderStatus => ({ ...s, conflicts: s.conflicts.filter((c) => c.copy !== copy) })
            )
            return
          }
        }
        if (races >= MAX_LOST_RACES) return yield* report(copy, "refused again and again: left for the next scan")
        yield* uploadNew(copy, races + 1)
        yield* catchUp
      })

    const execute = (
      action: Planner.Action,
      defer: <E>(then: Effect.Effect<void, E, FileSystem.FileSystem>) => Effect.Effect<void, E, FileSystem.FileSystem>
    ) => {
      const path = action._tag === "Rename" ? action.to : action.path
      const after = (then: Effect.Effect<void, Transfer.TransferError, FileSystem.FileSystem>) =>
        defer(
          then.pipe(
            Effect.catchTags({
              FileUnreadable: (e) => report(path, e),
              LocalIndexFull: (e) => report(path, e),
              BadRemoteContent: (e) => report(path, e),
              SyncInvalid: (e) => report(path, e),
              QuotaExceeded: (e) => report(path, e)
            })
          )
        )
      return Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        switch (action._tag) {
          case "Put":
            return yield* Transfer.upload(ctx, action.path, action.base, action.content).pipe(
              Effect.catchTag("SyncConflict", () => after(lostRace(action.path, 0)))
            )
          case "Touch": {
            const entry = yield* index.get(action.path)
            // The plan saw the index hold this content. If a download took another version since
            // (a catch-up run for an earlier action), these bytes are stale: recording them under
            // that version's number would hide the file from every later scan.
            if (Option.isNone(entry) || entry.value.deleted || entry.value.manifest !== action.content.digest) return
            return yield* index.put(
              Transfer.fileEntry(
                action.path,
                action.content.stat,
                action.content,
                entry.value.version,
                entry.value.seq,
                now
              ),
              action.content.encoded
            )
          }
          case "Delete": {
            if (action.base === 0) return yield* index.remove(action.path)
            const request = { path: action.path, base: action.base, op: { _tag: "Delete" } } as const
            return yield* Transfer.call(ctx, "commit", options.session.commit(request)).pipe(
              Effect.flatMap((result) =>
                Effect.forEach(result.changes, (c) => index.put(tombstone(c)), { discard: true })
              ),
              // Edited elsewhere first: the edit wins, the catch-up brings it back.
              Effect.catchTag("SyncConflict", () => after(catchUp)),
              Effect.catchTag("SyncNotFound", () => index.remove(action.path))
            )
          }
          case "Rename": {
            const request = { path: action.from, base: action.base, op: { _tag: "Rename", to: action.to } } as const
            return yield* Transfer.call(ctx, "commit", options.session.commit(request)).pipe(
              Effect.flatMap((result) =>
                Effect.forEach(
                  result.changes,
                  (c) =>
                    c.entry._tag === "Tombstone"
                      ? index.put(tombstone(c))
                      : index.put(
                          Transfer.fileEntry(c.path, action.content.stat, action.content, c.version, c.seq, now),
                          action.content.encoded
                        ),
                  { discard: true }
                )
              ),
              // The server would not rename (the source changed elsewhere, the target exists): upload
              // the new path as a file; the catch-up brings the source's newer version back.
              Effect.catchTags({
                SyncConflict: () => after(Effect.zipRight(uploadNew(action.to), catchUp)),
                SyncNotFound: () => after(Effect.zipRight(uploadNew(action.to), catchUp)),
                SyncInvalid: () => after(Effect.zipRight(uploadNew(action.to), catchUp))
              })
            )
          }
        }
      }).pipe(
        Effect.catchTags({
          FileUnreadable: (e) => report(path, e),
          LocalIndexFull: (e) => report(path, e),
          BadRemoteContent: (e) => report(path, e),
          SyncInvalid: (e) => report(path, e),
          QuotaExceeded: (e) => report(path, e)
        })
      )
    }

    const refreshStatus = Effect.gen(function* () {
      const { bytes, files } = yield* index.totals
      const state = yield* index.state
      yield* SubscriptionRef.update(
        status,
        (s): FolderStatus => ({
          ...s,
          files,
          bytes,
          lastSeq: Option.match(state, { onNone: () => 0, onSome: (st) => st.lastSeq }),
          indexId: Option.match(state, { onNone: () => s.indexId, onSome: (st) => st.indexId }),
          // Idle only when nothing moves (a transfer of another fiber may still be under way).
          state: s.state === "halted" ? "halted" : s.inFlight.length > 0 ? "syncing" : "idle",
          reason: s.state === "halted" ? s.reason : undefined
        })
      )
    })

    const handle = (command: Command): Effect.Effect<void, unknown, FileSystem.FileSystem> => {
      switch (command._tag) {
        case "Full":
          return Effect.zipRight(catchUp, scan("full"))
        case "Paths":
          return scan(command.paths)
        case "CatchUp":
          return catchUp
        case "Remote":
          return Effect.gen(function* () {
            const state = yield* folderState
            const foreign = command.changes.filter((c) => c.seq > state.lastSeq)
            if (foreign.length === 0) return
            yield* applyChanges(command.changes)
          })
      }
    }

    /**
     * The live changes queued one after another make one batch (their bytes move at once, at most
     * a catch-up page of them); every other command is taken alone.
     */
    const merge = (commands: ReadonlyArray<Command>): ReadonlyArray<Command> => {
      const out: Array<Command> = []
      for (const command of commands) {
        const last = out[out.length - 1]
        if (command._tag === "Remote" && last?._tag === "Remote" && last.changes.length < settings.pageSize)
          out[out.length - 1] = { _tag: "Remote", changes: [...last.changes, ...command.changes] }
        else out.push(command)
      }
      return out
    }

    const run = (command: Command) =>
      provide(handle(command)).pipe(
        Effect.zipRight(refreshStatus),
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : Effect.zipRight(
                report(undefined, Cause.squash(cause)),
                Effect.zipRight(refreshStatus, setState("error", Cause.pretty(cause).split("\n")[0]))
              )
        ),
        Effect.ensuring(
          command._tag === "Full" && command.done !== undefined
            ? Deferred.succeed(command.done, undefined)
            : Effect.void
        )
      )

    const worker = Effect.forever(
      Effect.flatMap(Queue.takeBetween(mailbox, 1, settings.mailboxCapacity), (taken) =>
        Effect.forEach(merge([...taken]), run, { discard: true })
      )
    )

    // ---- producers ----------------------------------------------------------------------------------

    const relative = (absolute: string) => {
      const root = options.root.endsWith("/") ? options.root : options.root + "/"
      return absolute.startsWith(root) ? absolute.slice(root.length).split("\\").join("/") : undefined
    }

    const watcher = Effect.gen(function* () {
      // Paths by their last event, oldest first (a path seen again moves to the end): the first is
      // always the next to settle.
      const pending = new Map<string, { seenAt: number; stat: string }>()
      const see = (path: string, seenAt: number, stat: string) => {
        pending.delete(path)
        pending.set(path, { seenAt, stat })
      }
      // Wakes the settler when a path comes in while none was pending.
      const wake = yield* Queue.sliding<void>(1)
      const statKey = (path: string) =>
        Effect.map(Scanner.stat(Paths.join(options.root, path)), (s) =>
          Option.match(s, { onNone: () => "absent", onSome: (v) => `${v.size}:${v.mtime}:${v.inode}` })
        )
      const settleMillis = Duration.toMillis(settings.settleDelay)
      const UNSEEN = ""
      /**
       * Takes each path once it has been still for the settle delay since its last event (and its
       * stat has not moved meanwhile: an event the watcher missed), so a change waits the settle
       * delay, not a tick and a half.
       */
      const settle = Effect.gen(function* () {
        const first = pending.values().next()
        if (first.done === true) return yield* Queue.take(wake)
        const now = yield* Clock.currentTimeMillis
        const due = first.value.seenAt + settleMillis
        if (due > now) return yield* Effect.sleep(Duration.millis(due - now))
        const ready: Array<string> = []
        const moved: Array<readonly [string, string]> = []
        for (const [path, p] of pending) {
          if (p.seenAt + settleMillis > now) break
          const key = yield* statKey(path)
          if (p.stat === UNSEEN || key === p.stat) ready.push(path)
          else moved.push([path, key])
        }
        for (const path of ready) pending.delete(path)
        for (const [path, key] of moved) see(path, now, key)
        if (ready.length > 0) yield* Queue.offer(mailbox, { _tag: "Paths", paths: ready })
      })
      const events = fs.watch(options.root, { recursive: true }).pipe(
        Stream.runForEach((event) =>
          Effect.gen(function* () {
            const path = relative(event.path)
            if (path === undefined || path === "" || Paths.isMeta(path)) return
            if (path === Paths.IGNORE_FILE) return yield* Queue.offer(mailbox, { _tag: "Full", done: undefined })
            if (pending.size >= settings.maxPendingPaths && !pending.has(path)) {
              pending.clear()
              return yield* Queue.offer(mailbox, { _tag: "Full", done: undefined })
            }
            // No I/O here: a burst of events must not outrun the watcher's queue. The stat is taken
            // once the path is due; a path whose stat moved since (an event missed) waits again.
            see(path, yield* Clock.currentTimeMillis, UNSEEN)
            yield* Queue.offer(wake, undefined)
          })
        )
      )
      for (;;) {
        yield* Ref.set(watching, true)
        yield* SubscriptionRef.update(
          status,
          (s): FolderStatus => ({ ...s, watcher: "watching", watcherNote: undefined })
        )
        const ticker = yield* Effect.fork(Effect.forever(settle))
        const exit = yield* Effect.exit(events)
        yield* ticker.interruptAsFork(ticker.id())
        yield* Ref.set(watching, false)
        const why = exit._tag === "Failure" ? Cause.squash(exit.cause) : "the watch ended"
        yield* SubscriptionRef.update(
          status,
          (s): FolderStatus => ({
            ...s,
            watcher: "periodic",
            watcherNote: `the watcher stopped (${why instanceof Error ? why.message : String(why)}): full rescan, then scans every ${Duration.format(settings.fallbackRescanInterval)} until it is back`
          })
        )
        pending.clear()
        yield* Queue.offer(mailbox, { _tag: "Full", done: undefined })
        yield* Effect.sleep(settings.fallbackRescanInterval)
      }
    })

    const periodic = Effect.forever(
      Effect.gen(function* () {
        const up = yield* Ref.get(watching)
        yield* Effect.sleep(up ? settings.rescanInterval : settings.fallbackRescanInterval)
        yield* Queue.offer(mailbox, { _tag: "Full", done: undefined })
      })
    )

    const follower = Effect.forever(
      Effect.gen(function* () {
        const state = yield* folderState
        yield* options.session.events(state.lastSeq).pipe(
          Stream.runForEach((event) =>
            Effect.gen(function* () {
              const now = yield* folderState
              if (event._tag === "Head") {
                if (event.indexId !== now.indexId || event.head > now.lastSeq)
                  yield* Queue.offer(mailbox, { _tag: "CatchUp" })
              } else if (event.indexId !== now.indexId) yield* Queue.offer(mailbox, { _tag: "CatchUp" })
              else yield* Queue.offer(mailbox, { _tag: "Remote", changes: [event.change] })
            })
          ),
          Effect.catchAll((e) => report(undefined, e))
        )
        // The stream ended or failed: reconnect after a pause (the catch-up covers the gap).
        yield* Effect.sleep(settings.retryBaseDelay)
      }).pipe(Effect.catchAll((e) => Effect.zipRight(report(undefined, e), Effect.sleep(settings.retryMaxDelay))))
    )

    const supervisor = Supervisor.make(`sync:${options.root}`)
    yield* supervisor.add({ id: "worker", run: worker })
    yield* supervisor.add({ id: "periodic", run: periodic })
    if (settings.watch) yield* supervisor.add({ id: "watcher", run: provide(watcher) })
    if (settings.live) yield* supervisor.add({ id: "events", run: follower })
    yield* Effect.forkScoped(supervisor.run.pipe(Effect.catchAll((e) => setState("error", e.message))))
    yield* Queue.offer(mailbox, { _tag: "Full", done: undefined })

    return {
      status,
      sync: Effect.flatMap(Deferred.make<void>(), (done) =>
        Effect.zipRight(Queue.offer(mailbox, { _tag: "Full", done }), Deferred.await(done))
      ),
      resume: Effect.zipRight(
        Ref.set(allowDeletes, true),
        SubscriptionRef.update(status, (s): FolderStatus => ({ ...s, state: "idle", reason: undefined }))
      )
    }
  })
