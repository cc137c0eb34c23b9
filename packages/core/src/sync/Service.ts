/**
 * The `sync` service of a site: a {@link Protocol.Session} per account and device, served here
 * when this site is the account's home ({@link Server.makeLocal}) and relayed to the home
 * otherwise ({@link Relay.session}); live streams bounded per account and per site.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Module from "../site/Module.js"
import { type Session, SyncBusy, type SyncError, SyncHomeUnreachable, SyncInvalid, SyncNotFound } from "./Protocol.js"
import * as Relay from "./Relay.js"
import type { Counters, Local, Settings } from "./Server.js"

/**
 * What the module's HTTP routes, the simulator and tests use.
 *
 * @since 0.1.0
 * @category models
 */
export interface SyncService {
  /** The session of `device` of `account` (authenticated by the caller). */
  readonly session: (account: string, device: string) => Session
  /** The site that numbers `account`'s changes. */
  readonly homeOf: (account: string) => Effect.Effect<{ readonly site: string; readonly region: string }, SyncError>
}

const DEVICE = /^[A-Za-z0-9._-]{1,128}$/

/**
 * The service over this site's {@link Local} home side.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (context: Module.SiteContext, settings: Settings, counters: Counters, local: Local) =>
  Effect.gen(function* () {
    const homes = new Map<string, { readonly region: string; readonly until: number }>()
    const ttl = settings.homeCacheTtlSeconds * 1000
    const now = Effect.clockWith((clock) => clock.currentTimeMillis)

    const regionOf = (account: string): Effect.Effect<string, SyncError> =>
      Effect.gen(function* () {
        const time = yield* now
        const cached = homes.get(account)
        if (cached !== undefined && cached.until > time) return cached.region
        const region = yield* context.accounts
          .locate(account, { timeout: settings.relayTimeoutMillis })
          .pipe(
            Effect.mapError((e) =>
              e._tag === "AccountNotFound"
                ? new SyncNotFound({ what: `account ${account}` })
                : e._tag === "MailboxFull" || e._tag === "PendingAsksFull"
                  ? new SyncBusy({ reason: e.message })
                  : new SyncHomeUnreachable({ region: "accounts", reason: e.message })
            )
          )
        // Bounded: the oldest entry goes first (a Map keeps insertion order).
        homes.delete(account)
        if (homes.size >= settings.homeCacheSize) homes.delete(homes.keys().next().value!)
        homes.set(account, { region, until: time + ttl })
        return region
      })

    const homeOf = (account: string) =>
      Effect.flatMap(regionOf(account), (region) => {
        const site = Relay.homeSite(context.topology, region)
        return site === undefined
          ? Effect.fail(new SyncHomeUnreachable({ region, reason: "no site of the region runs sync" }))
          : Effect.succeed({ site, region })
      })

    const perAccount = new Map<string, number>()
    let open = 0
    /** Counts a live stream while it runs; over a bound, refused (503). */
    const bounded = <A>(account: string, stream: Stream.Stream<A, SyncError>): Stream.Stream<A, SyncError> =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          yield* Effect.acquireRelease(
            Effect.suspend(() => {
              const mine = perAccount.get(account) ?? 0
              if (open >= settings.maxStreams) {
                return Effect.fail(new SyncBusy({ reason: `over ${settings.maxStreams} streams open on this site` }))
              }
              if (mine >= settings.maxStreamsPerAccount) {
                return Effect.fail(
                  new SyncBusy({ reason: `the account has ${settings.maxStreamsPerAccount} streams open` })
                )
              }
              perAccount.set(account, mine + 1)
              open++
              counters.streams++
              return Effect.void
            }),
            () =>
              Effect.sync(() => {
                const mine = (perAccount.get(account) ?? 1) - 1
                if (mine <= 0) perAccount.delete(account)
                else perAccount.set(account, mine)
                open--
                counters.streams--
              })
          )
          return stream
        })
      )

    const session = (account: string, device: string): Session => {
      const at = <A>(use: (session: Session) => Effect.Effect<A, SyncError>): Effect.Effect<A, SyncError> =>
        DEVICE.test(device)
          ? Effect.flatMap(homeOf(account), (home) =>
              use(
                home.site === context.site
                  ? local.session(account, device)
                  : Relay.session(context, settings, counters, home, account, device)
              )
            )
          : Effect.fail(new SyncInvalid({ reason: "a device name is 1 to 128 letters, digits, '.', '_' or '-'" }))
      return {
        head: at((s) => s.head),
        changes: (after, limit) => at((s) => s.changes(after, limit)),
        missing: (chunks) => at((s) => s.missing(chunks)),
        putChunk: (hash, bytes) => at((s) => s.putChunk(hash, bytes)),
        getChunk: (hash) => at((s) => s.getChunk(hash)),
        manifest: (digest, base) => at((s) => s.manifest(digest, base)),
        commit: (request) => at((s) => s.commit(request)),
        putChunks: (chunks) => at((s) => s.putChunks(chunks)),
        getChunks: (hashes, maxBytes) => at((s) => s.getChunks(hashes, maxBytes)),
        commitMany: (requests) => at((s) => s.commitMany(requests)),
        versions: (path) => at((s) => s.versions(path)),
        restore: (path, version) => at((s) => s.restore(path, version)),
        events: (after) => bounded(account, Stream.unwrap(at((s) => Effect.succeed(s.events(after)))))
      }
    }

    yield* Effect.forkScoped(
      Effect.forever(Effect.zipRight(Effect.sleep(Duration.seconds(settings.sweepIntervalSeconds)), local.sweep))
    )
    const service: SyncService = { session, homeOf }
    return service
  })
