/**
 * `meridian ping echo TEXT` and `meridian ping counter`: the `ping` module from the command line,
 * the smallest client command group (the worked example of `docs/adding-a-module.md`). No token:
 * ping is a diagnostics module.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { baseUrl, print, targetOptions, usage } from "./client.js"
import { ask, decodeJson, refused } from "./http.js"
import { retriesOption } from "./retry.js"
import type { Modules } from "./modules.js"

const options = {
  ...targetOptions,
  retries: retriesOption
}

/** GET `path` of the site the options name, until answered; its JSON body as `schema`. */
const get = <A, I>(
  args: { readonly json: boolean; readonly retries: number },
  url: string,
  what: string,
  schema: Schema.Schema<A, I>
) =>
  Effect.gen(function* () {
    if (args.retries < 0) return yield* usage("--retries must not be negative")
    const reply = yield* ask(
      { retries: args.retries, note: (line) => (args.json ? Effect.void : Console.error(line)) },
      HttpClientRequest.get(url).pipe(HttpClientRequest.acceptJson),
      { what, busy: true }
    )
    if (reply.status !== 200) return yield* refused(what, reply)
    return yield* decodeJson(schema, what)(reply)
  })

const echoCommand = (modules: Modules) =>
  Command.make(
    "echo",
    {
      ...options,
      text: Args.text({ name: "TEXT" }).pipe(Args.withDescription("what the echo actor says back")),
      to: Options.text("to").pipe(
        Options.optional,
        Options.withDescription("the site whose echo actor answers (default: the site talked to), over the kernel")
      )
    },
    (args) =>
      Effect.gen(function* () {
        const site = yield* baseUrl(args, modules)
        const query = new URLSearchParams({ text: args.text })
        if (Option.isSome(args.to)) query.set("site", args.to.value)
        const answer = yield* get(
          args,
          `${site}/v1/ping/echo?${query.toString()}`,
          "echo",
          Schema.Struct({ text: Schema.String, site: Schema.String })
        )
        return yield* print(args.json, answer, () => `${answer.site}: ${answer.text}`)
      })
  ).pipe(
    Command.withDescription(
      "ask a site's echo actor, e.g. `meridian ping echo hello --site n1 --to s1` (n1 asks s1 over TCP)"
    )
  )

const counterCommand = (modules: Modules) =>
  Command.make("counter", options, (args) =>
    Effect.gen(function* () {
      const site = yield* baseUrl(args, modules)
      const answer = yield* get(args, `${site}/v1/ping/counter`, "counter", Schema.Struct({ count: Schema.Int }))
      return yield* print(args.json, answer, () => String(answer.count))
    })
  ).pipe(Command.withDescription("a site's counter, e.g. `meridian ping counter --site s1 --json`"))

/**
 * `meridian ping …`.
 *
 * @since 0.1.0
 * @category commands
 */
export const makePingCommand = (modules: Modules) =>
  Command.make("ping").pipe(
    Command.withDescription("the ping module: echo and counter actors, for trying a deployment out"),
    Command.withSubcommands([echoCommand(modules), counterCommand(modules)])
  )
