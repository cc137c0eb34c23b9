/**
 * Folder sync's simulator plug-in: devices of one account, each the real client engine
 * (`client/Folder.ts`) over its own simulated disk and memory index, attached to different sites
 * (so that the requests of all but one are relayed to the account's home over the simulated
 * network, with its loss, duplication, reordering and partitions), writing at random; then a quiet
 * period in which they settle; then the invariants.
 *
 * **Workload** (`sync/devices`). Each device creates, edits, renames and deletes small files (a
 * shared pool of names, so that two devices often touch one path), and the first device keeps one
 * large file (a few hundred KiB, many chunks) whose edits are small insertions (multi-chunk
 * deltas). A few times two devices edit the same synced file at the same instant (a certain
 * conflict). One device goes offline for a long time: its engine is stopped (its disk and index
 * stay), writes are made on its disk meanwhile, and its engine is started again. Writes stop at
 * `writeUntilMillis`; then every device is asked to sync, round after round, until a whole round
 * moves nothing (the trees and the server's head stay the same), and the engines are stopped. A
 * server crash, partitions and a bad network are the scenario's faults.
 *
 * A device's session fails like a network while its site is down (`SyncHomeUnreachable`, so the
 * engine retries), and a call or live stream under way when its site crashes fails too, as a cut
 * connection would.
 *
 * **Invariants.** `sync/converged`: every device holds the same tree (paths and bytes, outside
 * `.meridian/`), and it is the server's current files. `sync/no-write-lost`: every version a device
 * wrote (its SHA-256, recorded when written) is the content of a file of the final tree (any path:
 * renames move content, conflict copies keep it), or a version the server keeps in its history that
 * was replaced by a writer who had seen it (a commit on that version: a version buried by a commit
 * made on an older base is lost to its writer), or it is **excused**: its own device replaced it
 * (overwrote, deleted, or renamed another file onto it) before the server ever held it, and at that
 * moment the engine had not read those bytes since they were written there, or had read them and
 * had not yet had its commit of that path answered (the bytes were on their way up: only a copy of
 * every file read could keep them). `sync/seq-increasing`: within every commit result and every
 * page of changes the numbers strictly increase (above the page's `after`, up to its head); a
 * number never names two different changes; and the head never goes backwards, crashes included:
 * an answer to a request sent after some device learned of number N shows a head of at least N, and
 * a commit made after that takes a number above N.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Module from "../site/Module.js"
import * as Folder from "./client/Folder.js"
import { LocalIndex, type LocalIndexService, makeMemory } from "./client/LocalIndex.js"
import * as Paths from "./client/Paths.js"
import * as ClientSettings from "./client/Settings.js"
import {
  type ChangesPage,
  type CommitRequest,
  type CommitResult,
  type Session,
  type SyncError,
  SyncHomeUnreachable
} from "./Protocol.js"
import { homeSite } from "./Relay.js"
import type { SyncService } from "./Service.js"

type Context = Module.SimContext<SyncService>

/** The folder's root on every simulated device. */
const ROOT = "/sync"

/** The device name the invariants read the server with (not one of the workload's devices). */
const OBSERVER = "sim-observer"

/** Problems of one kind an invariant keeps (the first ones: enough to debug, bounded). */
const MAX_PROBLEMS = 5

/** How often a device's session looks whether its site crashed (to cut what is under way). */
const SITE_POLL_MILLIS = 50

/** A write a device's workload made, for `sync/no-write-lost`. */
interface Write {
  readonly device: string
  readonly path: string
  readonly sha256: string
  readonly at: number
  /** The workload event (a global counter) at which its bytes came to the path they are at. */
  since: number
  /** Where they are on the device (a rename by the workload moves them). */
  where: string
  /** Set when its device replaced it: whether that is excused (see the module's doc). */
  replaced: { readonly at: number; readonly excused: boolean } | undefined
}

/** One device: its disk and index outlive its engine. */
interface Device {
  readonly name: string
  readonly site: string
  readonly fs: FileSystem.FileSystem
  readonly index: LocalIndexService
  readonly session: Session
  /** Path → the event at which the engine last began reading its bytes. */
  readonly reads: Map<string, number>
  /** Path → the event at which a commit of it was last answered (not a transient failure). */
  readonly answers: Map<string, number>
  /** Path → what the workload last wrote there, by stat (saves hashing it again). */
  readonly wrote: Map<string, { readonly stat: string; readonly sha256: string }>
  engine: { readonly folder: Folder.Folder; readonly scope: Scope.CloseableScope } | undefined
}

/**
 * What the workload did in one run, for the invariants.
 *
 * @since 0.1.0
 * @category simulation
 */
