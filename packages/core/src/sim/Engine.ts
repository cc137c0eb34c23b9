/**
 * The simulator's engine: runs an effect on virtual time, synchronously and deterministically.
 *
 * Why not `TestClock.adjust`: it costs milliseconds of wall time per timer (60 ticking fibers ran
 * at 0.03× real time). Here a virtual {@link SimClock} keeps the pending timers in an event queue
 * and Effect's `ControlledScheduler` holds every ready fiber: the engine steps the scheduler until
 * nothing is ready, then jumps the clock to the earliest timer and resumes it — no wall-clock
 * waiting anywhere, and the same effect with the same seed replays the same run, event for event.
 *
 * `TestClock` stays for unit tests; this is for whole-system simulations.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Scheduler from "effect/Scheduler"
import { type Timer, TimerHeap } from "../internal/timerHeap.js"

const NANOS_PER_MILLI = 1_000_000
const NANOS_PER_MILLI_BIGINT = BigInt(NANOS_PER_MILLI)
const cancelNothing = (): boolean => false

/**
 * A virtual `Clock`: time only moves when the engine jumps it to the next timer. `sleep` registers
 * a timer in the clock's event queue; interrupting the sleep removes it, so it neither fires, nor
 * counts as an event, nor keeps the run alive.
 *
 * Time is kept as integer nanoseconds since `epochMillis` (exact for 104 simulated days, still
 * deterministic beyond). Timers due at the same instant fire in the order they were registered.
 *
 * @since 0.1.0
 * @category clock
 */
export class SimClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId

  private nanos = 0
  private seq = 0
  private readonly timers = new TimerHeap()

  constructor(
    /** Wall-clock time the simulation starts at, in ms since the Unix epoch (an integer). */
    readonly epochMillis: number = 0
  ) {
    if (!Number.isSafeInteger(epochMillis)) throw new Error(`SimClock: epochMillis must be an integer: ${epochMillis}`)
  }

  /** Simulated time since the start, in ms (fractional when timers were sub-millisecond). */
  get elapsedMillis(): number {
    return this.nanos / NANOS_PER_MILLI
  }

  /** Simulated time since the start, in ns. */
  get elapsedNanos(): number {
    return this.nanos
  }

  /** Timers registered and neither fired nor cancelled. */
  get pendingTimers(): number {
    return this.timers.size
  }

  unsafeCurrentTimeMillis(): number {
    return this.epochMillis + Math.floor(this.nanos / NANOS_PER_MILLI)
  }

  unsafeCurrentTimeNanos(): bigint {
    return BigInt(this.epochMillis) * NANOS_PER_MILLI_BIGINT + BigInt(this.nanos)
  }

  readonly currentTimeMillis: Effect.Effect<number> = Effect.sync(() => this.unsafeCurrentTimeMillis())

  readonly currentTimeNanos: Effect.Effect<bigint> = Effect.sync(() => this.unsafeCurrentTimeNanos())

  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const cancel = this.unsafeSchedule(() => resume(Effect.void), duration)
      return Effect.sync(cancel)
    })
  }

  /**
   * Runs `task` (synchronously, outside any fiber) once `delay` of simulated time has passed. For
   * simulated devices (links, disks) that need a callback at a virtual time without a fiber per
   * item. An infinite delay never fires and registers nothing. Returns a canceller that answers
   * whether it removed a pending timer, like `Clock.CancelToken`.
   */
  unsafeSchedule(task: () => void, delay: Duration.DurationInput): Clock.CancelToken {
    // A number is milliseconds: the same value `Duration.toMillis` gives, without a `Duration` per call.
    const millis = typeof delay === "number" ? delay : Duration.toMillis(delay)
    if (millis === Number.POSITIVE_INFINITY) return cancelNothing
    const delayNanos = millis > 0 ? Math.round(millis * NANOS_PER_MILLI) : 0
    const timer: Timer = { at: this.nanos + delayNanos, seq: this.seq++, scheduledAt: this.nanos, task, index: -1 }
    this.timers.push(timer)
    return () => this.timers.remove(timer)
  }

  /** @internal The engine's view of the queue: the earliest timer, left in place. */
  peekTimer(): Timer | undefined {
    return this.timers.peek()
  }

  /** @internal Removes the earliest timer and moves time to it; the caller runs its task. */
  popTimer(): Timer | undefined {
    const timer = this.timers.pop()
    if (timer !== undefined && timer.at > this.nanos) this.nanos = timer.at
    return timer
  }

  /** @internal Moves time forward (never back) without firing anything. */
  advanceTo(nanos: number): void {
    if (nanos > this.nanos) this.nanos = nanos
  }
}

