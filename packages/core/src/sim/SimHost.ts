/**
 * The simulated host: the services of `site/Host.ts` (a file system, raw TCP listeners, an HTTP
 * client) in memory, for the simulator. The same module code that runs on `NodeHost.layer` runs
 * here unchanged: errors are the platform's (`SystemError` with the reason NodeFileSystem gives,
 * `SocketServerError`, `SocketError`, `RequestError`), and everything is plain Effect — no promise,
 * no web stream, no timer, no Node API — so it runs synchronously on the engine's virtual clock
 * and seeded `Random`.
 *
 * Three parts, made apart because they live apart:
 * - {@link makeFileSystem}: one per site per run. It is a disk: it outlives the site's scope, so a
 *   crashed and restarted site finds its files.
 * - {@link makeNetwork}: one per run, shared by the sites. Holds the bound addresses (TCP listeners
 *   and HTTP apps share one port table per host, as on a machine), lets workloads `connect` and
 *   routes each site's HTTP client to the app `serve`d at the request's address.
 * - {@link layer}: the three `Host.Services` of one site.
 *
 * @since 0.1.0
 */
import * as Cookies from "@effect/platform/Cookies"
import * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Headers from "@effect/platform/Headers"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import type { HttpMethod } from "@effect/platform/HttpMethod"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Multipart from "@effect/platform/Multipart"
import * as Socket from "@effect/platform/Socket"
import * as SocketServer from "@effect/platform/SocketServer"
import * as UrlParams from "@effect/platform/UrlParams"
import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as FiberSet from "effect/FiberSet"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import type { ReadonlyRecord } from "effect/Record"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { concatBytes } from "@noble/hashes/utils.js"
import * as Host from "../site/Host.js"

// ---------------------------------------------------------------------------------------------
// Web globals. Every runtime Effect runs on has them (Effect itself uses them); core compiles
// without the DOM library, so this is the typed view of the few this module needs.

interface WebUrl {
  readonly protocol: string
  readonly hostname: string
  readonly port: string
  readonly host: string
  readonly pathname: string
  readonly search: string
}

const web = globalThis as unknown as {
  readonly TextEncoder: new () => { encode(input: string): Uint8Array }
  readonly TextDecoder: new () => { decode(input: Uint8Array): string }
  readonly URLSearchParams: new (init: string) => Iterable<readonly [string, string]>
}
const utf8Encoder = new web.TextEncoder()
const utf8Decoder = new web.TextDecoder()

// ---------------------------------------------------------------------------------------------
// File system

/**
 * Default bound on the events a watcher holds that its consumer has not taken yet (the same on
 * both hosts).
 *
 * @since 0.1.0
 * @category bounds
 */
export const DEFAULT_WATCH_QUEUE_CAPACITY = Host.DEFAULT_WATCH_QUEUE_CAPACITY

/**
 * Default bound on the bytes all files of one simulated file system hold together (its disk).
 *
 * @since 0.1.0
 * @category bounds
 */
export const DEFAULT_FILE_SYSTEM_CAPACITY_BYTES = 256 * 1024 * 1024

/**
 * @since 0.1.0
 * @category config
 */
export interface FileSystemOptions {
  /**
   * Events one watcher holds before its stream fails (default {@link DEFAULT_WATCH_QUEUE_CAPACITY};
   * the overflow policy is `Host.DEFAULT_WATCH_QUEUE_CAPACITY`'s: the stream delivers what it
   * holds, then fails with `SystemError` reason `"Unknown"`, the consumer must rescan).
   */
  readonly watchQueueCapacity?: number
  /** Bytes all files may hold together; a write past it fails like a full disk (ENOSPC). */
  readonly capacityBytes?: number
  /** Where `makeTempDirectory` and `makeTempFile` create by default. Default `/tmp` (created). */
  readonly tempDirectory?: string
}

interface FileNode {
  readonly _tag: "File"
  readonly ino: number
  data: Uint8Array
  size: number
  mode: number
  nlink: number
  open: number
  atime: number
  mtime: number
  readonly birthtime: number
}

interface DirectoryNode {
  readonly _tag: "Directory"
  readonly ino: number
  readonly entries: Map<string, Node>
  mode: number
  nlink: number
  atime: number
  mtime: number
  readonly birthtime: number
}

type Node = FileNode | DirectoryNode

/** A failure thrown inside one synchronous operation; the operation turns it into a `SystemError`. */
class Failure {
  constructor(
    readonly reason: PlatformError.SystemErrorReason,
    readonly code: string,
    readonly message: string,
    readonly syscall: string,
    readonly path: string | number
  ) {}
}

const notFound = (syscall: string, path: string) =>
  new Failure("NotFound", "ENOENT", "no such file or directory", syscall, path)
const alreadyExists = (syscall: string, path: string) =>
  new Failure("AlreadyExists", "EEXIST", "file already exists", syscall, path)
const isDirectory = (syscall: string, path: string) =>
  new Failure("BadResource", "EISDIR", "illegal operation on a directory", syscall, path)
const notDirectory = (syscall: string, path: string) =>
  new Failure("BadResource", "ENOTDIR", "not a directory", syscall, path)
const notEmpty = (syscall: string, path: string) =>
  new Failure("Unknown", "ENOTEMPTY", "directory not empty", syscall, path)
const invalid = (syscall: string, path: string | number) =>
  new Failure("Unknown", "EINVAL", "invalid argument", syscall, path)
const badDescriptor = (syscall: string, fd: string | number) =>
  new Failure("Unknown", "EBADF", "bad file descriptor", syscall, fd)
const noSpace = (syscall: string, path: string | number) =>
  new Failure("Unknown", "ENOSPC", "no space left on device", syscall, path)
const notPermitted = (syscall: string, path: string) =>
  new Failure("PermissionDenied", "EPERM", "operation not permitted", syscall, path)

const toSystemError = (method: string, failure: Failure): PlatformError.SystemError =>
  new PlatformError.SystemError({
    module: "FileSystem",
    method,
    reason: failure.reason,
    syscall: failure.syscall,
    pathOrDescriptor: failure.path,
    description: `${failure.code}: ${failure.message}, ${failure.syscall} '${failure.path}'`
  })

/** Runs a synchronous operation at the current (virtual) time, its `Failure`s as `SystemError`s. */
const operation = <A>(method: string, body: (now: number) => A): Effect.Effect<A, PlatformError.PlatformError> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    try {
      return Effect.succeed(body(now))
    } catch (error) {
      if (error instanceof Failure) return Effect.fail(toSystemError(method, error))
      throw error
    }
  })

/** The segments of an absolute path (a relative one is taken from `/`), `.` and `..` resolved. */
const segmentsOf = (path: string): Array<string> => {
  const out: Array<string> = []
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") out.pop()
    else out.push(part)
  }
  return out
}

const joinSegments = (segments: ReadonlyArray<string>): string => "/" + segments.join("/")

/** `true` when `path` is `root` or below it. */
const isUnder = (path: string, root: string): boolean =>
  path === root || path.startsWith(root === "/" ? "/" : root + "/")

const parentOf = (path: string): string => {
  const index = path.lastIndexOf("/")
  return index <= 0 ? "/" : path.slice(0, index)
}

interface Flags {
  readonly read: boolean
  readonly write: boolean
  readonly create: boolean
  readonly exclusive: boolean
  readonly truncate: boolean
  readonly append: boolean
}

const parseFlag = (flag: FileSystem.OpenFlag): Flags => {
  const plus = flag.endsWith("+")
  const exclusive = flag.includes("x")
  switch (flag[0]) {
    case "r":
      return { read: true, write: plus, create: false, exclusive: false, truncate: false, append: false }
    case "w":
      return { read: plus, write: true, create: true, exclusive, truncate: true, append: false }
    default:
      return { read: plus, write: true, create: true, exclusive, truncate: false, append: true }
  }
}