export interface Run {
  account: string | undefined
  /** The account's home site (which numbers its changes). */
  home: string | undefined
  readonly devices: Array<Device>
  readonly writes: Array<Write>
  /** SHA-256 → the write (contents are unique per write). */
  readonly bySha: Map<string, Write>
  /** `path#version` of versions a commit replaced without having seen them. */
  readonly buried: Map<string, string>
  /** Violations of the numbering seen by the devices' sessions. */
  readonly seqProblems: Array<string>
  /** Index id → the highest number any device has learned of. */
  readonly known: Map<string, number>
  /** `indexId:seq` → the change (`path#version`) it named. */
  readonly named: Map<string, string>
  readonly indexIds: Array<string>
  /** A counter of workload and engine events (orders writes, reads and answers exactly). */
  tick: number
  /** When the quiet period ended with a round that moved nothing; `undefined`: never. */
  settledAt: number | undefined
  quietRounds: number
  /** Each device's final tree, path → SHA-256 (read once, when the invariants first ask). */
  finalTrees: Array<Map<string, string>> | undefined
}

/**
 * A run's record, empty (one per simulator run).
 *
 * @since 0.1.0
 * @category simulation
 */
export const makeRun = (): Run => ({
  account: undefined,
  home: undefined,
  devices: [],
  writes: [],
  bySha: new Map(),
  buried: new Map(),
  seqProblems: [],
  known: new Map(),
  named: new Map(),
  indexIds: [],
  tick: 0,
  settledAt: undefined,
  quietRounds: 0,
  finalTrees: undefined
})

const hex = (bytes: Uint8Array) => bytesToHex(sha256(bytes))
const now = Effect.clockWith((clock) => clock.currentTimeMillis)
const problem = (run: Run, message: string) => {
  if (run.seqProblems.length < MAX_PROBLEMS) run.seqProblems.push(message)
}

/** Bytes of `size` that start with `label` and go on with letters from a seeded xorshift (unique per write). */
const content = (label: string, seed: number, size: number): Uint8Array => {
  const out = new Uint8Array(Math.max(size, 1))
  const head = utf8ToBytes(label)
  out.set(head.subarray(0, out.length))
  let x = seed | 0 || 0x9e3779b9
  for (let i = head.length; i < out.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    const r = (x >>> 0) % 64
    out[i] = r === 0 ? 10 : 97 + (r % 26)
  }
  return out
}

// ---- the numbering, as the devices see it ---------------------------------------------------------

const checkPage = (run: Run, who: string, after: number, floor: ReadonlyMap<string, number>, page: ChangesPage) => {
  noteIndexId(run, page.indexId)
  const below = floor.get(page.indexId) ?? 0
  if (page.head < below) problem(run, `${who} read head ${page.head} after a device had learned of ${below}`)
  let last = after
  for (const change of page.entries) {
    if (change.seq <= last) problem(run, `${who} read #${change.seq} after #${last} in one page (after ${after})`)
    if (change.seq > page.head) problem(run, `${who} read #${change.seq} in a page whose head is ${page.head}`)
    last = change.seq
    name(run, page.indexId, change.seq, `${change.path}#${change.version}`)
  }
  learn(run, page.indexId, Math.max(page.head, last))
}

const noteIndexId = (run: Run, indexId: string) => {
  if (run.indexIds.includes(indexId)) return
  run.indexIds.push(indexId)
  if (run.indexIds.length > 1)
    problem(run, `the account's index id changed from ${run.indexIds[0]} to ${indexId} though nothing reset it`)
}

const name = (run: Run, indexId: string, seq: number, change: string) => {
  const key = `${indexId}:${seq}`
  const before = run.named.get(key)
  if (before === undefined) run.named.set(key, change)
  else if (before !== change) problem(run, `#${seq} names two changes: ${before} and ${change}`)
}

const learn = (run: Run, indexId: string, seq: number) => {
  if (seq > (run.known.get(indexId) ?? 0)) run.known.set(indexId, seq)
}

const checkCommit = (
  run: Run,
  who: string,
  request: CommitRequest,
  floor: ReadonlyMap<string, number>,
  result: CommitResult
) => {
  const indexId = run.indexIds[run.indexIds.length - 1]
  let last = 0
  for (const change of result.changes) {
    if (change.seq <= last) problem(run, `${who}'s commit of ${request.path} took #${change.seq} after #${last}`)
    last = change.seq
    if (indexId !== undefined) {
      const below = floor.get(indexId) ?? 0
      if (change.seq <= below)
        problem(run, `${who}'s commit of ${request.path} took #${change.seq}, not above #${below} already known`)
      name(run, indexId, change.seq, `${change.path}#${change.version}`)
      learn(run, indexId, change.seq)
    }
    // A commit replaces the version it names: any other was replaced unseen (buried).
    if (change.path === request.path && change.version !== request.base + 1) {
      run.buried.set(
        `${change.path}#${change.version - 1}`,
        `${who} committed ${change.path} v${change.version} on base v${request.base}`
      )
    }
  }
}

