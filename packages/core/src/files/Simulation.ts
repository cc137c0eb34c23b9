/**
 * The file service's simulator plug-in: a workload that publishes transfers at one file server
 * and brokers their downloads at another across crashes and partitions, and the invariant that
 * every file server ends up knowing each of them.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Module from "../site/Module.js"
import type { FileServer } from "./Files.js"
import type { DownloadAddress, Transfer } from "./Protocol.js"

/**
 * What the simulator's workload published and brokered in one run.
 *
 * @since 0.1.0
 * @category simulation
 */
export interface Run {
  readonly published: Map<string, Transfer>
  readonly brokered: Map<string, DownloadAddress>
}

/**
 * A run with nothing published yet (one per simulator run).
 *
 * @since 0.1.0
 * @category simulation
 */
export const makeRun = (): Run => ({ published: new Map(), brokered: new Map() })

/**
 * Simulator workload: `count` transfers published at `holder` (one every `intervalMillis` from
 * `startMillis`, each retried while the holder is down), and for each a download address asked of
 * the file server at `at` for `recipient`, retried every `retryMillis` until it is brokered.
 *
 * @since 0.1.0
 * @category simulation
 */
export const brokeredDownloads = (run: Run) =>
  Module.generator(
    Schema.Struct({
      holder: Schema.String,
      at: Schema.String,
      sender: Schema.optionalWith(Schema.String, { default: () => "alice" }),
      recipient: Schema.optionalWith(Schema.String, { default: () => "bob" }),
      count: Schema.Int.pipe(Schema.between(1, 100_000)),
      bytes: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 1_000_000)), { default: () => 1024 }),
      intervalMillis: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 100 }),
      startMillis: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { default: () => 0 }),
      retryMillis: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 250 })
    }),
    (context: Module.SimContext<FileServer>, params) =>
      Effect.gen(function* () {
        yield* Effect.sleep(params.startMillis)
        const broker = (id: string): Effect.Effect<void> =>
          Effect.suspend(() => {
            const server = context.service(params.at)
            if (server === undefined) return Effect.zipRight(Effect.sleep(params.retryMillis), broker(id))
            return server.addressFor(id, params.recipient).pipe(
              Effect.matchEffect({
                onFailure: () => Effect.zipRight(Effect.sleep(params.retryMillis), broker(id)),
                onSuccess: (address) => Effect.sync(() => void run.brokered.set(id, address))
              })
            )
          })
        const brokers: Array<Fiber.RuntimeFiber<void>> = []
        for (let i = 0; i < params.count; ) {
          yield* Effect.sleep(params.intervalMillis)
          const server = context.service(params.holder)
          if (server === undefined) continue
          const id = `sim-transfer-${params.holder}-${String(i).padStart(6, "0")}`
          const content = new Uint8Array(params.bytes).map((_, j) => (i * 31 + j) & 0xff)
          const at = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          const published = yield* Effect.either(
            server.publish(
              {
                id,
                sender: params.sender,
                recipients: [params.recipient],
                filename: `f${i}`,
                expiresAt: at + 86_400_000
              },
              content
            )
          )
          if (published._tag === "Left") continue
          run.published.set(id, published.right)
          brokers.push(yield* Effect.fork(broker(id)))
          i++
        }
        // Retried until brokered; the run's end interrupts what is still trying (the invariant says so).
        yield* Fiber.awaitAll(brokers)
      })
  )

/**
 * Simulator invariant: every file server that is up knows exactly the published transfers (none
 * lost, none extra, each as published), and each was brokered from its holder.
 *
 * @since 0.1.0
 * @category simulation
 */
export const transfersEverywhere =
  (run: Run): Module.Invariant<FileServer> =>
  (context) =>
    Effect.gen(function* () {
      for (const name of Object.keys(context.topology.sites).sort()) {
        const server = context.service(name)
        if (server === undefined) continue
        const known = new Map((yield* server.transfers).map((t) => [t.id, t]))
        for (const [id, transfer] of run.published) {
          const record = known.get(id)
          if (record === undefined) return `${name} does not know transfer ${id}`
          if (record.sha256 !== transfer.sha256 || record.holder !== transfer.holder) {
            return `${name} holds a different record of ${id}`
          }
        }
        if (known.size !== run.published.size) {
          return `${name} knows ${known.size} transfers, ${run.published.size} were published`
        }
      }
      for (const [id, transfer] of run.published) {
        const address = run.brokered.get(id)
        if (address === undefined) return `no download address was brokered for ${id}`
        if (address.holder !== transfer.holder) return `${id} was brokered from ${address.holder}, not its holder`
      }
      return undefined
    })
