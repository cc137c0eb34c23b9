/**
 * The one retry policy of the client commands: a jittered exponential back-off (1 s, 2 s, 4 s …
 * at most 30 s, each drawn from 75–125 % of its step so that clients that failed together do not
 * come back together), at most `--retries` times, a server's `Retry-After` taking the back-off's
 * place. Every wait is said (on stderr, or nowhere with `--json`) before it is waited. Retries are
 * for connections that worked and broke: a first contact that is refused (nothing has answered
 * at that address in this run: a typo in `--url`, a site not running) ends them at once.
 *
 * @since 0.1.0
 */
import * as Options from "@effect/cli/Options"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { formatWait } from "./units.js"
import * as Flags from "./flags.js"

/**
 * The first retry waits about this long, each next one twice as long.
 *
 * @since 0.1.0
 * @category limits
 */
export const RETRY_BASE = Duration.seconds(1)

/**
 * No step of the back-off is longer.
 *
 * @since 0.1.0
 * @category limits
 */
export const RETRY_CAP = Duration.seconds(30)

/**
 * Each wait is drawn from this share of its step.
 *
 * @since 0.1.0
 * @category limits
 */
export const RETRY_JITTER = { min: 0.75, max: 1.25 } as const

/**
 * A server's `Retry-After` is followed up to this long.
 *
 * @since 0.1.0
 * @category limits
 */
export const MAX_RETRY_AFTER = Duration.seconds(60)

/**
 * `--retries N`: how often a command asks an unreachable or busy site again.
 *
 * @since 0.1.0
 * @category options
 */
export const retriesOption = Flags.integer("retries").pipe(
  Options.withDefault(4),
  Options.withDescription("how often an unreachable or busy site is asked again (with back-off)")
)

/**
 * How a command retries: how often at most, and where it says so.
 *
 * @since 0.1.0
 * @category models
 */
export interface Retrying {
  readonly retries: number
  readonly note: (line: string) => Effect.Effect<void>
}

/**
 * One failed try as the policy sees it: `reason; again in 2.1 s`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Failure {
  readonly reason: string
  /** What comes next: `retrying`, `asking again`, `resuming`, `reconnecting`. */
  readonly again: string
  /** The server's own wait, instead of the back-off. */
  readonly retryAfter?: Duration.Duration | undefined
  /** Nothing has answered at that address yet and the connection was refused: not retried. */
  readonly firstContact?: boolean | undefined
}

/**
 * The back-off alone, `retries` times at most.
 *
 * @since 0.1.0
 * @category schedules
 */
export const backoff = (retries: number) =>
  Schedule.exponential(RETRY_BASE).pipe(
    Schedule.modifyDelay((_, delay) => Duration.min(delay, RETRY_CAP)),
    Schedule.jitteredWith(RETRY_JITTER),
    Schedule.intersect(Schedule.recurs(retries))
  )

/**
 * The policy for errors `E`: those that `describe` names are retried, with a note before each
 * wait; any other, or a refused first contact, ends the retries at once.
 *
 * @since 0.1.0
 * @category schedules
 */
export const policy = <E>(
  retrying: Retrying,
  describe: (error: E) => Option.Option<Failure>
): Schedule.Schedule<unknown, E> =>
  Schedule.intersect(
    Schedule.identity<E>().pipe(
      Schedule.map(describe),
      Schedule.whileOutput((failure) => Option.isSome(failure) && failure.value.firstContact !== true)
    ),
    backoff(retrying.retries)
  ).pipe(
    Schedule.modifyDelayEffect(([failure], delay) =>
      Option.match(failure, {
        onNone: () => Effect.succeed(delay),
        onSome: (f) => {
          const wait = f.retryAfter ?? delay
          return Effect.as(retrying.note(`${f.reason}; ${f.again} in ${formatWait(wait)}`), wait)
        }
      })
    )
  )

/**
 * The policy stepped by hand, for loops that start it over after progress (a chunk confirmed,
 * bytes received): `next` says and waits, or fails once the retries are spent.
 *
 * @since 0.1.0
 * @category schedules
 */
export const driver = (retrying: Retrying) => Schedule.driver(policy(retrying, Option.some<Failure>))

/**
 * A `Retry-After` in seconds, bounded by `MAX_RETRY_AFTER`; none when absent or not a number.
 *
 * @since 0.1.0
 * @category parsing
 */
export const retryAfterOf = (header: string | undefined): Duration.Duration | undefined => {
  const seconds = Number(header)
  return header === undefined || header.trim() === "" || !Number.isFinite(seconds) || seconds < 0
    ? undefined
    : Duration.min(Duration.seconds(seconds), MAX_RETRY_AFTER)
}
