/**
 * `meridian deadletters list|replay|purge`: a site's dead letters (operator).
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import { baseUrl, ClientFailed, loadToken, print, targetOptions } from "./client.js"
import { callSite } from "./siteApi.js"
import * as Flags from "./flags.js"
import type { Modules } from "./modules.js"

const ids = Flags.integerArg("ID").pipe(Args.repeated)
const all = Options.boolean("all").pipe(Options.withDescription("every dead letter (when no ids are given)"))

const chosen = (given: ReadonlyArray<number>, everything: boolean) =>
  given.length > 0
    ? Effect.succeed({ ids: given })
    : everything
      ? Effect.succeed({})
      : Effect.fail(new ClientFailed({ message: "name the dead letters by id, or pass --all", code: 2 }))

/**
 * @since 0.1.0
 * @category commands
 */
export const makeDeadLettersCommand = (modules: Modules) =>
  Command.make("deadletters").pipe(
    Command.withDescription("dead letters of a site (operator): list, replay, purge"),
    Command.withSubcommands([
      Command.make("list", { ...targetOptions, limit: Flags.integer("limit").pipe(Options.withDefault(100)) }, (args) =>
        Effect.gen(function* () {
          const saved = yield* loadToken
          const url = yield* baseUrl(args, modules)
          const result = yield* callSite(url, saved.token, "list the dead letters", (client) =>
            client.admin.deadLetters({ urlParams: { limit: args.limit } })
          )
          return yield* print(args.json, result, () =>
            result.letters.length === 0
              ? `no dead letters (${result.total} since the site started)`
              : result.letters
                  .map(
                    (l) =>
                      `${l.id}\t${new Date(l.at).toISOString()}\t${l.reason}\t${l.tag || "-"}\t${l.from || "-"} -> ${l.to}\t${l.replayable ? "replayable" : "-"}\t${l.detail}`
                  )
                  .join("\n")
          )
        })
      ).pipe(Command.withDescription("the newest dead letters, newest first")),
      Command.make("replay", { ...targetOptions, ids, all }, (args) =>
        Effect.gen(function* () {
          const saved = yield* loadToken
          const payload = yield* chosen(args.ids, args.all)
          const url = yield* baseUrl(args, modules)
          const result = yield* callSite(url, saved.token, "replay dead letters", (client) =>
            client.admin.replayDeadLetters({ payload })
          )
          return yield* print(
            args.json,
            result,
            () =>
              `replayed ${result.replayed.length}; kept ${result.kept.length}${result.kept
                .map((k) => `\n  ${k.id}: ${k.reason}`)
                .join("")}; unknown ${result.unknown.length}`
          )
        })
      ).pipe(Command.withDescription("send dead tells again")),
      Command.make("purge", { ...targetOptions, ids, all }, (args) =>
        Effect.gen(function* () {
          const saved = yield* loadToken
          const payload = yield* chosen(args.ids, args.all)
          const url = yield* baseUrl(args, modules)
          const result = yield* callSite(url, saved.token, "purge dead letters", (client) =>
            client.admin.purgeDeadLetters({ payload })
          )
          return yield* print(args.json, result, () => `purged ${result.purged}`)
        })
      ).pipe(Command.withDescription("forget dead letters"))
    ])
  )
