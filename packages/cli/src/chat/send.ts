/**
 * `meridian chat send GROUP TEXT`: a message carries a client id (`--id`, else a random one), so
 * a retried send is delivered once.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { randomUUID } from "node:crypto"
import { print } from "../client.js"
import { decodeJson } from "../http.js"
import { commonOptions, groupArg, groupPath, request, Sent, session } from "./common.js"
import type { Modules } from "../modules.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const sendCommand = (modules: Modules) =>
  Command.make(
    "send",
    {
      ...commonOptions,
      group: groupArg,
      text: Args.text({ name: "TEXT" }).pipe(Args.withDescription("the message")),
      id: Options.text("id").pipe(
        Options.optional,
        Options.withDescription(
          "the message's client id: sending again with the same id delivers it once (default: random)"
        )
      )
    },
    (args) =>
      session(args, modules, (s) =>
        Effect.gen(function* () {
          const id = Option.getOrElse(args.id, () => randomUUID())
          const reply = yield* request(
            s,
            `sending to ${args.group}`,
            HttpClientRequest.post(groupPath(s, args.group, "/messages")).pipe(
              HttpClientRequest.bodyUnsafeJson({ text: args.text, id })
            ),
            // The client id makes a repeat harmless.
            { repeatable: true }
          )
          const sent = yield* decodeJson(Sent, `sending to ${args.group}`)(reply)
          return yield* print(args.json, sent, () =>
            "seq" in sent
              ? `sent ${sent.group} #${sent.seq}`
              : `accepted ${sent.group} (home region unreachable; will be delivered)`
          )
        })
      )
  ).pipe(Command.withDescription("send a message to a group"))