const transient = (e: SyncError) => e._tag === "SyncHomeUnreachable" || e._tag === "SyncBusy"

/**
 * The session of a device attached to `site`: fails like a network while the site is down, cuts
 * what is under way when it crashes, and records what the numbering looks like.
 */
const deviceSession = (
  context: Context,
  run: Run,
  site: string,
  account: string,
  device: string,
  crashed: (site: string) => Effect.Effect<Deferred.Deferred<never, SyncError>>,
  answered: (paths: ReadonlyArray<string>) => void
): Session => {
  const region = context.topology.sites[site]?.region ?? site
  const down = new SyncHomeUnreachable({ region, reason: `site ${site} is down` })
  const at = <A>(use: (session: Session) => Effect.Effect<A, SyncError>): Effect.Effect<A, SyncError> =>
    Effect.suspend(() => {
      const service = context.service(site)
      if (service === undefined) return Effect.fail(down)
      return Effect.flatMap(crashed(site), (gone) =>
        Effect.raceFirst(use(service.session(account, device)), Deferred.await(gone))
      )
    })
  const floor = () => new Map(run.known)
  return {
    head: Effect.suspend(() => {
      const before = floor()
      return Effect.tap(
        at((s) => s.head),
        (h) =>
          Effect.sync(() => {
            noteIndexId(run, h.indexId)
            const below = before.get(h.indexId) ?? 0
            if (h.head < below) problem(run, `${device} read head ${h.head} after a device had learned of ${below}`)
            learn(run, h.indexId, h.head)
          })
      )
    }),
    changes: (after, limit) =>
      Effect.suspend(() => {
        const before = floor()
        return Effect.tap(
          at((s) => s.changes(after, limit)),
          (page) => Effect.sync(() => checkPage(run, device, after, before, page))
        )
      }),
    missing: (chunks) => at((s) => s.missing(chunks)),
    putChunk: (hash, bytes) => at((s) => s.putChunk(hash, bytes)),
    getChunk: (hash) => at((s) => s.getChunk(hash)),
    putChunks: (chunks) => at((s) => s.putChunks(chunks)),
    getChunks: (hashes, maxBytes) => at((s) => s.getChunks(hashes, maxBytes)),
    manifest: (digest, base) => at((s) => s.manifest(digest, base)),
    commit: (request) =>
      Effect.suspend(() => {
        const before = floor()
        const paths = request.op._tag === "Rename" ? [request.path, request.op.to] : [request.path]
        return at((s) => s.commit(request)).pipe(
          Effect.tapBoth({
            onSuccess: (result) =>
              Effect.sync(() => {
                checkCommit(run, device, request, before, result)
                answered(paths)
              }),
            onFailure: (e) =>
              Effect.sync(() => {
                if (!transient(e) && e._tag !== "ChunksMissing") answered(paths)
              })
          })
        )
      }),
    commitMany: (requests) =>
      Effect.suspend(() => {
        const before = floor()
        return Effect.tap(
          at((s) => s.commitMany(requests)),
          (outcomes) =>
            Effect.sync(() =>
              outcomes.forEach((outcome, i) => {
                const request = requests[i]!
                const paths = request.op._tag === "Rename" ? [request.path, request.op.to] : [request.path]
                if (outcome._tag === "Committed") {
                  checkCommit(run, device, request, before, outcome.result)
                  answered(paths)
                } else if (!transient(outcome.error) && outcome.error._tag !== "ChunksMissing") answered(paths)
              })
            )
        )
      }),
    versions: (path) => at((s) => s.versions(path)),
    restore: (path, version) => at((s) => s.restore(path, version)),
    events: (after) =>
      Stream.unwrap(
        Effect.suspend(() => {
          const service = context.service(site)
          if (service === undefined) return Effect.fail(down)
          return Effect.map(crashed(site), (gone) =>
            service
              .session(account, device)
              .events(after)
              .pipe(
                Stream.interruptWhen(Deferred.await(gone)),
                Stream.tap((event) =>
                  Effect.sync(() => {
                    noteIndexId(run, event.indexId)
                    if (event._tag === "Changed") {
                      name(run, event.indexId, event.change.seq, `${event.change.path}#${event.change.version}`)
                      learn(run, event.indexId, event.change.seq)
                    } else learn(run, event.indexId, event.head)
                  })
                )
              )
          )
        })
      )
  }
}

// ---- the disk, as the workload and the invariants see it ----------------------------------------