interface Watcher {
  readonly path: string
  readonly recursive: boolean
  readonly mailbox: Mailbox.Mailbox<FileSystem.WatchEvent, PlatformError.PlatformError>
}

const TEMP_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
/** Bound on the names tried for one temporary directory or file before giving up. */
const TEMP_NAME_ATTEMPTS = 100

const randomName = (length: number): Effect.Effect<string> =>
  Effect.map(Effect.replicateEffect(Random.nextIntBetween(0, TEMP_NAME_CHARS.length), length), (indices) =>
    indices.map((i) => TEMP_NAME_CHARS[i]).join("")
  )

/**
 * An in-memory `FileSystem` for one simulated site: a tree of Maps under `/`, times from the
 * Effect `Clock` (virtual in the simulator), temporary names from the Effect `Random`.
 *
 * Like a disk it outlives whatever uses it: make it once per site per run and hand the same
 * object to every incarnation of the site. Operations are atomic (the simulator is single
 * threaded). Paths are POSIX; a relative path is taken from `/`.
 *
 * `watch(path)` reports one event for each change, synchronously queued, with the changed entry's
 * absolute path: `Create` for a new entry, `Update` for new content or attributes (each write of
 * an open file, truncate, utimes, chmod), `Remove` for a removed one; a rename is `Remove` of the
 * old path then `Create` of the new; a recursive remove reports the entries deepest first. On a
 * directory it reports the directory and its direct children, all descendants with `recursive`;
 * on a file, that file. See {@link FileSystemOptions.watchQueueCapacity} for the bound.
 *
 * Not simulated: symbolic links (`symlink` fails with `BadArgument`; `readLink` fails EINVAL as on
 * a file that is not a link), owners (`chown` checks the path and keeps nothing), permission
 * checks (`access` only checks existence). Reading a directory opened with `"r"` fails EISDIR.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFileSystem = (options: FileSystemOptions = {}): FileSystem.FileSystem => {
  const watchQueueCapacity = options.watchQueueCapacity ?? DEFAULT_WATCH_QUEUE_CAPACITY
  const capacityBytes = options.capacityBytes ?? DEFAULT_FILE_SYSTEM_CAPACITY_BYTES
  const tempDirectory = joinSegments(segmentsOf(options.tempDirectory ?? "/tmp"))

  let nextIno = 1
  let nextFd = 3
  let usedBytes = 0
  const watchers = new Set<Watcher>()

  const makeDirectoryNode = (now: number, mode = 0o755): DirectoryNode => ({
    _tag: "Directory",
    ino: nextIno++,
    entries: new Map(),
    mode: mode & 0o7777,
    nlink: 1,
    atime: now,
    mtime: now,
    birthtime: now
  })

  const makeFileNode = (now: number, mode = 0o644): FileNode => ({
    _tag: "File",
    ino: nextIno++,
    data: new Uint8Array(0),
    size: 0,
    mode: mode & 0o7777,
    nlink: 1,
    open: 0,
    atime: now,
    mtime: now,
    birthtime: now
  })

  const root = makeDirectoryNode(0)
  {
    let dir = root
    for (const name of segmentsOf(tempDirectory)) {
      const child = makeDirectoryNode(0)
      dir.entries.set(name, child)
      dir = child
    }
  }

  // -- events

  const emit = (event: FileSystem.WatchEvent): void => {
    for (const watcher of watchers) {
      const matches =
        event.path === watcher.path ||
        (watcher.recursive ? isUnder(event.path, watcher.path) : parentOf(event.path) === watcher.path)
      if (!matches) continue
      if (!watcher.mailbox.unsafeOffer(event)) {
        watchers.delete(watcher)
        watcher.mailbox.unsafeDone(
          Exit.fail(
            new PlatformError.SystemError({
              module: "FileSystem",
              method: "watch",
              reason: "Unknown",
              pathOrDescriptor: watcher.path,
              description: `watch queue overflow: more than ${watchQueueCapacity} events were pending, later ones were lost (rescan)`
            })
          )
        )
      }
    }
  }
  const created = (path: string) => emit(FileSystem.WatchEventCreate({ path }))
  const updated = (path: string) => emit(FileSystem.WatchEventUpdate({ path }))
  const removed = (path: string) => emit(FileSystem.WatchEventRemove({ path }))

  // -- lookups

  /** The node at `path`, or `undefined`; fails when a parent on the way is missing or a file. */
  const find = (syscall: string, path: string): Node | undefined => {
    let node: Node = root
    for (const name of segmentsOf(path)) {
      if (node._tag !== "Directory") throw notDirectory(syscall, path)
      const next: Node | undefined = node.entries.get(name)
      if (next === undefined) return undefined
      node = next
    }
    return node
  }

  const get = (syscall: string, path: string): Node => {
    const node = find(syscall, path)
    if (node === undefined) throw notFound(syscall, path)
    return node
  }

  /** The directory that holds (or would hold) `path`, and the entry's name in it. */
  const parent = (syscall: string, path: string): { readonly dir: DirectoryNode; readonly name: string } => {
    const segments = segmentsOf(path)
    const name = segments.pop()
    if (name === undefined) throw invalid(syscall, path)
    const dir = get(syscall, joinSegments(segments))
    if (dir._tag !== "Directory") throw notDirectory(syscall, path)
    return { dir, name }
  }

  // -- contents and space

  const resize = (node: FileNode, size: number, syscall: string, path: string | number): void => {
    const delta = size - node.size
    if (delta > 0 && usedBytes + delta > capacityBytes) throw noSpace(syscall, path)
    usedBytes += delta
    if (size > node.data.length) {
      const grown = new Uint8Array(Math.max(size, node.data.length * 2, 64))
      grown.set(node.data.subarray(0, node.size))
      node.data = grown
    } else if (size < node.size) {
      node.data.fill(0, size, node.size)
    }
    node.size = size
  }

  const writeAt = (node: FileNode, position: number, bytes: Uint8Array, syscall: string, path: string | number) => {
    const end = position + bytes.length
    if (end > node.size) resize(node, end, syscall, path)
    node.data.set(bytes, position)
  }

  /** Frees a file's bytes once no directory entry and no open handle holds it. */
  const release = (node: FileNode): void => {
    if (node.nlink === 0 && node.open === 0) {
      usedBytes -= node.size
      node.data = new Uint8Array(0)
      node.size = 0
    }
  }

  const unlinkTree = (node: Node, path: string, now: number): void => {
    if (node._tag === "Directory") {
      for (const [name, child] of node.entries) unlinkTree(child, path === "/" ? `/${name}` : `${path}/${name}`, now)
      node.entries.clear()
    } else {
      node.nlink--
      release(node)
    }
    removed(path)
  }

  // -- operations

  const makeDirectorySync = (path: string, recursive: boolean, mode: number | undefined, now: number): void => {
    const syscall = "mkdir"
    const segments = segmentsOf(path)
    if (!recursive) {
      const { dir, name } = parent(syscall, path)
      if (dir.entries.has(name)) throw alreadyExists(syscall, path)
      dir.entries.set(name, makeDirectoryNode(now, mode))
      dir.mtime = now
      created(joinSegments(segments))
      return
    }
    let dir: DirectoryNode = root
    for (let i = 0; i < segments.length; i++) {
      const existing = dir.entries.get(segments[i])
      if (existing === undefined) {
        const child = makeDirectoryNode(now, mode)
        dir.entries.set(segments[i], child)
        dir.mtime = now
        created(joinSegments(segments.slice(0, i + 1)))
        dir = child
      } else if (existing._tag === "Directory") {
        dir = existing
      } else {
        throw i === segments.length - 1 ? alreadyExists(syscall, path) : notDirectory(syscall, path)
      }
    }
  }

  const removeSync = (path: string, recursive: boolean, force: boolean, now: number): void => {
    const syscall = "rm"
    const node = force ? find(syscall, path) : get(syscall, path)
    if (node === undefined) return
    if (node === root) throw notPermitted(syscall, path)
    if (node._tag === "Directory" && !recursive) throw isDirectory(syscall, path)
    const { dir, name } = parent(syscall, path)
    dir.entries.delete(name)
    dir.mtime = now
    unlinkTree(node, joinSegments(segmentsOf(path)), now)
  }

  /** Opens (maybe creates) the file at `path` with `flags`; the caller counts the handle. */
  const openSync = (path: string, flags: Flags, mode: number | undefined, now: number, syscall: string): Node => {
    const absolute = joinSegments(segmentsOf(path))
    const existing = find(syscall, path)
    if (existing === undefined) {
      if (!flags.create) throw notFound(syscall, path)
      const { dir, name } = parent(syscall, path)
      const node = makeFileNode(now, mode)
      dir.entries.set(name, node)
      dir.mtime = now
      created(absolute)
      return node
    }
    if (flags.create && flags.exclusive) throw alreadyExists(syscall, path)
    if (existing._tag === "Directory") {
      if (flags.write) throw isDirectory(syscall, path)
      return existing
    }
    if (flags.truncate && existing.size > 0) {
      resize(existing, 0, syscall, path)
      existing.mtime = now
      updated(absolute)
    }
    return existing
  }

  /** Writes `bytes` into the file at `path` (made when missing) as `flags` say: one event, Create or Update. */
  const writeContents = (
    path: string,
    bytes: Uint8Array,
    flags: Flags,
    mode: number | undefined,
    now: number,
    syscall: string
  ): void => {
    const existing = find(syscall, path)
    const node = openSync(path, { ...flags, truncate: false }, mode, now, syscall)
    if (node._tag !== "File") throw isDirectory(syscall, path)
    if (!flags.write) throw badDescriptor("write", path)
    if (flags.truncate) resize(node, 0, syscall, path)
    if (bytes.length > 0) writeAt(node, flags.append ? node.size : 0, bytes, syscall, path)
    node.mtime = now
    if (existing !== undefined) updated(joinSegments(segmentsOf(path)))
  }

  const writeFileSync = (path: string, data: Uint8Array, flag: FileSystem.OpenFlag, mode: number | undefined) =>
    operation("writeFile", (now) => writeContents(path, data, parseFlag(flag), mode, now, "open"))

  const info = (node: Node): FileSystem.File.Info => {
    const size = node._tag === "File" ? node.size : 4096
    return {
      type: node._tag,
      mtime: Option.some(new Date(node.mtime)),
      atime: Option.some(new Date(node.atime)),
      birthtime: Option.some(new Date(node.birthtime)),
      dev: 1,
      ino: Option.some(node.ino),
      mode: (node._tag === "File" ? 0o100000 : 0o040000) | node.mode,
      nlink: Option.some(node.nlink),
      uid: Option.none(),
      gid: Option.none(),
      rdev: Option.none(),
      size: FileSystem.Size(size),
      blksize: Option.some(FileSystem.Size(4096)),
      blocks: Option.some(Math.ceil(size / 512))
    }
  }

  const copyTree = (from: Node, to: string, overwrite: boolean, now: number): void => {
    const syscall = "cp"
    const existing = find(syscall, to)
    if (from._tag === "File") {
      if (existing !== undefined) {
        if (existing._tag === "Directory") throw isDirectory(syscall, to)
        if (!overwrite) return
      }
      writeContents(to, from.data.subarray(0, from.size), parseFlag("w"), from.mode, now, syscall)
      return
    }
    if (existing === undefined) makeDirectorySync(to, false, from.mode, now)
    else if (existing._tag !== "Directory") throw notDirectory(syscall, to)
    for (const [name, child] of [...from.entries]) copyTree(child, `${to}/${name}`, overwrite, now)
  }

  const makeTempDirectory = (method: string, options: FileSystem.MakeTempDirectoryOptions | undefined) =>
    Effect.gen(function* () {
      const directory = options?.directory ?? tempDirectory
      const base = options?.prefix ? `${directory}/${options.prefix}` : `${directory}/`
      for (let attempt = 1; ; attempt++) {
        const path = joinSegments(segmentsOf(base + (yield* randomName(6))))
        const made = yield* operation(method, (now) => {
          if (find("mkdtemp", path) !== undefined) {
            if (attempt < TEMP_NAME_ATTEMPTS) return false
            throw alreadyExists("mkdtemp", path)
          }
          makeDirectorySync(path, false, 0o700, now)
          return true
        })
        if (made) return path
      }
    })

  const makeTempFile = (method: string, options: FileSystem.MakeTempFileOptions | undefined) =>
    Effect.gen(function* () {
      const directory = yield* makeTempDirectory(method, options)
      const path = `${directory}/${yield* randomName(12)}${options?.suffix ?? ""}`
      yield* operation(method, (now) => writeContents(path, new Uint8Array(0), parseFlag("wx"), 0o600, now, "open"))
      return path
    })

  const removeEffect = (method: string, path: string, options?: FileSystem.RemoveOptions) =>
    operation(method, (now) => removeSync(path, options?.recursive ?? false, options?.force ?? false, now))

  // -- file handles

  class SimFile implements FileSystem.File {
    readonly [FileSystem.FileTypeId]: FileSystem.FileTypeId = FileSystem.FileTypeId
    readonly fd: FileSystem.File.Descriptor
    closed = false
    private position = 0

    constructor(
      readonly node: Node,
      readonly path: string,
      readonly flags: Flags
    ) {
      this.fd = FileSystem.FileDescriptor(nextFd++)
    }

    private use<A>(
      method: string,
      body: (file: FileNode, now: number) => A
    ): Effect.Effect<A, PlatformError.PlatformError> {
      return operation(method, (now) => {
        if (this.closed) throw badDescriptor(method, this.fd)
        if (this.node._tag !== "File") throw isDirectory(method, this.path)
        return body(this.node, now)
      })
    }

    get stat(): Effect.Effect<FileSystem.File.Info, PlatformError.PlatformError> {
      return operation("stat", () => {
        if (this.closed) throw badDescriptor("fstat", this.fd)
        return info(this.node)
      })
    }

    get sync(): Effect.Effect<void, PlatformError.PlatformError> {
      return operation("sync", () => {
        if (this.closed) throw badDescriptor("fsync", this.fd)
      })
    }

    seek(offset: FileSystem.SizeInput, from: FileSystem.SeekMode): Effect.Effect<void> {
      return Effect.sync(() => {
        const delta = Number(offset)
        this.position = Math.max(0, from === "start" ? delta : this.position + delta)
      })
    }

    private readInto(file: FileNode, buffer: Uint8Array, now: number): number {
      if (!this.flags.read) throw badDescriptor("read", this.fd)
      const count = Math.max(0, Math.min(buffer.length, file.size - this.position))
      buffer.set(file.data.subarray(this.position, this.position + count))
      this.position += count
      file.atime = now
      return count
    }

    read(buffer: Uint8Array): Effect.Effect<FileSystem.Size, PlatformError.PlatformError> {
      return this.use("read", (file, now) => FileSystem.Size(this.readInto(file, buffer, now)))
    }

    readAlloc(size: FileSystem.SizeInput): Effect.Effect<Option.Option<Uint8Array>, PlatformError.PlatformError> {
      return this.use("readAlloc", (file, now) => {
        const buffer = new Uint8Array(Math.max(0, Math.min(Number(size), file.size - this.position)))
        const count = this.readInto(file, buffer, now)
        return count === 0 ? Option.none() : Option.some(buffer)
      })
    }

    truncate(length?: FileSystem.SizeInput): Effect.Effect<void, PlatformError.PlatformError> {
      return this.use("truncate", (file, now) => {
        if (!this.flags.write) throw invalid("ftruncate", this.fd)
        const size = Number(length ?? 0)
        resize(file, size, "ftruncate", this.fd)
        if (!this.flags.append && this.position > size) this.position = size
        file.mtime = now
        updated(this.path)
      })
    }

    write(buffer: Uint8Array): Effect.Effect<FileSystem.Size, PlatformError.PlatformError> {
      return this.use("write", (file, now) => {
        if (!this.flags.write) throw badDescriptor("write", this.fd)
        if (buffer.length === 0) return FileSystem.Size(0)
        // Append mode writes at the end and leaves the position alone, as NodeFileSystem does.
        writeAt(file, this.flags.append ? file.size : this.position, buffer, "write", this.fd)
        if (!this.flags.append) this.position += buffer.length
        file.mtime = now
        updated(this.path)
        return FileSystem.Size(buffer.length)
      })
    }

    writeAll(buffer: Uint8Array): Effect.Effect<void, PlatformError.PlatformError> {
      return Effect.asVoid(this.write(buffer))
    }

    close(): void {
      if (this.closed) return
      this.closed = true
      if (this.node._tag === "File") {
        this.node.open--
        release(this.node)
      }
    }
  }

  const open = (path: string, options?: FileSystem.OpenFileOptions) =>
    Effect.acquireRelease(
      operation("open", (now) => {
        const flags = parseFlag(options?.flag ?? "r")
        const node = openSync(path, flags, options?.mode, now, "open")
        if (node._tag === "File") node.open++
        return new SimFile(node, joinSegments(segmentsOf(path)), flags)
      }),
      (file) => Effect.sync(() => file.close())
    )

  // -- watch

  const watch = (
    path: string,
    options?: FileSystem.WatchOptions
  ): Stream.Stream<FileSystem.WatchEvent, PlatformError.PlatformError> =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        const absolute = joinSegments(segmentsOf(path))
        yield* operation("watch", () => get("watch", path))
        const mailbox = yield* Mailbox.make<FileSystem.WatchEvent, PlatformError.PlatformError>(watchQueueCapacity)
        const watcher: Watcher = { path: absolute, recursive: options?.recursive ?? false, mailbox }
        watchers.add(watcher)
        yield* Effect.addFinalizer(() =>
          Effect.zipRight(
            Effect.sync(() => watchers.delete(watcher)),
            mailbox.shutdown
          )
        )
        return Mailbox.toStream(mailbox)
      })
    )

  return FileSystem.make({
    access: (path) => operation("access", () => void get("access", path)),
    chmod: (path, mode) =>
      operation("chmod", (now) => {
        const node = get("chmod", path)
        node.mode = mode & 0o7777
        node.mtime = now
        updated(joinSegments(segmentsOf(path)))
      }),
    chown: (path) => operation("chown", () => void get("chown", path)),
    copy: (fromPath, toPath, options) =>
      operation("copy", (now) => {
        const from = get("cp", fromPath)
        const target = joinSegments(segmentsOf(toPath))
        if (from._tag === "Directory" && isUnder(target, joinSegments(segmentsOf(fromPath))))
          throw invalid("cp", toPath)
        copyTree(from, target, options?.overwrite ?? false, now)
      }),
    copyFile: (fromPath, toPath) =>
      operation("copyFile", (now) => {
        const from = get("copyfile", fromPath)
        if (from._tag !== "File") throw isDirectory("copyfile", fromPath)
        writeContents(toPath, from.data.subarray(0, from.size), parseFlag("w"), from.mode, now, "copyfile")
      }),
    link: (fromPath, toPath) =>
      operation("link", (now) => {
        const from = get("link", fromPath)
        if (from._tag !== "File") throw notPermitted("link", fromPath)
        const { dir, name } = parent("link", toPath)
        if (dir.entries.has(name)) throw alreadyExists("link", toPath)
        dir.entries.set(name, from)
        dir.mtime = now
        from.nlink++
        created(joinSegments(segmentsOf(toPath)))
      }),
    makeDirectory: (path, options) =>
      operation("makeDirectory", (now) => makeDirectorySync(path, options?.recursive ?? false, options?.mode, now)),
    makeTempDirectory: (options) => makeTempDirectory("makeTempDirectory", options),
    makeTempDirectoryScoped: (options) =>
      Effect.acquireRelease(makeTempDirectory("makeTempDirectoryScoped", options), (directory) =>
        Effect.orDie(removeEffect("makeTempDirectoryScoped", directory, { recursive: true, force: true }))
      ),
    makeTempFile: (options) => makeTempFile("makeTempFile", options),
    makeTempFileScoped: (options) =>
      Effect.acquireRelease(makeTempFile("makeTempFileScoped", options), (file) =>
        Effect.orDie(removeEffect("makeTempFileScoped", parentOf(file), { recursive: true, force: true }))
      ),
    open,
    readDirectory: (path, options) =>
      operation("readDirectory", () => {
        const node = get("scandir", path)
        if (node._tag !== "Directory") throw notDirectory("scandir", path)
        const names: Array<string> = []
        // Breadth first, each directory's names sorted: a stable order, unlike a real disk's.
        const queue: Array<readonly [prefix: string, dir: DirectoryNode]> = [["", node]]
        for (let i = 0; i < queue.length; i++) {
          const [prefix, dir] = queue[i]
          for (const name of [...dir.entries.keys()].sort()) {
            const child = dir.entries.get(name)!
            names.push(prefix + name)
            if (options?.recursive && child._tag === "Directory") queue.push([`${prefix}${name}/`, child])
          }
        }
        return names
      }),
    readFile: (path) =>
      operation("readFile", (now) => {
        const node = get("open", path)
        if (node._tag !== "File") throw isDirectory("read", path)
        node.atime = now
        return node.data.slice(0, node.size)
      }),
    readLink: (path) =>
      operation("readLink", (): string => {
        get("readlink", path)
        throw invalid("readlink", path)
      }),
    realPath: (path) =>
      operation("realPath", () => {
        get("realpath", path)
        return joinSegments(segmentsOf(path))
      }),
    remove: (path, options) => removeEffect("remove", path, options),
    rename: (oldPath, newPath) =>
      operation("rename", (now) => {
        const syscall = "rename"
        const from = get(syscall, oldPath)
        const oldAbsolute = joinSegments(segmentsOf(oldPath))
        const newAbsolute = joinSegments(segmentsOf(newPath))
        if (from === root) throw notPermitted(syscall, oldPath)
        if (oldAbsolute === newAbsolute) return
        if (from._tag === "Directory" && isUnder(newAbsolute, oldAbsolute)) throw invalid(syscall, newPath)
        const target = parent(syscall, newPath)
        const existing = target.dir.entries.get(target.name)
        if (existing !== undefined) {
          if (from._tag === "File" && existing._tag === "Directory") throw isDirectory(syscall, newPath)
          if (from._tag === "Directory" && existing._tag === "File") throw notDirectory(syscall, newPath)
          if (existing._tag === "Directory" && existing.entries.size > 0) throw notEmpty(syscall, newPath)
          if (existing._tag === "File") {
            existing.nlink--
            release(existing)
          }
        }
        const source = parent(syscall, oldPath)
        source.dir.entries.delete(source.name)
        source.dir.mtime = now
        target.dir.entries.set(target.name, from)
        target.dir.mtime = now
        removed(oldAbsolute)
        created(newAbsolute)
      }),
    stat: (path) => operation("stat", () => info(get("stat", path))),
    symlink: () =>
      Effect.fail(
        new PlatformError.BadArgument({
          module: "FileSystem",
          method: "symlink",
          description: "symbolic links are not simulated"
        })
      ),
    truncate: (path, length) =>
      operation("truncate", (now) => {
        const node = get("open", path)
        if (node._tag !== "File") throw isDirectory("truncate", path)
        resize(node, Number(length ?? 0), "truncate", path)
        node.mtime = now
        updated(joinSegments(segmentsOf(path)))
      }),
    utimes: (path, atime, mtime) =>
      operation("utime", () => {
        const node = get("utime", path)
        // Numbers are seconds since the epoch, as for `fs.utimes`.
        node.atime = typeof atime === "number" ? atime * 1000 : atime.getTime()
        node.mtime = typeof mtime === "number" ? mtime * 1000 : mtime.getTime()
        updated(joinSegments(segmentsOf(path)))
      }),
    watch,
    writeFile: (path, data, options) => writeFileSync(path, data, options?.flag ?? "w", options?.mode)
  })
}

