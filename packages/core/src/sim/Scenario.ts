/**
 * A scenario is data: the topology it runs on, the simulated network, the workload, the faults on
 * a simulated timeline and the invariants checked at the end. Workload generators and invariants
 * are pluggable: the runner ships `exactly-once`, and each module brings its own through its
 * simulator plug-in (`Module.simulation`, in the site layer), so every system's scenario runs
 * under the same command.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Yaml from "yaml"
import { Name } from "../kernel/Address.js"
import { problemsFromParseError, type Problem } from "../topology/Topology.js"

/** `"250 millis"`, `"5 seconds"`, or a number of milliseconds. */
const DurationText = Schema.Union(
  Schema.Number.pipe(Schema.nonNegative()),
  Schema.String.pipe(
    Schema.filter((s) => Duration.decodeUnknown(s)._tag === "Some" || "a duration such as 250 millis or 5 seconds")
  )
).annotations({ identifier: "Duration" })

/**
 * Milliseconds of a scenario duration.
 *
 * @since 0.1.0
 * @category utils
 */
export const millis = (d: typeof DurationText.Type): number =>
  typeof d === "number" ? d : Duration.toMillis(Duration.decode(d as Duration.DurationInput))

const Probability = Schema.Number.pipe(Schema.between(0, 1))

/**
 * @since 0.1.0
 * @category schemas
 */
export const NetworkProfile = Schema.Struct({
  latency: Schema.optional(DurationText),
  jitter: Schema.optional(DurationText),
  loss: Schema.optional(Probability),
  duplicate: Schema.optional(Probability),
  reorder: Schema.optional(Schema.Boolean),
  /** Bytes per second per direction. */
  bandwidth: Schema.optional(Schema.Number.pipe(Schema.positive()))
})

/**
 * A fault on the timeline. `partition`/`heal` cut and restore traffic between two sites;
 * `silence`/`resume` make a site stop answering without closing anything (SIGSTOP); `crash`
 * interrupts a site's scope (its stores survive) and `restart` starts it again. `replay: [a, b]` is
 * a connection replayed at `a` claiming to be `b` (a quick restart of `b`, a NAT or a tunnel
 * replaying a connection), in its worst outcome: the link is left half-open, `a`'s frames to `b`
 * going nowhere while `b`'s reach `a`, until an end resets the link (the router does when it
 * hears its peer say it hears nothing).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Fault = Schema.Union(
  Schema.Struct({ at: DurationText, partition: Schema.Tuple(Name, Name) }),
  Schema.Struct({ at: DurationText, heal: Schema.Tuple(Name, Name) }),
  Schema.Struct({ at: DurationText, silence: Name }),
  Schema.Struct({ at: DurationText, resume: Name }),
  Schema.Struct({ at: DurationText, crash: Name }),
  Schema.Struct({ at: DurationText, restart: Name }),
  Schema.Struct({ at: DurationText, replay: Schema.Tuple(Name, Name) })
)
export type Fault = typeof Fault.Type

/**
 * @since 0.1.0
 * @category schemas
 */
export const Scenario = Schema.Struct({
  name: Name,
  description: Schema.optional(Schema.String),
  /** Path of the topology file, relative to the scenario file. */
  topology: Schema.String,
  /** How long the run lasts in simulated time (workload, faults, then settling). */
  duration: DurationText,
  network: Schema.optionalWith(
    Schema.Struct({
      ...NetworkProfile.fields,
      links: Schema.optional(Schema.Record({ key: Schema.String, value: NetworkProfile }))
    }),
    { default: () => ({}) }
  ),
  /** Router settings (heartbeats, retransmission…); `retransmit: false` is the unsafe switch. */
  routing: Schema.optionalWith(
    Schema.Struct({
      heartbeatInterval: Schema.optional(DurationText),
      suspectAfter: Schema.optional(DurationText),
      downAfter: Schema.optional(DurationText),
      linkStateInterval: Schema.optional(DurationText),
      halfOpenAfter: Schema.optional(DurationText),
      retransmitInitial: Schema.optional(DurationText),
      retransmitMax: Schema.optional(DurationText),
      maxHops: Schema.optional(Schema.Int.pipe(Schema.positive())),
      retransmit: Schema.optional(Schema.Boolean),
      /** `false` is the unsafe switch that leaves half-open links as they are. */
      resetHalfOpen: Schema.optional(Schema.Boolean)
    }),
    { default: () => ({}) }
  ),
  /**
   * Explicit acknowledgement that `routing.retransmit: false` (it loses messages) or
   * `routing.resetHalfOpen: false` (it leaves links half-open) is meant.
   */
  unsafe: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  workload: Schema.Array(Schema.Struct({ generator: Schema.String, params: Schema.optional(Schema.Unknown) })),
  faults: Schema.optionalWith(Schema.Array(Fault), { default: () => [] }),
  invariants: Schema.Array(Schema.String).pipe(Schema.minItems(1))
}).annotations({ identifier: "Scenario" })
export interface Scenario extends Schema.Schema.Type<typeof Scenario> {}

/**
 * The scenario file is not valid; every problem is listed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ScenarioError extends Data.TaggedError("ScenarioError")<{ readonly problems: ReadonlyArray<Problem> }> {
  override get message(): string {
    return `invalid scenario:\n${this.problems.map((p) => `  ${p.path}: ${p.message}`).join("\n")}`
  }
}

/**
 * Parses a scenario (YAML or JSON text).
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (text: string): Either.Either<Scenario, ScenarioError> => {
  let raw: unknown
  try {
    raw = Yaml.parse(text, { maxAliasCount: 100 })
  } catch (error) {
    return Either.left(new ScenarioError({ problems: [{ path: "", message: String(error) }] }))
  }
  return Schema.decodeUnknownEither(Scenario, { errors: "all", onExcessProperty: "error" })(raw).pipe(
    Either.mapLeft((e) => new ScenarioError({ problems: problemsFromParseError(e) })),
    Either.flatMap((s) => {
      const problems: Array<Problem> = []
      if (s.routing.retransmit === false && !s.unsafe)
        problems.push({ path: "routing.retransmit", message: "false loses messages; set `unsafe: true` to mean it" })
      if (s.routing.resetHalfOpen === false && !s.unsafe)
        problems.push({
          path: "routing.resetHalfOpen",
          message: "false leaves half-open links as they are; set `unsafe: true` to mean it"
        })
      return problems.length > 0 ? Either.left(new ScenarioError({ problems })) : Either.right(s)
    })
  )
}