/**
 * The `SimClock` the current fiber runs on, if it runs in the simulator. Lets simulated devices
 * schedule callbacks on virtual time ({@link SimClock.unsafeSchedule}).
 *
 * @since 0.1.0
 * @category clock
 */
export const currentSimClock: Effect.Effect<Option.Option<SimClock>> = Effect.map(Effect.clock, (clock) =>
  clock instanceof SimClock ? Option.some(clock) : Option.none()
)

/**
 * Default bound on simulated time per run: one simulated day.
 *
 * @since 0.1.0
 * @category bounds
 */
export const DEFAULT_MAX_SIMULATED_MILLIS = 24 * 60 * 60 * 1000

/**
 * Default bound on timer firings per run.
 *
 * @since 0.1.0
 * @category bounds
 */
export const DEFAULT_MAX_EVENTS = 10_000_000

/**
 * Default bound on scheduler tasks run without simulated time moving: catches fibers that spin
 * (yield forever without sleeping), which would otherwise hang the synchronous run.
 *
 * @since 0.1.0
 * @category bounds
 */
export const DEFAULT_MAX_STEPS_PER_INSTANT = 1_000_000

/**
 * Default simulated time granted to the main fiber's finalizers after a run is stopped (deadlock or
 * a bound): timers keep firing until the finalizers are done or this much more time has passed.
 *
 * @since 0.1.0
 * @category bounds
 */
export const DEFAULT_SHUTDOWN_GRACE_MILLIS = 60_000

/**
 * One timer firing, as reported to `onEvent`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TimerEvent {
  /** 1 for the first firing of the run, then 2, 3… */
  readonly index: number
  /** Simulated time it fired at, in ms since the start of the run. */
  readonly at: number
  /** Simulated time it was registered at, in ms since the start of the run. */
  readonly scheduledAt: number
  /** Registration order of the timer within the run. */
  readonly timer: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** Seeds the run's only random source (`Random`, installed with `Effect.withRandom`). */
  readonly seed: number | string
  /** Wall-clock time the simulation starts at, in ms since the Unix epoch. Default 0. */
  readonly startTime?: number
  /** Stop (and interrupt) when the next timer is due later than this. Default {@link DEFAULT_MAX_SIMULATED_MILLIS}. */
  readonly maxSimulatedMillis?: number
  /** Stop (and interrupt) after this many timer firings. Default {@link DEFAULT_MAX_EVENTS}. */
  readonly maxEvents?: number
  /** Stop (and interrupt) when this many tasks ran at one instant. Default {@link DEFAULT_MAX_STEPS_PER_INSTANT}. */
  readonly maxStepsPerInstant?: number
  /** Simulated time granted to finalizers after a stop. Default {@link DEFAULT_SHUTDOWN_GRACE_MILLIS}. */
  readonly shutdownGraceMillis?: number
  /** Called before each timer's task runs (also during shutdown). */
  readonly onEvent?: (event: TimerEvent) => void
}

/**
 * Why a run ended: the effect completed, nothing could ever happen again while it was still running
 * (`deadlock`), or a bound was reached.
 *
 * @since 0.1.0
 * @category models
 */
export type StoppedBy = "completed" | "deadlock" | "maxSimulatedMillis" | "maxEvents" | "maxStepsPerInstant"

/**
 * @since 0.1.0
 * @category models
 */
export interface RunResult<A, E> {
  /** The effect's outcome; `undefined` unless `stoppedBy` is `"completed"`. */
  readonly exit: Exit.Exit<A, E> | undefined
  readonly stoppedBy: StoppedBy
  /** `true` once the main fiber ended: it completed, or it was interrupted and its finalizers ran. */
  readonly finalized: boolean
  /** Simulated time elapsed when the run returned (including shutdown), in ms. */
  readonly simulatedMillis: number
  /** Timer firings (including shutdown). */
  readonly events: number
  /** Scheduler tasks run (fiber resumptions and yields). */
  readonly steps: number
}