// ---------------------------------------------------------------------------------------------
// Network: TCP listeners and HTTP apps by address

/**
 * Default bound, in chunks, on what one direction of a simulated connection holds unread; a
 * writer past it waits for the reader (backpressure, like a full socket buffer).
 *
 * @since 0.1.0
 * @category bounds
 */
export const DEFAULT_SOCKET_QUEUE_CAPACITY = 64

/**
 * Default bound on the connections a listener holds before its `run` takes them; one more is
 * refused.
 *
 * @since 0.1.0
 * @category bounds
 */
export const DEFAULT_LISTEN_BACKLOG = 128

/**
 * Default bound on a body read whole (`text`, `json`, `arrayBuffer`) from a streamed simulated
 * HTTP request or response.
 *
 * @since 0.1.0
 * @category bounds
 */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024

/** The first port `port: 0` gives; ports are handed out in order from here, per host. */
const FIRST_EPHEMERAL_PORT = 49152
const LAST_PORT = 65535

/**
 * @since 0.1.0
 * @category config
 */
export interface NetworkOptions {
  /** Chunks one direction of a connection holds unread (default {@link DEFAULT_SOCKET_QUEUE_CAPACITY}). */
  readonly socketQueueCapacity?: number
  /** Connections a listener holds before `run` (default {@link DEFAULT_LISTEN_BACKLOG}). */
  readonly listenBacklog?: number
  /** Bytes a streamed HTTP body may have when read whole (default {@link DEFAULT_MAX_BODY_BYTES}). */
  readonly maxBodyBytes?: number
}

