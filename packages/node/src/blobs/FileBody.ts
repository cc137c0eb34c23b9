/**
 * A byte range of a file as an HTTP response body that sends it through a few buffers of its own,
 * each read into again once the socket has taken it.
 *
 * Why not `fs.createReadStream`: it allocates a new buffer for every read, and each one's memory
 * is given back only by a garbage collection. A gigabyte sent in 256 KiB reads is four thousand
 * such buffers; in a site process (a heap of some 50 MB: the runtime, the modules, the stores)
 * that pressure kept V8 running one full collection after another for the whole download, which
 * cost more CPU than the sending itself. With reused buffers a download allocates nothing per
 * chunk.
 *
 * The reuse needs to know when the destination is done with a buffer (its write callback), so it
 * happens when the body is piped (`pipe`, which `stream.pipeline` and the HTTP server call); read
 * any other way (`data` events, async iteration) the body is an ordinary stream with a fresh
 * buffer per read.
 *
 * @since 0.1.0
 */
import { close, open, read } from "node:fs"
import { Readable } from "node:stream"

/**
 * Bounds of a file body.
 *
 * @since 0.1.0
 * @category config
 */
export interface FileBodyConfig {
  /** Bytes per disk read: large enough to keep syscalls few, small enough to stay in cache. */
  readonly chunkBytes: number
  /** Buffers between the disk and the socket: reads go on while the socket sends the others. */
  readonly buffers: number
}

/**
 * @since 0.1.0
 * @category config
 */
export const FileBodyConfig: FileBodyConfig = { chunkBytes: 256 * 1024, buffers: 4 }

/**
 * What to send: `[start, end)` of `file`; `onBytes` hears each chunk as it is handed on.
 *
 * @since 0.1.0
 * @category models
 */
export interface FileBodyOptions extends Partial<FileBodyConfig> {
  readonly file: string
  readonly start: number
  readonly end: number
  readonly onBytes?: (bytes: number) => void
}

/**
 * @since 0.1.0
 * @category models
 */
export class FileBody extends Readable {
  readonly #file: string
  readonly #end: number
  readonly #chunkBytes: number
  readonly #buffers: number
  readonly #onBytes: (bytes: number) => void
  #position: number
  #fd: number | undefined
  #piped = false

  constructor(options: FileBodyOptions) {
    const { buffers, chunkBytes } = { ...FileBodyConfig, ...withoutUndefined(options) }
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1 || !Number.isSafeInteger(buffers) || buffers < 1) {
      throw new Error("FileBody: chunkBytes and buffers must be positive integers")
    }
    super({ highWaterMark: chunkBytes })
    this.#file = options.file
    this.#position = options.start
    this.#end = Math.max(options.start, options.end)
    this.#chunkBytes = chunkBytes
    this.#buffers = buffers
    this.#onBytes = options.onBytes ?? (() => undefined)
  }

  override _construct(callback: (error?: Error | null) => void): void {
    open(this.#file, "r", (error, fd) => {
      if (error) return callback(error)
      this.#fd = fd
      callback()
      this.emit("open", fd)
    })
  }

  /** Read as a plain stream: a fresh buffer per read. */
  override _read(): void {
    const length = Math.min(this.#chunkBytes, this.#end - this.#position)
    if (length <= 0) {
      this.push(null)
      return
    }
    const buffer = Buffer.allocUnsafe(length)
    this.#readInto(buffer, length, (bytes) => this.push(bytes))
  }

  /**
   * Sends the range to `destination` through the body's own buffers, each reused after
   * `destination` called back for its write; waits for `drain` when `destination` asks to.
   */
  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean | undefined }): T {
    if (this.#piped) throw new Error("FileBody: piped twice")
    this.#piped = true
    const free = Array.from({ length: this.#buffers }, () => Buffer.allocUnsafeSlow(this.#chunkBytes))
    let reading = false
    let draining = false
    const pump = (): void => {
      while (!this.destroyed && !reading && !draining && free.length > 0 && this.#position < this.#end) {
        const buffer = free.pop()!
        reading = true
        this.#readInto(buffer, Math.min(buffer.length, this.#end - this.#position), (bytes) => {
          reading = false
          const more = destination.write(bytes, () => {
            free.push(buffer)
            pump()
          })
          if (this.#position >= this.#end) return done()
          if (!more) {
            draining = true
            destination.once("drain", () => {
              draining = false
              pump()
            })
          }
        })
      }
    }
    // Everything is handed on: the readable side ends (what `stream.pipeline` waits for).
    const done = () => {
      this.push(null)
      this.resume()
    }
    if (options?.end !== false) this.once("end", () => destination.end())
    // The destination going away first stops the reads (and closes the file).
    const gone = () => {
      if (!this.readableEnded) this.destroy()
    }
    destination.once("close", gone)
    destination.once("error", gone)
    if (this.#end <= this.#position) done()
    else if (this.#fd === undefined) this.once("open", pump)
    else pump()
    return destination
  }

  /** Reads `length` bytes at the position into `buffer`, then hands them to `then`. */
  #readInto(buffer: Buffer, length: number, then: (bytes: Buffer) => void): void {
    read(this.#fd!, buffer, 0, length, this.#position, (error, bytesRead) => {
      if (this.destroyed) return
      if (error) return this.destroy(error)
      if (bytesRead === 0) return this.destroy(new Error(`FileBody: ${this.#file}: shorter than its recorded size`))
      this.#position += bytesRead
      this.#onBytes(bytesRead)
      then(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead))
    })
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const fd = this.#fd
    this.#fd = undefined
    if (fd === undefined) return callback(error)
    close(fd, () => callback(error))
  }
}

/** Drops `undefined` values so they do not override the defaults. */
const withoutUndefined = (options: Partial<FileBodyConfig>): Partial<FileBodyConfig> => ({
  ...(options.chunkBytes !== undefined ? { chunkBytes: options.chunkBytes } : {}),
  ...(options.buffers !== undefined ? { buffers: options.buffers } : {})
})
