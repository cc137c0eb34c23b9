/**
 * A TCP link's connection and its sending side: dialing a neighbour, and the writer that queues
 * frames synchronously and writes them in bursts.
 *
 * @since 0.1.0
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Socket from "@effect/platform/Socket"
import type { Frame } from "@meridian/core/transport/Transport"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as Net from "node:net"
import { batchBytes } from "./Framing.js"
import type { Stats } from "./TcpTransport.js"

/**
 * The sending side of an established link. Frames queue synchronously (bounded) and go out
 * together in one socket write once the work that produced them is done: the flush runs on
 * `process.nextTick`, after the current callback and every fiber it woke (they run as
 * microtasks) — one write per burst rather than per frame, and no fiber on the way. While the
 * socket is over its high-water mark, frames wait for its `drain`.
 *
 * @since 0.1.0
 * @category models
 */
export class LinkWriter {
  private frames: Array<Frame> = []
  private scheduled = false
  private draining = false
  private closed = false

  constructor(
    private readonly conn: Net.Socket,
    private readonly capacity: number,
    private readonly eager: number,
    private readonly maxFrameBytes: number,
    private readonly stats: Stats,
    private readonly onSkipped: (reasons: ReadonlyArray<string>) => void
  ) {}

  /** Queues a frame; the reason when the buffer is full or the link closed (nothing queued). */
  offer(frame: Frame): string | undefined {
    if (this.closed) return "not connected"
    if (this.frames.length >= this.capacity) return `send buffer full (${this.capacity} frames)`
    this.frames.push(frame)
    if (this.frames.length >= this.eager && !this.draining) this.flush()
    else if (!this.scheduled && !this.draining) {
      this.scheduled = true
      process.nextTick(this.onTick)
    }
    return undefined
  }

  close(): void {
    this.closed = true
    this.frames = []
  }

  private readonly onTick = (): void => {
    this.scheduled = false
    this.flush()
  }

  private readonly flush = (): void => {
    if (this.closed || this.frames.length === 0) return
    const conn = this.conn
    if (conn.destroyed || conn.writableEnded) return this.close()
    const frames = this.frames
    this.frames = []
    const { chunk, sent, skipped } = batchBytes(frames, this.maxFrameBytes)
    if (skipped.length > 0) this.onSkipped(skipped)
    if (sent === 0) return
    this.stats.framesOut += sent
    this.stats.bytesOut += chunk.length
    // A write error surfaces as the socket's 'error', which ends the connection.
    if (!conn.write(chunk)) {
      this.draining = true
      conn.once("drain", () => {
        this.draining = false
        this.flush()
      })
    }
  }
}

/**
 * A connection to `host:port` as a platform Socket, with the `net.Socket` under it (established
 * links write to it directly; see `LinkWriter`). Destroyed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const dial = (
  host: string,
  port: number
): Effect.Effect<{ readonly socket: Socket.Socket; readonly conn: Net.Socket }, Socket.SocketError, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const conn = Net.createConnection({ host, port, noDelay: true })
    yield* Scope.addFinalizer(
      scope,
      Effect.sync(() => {
        if (!conn.destroyed) conn.destroy()
      })
    )
    const socket = yield* NodeSocket.fromDuplex(
      Effect.async<Net.Socket, Socket.SocketError>((resume) => {
        if (!conn.connecting) return resume(Effect.succeed(conn))
        const onError = (cause: Error) => resume(Effect.fail(new Socket.SocketGenericError({ reason: "Open", cause })))
        conn.once("error", onError)
        conn.once("connect", () => {
          conn.off("error", onError)
          resume(Effect.succeed(conn))
        })
      }),
      { openTimeout: "5 seconds" }
    )
    return { socket, conn }
  })
