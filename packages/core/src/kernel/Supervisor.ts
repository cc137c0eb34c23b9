/**
 * OTP-style supervision. A supervisor runs children (actors or other supervisors); when one
 * crashes it restarts it (one-for-one) or all of them (one-for-all) after a back-off. More than
 * `maxRestarts` restarts within `within` means restarting does not help: the supervisor gives up,
 * stops its children and fails with {@link Escalated}, which its own parent treats as a crash of
 * the whole subtree.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"

/**
 * @since 0.1.0
 * @category models
 */
export type Strategy = "one-for-one" | "one-for-all"

/**
 * @since 0.1.0
 * @category config
 */
export interface Config {
  readonly strategy: Strategy
  /** At most this many restarts within {@link Config.within}; one more escalates. */
  readonly maxRestarts: number
  readonly within: Duration.DurationInput
  /** Delay before the first restart in a window; doubled for each further one. */
  readonly backoffInitial: Duration.DurationInput
  /** Upper bound of the back-off delay. */
  readonly backoffMax: Duration.DurationInput
}

/**
 * Defaults: 5 restarts in 10 s, back-off 50 ms doubling up to 5 s.
 *
 * @since 0.1.0
 * @category config
 */
export const defaultConfig: Config = {
  strategy: "one-for-one",
  maxRestarts: 5,
  within: "10 seconds",
  backoffInitial: "50 millis",
  backoffMax: "5 seconds"
}

/**
 * The supervisor spent its restart intensity and gave up.
 *
 * @since 0.1.0
 * @category errors
 */
export class Escalated extends Data.TaggedError("Escalated")<{
  readonly supervisor: string
  readonly child: string
  readonly restarts: number
  readonly cause: Cause.Cause<unknown>
}> {
  override get message(): string {
    return `supervisor ${this.supervisor} escalated: child ${this.child} crashed ${this.restarts} times: ${Cause.pretty(this.cause)}`
  }
}

/**
 * A child: one incarnation of it is `run`. Returning means it stopped normally (it is not
 * restarted); failing or dying is a crash.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildSpec {
  readonly id: string
  readonly run: Effect.Effect<void, unknown>
  /** Called after each crash, before the restart decision (e.g. to dead-letter the message that crashed it). */
  readonly onCrash?: (cause: Cause.Cause<unknown>) => Effect.Effect<void>
  /** Called when an incarnation starts (for status: restarts, state). */
  readonly onStart?: (incarnation: number) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ChildInfo {
  readonly id: string
  readonly state: "running" | "restarting" | "stopped"
  readonly restarts: number
}