/**
 * The address asked for is bound already (EADDRINUSE): the cause of a `SocketServerError` "Open".
 *
 * @since 0.1.0
 * @category errors
 */
export class AddressInUse extends Data.TaggedError("AddressInUse")<{ readonly host: string; readonly port: number }> {
  override get message(): string {
    return `EADDRINUSE: address already in use ${this.host}:${this.port}`
  }
}

/**
 * Nothing listens at the address (ECONNREFUSED), or its backlog is full: the cause of a
 * `SocketError` "Open".
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionRefused extends Data.TaggedError("ConnectionRefused")<{
  readonly host: string
  readonly port: number
  readonly reason: string
}> {
  override get message(): string {
    return `ECONNREFUSED: ${this.host}:${this.port}: ${this.reason}`
  }
}

/**
 * A write to a connection that is closed (EPIPE): the cause of a `SocketError` "Write".
 *
 * @since 0.1.0
 * @category errors
 */
export class BrokenPipe extends Data.TaggedError("BrokenPipe")<{ readonly reason: string }> {
  override get message(): string {
    return `EPIPE: ${this.reason}`
  }
}

/**
 * The `Host.Listeners` of one simulated site, and a way in: `connect` opens a connection to a
 * listener, as a client on the network would.
 *
 * @since 0.1.0
 * @category models
 */