/** The files of a device's folder (outside `.meridian/`), path → bytes, in path order. */
const treeOf = (fs: FileSystem.FileSystem): Effect.Effect<Map<string, Uint8Array>> =>
  Effect.gen(function* () {
    const names = yield* fs.readDirectory(ROOT, { recursive: true }).pipe(Effect.orElseSucceed(() => []))
    const out = new Map<string, Uint8Array>()
    for (const n of [...names].sort()) {
      const path = n.split("\\").join("/")
      if (Paths.isMeta(path)) continue
      const info = yield* Effect.option(fs.stat(Paths.join(ROOT, path)))
      if (Option.isNone(info) || info.value.type !== "File") continue
      const bytes = yield* Effect.option(fs.readFile(Paths.join(ROOT, path)))
      if (Option.isSome(bytes)) out.set(path, bytes.value)
    }
    return out
  })

/** The device's file paths (sorted), without reading them. */
const filesOf = (fs: FileSystem.FileSystem): Effect.Effect<Array<string>> =>
  Effect.gen(function* () {
    const names = yield* fs.readDirectory(ROOT, { recursive: true }).pipe(Effect.orElseSucceed(() => []))
    const out: Array<string> = []
    for (const n of [...names].sort()) {
      const path = n.split("\\").join("/")
      if (Paths.isMeta(path)) continue
      const info = yield* Effect.option(fs.stat(Paths.join(ROOT, path)))
      if (Option.isSome(info) && info.value.type === "File") out.push(path)
    }
    return out
  })

/** A file's size, mtime and inode (`undefined`: no file). */
const statKey = (fs: FileSystem.FileSystem, path: string): Effect.Effect<string | undefined> =>
  Effect.map(Effect.option(fs.stat(Paths.join(ROOT, path))), (info) =>
    Option.match(info, {
      onNone: () => undefined,
      onSome: (i) =>
        `${i.size}:${Option.match(i.mtime, { onNone: () => 0, onSome: (d) => d.getTime() })}:${Option.getOrElse(i.ino, () => 0)}`
    })
  )

/** The device's file system as its engine sees it: reads of a file's bytes are recorded. */
const engineFileSystem = (run: Run, device: Device): FileSystem.FileSystem => {
  const prefix = `${ROOT}/`
  return {
    ...device.fs,
    stream: (path, options) =>
      Stream.unwrap(
        Effect.sync(() => {
          if (path.startsWith(prefix)) device.reads.set(path.slice(prefix.length), ++run.tick)
          return device.fs.stream(path, options)
        })
      )
  }
}

const Offline = Schema.Struct({
  device: Schema.Int.pipe(Schema.nonNegative()),
  fromMillis: Schema.Number.pipe(Schema.nonNegative()),
  untilMillis: Schema.Number.pipe(Schema.nonNegative())
})

const int = (min: number, max: number, fallback: number) =>
  Schema.optionalWith(Schema.Int.pipe(Schema.between(min, max)), { default: () => fallback })
const millis = (fallback: number) =>
  Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { default: () => fallback })

/**
 * The workload's parameters (every bound named, each with a default).
 *
 * @since 0.1.0
 * @category simulation
 */
export const DevicesParams = Schema.Struct({
  account: Schema.optionalWith(Schema.String, { default: () => "alice" }),
  /** The account's home region (default: the region of the first site, by name, that runs sync). */
  home: Schema.optional(Schema.String),
  /** Devices of the account, each a real engine. */
  devices: int(1, 16, 3),
  /** The site each device is attached to (default: the home region's sync site first, then the others in turn). */
  sites: Schema.optional(Schema.Array(Schema.String)),
  startMillis: millis(500),
  /** Writes stop here; the quiet period follows. */
  writeUntilMillis: millis(20_000),
  /** Mean time between two operations of one device. */
  intervalMillis: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 1000 }),
  /** Names in the shared pool of small files (`d<k>/f<i>.txt`), and directories they spread over. */
  names: int(1, 1000, 8),
  directories: int(1, 100, 2),
  /** The largest small file. */
  smallBytes: int(1, 1024 * 1024, 4096),
  /** The large file's size at creation (0: none); its edits insert a few bytes. */
  largeBytes: int(0, 16 * 1024 * 1024, 300_000),
  /** Times two devices edit one synced file at the same instant. */
  concurrentEdits: int(0, 100, 2),
  /** A device whose engine is stopped from `fromMillis` to `untilMillis` (writes go on on its disk). */
  offline: Schema.optional(Offline),
  /** The engines' settle delay and rescan interval. */
  settleMillis: millis(1000),
  rescanMillis: millis(15_000),
  /** The engines' racy window (a file written this close to its last look is read again). */
  racyMillis: millis(2000),
  /** The engines' longest pause between retries of a failed request. */
  retryMaxMillis: millis(5000),
  /** Quiet period: pause between rounds, and rounds at most. */
  quietPauseMillis: millis(2000),
  quietRounds: int(1, 1000, 12),
  /** Registration of the account is retried this often while its home is down. */
  retryMillis: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 250 })
})

/**
 * Simulator workload `sync/devices` (see the module's doc).
 *
 * @since 0.1.0
 * @category simulation
 */
