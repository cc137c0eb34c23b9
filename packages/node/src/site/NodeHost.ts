/**
 * The real host: the services of `@meridian/core/site/Host` on Node — `node:http` for the HTTP
 * client, the disk for the file system, `node:net` servers for raw TCP listeners. The simulator's
 * counterpart is `SimHost.layer`; module code written against `Host.Services` runs on both.
 *
 * @since 0.1.0
 */
import * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as Host from "@meridian/core/site/Host"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Stream from "effect/Stream"
import * as Parcel from "@parcel/watcher"
import * as NFS from "node:fs"
import * as NodePath from "node:path"

/**
 * `Host.Listeners` over `NodeSocketServer.make`: a `node:net` server bound to `host:port` for the
 * scope (port 0: a free one, read back from `address`). A port in use fails with
 * `SocketServerError` "Open".
 *
 * @since 0.1.0
 * @category constructors
 */
export const listeners: Host.Listeners["Type"] = Host.Listeners.of({
  listen: (options) => NodeSocketServer.make({ host: options.host, port: options.port })
})

const watchError = (path: string, cause: unknown, description?: string) =>
  new PlatformError.SystemError({
    module: "FileSystem",
    method: "watch",
    reason: "Unknown",
    pathOrDescriptor: path,
    cause,
    ...(description === undefined ? {} : { description })
  })

/**
 * `FileSystem.watch` over `fs.watch` (a recursive watch of a directory over `@parcel/watcher`),
 * reporting what the simulator reports: the changed entry's
 * absolute path (NodeFileSystem's own watch gives `fs.watch`'s file name, relative to the watched
 * directory, and tells Create from Remove by a `stat` of that relative name, i.e. from the
 * process's working directory), and a bounded queue that fails the stream on overflow
 * (`Host.DEFAULT_WATCH_QUEUE_CAPACITY`). `fs.watch` itself may still coalesce or repeat events.
 *
 * @since 0.1.0
 * @category constructors
 */
export const watch =
  (fileSystem: FileSystem.FileSystem, capacity: number = Host.DEFAULT_WATCH_QUEUE_CAPACITY) =>
  (
    path: string,
    options?: FileSystem.WatchOptions
  ): Stream.Stream<FileSystem.WatchEvent, PlatformError.PlatformError> =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        const info = yield* fileSystem.stat(path)
        const root = NodePath.resolve(path)
        const mailbox = yield* Mailbox.make<FileSystem.WatchEvent, PlatformError.PlatformError>(capacity)
        const offer = (event: FileSystem.WatchEvent): void => {
          if (!mailbox.unsafeOffer(event)) {
            mailbox.unsafeDone(
              Exit.fail(
                watchError(
                  root,
                  undefined,
                  `watch queue overflow: more than ${capacity} events were pending, later ones were lost (rescan)`
                )
              )
            )
          }
        }
        if (info.type === "Directory" && options?.recursive === true) {
          // fs.watch's recursive mode on Linux watches each file it found: a file replaced by a
          // rename (as every sync download is) is no longer watched, and later writes to it are
          // never reported. @parcel/watcher watches directories (inotify), so it sees them.
          yield* Effect.acquireRelease(
            Effect.tryPromise({
              try: () =>
                Parcel.subscribe(root, (cause, events) => {
                  if (cause !== null) return mailbox.unsafeDone(Exit.fail(watchError(root, cause)))
                  for (const event of events) {
                    offer(
                      event.type === "create"
                        ? FileSystem.WatchEventCreate({ path: event.path })
                        : event.type === "update"
                          ? FileSystem.WatchEventUpdate({ path: event.path })
                          : FileSystem.WatchEventRemove({ path: event.path })
                    )
                  }
                }),
              // The OS watch limit (inotify's max_user_watches) is hit here: the caller falls back.
              catch: (cause) => watchError(root, cause)
            }),
            (subscription) => Effect.promise(() => subscription.unsubscribe()).pipe(Effect.ignore)
          )
          return Mailbox.toStream(mailbox)
        }
        const watcher = yield* Effect.acquireRelease(
          Effect.try({
            try: () =>
              NFS.watch(root, { recursive: options?.recursive ?? false }, (event, filename) => {
                const changed = info.type === "Directory" && filename ? NodePath.join(root, filename) : root
                if (event === "change") offer(FileSystem.WatchEventUpdate({ path: changed }))
                else if (NFS.existsSync(changed)) offer(FileSystem.WatchEventCreate({ path: changed }))
                else offer(FileSystem.WatchEventRemove({ path: changed }))
              }),
            catch: (cause) => watchError(root, cause)
          }),
          (watcher) => Effect.sync(() => watcher.close())
        )
        watcher.on("error", (cause) => mailbox.unsafeDone(Exit.fail(watchError(root, cause))))
        watcher.on("close", () => mailbox.unsafeDone(Exit.void))
        return Mailbox.toStream(mailbox)
      })
    )

const codeOf = (cause: unknown): unknown =>
  typeof cause === "object" && cause !== null ? (cause as { readonly code?: unknown }).code : undefined

/**
 * `FileSystem.remove` as POSIX `remove(3)`: without `recursive`, an empty directory is removed
 * (`rmdir`, which refuses a directory that is not empty, atomically) where NodeFileSystem's
 * `fs.rm` refuses every directory (EISDIR). What the simulated disk does too: a module can tidy
 * an emptied directory without a recursive removal that could take a file written meanwhile.
 *
 * @since 0.1.0
 * @category constructors
 */
export const remove =
  (fileSystem: FileSystem.FileSystem): FileSystem.FileSystem["remove"] =>
  (path, options) =>
    options?.recursive === true
      ? fileSystem.remove(path, options)
      : fileSystem.remove(path, options).pipe(
          Effect.catchIf(
            (error) => error._tag === "SystemError" && codeOf(error.cause) === "ERR_FS_EISDIR",
            () =>
              Effect.tryPromise({
                try: () => NFS.promises.rmdir(path),
                catch: (cause) =>
                  new PlatformError.SystemError({
                    module: "FileSystem",
                    method: "remove",
                    reason: codeOf(cause) === "ENOENT" ? "NotFound" : "Unknown",
                    pathOrDescriptor: path,
                    cause,
                    description: cause instanceof Error ? cause.message : String(cause)
                  })
              })
          )
        )

/**
 * The disk: NodeFileSystem, with {@link watch} and {@link remove} in place of its own.
 *
 * @since 0.1.0
 * @category layers
 */
export const fileSystemLayer: Layer.Layer<FileSystem.FileSystem> = Layer.effect(
  FileSystem.FileSystem,
  Effect.map(FileSystem.FileSystem, (fileSystem) =>
    FileSystem.FileSystem.of({ ...fileSystem, watch: watch(fileSystem), remove: remove(fileSystem) })
  )
).pipe(Layer.provide(NodeFileSystem.layer))

/**
 * Every `Host.Services` on Node: `NodeHttpClient.layer` (`node:http` and `node:https` with a
 * keep-alive agent that lives as long as the layer), {@link fileSystemLayer} and {@link listeners}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Host.Services> = Layer.mergeAll(
  NodeHttpClient.layer,
  fileSystemLayer,
  Layer.succeed(Host.Listeners, listeners)
)