interface Child {
  readonly spec: ChildSpec
  fiber: Fiber.RuntimeFiber<void, unknown> | undefined
  /** Bumped whenever the supervisor itself ends an incarnation, so that exit is not seen as a crash. */
  generation: number
  state: ChildInfo["state"]
  restarts: number
  stopping: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export class Supervisor {
  private readonly children = new Map<string, Child>()
  private restartTimes: Array<number> = []
  private scope: Scope.Scope | undefined = undefined
  private escalation: Deferred.Deferred<never, Escalated> | undefined = undefined
  private readonly config: Config
  private readonly withinMillis: number

  constructor(
    readonly name: string,
    config: Partial<Config> = {}
  ) {
    this.config = { ...defaultConfig, ...config }
    this.withinMillis = Duration.toMillis(this.config.within)
    if (!(this.config.maxRestarts >= 0)) throw new Error("maxRestarts must be >= 0")
  }

  /** Is the supervisor currently running (between `run` start and its end)? */
  get isRunning(): boolean {
    return this.scope !== undefined
  }

  /**
   * One incarnation of the supervisor: starts every child and supervises them until the
   * supervisor is interrupted (its children are interrupted with it) or escalates.
   */
  readonly run: Effect.Effect<never, Escalated> = Effect.scoped(
    Effect.gen(this, function* () {
      const scope = yield* Effect.scope
      const escalation = yield* Deferred.make<never, Escalated>()
      this.scope = scope
      this.escalation = escalation
      this.restartTimes = []
      yield* Scope.addFinalizer(
        scope,
        Effect.sync(() => {
          if (this.scope === scope) {
            this.scope = undefined
            this.escalation = undefined
          }
          for (const child of this.children.values()) {
            child.generation++
            child.fiber = undefined
            if (child.state !== "stopped") child.state = "restarting"
          }
        })
      )
      for (const child of this.children.values()) yield* this.startChild(child)
      return yield* Deferred.await(escalation)
    })
  )

  /** Adds a child and starts it now if the supervisor runs (else with its next incarnation). */
  add(spec: ChildSpec): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.children.has(spec.id)) return Effect.dieMessage(`supervisor ${this.name}: duplicate child ${spec.id}`)
      const child: Child = {
        spec,
        fiber: undefined,
        generation: 0,
        state: "restarting",
        restarts: 0,
        stopping: false
      }
      this.children.set(spec.id, child)
      return this.scope === undefined ? Effect.void : this.startChild(child)
    })
  }

  /**
   * Stops a child: waits up to `timeout` for its current incarnation to return by itself (the
   * caller has told it to finish, e.g. by closing its mailbox), then interrupts it. It is not
   * restarted and is removed.
   */
  stop(id: string, timeout: Duration.DurationInput): Effect.Effect<void> {
    return Effect.suspend(() => {
      const child = this.children.get(id)
      if (child === undefined) return Effect.void
      child.stopping = true
      const fiber = child.fiber
      const finish = Effect.sync(() => {
        child.generation++
        child.state = "stopped"
        child.fiber = undefined
        this.children.delete(id)
      })
      if (fiber === undefined) return finish
      return Fiber.await(fiber).pipe(
        Effect.timeout(timeout),
        Effect.catchAll(() => Fiber.interrupt(fiber)),
        Effect.zipRight(finish)
      )
    })
  }

  /** Ids of the children, for shutdown. */
  get childIds(): ReadonlyArray<string> {
    return Array.from(this.children.keys())
  }

  /** State of each child, for status pages. */
  info(): ReadonlyArray<ChildInfo> {
    return Array.from(this.children.values(), (c) => ({ id: c.spec.id, state: c.state, restarts: c.restarts }))
  }

  private startChild(child: Child): Effect.Effect<void> {
    return Effect.suspend(() => {
      const scope = this.scope
      if (scope === undefined || child.stopping) return Effect.void
      const generation = ++child.generation
      const incarnation = (child.spec.onStart?.(child.restarts) ?? Effect.void).pipe(
        Effect.zipRight(Effect.sync(() => (child.state = "running"))),
        Effect.zipRight(child.spec.run),
        Effect.exit,
        Effect.flatMap((exit) => this.onExit(child, generation, exit))
      )
      return Effect.forkIn(incarnation, scope).pipe(
        Effect.tap((fiber) =>
          Effect.sync(() => {
            if (child.generation === generation) child.fiber = fiber
          })
        ),
        Effect.asVoid
      )
    })
  }

  private onExit(child: Child, generation: number, exit: Exit.Exit<void, unknown>): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      // An incarnation the supervisor ended itself (stop, one-for-all restart, shutdown).
      if (child.generation !== generation) return
      child.fiber = undefined
      if (Exit.isSuccess(exit) || child.stopping || Exit.isInterrupted(exit)) {
        child.state = "stopped"
        return
      }
      const cause = exit.cause
      if (child.spec.onCrash !== undefined) yield* child.spec.onCrash(cause)
      const now = yield* Clock.currentTimeMillis
      this.restartTimes = this.restartTimes.filter((t) => now - t < this.withinMillis)
      this.restartTimes.push(now)
      const restarts = this.restartTimes.length
      if (restarts > this.config.maxRestarts) {
        child.state = "stopped"
        const escalation = this.escalation
        if (escalation !== undefined) {
          yield* Deferred.fail(
            escalation,
            new Escalated({ supervisor: this.name, child: child.spec.id, restarts: restarts - 1, cause })
          )
        }
        return
      }
      const delay = this.backoff(restarts)
      yield* Effect.logWarning(
        `supervisor ${this.name}: ${child.spec.id} crashed, restarting (${this.config.strategy}) in ${Duration.format(delay)}`,
        cause
      )
      const targets =
        this.config.strategy === "one-for-one" ? [child] : Array.from(this.children.values()).filter((c) => !c.stopping)
      for (const target of targets) {
        target.restarts++
        target.state = "restarting"
        if (target !== child && target.fiber !== undefined) {
          const fiber = target.fiber
          target.generation++
          target.fiber = undefined
          yield* Fiber.interrupt(fiber)
        }
      }
      // Restart in a fiber of its own so that this (already finished) incarnation's fiber
      // does not hold the back-off; the scope still bounds it.
      const scope = this.scope
      if (scope === undefined) return
      yield* Effect.forkIn(
        Effect.sleep(delay).pipe(
          Effect.zipRight(Effect.forEach(targets, (t) => this.startChild(t), { discard: true }))
        ),
        scope
      )
    })
  }

  /** `backoffInitial * 2^(n-1)`, capped at `backoffMax`, for the n-th restart in the window. */
  private backoff(n: number): Duration.Duration {
    const initial = Duration.toMillis(this.config.backoffInitial)
    const max = Duration.toMillis(this.config.backoffMax)
    return Duration.millis(Math.min(max, initial * 2 ** Math.min(n - 1, 30)))
  }
}

/**
 * Makes a supervisor; run it with `supervisor.run`, or add it as a child of another one with
 * {@link asChild}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (name: string, config: Partial<Config> = {}): Supervisor => new Supervisor(name, config)

/**
 * A supervisor as the child of another: its escalation is its parent's crash.
 *
 * @since 0.1.0
 * @category combinators
 */
export const asChild = (supervisor: Supervisor): ChildSpec => ({ id: supervisor.name, run: supervisor.run })