export const devices = (run: Run) =>
  Module.generator(DevicesParams, (context: Context, params) =>
    Effect.gen(function* () {
      const topology = context.topology
      const syncSites = Object.keys(topology.sites)
        .filter((s) => "sync" in topology.sites[s]!.modules)
        .sort()
      const homeRegion = params.home ?? topology.sites[syncSites[0]!]!.region
      const home = homeSite(topology, homeRegion)
      if (home === undefined) return yield* Effect.dieMessage(`no site of region ${homeRegion} runs sync`)
      const order = [home, ...syncSites.filter((s) => s !== home)]
      const sites = params.sites ?? Array.from({ length: params.devices }, (_, i) => order[i % order.length]!)
      run.account = params.account
      run.home = home
      yield* Effect.sleep(params.startMillis)

      // The account, registered at its home (retried while the home is down).
      const register: Effect.Effect<void> = Effect.suspend(() => {
        const site = context.site(home)
        const attempt: Effect.Effect<unknown, unknown> =
          site === undefined
            ? Effect.fail("down")
            : site.accounts
                .register(params.account, "correct horse battery", homeRegion)
                .pipe(Effect.catchTag("AccountExists", () => Effect.void))
        return attempt.pipe(
          Effect.asVoid,
          Effect.catchAll(() => Effect.zipRight(Effect.sleep(params.retryMillis), register))
        )
      })
      yield* register

      // Each device's session cuts what is under way when its site crashes: one poller per run.
      const incarnations = new Map<string, { site: unknown; gone: Deferred.Deferred<never, SyncError> }>()
      const crashed = (site: string) =>
        Effect.gen(function* () {
          const running = context.site(site)
          const known = incarnations.get(site)
          if (known !== undefined && known.site === running) return known.gone
          const gone = yield* Deferred.make<never, SyncError>()
          if (known !== undefined)
            yield* Deferred.fail(known.gone, new SyncHomeUnreachable({ region: site, reason: `site ${site} crashed` }))
          incarnations.set(site, { site: running, gone })
          return gone
        })
      const poller = yield* Effect.fork(
        Effect.forever(
          Effect.zipRight(
            Effect.sleep(SITE_POLL_MILLIS),
            Effect.forEach([...incarnations.keys()], crashed, { discard: true })
          )
        )
      )

      const settings = ClientSettings.make({
        settleDelay: Duration.millis(params.settleMillis),
        rescanInterval: Duration.millis(params.rescanMillis),
        retryMaxDelay: Duration.millis(params.retryMaxMillis),
        racyWindow: Duration.millis(params.racyMillis)
      })
      for (let i = 0; i < params.devices; i++) {
        const deviceName = `device-${i}`
        const fs = context.makeDisk()
        yield* Effect.orDie(fs.makeDirectory(ROOT, { recursive: true }))
        const device: Device = {
          name: deviceName,
          site: sites[i % sites.length]!,
          fs,
          index: yield* makeMemory(),
          reads: new Map(),
          answers: new Map(),
          wrote: new Map(),
          session: undefined as unknown as Session,
          engine: undefined
        }
        const answered = (paths: ReadonlyArray<string>) => {
          const tick = ++run.tick
          for (const p of paths) device.answers.set(p, tick)
        }
        ;(device as { session: Session }).session = deviceSession(
          context,
          run,
          device.site,
          params.account,
          deviceName,
          crashed,
          answered
        )
        run.devices.push(device)
      }

      const start = (device: Device) =>
        Effect.gen(function* () {
          if (device.engine !== undefined) return
          const scope = yield* Scope.make()
          const folder = yield* Folder.make({
            root: ROOT,
            device: device.name,
            session: device.session,
            settings
          }).pipe(
            Effect.provideService(FileSystem.FileSystem, engineFileSystem(run, device)),
            Effect.provideService(LocalIndex, device.index),
            Scope.extend(scope)
          )
          device.engine = { folder, scope }
        })
      const stop = (device: Device) =>
        Effect.suspend(() => {
          const engine = device.engine
          device.engine = undefined
          return engine === undefined ? Effect.void : Scope.close(engine.scope, Exit.void)
        })
      const stopAll = Effect.forEach(run.devices, stop, { discard: true })

      const body = Effect.gen(function* () {
        for (const device of run.devices) yield* start(device)
        const t0 = yield* now

        // ---- writes ----

        /** Marks the device's write whose bytes `path` holds as replaced (the workload is about to). */
        const replacing = (device: Device, path: string) =>
          Effect.gen(function* () {
            const sha = yield* shaAt(device, path)
            if (sha === undefined) return
            const write = run.bySha.get(sha)
            if (write === undefined || write.device !== device.name || write.replaced !== undefined) return
            const read = device.reads.get(path)
            const answer = device.answers.get(path)
            const taken = read !== undefined && read > write.since
            const shipping = taken && (answer === undefined || answer < read)
            write.replaced = { at: yield* now, excused: !taken || shipping }
          })

        /** The SHA-256 of the bytes at `path` (from the stat when the workload wrote them). */
        const shaAt = (device: Device, path: string) =>
          Effect.gen(function* () {
            const stat = yield* statKey(device.fs, path)
            if (stat === undefined) return undefined
            const wrote = device.wrote.get(path)
            if (wrote !== undefined && wrote.stat === stat) return wrote.sha256
            const bytes = yield* Effect.option(device.fs.readFile(Paths.join(ROOT, path)))
            return Option.isNone(bytes) ? undefined : hex(bytes.value)
          })

        const writeFile = (device: Device, path: string, bytes: Uint8Array) =>
          Effect.gen(function* () {
            yield* replacing(device, path)
            const absolute = Paths.join(ROOT, path)
            yield* Effect.orDie(device.fs.makeDirectory(Paths.join(ROOT, Paths.parent(path)), { recursive: true }))
            yield* Effect.orDie(device.fs.writeFile(absolute, bytes))
            const sha = hex(bytes)
            const stat = yield* statKey(device.fs, path)
            if (stat !== undefined) device.wrote.set(path, { stat, sha256: sha })
            const write: Write = {
              device: device.name,
              path,
              sha256: sha,
              at: yield* now,
              since: ++run.tick,
              where: path,
              replaced: undefined
            }
            run.writes.push(write)
            run.bySha.set(sha, write)
          })

        let counter = 0
        const fresh = (device: Device, size: number) =>
          Effect.map(Random.nextIntBetween(1, 0x7fffffff), (seed) =>
            content(`${device.name} write ${++counter}\n`, seed, size)
          )
        const smallSize = Random.nextIntBetween(1, params.smallBytes + 1)
        const LARGE = "large/data.bin"
        const pick = <A>(items: ReadonlyArray<A>) =>
          Effect.map(Random.nextIntBetween(0, items.length), (i) => items[i]!)
        const poolName = Effect.gen(function* () {
          const d = yield* Random.nextIntBetween(0, params.directories)
          const f = yield* Random.nextIntBetween(0, params.names)
          return `d${d}/f${f}.txt`
        })

        const edit = (device: Device, path: string) =>
          Effect.gen(function* () {
            if (path === LARGE) {
              // A small insertion at a random place: a delta of a chunk or two.
              const old = yield* Effect.option(device.fs.readFile(Paths.join(ROOT, path)))
              if (Option.isNone(old)) return
              const at = yield* Random.nextIntBetween(0, old.value.length + 1)
              const insert = yield* fresh(device, yield* Random.nextIntBetween(32, 200))
              const next = new Uint8Array(old.value.length + insert.length)
              next.set(old.value.subarray(0, at))
              next.set(insert, at)
              next.set(old.value.subarray(at), at + insert.length)
              return yield* writeFile(device, path, next)
            }
            yield* writeFile(device, path, yield* fresh(device, yield* smallSize))
          })

        const operate = (device: Device) =>
          Effect.gen(function* () {
            const files = yield* filesOf(device.fs)
            const roll = yield* Random.nextIntBetween(0, 100)
            if (files.length === 0 || roll < 30) {
              const path = yield* poolName
              if (files.includes(path)) return yield* edit(device, path)
              return yield* writeFile(device, path, yield* fresh(device, yield* smallSize))
            }
            const path = yield* pick(files)
            if (roll < 75) return yield* edit(device, path)
            if (roll < 88 && path !== LARGE) {
              const to = yield* poolName
              if (to === path) return
              // Onto an existing file: that file's bytes are replaced.
              if (files.includes(to)) yield* replacing(device, to)
              const sha = yield* shaAt(device, path)
              const write = sha === undefined ? undefined : run.bySha.get(sha)
              yield* Effect.orDie(device.fs.makeDirectory(Paths.join(ROOT, Paths.parent(to)), { recursive: true }))
              yield* Effect.orDie(device.fs.rename(Paths.join(ROOT, path), Paths.join(ROOT, to)))
              if (write !== undefined && write.device === device.name && write.replaced === undefined) {
                write.where = to
                write.since = ++run.tick
              }
              return
            }
            if (path === LARGE) return yield* edit(device, path)
            yield* replacing(device, path)
            yield* Effect.orDie(device.fs.remove(Paths.join(ROOT, path)))
          })

        const until = t0 - params.startMillis + params.writeUntilMillis
        const writer = (device: Device, first: boolean) =>
          Effect.gen(function* () {
            if (first && params.largeBytes > 0) yield* writeFile(device, LARGE, yield* fresh(device, params.largeBytes))
            while (true) {
              const gap = (yield* Random.nextIntBetween(20, 180)) / 100
              yield* Effect.sleep(params.intervalMillis * gap)
              if ((yield* now) >= until) return
              yield* operate(device)
            }
          })

        const concurrent = Effect.gen(function* () {
          for (let k = 0; k < params.concurrentEdits && run.devices.length > 1; k++) {
            const span = Math.max(1, until - (yield* now))
            yield* Effect.sleep((yield* Random.nextIntBetween(0, Math.floor(span / (params.concurrentEdits - k)))) + 1)
            if ((yield* now) >= until) return
            const a = yield* Random.nextIntBetween(0, run.devices.length)
            const b = (a + (yield* Random.nextIntBetween(1, run.devices.length))) % run.devices.length
            const [da, db] = [run.devices[a]!, run.devices[b]!]
            const shared = (yield* filesOf(da.fs)).filter((p) => p !== LARGE)
            const both: Array<string> = []
            for (const p of shared)
              if (yield* db.fs.exists(Paths.join(ROOT, p)).pipe(Effect.orElseSucceed(() => false))) both.push(p)
            if (both.length === 0) continue
            const path = yield* pick(both)
            yield* edit(da, path)
            yield* edit(db, path)
          }
        })

        const offline = Effect.gen(function* () {
          const o = params.offline
          if (o === undefined || o.device >= run.devices.length) return
          const device = run.devices[o.device]!
          yield* Effect.sleep(Math.max(0, t0 - params.startMillis + o.fromMillis - (yield* now)))
          yield* stop(device)
          yield* Effect.sleep(Math.max(0, t0 - params.startMillis + o.untilMillis - (yield* now)))
          yield* start(device)
        })

        const fibers: Array<Fiber.RuntimeFiber<void>> = []
        for (const [i, device] of run.devices.entries()) fibers.push(yield* Effect.fork(writer(device, i === 0)))
        fibers.push(yield* Effect.fork(concurrent))
        fibers.push(yield* Effect.fork(offline))
        yield* Fiber.joinAll(fibers)

        // ---- quiet period: sync round after round until a round moves nothing ----
        for (const device of run.devices) yield* start(device)
        let previous = ""
        for (let round = 0; round < params.quietRounds; round++) {
          yield* Effect.sleep(params.quietPauseMillis)
          for (const device of run.devices) if (device.engine !== undefined) yield* device.engine.folder.sync
          // Compared by stat: a download or an upload changes a file's inode, size or mtime.
          const parts: Array<string> = []
          for (const device of run.devices) {
            for (const path of yield* filesOf(device.fs)) parts.push(`${path}:${yield* statKey(device.fs, path)}`)
            parts.push("/")
          }
          const head = yield* Effect.option(Effect.orElseFail(run.devices[0]!.session.head, () => "down"))
          parts.push(Option.match(head, { onNone: () => "?", onSome: (h) => `${h.indexId}:${h.head}` }))
          const fingerprint = parts.join("|")
          run.quietRounds = round + 1
          if (fingerprint === previous) {
            run.settledAt = yield* now
            break
          }
          previous = fingerprint
        }
      })
      yield* body.pipe(Effect.ensuring(Effect.zipRight(stopAll, Fiber.interrupt(poller))))
    })
  )

