/**
 * The simulated host's file system: `FileSystem.FileSystem` in memory, with file handles, streams
 * and `watch`, errors as NodeFileSystem reports them, times from the Effect `Clock` and temporary
 * names from the seeded `Random`. One per site per run: it is the site's disk, so it outlives the
 * site's scope and a crashed and restarted site finds its files.
 *
 * @since 0.1.0
 */
import * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Stream from "effect/Stream"
import * as Host from "../site/Host.js"

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
 * `remove` without `recursive` removes a file or an empty directory (POSIX `remove(3)`), and
 * refuses a directory that holds anything (ENOTEMPTY), as `NodeHost`'s file system does.
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
    // Without `recursive` a directory goes only when empty (POSIX remove(3), rmdir), as on NodeHost.
    if (node._tag === "Directory" && !recursive && node.entries.size > 0) throw notEmpty(syscall, path)
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