export interface SimListeners extends Context.Tag.Service<Host.Listeners> {
  /**
   * A connection to the listener at `address`, closed (gracefully) with the scope. Fails with
   * `SocketError` "Open" ({@link ConnectionRefused}) when nothing listens there.
   */
  readonly connect: (address: Host.ListenOptions) => Effect.Effect<Socket.Socket, Socket.SocketError, Scope.Scope>
}

/**
 * The simulated network of one run: every bound address, by host and port.
 *
 * @since 0.1.0
 * @category models
 */
export interface HostNetwork {
  /**
   * The listeners of the site at `host`. A listener bound to a wildcard (`0.0.0.0`, `::`, empty)
   * or loopback host is bound at `host` (its `address` keeps the host asked for, as on a
   * machine); `connect` from here to a loopback host reaches this site's own listeners.
   */
  readonly listeners: (host: string) => SimListeners
  /** A connection to the listener at exactly `address` (no wildcard or loopback mapping). */
  readonly connect: (address: Host.ListenOptions) => Effect.Effect<Socket.Socket, Socket.SocketError, Scope.Scope>
  /**
   * Serves `app` at `address` until the scope closes (then requests in flight are interrupted
   * and new ones fail with `RequestError` "Transport"). Port 0 takes a free port; the bound
   * address is returned. The app runs in fibers of the caller's context, not the client's.
   */
  readonly serve: <E, R>(
    address: Host.ListenOptions,
    app: HttpApp.Default<E, R>
  ) => Effect.Effect<
    SocketServer.TcpAddress,
    SocketServer.SocketServerError,
    Scope.Scope | Exclude<Exclude<R, Scope.Scope>, HttpServerRequest.HttpServerRequest>
  >
  /**
   * An `HttpClient` whose requests to `http(s)://HOST:PORT/…` are answered by the app served
   * there; `from` is the `remoteAddress` the apps see. See {@link makeNetwork} for what is not
   * carried over.
   */
  readonly httpClient: (from?: string) => HttpClient.HttpClient
}

/** The server's side of an HTTP exchange: runs the app for one request in the server's context. */
type HttpHandler = (
  request: HttpServerRequest.HttpServerRequest,
  onResponse: (response: HttpServerResponse.HttpServerResponse) => void
) => Fiber.RuntimeFiber<void>

type Binding =
  | { readonly _tag: "Tcp"; readonly accept: (endpoint: Endpoint) => boolean }
  | { readonly _tag: "Http"; readonly handle: HttpHandler }

const isWildcard = (host: string): boolean => host === "" || host === "0.0.0.0" || host === "::"
const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || host.startsWith("127.")

/** One end of a connection: reads `inbound`, writes the peer's inbound. */
class Endpoint {
  /** Set when this end closed (CloseEvent or its scope): its `run` fails with it. */
  closedWith: Socket.SocketCloseError | undefined = undefined
  writeEnded = false

  constructor(
    readonly inbound: Mailbox.Mailbox<Uint8Array>,
    readonly outbound: Mailbox.Mailbox<Uint8Array>
  ) {}

  /** Half-close: the peer reads what was written, then its `run` ends. */
  end(): void {
    this.writeEnded = true
    this.outbound.unsafeDone(Exit.void)
  }

