/**
 * `meridian chat group create|show|edit|members`: making and changing groups.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Group } from "@meridian/core/chat/Protocol"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { print, usage } from "../client.js"
import { decodeJson } from "../http.js"
import {
  commonOptions,
  formatGroup,
  formatMembers,
  getGroup,
  groupArg,
  groupPath,
  names,
  request,
  session,
  settingsOf
} from "./common.js"
import type { Modules } from "../modules.js"

const noticeOption = Options.text("notice").pipe(Options.optional, Options.withDescription("the group's notice"))
const setOption = Options.text("set").pipe(
  Options.repeated,
  Options.withDescription(
    "a free-form setting kept with the group: any KEY=VALUE (repeat --set for more; an empty value removes it)"
  )
)

const groupCreate = (modules: Modules) =>
  Command.make(
    "create",
    {
      ...commonOptions,
      name: Args.text({ name: "NAME" }).pipe(Args.withDescription("the group's name")),
      member: Options.text("member").pipe(
        Options.repeated,
        Options.withDescription("a member besides you (repeat --member, or separate names with commas)")
      ),
      notice: noticeOption,
      set: setOption,
      home: Options.text("home").pipe(
        Options.optional,
        Options.withDescription("the region that numbers the group's messages (default: the site's region)")
      )
    },
    (args) =>
      Effect.flatMap(settingsOf(args.set), (settings) =>
        session(args, modules, (s) =>
          Effect.gen(function* () {
            const members = names(args.member)
            const payload = {
              name: args.name,
              ...(Option.isSome(args.notice) ? { notice: args.notice.value } : {}),
              ...(args.set.length > 0 ? { settings } : {}),
              ...(members.length > 0 ? { members } : {}),
              ...(Option.isSome(args.home) ? { home: args.home.value } : {})
            }
            // Not repeated after a lost connection: the group may have been made (a 503 made nothing).
            const reply = yield* request(
              s,
              `creating group ${args.name}`,
              HttpClientRequest.post(`${s.url}/v1/chat/groups`).pipe(HttpClientRequest.bodyUnsafeJson(payload)),
              { repeatable: false }
            )
            const group = yield* decodeJson(Group, `creating group ${args.name}`)(reply)
            return yield* print(args.json, group, () => group.id)
          })
        )
      )
  ).pipe(Command.withDescription("create a group (you are its owner and a member); prints its id"))

const groupShow = (modules: Modules) =>
  Command.make("show", { ...commonOptions, group: groupArg }, (args) =>
    session(args, modules, (s) =>
      Effect.flatMap(getGroup(s, args.group), (group) => print(args.json, group, () => formatGroup(group)))
    )
  ).pipe(Command.withDescription("show a group: name, notice, settings, members (members only)"))

const groupEdit = (modules: Modules) =>
  Command.make(
    "edit",
    {
      ...commonOptions,
      group: groupArg,
      name: Options.text("name").pipe(Options.optional, Options.withDescription("a new name")),
      notice: noticeOption,
      set: setOption
    },
    (args) =>
      Effect.gen(function* () {
        if (Option.isNone(args.name) && Option.isNone(args.notice) && args.set.length === 0) {
          return yield* usage("nothing to change: give --name, --notice or --set")
        }
        const changed = yield* settingsOf(args.set)
        return yield* session(args, modules, (s) =>
          Effect.gen(function* () {
            // The settings sent are the group's with these changed, so the others stay as they are
            // whether the server replaces or merges them.
            const settings =
              args.set.length === 0 ? undefined : { ...(yield* getGroup(s, args.group)).settings, ...changed }
            const payload = {
              ...(Option.isSome(args.name) ? { name: args.name.value } : {}),
              ...(Option.isSome(args.notice) ? { notice: args.notice.value } : {}),
              ...(settings === undefined ? {} : { settings })
            }
            const reply = yield* request(
              s,
              `editing group ${args.group}`,
              HttpClientRequest.patch(groupPath(s, args.group)).pipe(HttpClientRequest.bodyUnsafeJson(payload)),
              { repeatable: true }
            )
            const group = yield* decodeJson(Group, `editing group ${args.group}`)(reply)
            return yield* print(args.json, group, () => formatGroup(group))
          })
        )
      })
  ).pipe(Command.withDescription("change a group's name, notice or settings (owner only)"))

const groupMembers = (modules: Modules) =>
  Command.make(
    "members",
    {
      ...commonOptions,
      group: groupArg,
      add: Options.text("add").pipe(
        Options.repeated,
        Options.withDescription("add a member (repeat --add, or separate names with commas)")
      ),
      remove: Options.text("remove").pipe(
        Options.repeated,
        Options.withDescription("remove a member (repeat --remove, or separate names with commas)")
      )
    },
    (args) =>
      session(args, modules, (s) =>
        Effect.gen(function* () {
          const add = names(args.add)
          const remove = names(args.remove)
          if (add.length === 0 && remove.length === 0) {
            const group = yield* getGroup(s, args.group)
            return yield* print(args.json, group, () => formatMembers(group))
          }
          const reply = yield* request(
            s,
            `members of ${args.group}`,
            HttpClientRequest.post(groupPath(s, args.group, "/members")).pipe(
              HttpClientRequest.bodyUnsafeJson({
                ...(add.length > 0 ? { add } : {}),
                ...(remove.length > 0 ? { remove } : {})
              })
            ),
            { repeatable: true }
          )
          const group = yield* decodeJson(Group, `members of ${args.group}`)(reply)
          return yield* print(args.json, group, () => formatMembers(group))
        })
      )
  ).pipe(
    Command.withDescription(
      "list a group's members with their home regions, or --add/--remove members (owner; anyone may remove themselves)"
    )
  )

/**
 * `meridian chat group create|show|edit|members`.
 *
 * @since 0.1.0
 * @category commands
 */
export const groupCommand = (modules: Modules) =>
  Command.make("group").pipe(
    Command.withDescription("chat groups: create, show, edit, members"),
    Command.withSubcommands([groupCreate(modules), groupShow(modules), groupEdit(modules), groupMembers(modules)])
  )
