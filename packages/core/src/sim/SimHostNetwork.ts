/**
 * The simulated host's network: one per run, shared by the sites. It holds the bound addresses
 * (TCP listeners and HTTP apps share one port table per host, as on a machine), gives each site
 * its `Host.Listeners`, lets workloads `connect`, and routes each site's HTTP client to the app
 * `serve`d at the request's address.
 *
 * @since 0.1.0
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Socket from "@effect/platform/Socket"
import * as SocketServer from "@effect/platform/SocketServer"
import type * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as FiberSet from "effect/FiberSet"
import * as Mailbox from "effect/Mailbox"
import * as Scope from "effect/Scope"
import type * as Host from "../site/Host.js"
import { exchange, type HttpHandler, utf8Encoder, type WebUrl } from "./SimHttp.js"

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