  /** Closes both directions: what this end had not read is dropped, the peer's `run` ends. */
  close(error: Socket.SocketCloseError): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.closedWith !== undefined) return Effect.void
      this.closedWith = error
      this.end()
      return Effect.asVoid(this.inbound.shutdown)
    })
  }
}

const reportUnhandledError = <E>(cause: Cause.Cause<E>): Effect.Effect<void> =>
  Effect.withFiberRuntime<void>((fiber) => {
    const level = fiber.getFiberRef(FiberRef.unhandledErrorLogLevel)
    return level._tag === "Some"
      ? Effect.logWithLevel(level.value, cause, "Unhandled error in SocketServer")
      : Effect.void
  })

/**
 * A platform `Socket` over an {@link Endpoint}. As with NodeSocket: `run` hands each chunk to the
 * handler (an effect it returns is forked; the first failure fails `run`) and returns when the
 * peer ends its side, after the forked handlers are done; `writer`'s scope half-closes; writing a
 * `CloseEvent` closes this end (its `run` fails with `SocketCloseError` of that code, the peer's
 * `run` ends). Writes wait while the peer's queue is full; a write after close fails
 * ({@link BrokenPipe}).
 */
const makeSocket = (endpoint: Endpoint): Socket.Socket => {
  const run = <_, E = never, R = never>(
    handler: (_: Uint8Array) => Effect.Effect<_, E, R> | void,
    options?: { readonly onOpen?: Effect.Effect<void> | undefined }
  ): Effect.Effect<void, Socket.SocketError | E, R> =>
    Effect.scopedWith((scope) =>
      Effect.gen(function* () {
        const fibers = yield* Scope.extend(FiberSet.make<unknown, E | Socket.SocketError>(), scope)
        const runFork = yield* FiberSet.runtime(fibers)<R>()
        if (options?.onOpen !== undefined) yield* options.onOpen
        const read = Effect.gen(function* () {
          while (true) {
            const [chunk, done] = yield* endpoint.inbound.takeAll
            for (const bytes of chunk) {
              const result = handler(bytes)
              if (Effect.isEffect(result)) runFork(result)
            }
            if (done) break
          }
          yield* FiberSet.awaitEmpty(fibers)
          if (endpoint.closedWith !== undefined) return yield* Effect.fail(endpoint.closedWith)
        })
        yield* Effect.raceFirst(read, FiberSet.join(fibers))
      })
    )

  const write = (chunk: Uint8Array | string | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> =>
    Effect.suspend(() => {
      if (Socket.isCloseEvent(chunk)) {
        return endpoint.close(
          new Socket.SocketCloseError({ reason: "Close", code: chunk.code, closeReason: chunk.reason })
        )
      }
      if (endpoint.closedWith !== undefined || endpoint.writeEnded) {
        return Effect.fail(
          new Socket.SocketGenericError({ reason: "Write", cause: new BrokenPipe({ reason: "this side is closed" }) })
        )
      }
      // A copy: the caller may reuse its buffer, as it may once a real socket has taken the bytes.
      const bytes = typeof chunk === "string" ? utf8Encoder.encode(chunk) : chunk.slice()
      if (bytes.length === 0) return Effect.void
      return Effect.flatMap(endpoint.outbound.offer(bytes), (accepted) =>
        accepted
          ? Effect.void
          : Effect.fail(
              new Socket.SocketGenericError({
                reason: "Write",
                cause: new BrokenPipe({ reason: "the other side is closed" })
              })
            )
      )
    })

  return Socket.Socket.of({
    [Socket.TypeId]: Socket.TypeId,
    run,
    runRaw: run,
    writer: Effect.acquireRelease(Effect.succeed(write), () => Effect.sync(() => endpoint.end()))
  })
}

/** Closes an end when its owner is done with it (its scope, or the server's handler). */
const finish = (endpoint: Endpoint): Effect.Effect<void> =>
  endpoint.close(new Socket.SocketCloseError({ reason: "Close", code: 1000 }))

/**
 * Makes the simulated network of one run. See {@link HostNetwork}.
 *
 * The HTTP exchange is in memory and carries: method, URL path and query, headers (plus `host`,
 * and `content-type` / `content-length` from the body), `Empty`, `Uint8Array`, `Raw`
 * (`Uint8Array` or string) and `Stream` bodies both ways (a stream is pulled by the reader, not
 * buffered; read whole it is bounded by `maxBodyBytes`), status, headers and cookies back, and
 * interruption (a client that gives up interrupts the server's fiber). It does not carry:
 * `FormData` bodies (a request fails `RequestError` "Encode"; a response body fails
 * `ResponseError` "Decode"), other `Raw` bodies, HTTP upgrades, TLS (https is plain), and no
 * latency, loss or partition applies (that is the transport's `SimNetwork`). A streamed response
 * keeps the server's request scope open until the client has read the stream to its end.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeNetwork = (options: NetworkOptions = {}): HostNetwork => {
  const socketQueueCapacity = options.socketQueueCapacity ?? DEFAULT_SOCKET_QUEUE_CAPACITY
  const listenBacklog = options.listenBacklog ?? DEFAULT_LISTEN_BACKLOG
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES

  const bindings = new Map<string, Binding>()
  const keyOf = (host: string, port: number): string => `${host.toLowerCase()}:${port}`

  /** Claims `host:port` (port 0: the first free ephemeral port) until the scope closes. */
  const bind = (host: string, port: number, binding: Binding) =>
    Effect.acquireRelease(
      Effect.suspend((): Effect.Effect<readonly [key: string, port: number], SocketServer.SocketServerError> => {
        let chosen = port
        if (port === 0) {
          chosen = FIRST_EPHEMERAL_PORT
          while (chosen <= LAST_PORT && bindings.has(keyOf(host, chosen))) chosen++
        }
        const key = keyOf(host, chosen)
        if (chosen > LAST_PORT || bindings.has(key)) {
          return Effect.fail(
            new SocketServer.SocketServerError({ reason: "Open", cause: new AddressInUse({ host, port }) })
          )
        }
        bindings.set(key, binding)
        return Effect.succeed([key, chosen] as const)
      }),
      ([key]) => Effect.sync(() => bindings.delete(key))
    )

  const connectTo = (host: string, port: number): Effect.Effect<Socket.Socket, Socket.SocketError, Scope.Scope> =>
    Effect.gen(function* () {
      const refused = (reason: string) =>
        Effect.fail(
          new Socket.SocketGenericError({ reason: "Open", cause: new ConnectionRefused({ host, port, reason }) })
        )
      const binding = bindings.get(keyOf(host, port))
      if (binding === undefined) return yield* refused("nothing listens there")
      if (binding._tag !== "Tcp") return yield* refused("an HTTP app is served there, not a TCP listener")
      const toServer = yield* Mailbox.make<Uint8Array>(socketQueueCapacity)
      const toClient = yield* Mailbox.make<Uint8Array>(socketQueueCapacity)
      const client = new Endpoint(toClient, toServer)
      if (!binding.accept(new Endpoint(toServer, toClient))) return yield* refused("the listener's backlog is full")
      yield* Effect.addFinalizer(() => finish(client))
      return makeSocket(client)
    })

  const listeners = (siteHost: string): SimListeners => ({
    listen: (address) =>
      Effect.gen(function* () {
        const pending: Array<Endpoint> = []
        let onConnection: ((endpoint: Endpoint) => void) | undefined
        const accept = (endpoint: Endpoint): boolean => {
          if (onConnection !== undefined) onConnection(endpoint)
          else if (pending.length < listenBacklog) pending.push(endpoint)
          else return false
          return true
        }
        const bindHost = isWildcard(address.host) || isLoopback(address.host) ? siteHost : address.host
        const [, port] = yield* bind(bindHost, address.port, { _tag: "Tcp", accept })
        // Closing the listener refuses new connections and those still waiting for `run`.
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            onConnection = undefined
            return Effect.forEach(pending.splice(0), (endpoint) =>
              endpoint.close(new Socket.SocketCloseError({ reason: "Close", code: 1006 }))
            )
          })
        )
        const run = <R, E, _>(
          handler: (socket: Socket.Socket) => Effect.Effect<_, E, R>
        ): Effect.Effect<never, SocketServer.SocketServerError, R> =>
          Effect.gen(function* () {
            const scope = yield* Scope.make()
            const fibers = yield* Scope.extend(FiberSet.make(), scope)
            const runFork = yield* FiberSet.runtime(fibers)<R>()
            const serveOne = (endpoint: Endpoint): void => {
              runFork(
                handler(makeSocket(endpoint)).pipe(
                  Effect.catchAllCause(reportUnhandledError),
                  Effect.ensuring(finish(endpoint))
                )
              )
            }
            return yield* Effect.async<never>(() => {
              onConnection = serveOne
              for (const endpoint of pending.splice(0)) serveOne(endpoint)
              return Effect.suspend(() => {
                if (onConnection === serveOne) onConnection = undefined
                return Scope.close(scope, Exit.void)
              })
            })
          })
        return SocketServer.SocketServer.of({ address: { _tag: "TcpAddress", hostname: address.host, port }, run })
      }),
    connect: (address) =>
      connectTo(isWildcard(address.host) || isLoopback(address.host) ? siteHost : address.host, address.port)
  })

  const serve = <E, R>(address: Host.ListenOptions, app: HttpApp.Default<E, R>) =>
    Effect.gen(function* () {
      const fibers = yield* FiberSet.make()
      const runFork =
        yield* FiberSet.runtime(fibers)<Exclude<Exclude<R, Scope.Scope>, HttpServerRequest.HttpServerRequest>>()
      const handle: HttpHandler = (request, onResponse) =>
        runFork(
          Effect.provideService(
            HttpApp.toHandled(app, (_request, response) =>
              Effect.sync(() => onResponse(HttpApp.unsafeEjectStreamScope(response)))
            ),
            HttpServerRequest.HttpServerRequest,
            request
          )
        )
      const [, port] = yield* bind(address.host, address.port, { _tag: "Http", handle })
      const bound: SocketServer.TcpAddress = { _tag: "TcpAddress", hostname: address.host, port }
      return bound
    })

  const httpClient = (from?: string): HttpClient.HttpClient =>
    HttpClient.make((request, url) => {
      const target = url as WebUrl
      const port = target.port !== "" ? Number(target.port) : target.protocol === "https:" ? 443 : 80
      const binding = bindings.get(keyOf(target.hostname, port))
      if (binding === undefined || binding._tag !== "Http") {
        return Effect.fail(
          new HttpClientError.RequestError({
            request,
            reason: "Transport",
            description: `no simulated HTTP server at ${target.hostname}:${port}${binding === undefined ? "" : " (a TCP listener is bound there)"}`
          })
        )
      }
      return exchange(binding.handle, request, target, from, maxBodyBytes)
    })

  return {
    listeners,
    connect: (address) => connectTo(address.host, address.port),
    serve,
    httpClient
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP in memory

/** A body as both sides see it: bytes at hand, a stream to pull, or one that cannot be carried. */
type BodySource =
  | { readonly _tag: "Bytes"; readonly bytes: Uint8Array }
  | { readonly _tag: "Stream"; readonly stream: Stream.Stream<Uint8Array, unknown> }
  | { readonly _tag: "Unsupported"; readonly description: string }

const emptyBytes = new Uint8Array(0)

const rawSource = (body: unknown): BodySource =>
  body instanceof Uint8Array
    ? { _tag: "Bytes", bytes: body }
    : typeof body === "string"
      ? { _tag: "Bytes", bytes: utf8Encoder.encode(body) }
      : { _tag: "Unsupported", description: "a Raw body that is neither a Uint8Array nor a string is not simulated" }

/**
 * Reading of a {@link BodySource}: `stream` pulls it (a stream body from its source, each run),
 * `bytes` reads it whole once (bounded) and keeps the result.
 */
class BodyReader<E> {
  private whole: Exit.Exit<Uint8Array, E> | undefined = undefined

  constructor(
    readonly source: BodySource,
    readonly maxBytes: number,
    readonly fail: (reason: "Decode" | "EmptyBody", description: string | undefined, cause: unknown) => E
  ) {}

  get stream(): Stream.Stream<Uint8Array, E> {
    const source = this.source
    switch (source._tag) {
      case "Bytes":
        return source.bytes.length === 0 ? Stream.empty : Stream.succeed(source.bytes)
      case "Stream":
        return this.whole?._tag === "Success"
          ? Stream.succeed(this.whole.value)
          : Stream.mapError(source.stream, (cause) => this.fail("Decode", undefined, cause))
      case "Unsupported":
        return Stream.fail(this.fail("Decode", source.description, undefined))
    }
  }

  get bytes(): Effect.Effect<Uint8Array, E> {
    return Effect.suspend(() => {
      if (this.whole !== undefined) return this.whole
      const source = this.source
      if (source._tag === "Bytes") return Effect.succeed(source.bytes)
      if (source._tag === "Unsupported") return Effect.fail(this.fail("Decode", source.description, undefined))
      const parts: Array<Uint8Array> = []
      let size = 0
      return Stream.runForEachChunk(
        Stream.mapError(source.stream, (cause) => this.fail("Decode", undefined, cause)),
        (chunk) => {
          for (const part of chunk) {
            size += part.length
            parts.push(part)
          }
          return size > this.maxBytes
            ? Effect.fail(
                this.fail("Decode", `body larger than the simulator's bound of ${this.maxBytes} bytes`, undefined)
              )
            : Effect.void
        }
      ).pipe(
        Effect.map(() => concatBytes(...parts)),
        Effect.onExit((exit) => Effect.sync(() => (this.whole = exit)))
      )
    })
  }

  get text(): Effect.Effect<string, E> {
    return Effect.map(this.bytes, (bytes) => utf8Decoder.decode(bytes))
  }

  json(emptyIsNull: boolean): Effect.Effect<unknown, E> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({
        try: (): unknown => (emptyIsNull && text === "" ? null : JSON.parse(text)),
        catch: (cause) => this.fail("Decode", undefined, cause)
      })
    )
  }

  get urlParams(): Effect.Effect<UrlParams.UrlParams, E> {
    return Effect.map(this.text, (text) => UrlParams.fromInput(new web.URLSearchParams(text)))
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, E> {
    return Effect.map(this.bytes, (bytes) => bytes.slice().buffer)
  }
}