// ---- invariants ---------------------------------------------------------------------------------

/** Every device's tree at the end (the engines are stopped by then), path → SHA-256. */
const finalTrees = (run: Run): Effect.Effect<Array<Map<string, string>>> =>
  Effect.gen(function* () {
    if (run.finalTrees !== undefined) return run.finalTrees
    const trees: Array<Map<string, string>> = []
    for (const device of run.devices) {
      const tree = yield* treeOf(device.fs)
      trees.push(new Map([...tree].map(([p, b]) => [p, hex(b)])))
    }
    run.finalTrees = trees
    return trees
  })

/** The server's current files and every version it holds, read at the home with the observer device. */
const serverView = (context: Context, run: Run) =>
  Effect.gen(function* () {
    const account = run.account!
    const home = run.home!
    const service = context.service(home)
    if (service === undefined) return yield* Effect.fail(`the home site ${home} is down at the end of the run`)
    const session = service.session(account, OBSERVER)
    const current = new Map<string, { readonly sha256: string | undefined; readonly version: number }>()
    let after = 0
    for (;;) {
      const page = yield* session.changes(after)
      for (const change of page.entries) {
        current.set(change.path, {
          sha256: change.entry._tag === "File" ? change.entry.sha256 : undefined,
          version: change.version
        })
        after = change.seq
      }
      if (page.entries.length === 0 || after >= page.head) break
    }
    const kept: Array<{ readonly path: string; readonly version: number; readonly sha256: string }> = []
    for (const path of [...current.keys()].sort()) {
      for (const v of yield* session.versions(path)) kept.push({ path, version: v.version, sha256: v.entry.sha256 })
    }
    return { current, kept }
  }).pipe(Effect.mapError((e) => (typeof e === "string" ? e : `the server could not be read: ${e.message}`)))