/**
 * Runs `effect` to completion on virtual time, synchronously. Every fiber it forks (`fork`,
 * `forkScoped`, `forkDaemon`, layers) inherits the controlled scheduler, the `SimClock` and the
 * seeded `Random`, so nothing reads wall-clock time or `Math.random` and the same effect and seed
 * give the same run.
 *
 * When the run stops early (deadlock or a bound) the main fiber is interrupted and the loop keeps
 * running until its finalizers are done, within `shutdownGraceMillis` of simulated time. Daemon
 * fibers still alive at the end are abandoned (they never run again).
 *
 * @since 0.1.0
 * @category running
 */
export const run = <A, E>(effect: Effect.Effect<A, E>, options: RunOptions): RunResult<A, E> => {
  const maxSimulatedMillis = options.maxSimulatedMillis ?? DEFAULT_MAX_SIMULATED_MILLIS
  const maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS
  const maxStepsPerInstant = options.maxStepsPerInstant ?? DEFAULT_MAX_STEPS_PER_INSTANT
  const shutdownGraceMillis = options.shutdownGraceMillis ?? DEFAULT_SHUTDOWN_GRACE_MILLIS
  const onEvent = options.onEvent

  const clock = new SimClock(options.startTime ?? 0)
  const scheduler = new Scheduler.ControlledScheduler()
  let steps = 0
  let events = 0
  let instantSteps = 0

  /** Runs ready fibers until none is left; `false` when the per-instant bound was hit first. */
  const drain = (): boolean => {
    while (scheduler.tasks.buckets.length > 0) {
      let ready = 0
      for (const bucket of scheduler.tasks.buckets) ready += bucket[1].length
      if (instantSteps + ready > maxStepsPerInstant) return false
      steps += ready
      instantSteps += ready
      scheduler.step()
    }
    return true
  }

  const fireNext = (): void => {
    const before = clock.elapsedNanos
    const timer = clock.popTimer()
    if (timer === undefined) return
    if (clock.elapsedNanos > before) instantSteps = 0
    events++
    if (onEvent !== undefined) {
      onEvent({
        index: events,
        at: timer.at / NANOS_PER_MILLI,
        scheduledAt: timer.scheduledAt / NANOS_PER_MILLI,
        timer: timer.seq
      })
    }
    timer.task()
  }

  const program = effect.pipe(
    Effect.withClock(clock),
    Effect.withRandom(Random.make(options.seed)),
    Effect.withScheduler(scheduler)
  )
  // The `scheduler` option makes even the root fiber's first messages go through the controlled
  // scheduler (`withScheduler` only applies once the program starts).
  const fiber = Effect.runFork(program, { scheduler })

  const limitNanos = Math.round(maxSimulatedMillis * NANOS_PER_MILLI)
  let stoppedBy: StoppedBy
  while (true) {
    if (!drain()) {
      stoppedBy = "maxStepsPerInstant"
      break
    }
    if (fiber.unsafePoll() !== null) {
      stoppedBy = "completed"
      break
    }
    const next = clock.peekTimer()
    if (next === undefined) {
      stoppedBy = "deadlock"
      break
    }
    if (next.at > limitNanos) {
      clock.advanceTo(limitNanos)
      stoppedBy = "maxSimulatedMillis"
      break
    }
    if (events >= maxEvents) {
      stoppedBy = "maxEvents"
      break
    }
    fireNext()
  }

  if (stoppedBy !== "completed") {
    // Interrupt the main fiber and drive its finalizers with the same loop, within the grace period.
    fiber.unsafeInterruptAsFork(fiber.id())
    instantSteps = 0
    const shutdownLimit = clock.elapsedNanos + Math.round(shutdownGraceMillis * NANOS_PER_MILLI)
    while (drain() && fiber.unsafePoll() === null) {
      const next = clock.peekTimer()
      if (next === undefined || next.at > shutdownLimit) break
      fireNext()
    }
  }

  const exit = fiber.unsafePoll()
  return {
    exit: stoppedBy === "completed" && exit !== null ? exit : undefined,
    stoppedBy,
    finalized: exit !== null,
    simulatedMillis: clock.elapsedMillis,
    events,
    steps
  }
}

/**
 * {@link run} as an effect, for callers already inside Effect. The simulated run is its own world:
 * it does not see the caller's services, clock or scheduler.
 *
 * @since 0.1.0
 * @category running
 */
export const runEffect = <A, E>(effect: Effect.Effect<A, E>, options: RunOptions): Effect.Effect<RunResult<A, E>> =>
  Effect.sync(() => run(effect, options))