/** The body half of an `HttpIncomingMessage` over a {@link BodyReader}: the same on both sides. */
abstract class IncomingBody<E> extends Inspectable.Class {
  readonly [HttpIncomingMessage.TypeId]: HttpIncomingMessage.TypeId = HttpIncomingMessage.TypeId
  protected abstract readonly body: BodyReader<E>
  /** An empty body read as JSON: `null` on the client (as the platform's clients give), a failure on the server. */
  protected abstract readonly emptyJsonIsNull: boolean

  get stream(): Stream.Stream<Uint8Array, E> {
    return this.body.stream
  }

  get text(): Effect.Effect<string, E> {
    return this.body.text
  }

  get json(): Effect.Effect<unknown, E> {
    return this.body.json(this.emptyJsonIsNull)
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, E> {
    return this.body.urlParams
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, E> {
    return this.body.arrayBuffer
  }
}

/** The server's view of a simulated client request. */
class SimServerRequest
  extends IncomingBody<HttpServerError.RequestError>
  implements HttpServerRequest.HttpServerRequest
{
  readonly [HttpServerRequest.TypeId]: HttpServerRequest.TypeId = HttpServerRequest.TypeId
  protected readonly body: BodyReader<HttpServerError.RequestError>
  protected readonly emptyJsonIsNull = false

  constructor(
    readonly source: HttpClientRequest.HttpClientRequest,
    readonly url: string,
    readonly originalUrl: string,
    readonly headers: Headers.Headers,
    private readonly from: string | undefined,
    body: BodySource | BodyReader<HttpServerError.RequestError>,
    maxBytes: number
  ) {
    super()
    this.body =
      body instanceof BodyReader
        ? body
        : new BodyReader(
            body,
            maxBytes,
            (_reason, description, cause) =>
              new HttpServerError.RequestError({
                request: this,
                reason: "Decode",
                cause,
                ...(description === undefined ? {} : { description })
              })
          )
  }

  get method(): HttpMethod {
    return this.source.method
  }

  get remoteAddress(): Option.Option<string> {
    return Option.fromNullable(this.from)
  }

  get cookies(): ReadonlyRecord<string, string> {
    return Cookies.parseHeader(this.headers.cookie ?? "")
  }

  get multipartStream(): Stream.Stream<Multipart.Part, Multipart.MultipartError> {
    return Stream.pipeThroughChannel(
      Stream.mapError(this.stream, (cause) => new Multipart.MultipartError({ reason: "InternalError", cause })),
      Multipart.makeChannel(this.headers)
    )
  }

  get multipart() {
    return Multipart.toPersisted(this.multipartStream)
  }

  get upgrade(): Effect.Effect<Socket.Socket, HttpServerError.RequestError> {
    return Effect.fail(
      new HttpServerError.RequestError({
        request: this,
        reason: "Decode",
        description: "HTTP upgrades are not simulated"
      })
    )
  }

  modify(options: {
    readonly url?: string
    readonly headers?: Headers.Headers
    readonly remoteAddress?: string
  }): HttpServerRequest.HttpServerRequest {
    return new SimServerRequest(
      this.source,
      options.url ?? this.url,
      this.originalUrl,
      options.headers ?? this.headers,
      options.remoteAddress ?? this.from,
      this.body,
      this.body.maxBytes
    )
  }

  toJSON(): unknown {
    return { _id: "@effect/platform/HttpServerRequest", method: this.method, url: this.originalUrl }
  }
}

/** The client's view of a simulated server response. */
class SimClientResponse
  extends IncomingBody<HttpClientError.ResponseError>
  implements HttpClientResponse.HttpClientResponse
{
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  readonly headers: Headers.Headers
  protected readonly body: BodyReader<HttpClientError.ResponseError>
  protected readonly emptyJsonIsNull = true

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly response: HttpServerResponse.HttpServerResponse,
    maxBytes: number
  ) {
    super()
    this.headers = Cookies.isEmpty(response.cookies)
      ? response.headers
      : Headers.set(response.headers, "set-cookie", Cookies.toSetCookieHeaders(response.cookies).join(", "))
    const body = response.body
    const source: BodySource =
      request.method === "HEAD" || body._tag === "Empty"
        ? { _tag: "Bytes", bytes: emptyBytes }
        : body._tag === "Uint8Array"
          ? { _tag: "Bytes", bytes: body.body }
          : body._tag === "Raw"
            ? rawSource(body.body)
            : body._tag === "Stream"
              ? { _tag: "Stream", stream: body.stream }
              : { _tag: "Unsupported", description: "FormData response bodies are not simulated" }
    this.body = new BodyReader(
      source,
      maxBytes,
      (reason, description, cause) =>
        new HttpClientError.ResponseError({
          request,
          response: this,
          reason,
          cause,
          ...(description === undefined ? {} : { description })
        })
    )
  }

  get status(): number {
    return this.response.status
  }

  get cookies(): Cookies.Cookies {
    return this.response.cookies
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  get formData(): Effect.Effect<never, HttpClientError.ResponseError> {
    return Effect.fail(
      new HttpClientError.ResponseError({
        request: this.request,
        response: this,
        reason: "Decode",
        description: "FormData bodies are not simulated"
      })
    )
  }

  toJSON(): unknown {
    return { _id: "@effect/platform/HttpClientResponse", request: this.request.toJSON(), status: this.status }
  }
}

/** One request through the app served at its address, in memory. */
const exchange = (
  handle: HttpHandler,
  request: HttpClientRequest.HttpClientRequest,
  url: WebUrl,
  from: string | undefined,
  maxBodyBytes: number
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> => {
  const body = request.body
  let source: BodySource
  switch (body._tag) {
    case "Empty":
      source = { _tag: "Bytes", bytes: emptyBytes }
      break
    case "Uint8Array":
      source = { _tag: "Bytes", bytes: body.body }
      break
    case "Raw":
      source = rawSource(body.body)
      break
    case "Stream":
      source = { _tag: "Stream", stream: body.stream }
      break
    case "FormData":
      source = { _tag: "Unsupported", description: "FormData request bodies are not simulated" }
      break
  }
  if (source._tag === "Unsupported") {
    return Effect.fail(new HttpClientError.RequestError({ request, reason: "Encode", description: source.description }))
  }
  let headers = request.headers
  if (headers.host === undefined) headers = Headers.set(headers, "host", url.host)
  if (body.contentType !== undefined && headers["content-type"] === undefined) {
    headers = Headers.set(headers, "content-type", body.contentType)
  }
  if (body.contentLength !== undefined) headers = Headers.set(headers, "content-length", String(body.contentLength))
  const path = url.pathname + url.search
  const serverRequest = new SimServerRequest(request, path, path, headers, from, source, maxBodyBytes)

  return Effect.suspend(() => {
    let response: HttpServerResponse.HttpServerResponse | undefined
    const fiber = handle(serverRequest, (r) => (response = r))
    return Fiber.await(fiber).pipe(
      Effect.onInterrupt(() => Effect.sync(() => fiber.unsafeInterruptAsFork(HttpServerError.clientAbortFiberId))),
      Effect.flatMap((exit) =>
        response !== undefined
          ? Effect.succeed(new SimClientResponse(request, response, maxBodyBytes))
          : Effect.fail(
              new HttpClientError.RequestError({
                request,
                reason: "Transport",
                cause: exit,
                description: "the simulated server ended without a response (it stopped serving)"
              })
            )
      )
    )
  })
}

// ---------------------------------------------------------------------------------------------
// One site

/**
 * The `Host.Services` of the simulated site at `host`: its file system (made once per site per
 * run with {@link makeFileSystem}, so it survives the site's restarts), its listeners on the
 * run's network and an HTTP client that reaches the apps served on it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: {
  readonly network: HostNetwork
  readonly host: string
  readonly fileSystem: FileSystem.FileSystem
}): Layer.Layer<Host.Services> =>
  Layer.mergeAll(
    Layer.succeed(FileSystem.FileSystem, options.fileSystem),
    Layer.succeed(Host.Listeners, options.network.listeners(options.host)),
    Layer.succeed(HttpClient.HttpClient, options.network.httpClient(options.host))
  )

/**
 * One site's simulated host on a network and file system of its own: for a test of one site
 * (the simulator's runner gives every site of a run one shared network).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStandalone = (host = "127.0.0.1"): Layer.Layer<Host.Services> =>
  Layer.suspend(() => layer({ network: makeNetwork(), host, fileSystem: makeFileSystem() }))