/**
 * `sync/converged` (see the module's doc).
 *
 * @since 0.1.0
 * @category simulation
 */
export const converged =
  (run: Run): Module.Invariant<SyncService> =>
  (context) =>
    Effect.gen(function* () {
      if (run.devices.length === 0 || run.account === undefined) return "the workload started no device"
      if (run.settledAt === undefined)
        return `the devices had not settled after ${run.quietRounds} quiet round(s) when the run ended`
      const trees = yield* finalTrees(run)
      const first = trees[0]!
      for (const [i, tree] of trees.entries()) {
        const name = run.devices[i]!.name
        for (const [path, sha] of first)
          if (tree.get(path) !== sha)
            return `${name} ${tree.has(path) ? "holds other bytes at" : "lacks"} ${path} (${run.devices[0]!.name} holds it)`
        for (const path of tree.keys())
          if (!first.has(path)) return `${name} holds ${path}, which ${run.devices[0]!.name} lacks`
      }
      const view = yield* Effect.either(serverView(context, run))
      if (view._tag === "Left") return view.left
      for (const [path, { sha256: sha }] of view.right.current) {
        if (sha === undefined) {
          if (first.has(path)) return `the devices hold ${path}, deleted on the server`
        } else if (first.get(path) !== sha)
          return `the devices ${first.has(path) ? "hold other bytes at" : "lack"} ${path}, current on the server`
      }
      for (const path of first.keys())
        if (view.right.current.get(path)?.sha256 === undefined)
          return `the devices hold ${path}, which the server does not have`
      return undefined
    })

/**
 * `sync/no-write-lost` (see the module's doc).
 *
 * @since 0.1.0
 * @category simulation
 */
export const noWriteLost =
  (run: Run): Module.Invariant<SyncService> =>
  (context) =>
    Effect.gen(function* () {
      if (run.writes.length === 0) return "the workload wrote nothing"
      const present = new Set<string>()
      for (const tree of yield* finalTrees(run)) for (const sha of tree.values()) present.add(sha)
      const view = yield* Effect.either(serverView(context, run))
      if (view._tag === "Left") return view.left
      const held = new Set<string>()
      for (const { sha256: sha } of view.right.current.values()) if (sha !== undefined) held.add(sha)
      const keptBy = new Map<string, Array<{ path: string; version: number }>>()
      for (const k of view.right.kept) {
        held.add(k.sha256)
        const list = keptBy.get(k.sha256) ?? []
        list.push({ path: k.path, version: k.version })
        keptBy.set(k.sha256, list)
      }
      const lost: Array<string> = []
      for (const w of run.writes) {
        if (present.has(w.sha256)) continue
        const kept = keptBy.get(w.sha256) ?? []
        if (kept.some((k) => !run.buried.has(`${k.path}#${k.version}`))) continue
        if (kept.length > 0) {
          const k = kept[0]!
          lost.push(
            `${w.device}'s write of ${w.path} at ${w.at} ms is only in the history as ${k.path} v${k.version}, buried unseen (${run.buried.get(`${k.path}#${k.version}`)})`
          )
        } else if (held.has(w.sha256)) {
          lost.push(`${w.device}'s write of ${w.path} at ${w.at} ms is current on the server but on no device`)
        } else if (w.replaced === undefined || !w.replaced.excused) {
          lost.push(
            `${w.device}'s write of ${w.path} at ${w.at} ms (sha256 ${w.sha256.slice(0, 12)}) is on no device and was never on the server${w.replaced === undefined ? "" : ` (its device replaced it at ${w.replaced.at} ms, after its engine had read it and had its commit answered)`}`
          )
        }
        if (lost.length >= MAX_PROBLEMS) break
      }
      return lost.length === 0 ? undefined : `${lost.length}+ write(s) lost: ${lost.join("; ")}`
    })

/**
 * `sync/seq-increasing` (see the module's doc).
 *
 * @since 0.1.0
 * @category simulation
 */
export const seqIncreasing =
  (run: Run): Module.Invariant<SyncService> =>
  () =>
    Effect.sync(() => {
      if (run.named.size === 0) return "no device saw a single numbered change"
      return run.seqProblems.length === 0 ? undefined : run.seqProblems.join("; ")
    })

/**
 * The module's simulator plug-in, made once per run.
 *
 * @since 0.1.0
 * @category simulation
 */
export const simulation = (): Module.Simulation<SyncService> => {
  const run = makeRun()
  return {
    generators: { devices: devices(run) },
    invariants: {
      converged: converged(run),
      "no-write-lost": noWriteLost(run),
      "seq-increasing": seqIncreasing(run)
    }
  }
}
